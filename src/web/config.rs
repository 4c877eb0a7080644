//! `[web]`: sessions, throttling and the public faces (status page, Open311).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// A session ends this many minutes after login, whatever the activity.
    pub session_hours: u64,
    /// A session also ends after this many minutes without a request.
    pub idle_minutes: u64,
    /// Mark cookies `Secure` (only sent over HTTPS). Turn on whenever the console is served
    /// through TLS; off by default so the demo works on plain http://127.0.0.1.
    pub secure_cookies: bool,
    /// Login attempts allowed per account name (and 4× per client address) within
    /// `login_window_minutes`; an attempt counts before its password is checked, a
    /// successful one is taken back.
    pub login_max_failures: u32,
    pub login_window_minutes: u64,
    /// How long logins stay refused once the limit is reached.
    pub login_lockout_minutes: u64,
    /// Status-page lookups allowed per client address per minute.
    pub status_per_minute: u32,
    /// Failed status lookups (wrong number or digits) allowed per client address per hour.
    pub status_failures_per_hour: u32,
    /// Password checks (argon2, ~19 MiB and tens of ms each) running at once; more wait.
    pub login_hash_concurrency: usize,
    /// How long a login waits for a free check before it is answered 503.
    pub login_hash_wait_ms: u64,
    /// Proxies (addresses or CIDR networks) whose forwarding header is believed. Empty: the
    /// TCP peer is the client, whatever the request's headers say.
    pub trusted_proxies: Vec<String>,
    /// The forwarding header trusted proxies set (default `x-forwarded-for`); the client
    /// is its right-most address that is not itself a trusted proxy.
    pub client_ip_header: Option<String>,
    /// Open311 `jurisdiction_id` this endpoint answers for.
    pub open311_jurisdiction: String,
    /// Open311 `GET requests` and `GET requests/{id}` for anyone. Off by default: the list
    /// would show every resident's request to the world, beside the `/status` lookup that
    /// asks for the ticket number and the phone's last four digits.
    pub open311_public_requests: bool,
    /// When public: the service codes (`suggestion`, `praise` …) a city chooses to list;
    /// requests of other codes do not exist to the public. Their text is redacted.
    pub open311_public_services: Vec<String>,
    /// Open311 reads (requests, one request, tokens) allowed per client address per minute.
    pub open311_per_minute: u32,
    /// A live stream (SSE) checks its session again this often (and before an event), and
    /// ends once the session is gone, expired or its account disabled.
    pub live_recheck_secs: u64,
    /// `/metrics` answers a request carrying `Authorization: Bearer <this>`…
    pub metrics_token: Option<String>,
    /// …or coming straight (TCP peer, never a forwarded header) from one of these addresses
    /// or CIDR networks. Anyone else gets 401.
    pub metrics_allow: Vec<String>,
    /// The database figures of `/metrics` (tickets by state, overdue, KPIs) are computed at
    /// most this often; scrapes in between read the last values.
    pub metrics_refresh_secs: u64,
    /// Department staff see residents' numbers whole on tickets (pages, API, exports);
    /// off: 138****5678.
    pub department_sees_phone: bool,
    /// Supervisor board: tickets due within this many hours count as "near deadline".
    pub near_deadline_hours: u64,
    /// Rows per page in lists and default API page size.
    pub page_size: i64,
    /// Serve `[http] listen` over HTTPS with this certificate chain (PEM) and `tls_key`
    /// (PEM private key). Browsers give the softphone a microphone only on secure pages.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            session_hours: 12,
            idle_minutes: 120,
            secure_cookies: false,
            login_max_failures: 5,
            login_window_minutes: 15,
            login_lockout_minutes: 15,
            status_per_minute: 10,
            status_failures_per_hour: 20,
            login_hash_concurrency: 2,
            login_hash_wait_ms: 2000,
            trusted_proxies: Vec::new(),
            client_ip_header: None,
            open311_jurisdiction: "pizhou.gov.cn".into(),
            open311_public_requests: false,
            open311_public_services: Vec::new(),
            open311_per_minute: 30,
            live_recheck_secs: 30,
            metrics_token: None,
            metrics_allow: vec!["127.0.0.1/32".into(), "::1/128".into()],
            metrics_refresh_secs: 15,
            department_sees_phone: false,
            near_deadline_hours: 24,
            page_size: 50,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Why `[web] tls_cert`/`tls_key` cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[web] tls_cert and tls_key go together: set both or neither")]
    Half,
    #[error("[web] {key} {path}: {error}")]
    File {
        key: &'static str,
        path: String,
        error: String,
    },
    #[error("[web] tls_cert/tls_key: {0}")]
    Rustls(#[from] rustls::Error),
}

impl WebConfig {
    /// The TLS server configuration from `tls_cert`/`tls_key`; `None` for plain HTTP.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (c, k),
            _ => return Err(TlsError::Half),
        };
        let bad =
            |key: &'static str, path: &std::path::Path, e: &dyn std::fmt::Display| TlsError::File {
                key,
                path: path.display().to_string(),
                error: e.to_string(),
            };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad("tls_cert", cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("tls_cert", cert, &e))?;
        if chain.is_empty() {
            return Err(bad("tls_cert", cert, &"no certificate in the file"));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("tls_key", key, &e))?;
        // ring, named here: the tree also carries aws-lc-rs, so rustls cannot pick by itself.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, private)?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Arc::new(cfg)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_needs_both_files_and_says_which_is_unreadable() {
        let c = WebConfig {
            tls_cert: Some("/nonexistent/console.crt".into()),
            ..Default::default()
        };
        assert!(matches!(c.tls(), Err(TlsError::Half)));
        let c = WebConfig {
            tls_cert: Some("/nonexistent/console.crt".into()),
            tls_key: Some("/nonexistent/console.key".into()),
            ..Default::default()
        };
        let e = c.tls().unwrap_err().to_string();
        assert!(e.contains("tls_cert /nonexistent/console.crt"), "{e}");
        assert!(WebConfig::default().tls().unwrap().is_none());
    }
}
