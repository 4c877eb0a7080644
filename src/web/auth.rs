//! Sessions, CSRF and throttling.
//!
//! A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the
//! database keeps only its SHA-256 with the account, a CSRF token, an absolute expiry and
//! the time of the last request. Every unsafe request to the pages carries a `csrf` form
//! field equal to the session's token (or, before login, to the `hotline_csrf` cookie:
//! double submit), checked in one middleware so no form can forget it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::Row;

use super::accounts::{self, sha256_hex, Account};
use super::authz::{allows, Perm};
use super::error::WebError;
use super::Ctx;
use crate::store::now_ms;

pub const SESSION_COOKIE: &str = "hotline_session";
pub const CSRF_COOKIE: &str = "hotline_csrf";

/// The logged-in person of a page request.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub account: Account,
    pub csrf: String,
}

impl Session {
    pub fn require(&self, perm: Perm) -> Result<(), WebError> {
        if allows(self.account.role, perm) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn set_cookie(ctx: &Ctx, name: &str, value: &str, max_age_secs: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(a) = max_age_secs {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if ctx.cfg.secure_cookies {
        c.push_str("; Secure");
    }
    c
}

/// Creates a session for `account`; returns the cookie value to set.
pub async fn start_session(ctx: &Ctx, account: &Account) -> Result<String, WebError> {
    let token = accounts::random_token();
    let now = now_ms();
    let expires = now + (ctx.cfg.session_hours.max(1) as i64) * 3_600_000;
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, account_id, csrf, created_at, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $4)",
    )
    .bind(sha256_hex(&token))
    .bind(account.id)
    .bind(accounts::random_token())
    .bind(now)
    .bind(expires)
    .execute(ctx.db().pool())
    .await?;
    // Old sessions are swept here rather than by a timer.
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(ctx.db().pool())
        .await?;
    Ok(token)
}

pub async fn end_session(ctx: &Ctx, token_hash: &str) -> Result<(), WebError> {
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(ctx.db().pool())
        .await?;
    Ok(())
}

async fn load_session(ctx: &Ctx, headers: &HeaderMap) -> Result<Option<Session>, WebError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = sha256_hex(&token);
    let row = sqlx::query(
        "SELECT account_id, csrf, expires_at, last_seen_at FROM web_sessions WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(ctx.db().pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let now = now_ms();
    let expires: i64 = r.try_get(2)?;
    let seen: i64 = r.try_get(3)?;
    let idle_ms = (ctx.cfg.idle_minutes.max(1) as i64) * 60_000;
    if expires < now || seen + idle_ms < now {
        end_session(ctx, &hash).await?;
        return Ok(None);
    }
    let account = match accounts::get(ctx.db(), r.try_get(0)?).await {
        Ok(a) if a.active => a,
        Ok(_) | Err(accounts::AccountError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if now - seen > 30_000 {
        sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(&hash)
            .execute(ctx.db().pool())
            .await?;
    }
    Ok(Some(Session {
        token_hash: hash,
        account,
        csrf: r.try_get(1)?,
    }))
}

/// Largest form body the pages accept.
const MAX_FORM: usize = 256 * 1024;

/// Loads the session into the request and refuses unsafe requests without the right CSRF
/// token or from another origin.
pub async fn session_layer(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let session = match load_session(&ctx, &parts.headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let body = if unsafe_method {
        if !same_origin(&parts.headers) {
            tracing::warn!(path = %parts.uri.path(), "cross-origin form post refused");
            return WebError::Csrf.into_response();
        }
        let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
            Ok(b) => b,
            Err(_) => return WebError::BadRequest("提交的内容过大".into()).into_response(),
        };
        let sent = form_field(&bytes, "csrf");
        let expected = match &session {
            Some(s) => Some(s.csrf.clone()),
            None => cookie(&parts.headers, CSRF_COOKIE),
        };
        let ok = match (sent, expected) {
            (Some(a), Some(b)) => !b.is_empty() && constant_eq(a.as_bytes(), b.as_bytes()),
            _ => false,
        };
        if !ok {
            tracing::warn!(path = %parts.uri.path(), "form without a valid CSRF token refused");
            return WebError::Csrf.into_response();
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(MaybeSession(session));
    next.run(Request::from_parts(parts, body)).await
}

/// `Origin` (or `Referer`) must name this host when a browser sends one.
fn same_origin(h: &HeaderMap) -> bool {
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin = h
        .get(header::ORIGIN)
        .or_else(|| h.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match origin {
        None => true,
        Some("null") => false,
        Some(o) => {
            let rest = o.split_once("://").map(|(_, r)| r).unwrap_or(o);
            let authority = rest.split('/').next().unwrap_or("");
            authority.eq_ignore_ascii_case(host)
        }
    }
}

pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[derive(Clone)]
pub struct MaybeSession(pub Option<Session>);

impl FromRequestParts<Ctx> for Session {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _ctx: &Ctx) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<MaybeSession>() {
            Some(MaybeSession(Some(s))) => Ok(s.clone()),
            _ => Err(WebError::Login),
        }
    }
}

impl FromRequestParts<Ctx> for MaybeSession {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _ctx: &Ctx) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<MaybeSession>()
            .cloned()
            .unwrap_or(MaybeSession(None)))
    }
}

/// The client's address: the TCP peer, or the first address of the configured proxy header.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Ctx> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        if let Some(h) = &ctx.cfg.client_ip_header {
            if let Some(ip) = parts
                .headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
            {
                return Ok(ClientIp(ip));
            }
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(ip))
    }
}

/// The throttle key of a client address under `prefix`.
pub fn ip_key(prefix: &str, ip: IpAddr) -> String {
    format!("{prefix}:{ip}")
}

/// Counts events per key in a sliding window; used for login failures and status lookups.
/// Kept in memory per node: a restart forgets it, which only ever loosens a limit briefly.
#[derive(Debug, Default)]
pub struct Window {
    hits: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Window {
    pub fn count(&self, key: &str, within: Duration) -> usize {
        let mut m = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match m.get_mut(key) {
            Some(v) => {
                v.retain(|t| now.duration_since(*t) < within);
                v.len()
            }
            None => 0,
        }
    }

    /// Counts one event for `key` unless `max` already happened within `within`; false
    /// when refused. Counting and checking are one step, so parallel requests cannot all
    /// slip under the limit.
    pub fn allow(&self, key: &str, within: Duration, max: usize) -> bool {
        let mut m = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if m.len() > 100_000 {
            m.clear();
        }
        let v = m.entry(key.to_string()).or_default();
        v.retain(|t| now.duration_since(*t) < within);
        if v.len() >= max {
            return false;
        }
        v.push(now);
        true
    }

    pub fn hit(&self, key: &str) {
        let mut m = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 100_000 {
            // Bounded memory under a flood of distinct keys.
            m.clear();
        }
        m.entry(key.to_string()).or_default().push(Instant::now());
    }

    pub fn clear(&self, key: &str) {
        let mut m = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; hotline_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }

    #[test]
    fn window_counts_and_clears() {
        let w = Window::default();
        w.hit("k");
        w.hit("k");
        assert_eq!(w.count("k", Duration::from_secs(60)), 2);
        w.clear("k");
        assert_eq!(w.count("k", Duration::from_secs(60)), 0);
    }
}
