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

/// The client's address: the TCP peer, or — when the peer is one of `[web]
/// trusted_proxies` — the right-most address of the forwarding header that is not a trusted
/// proxy itself. Entries further left were written by the client and prove nothing.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Ctx> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let name = ctx
            .cfg
            .client_ip_header
            .as_deref()
            .unwrap_or("x-forwarded-for");
        let forwarded = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientIp(client_ip(peer, &forwarded, &ctx.trusted_proxies)))
    }
}

/// `::ffff:192.0.2.1` is 192.0.2.1.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Who sent a request that reached us from `peer` with the forwarding header `forwarded`
/// (comma-separated, oldest hop first, each proxy appending the address it saw).
pub fn client_ip(peer: IpAddr, forwarded: &str, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(&ip));
    let mut client = canonical(peer);
    if !is_trusted(client) {
        return client;
    }
    for hop in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    return client;
                }
            }
            // Garbage written by the client: the last hop a proxy vouched for stands.
            Err(_) => return client,
        }
    }
    client
}

/// A list of addresses and CIDR networks (`[web] trusted_proxies`, `metrics_allow`); a
/// plain address is a network of one. Wrong entries are logged and left out (trusting
/// less, never more).
pub fn parse_networks(key: &str, entries: &[String]) -> Vec<ipnet::IpNet> {
    entries
        .iter()
        .filter_map(|e| {
            let e = e.trim();
            e.parse::<ipnet::IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| tracing::error!(key, entry = %e, "[web]: not an address or CIDR network, ignored"))
                .ok()
        })
        .collect()
}

/// The throttle key of a client address under `prefix`. An IPv6 client usually holds a
/// whole /64, so its addresses count as one.
pub fn ip_key(prefix: &str, ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{prefix}:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        v4 => format!("{prefix}:{v4}"),
    }
}

/// Keys remembered by one [`Window`]; beyond it the key hit longest ago is forgotten.
const WINDOW_KEYS: usize = 100_000;

/// Counts events per key in a sliding window; used for login attempts, status lookups and
/// Open311 reads. Kept in memory per node: a restart forgets it, which only ever loosens a
/// limit briefly. Memory is bounded by forgetting the key that was hit longest ago, never
/// by forgetting everyone (which would hand a flood of new keys a fresh start).
#[derive(Debug)]
pub struct Window {
    keys: Mutex<Keys>,
    cap: usize,
}

#[derive(Debug, Default)]
struct Keys {
    hits: HashMap<String, (Vec<Instant>, u64)>,
    /// Keys by the sequence number of their last hit: the first is the stalest.
    order: std::collections::BTreeMap<u64, String>,
    seq: u64,
}

impl Keys {
    /// The hits of `key`, now the most recently touched; a new key may push out the stalest.
    fn touch(&mut self, key: &str, cap: usize) -> &mut Vec<Instant> {
        self.seq += 1;
        let seq = self.seq;
        if let Some((_, old)) = self.hits.get(key) {
            let old = *old;
            self.order.remove(&old);
        } else {
            while self.hits.len() >= cap.max(1) {
                match self.order.pop_first() {
                    Some((_, stale)) => {
                        self.hits.remove(&stale);
                    }
                    None => break,
                }
            }
        }
        self.order.insert(seq, key.to_string());
        let e = self.hits.entry(key.to_string()).or_default();
        e.1 = seq;
        &mut e.0
    }

    fn forget(&mut self, key: &str) {
        if let Some((_, seq)) = self.hits.remove(key) {
            self.order.remove(&seq);
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::with_capacity(WINDOW_KEYS)
    }
}

impl Window {
    pub fn with_capacity(cap: usize) -> Self {
        Window {
            keys: Mutex::new(Keys::default()),
            cap,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn count(&self, key: &str, within: Duration) -> usize {
        let mut k = self.lock();
        let now = Instant::now();
        match k.hits.get_mut(key) {
            Some((v, _)) => {
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
        self.allow_all(&[(key, max)], within)
    }

    /// [`Window::allow`] for several keys at once: one event for each, or (when any key is
    /// at its limit) for none.
    pub fn allow_all(&self, keys: &[(&str, usize)], within: Duration) -> bool {
        let mut k = self.lock();
        let now = Instant::now();
        for (key, max) in keys {
            if let Some((v, _)) = k.hits.get_mut(*key) {
                v.retain(|t| now.duration_since(*t) < within);
                if v.len() >= *max {
                    return false;
                }
            } else if *max == 0 {
                return false;
            }
        }
        for (key, _) in keys {
            k.touch(key, self.cap).push(now);
        }
        true
    }

    pub fn hit(&self, key: &str) {
        self.lock().touch(key, self.cap).push(Instant::now());
    }

    /// Takes back the latest event of `key` (an attempt that turned out not to count).
    pub fn unhit(&self, key: &str) {
        let mut k = self.lock();
        if let Some((v, _)) = k.hits.get_mut(key) {
            v.pop();
        }
    }

    pub fn clear(&self, key: &str) {
        self.lock().forget(key);
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.lock().hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn a_full_window_forgets_the_stalest_key_not_everyone() {
        let w = Window::with_capacity(3);
        let min = Duration::from_secs(60);
        for _ in 0..5 {
            w.hit("attacked");
        }
        w.hit("a");
        w.hit("b");
        w.hit("attacked");
        w.hit("c");
        assert_eq!(w.len(), 3);
        assert_eq!(w.count("a", min), 0, "the stalest key went");
        assert_eq!(w.count("attacked", min), 6, "the busy key stays counted");
        for i in 0..1000 {
            w.hit(&format!("flood{i}"));
        }
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn allow_counts_before_the_work() {
        let w = Window::default();
        let min = Duration::from_secs(60);
        let granted = (0..50)
            .filter(|_| w.allow_all(&[("n:a", 5), ("ip:x", 20)], min))
            .count();
        assert_eq!(granted, 5);
        assert_eq!(w.count("ip:x", min), 5, "a refused attempt takes no slot");
        w.unhit("ip:x");
        assert_eq!(w.count("ip:x", min), 4);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key("ip", a), ip_key("ip", b));
        assert_ne!(ip_key("ip", a), ip_key("ip", c));
        assert_eq!(ip_key("ip", "192.0.2.7".parse().unwrap()), "ip:192.0.2.7");
        assert_eq!(
            ip_key("ip", "::ffff:192.0.2.7".parse().unwrap()),
            "ip:192.0.2.7"
        );
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let proxies = parse_networks(
            "trusted_proxies",
            &["10.0.0.0/8".into(), "192.0.2.1".into(), "nonsense".into()],
        );
        assert_eq!(proxies.len(), 2);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // From a stranger: the header is the stranger's own claim.
        assert_eq!(
            client_ip(ip("198.51.100.5"), "203.0.113.9", &proxies),
            ip("198.51.100.5")
        );
        // Through our proxy: the right-most hop it did not append itself.
        assert_eq!(
            client_ip(ip("10.1.1.1"), "1.2.3.4, 203.0.113.9", &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.1.1.1"), "203.0.113.9, 192.0.2.1", &proxies),
            ip("203.0.113.9"),
            "a chain of trusted proxies is skipped"
        );
        assert_eq!(client_ip(ip("10.1.1.1"), "", &proxies), ip("10.1.1.1"));
        assert_eq!(
            client_ip(ip("10.1.1.1"), "junk, 10.2.2.2", &proxies),
            ip("10.2.2.2")
        );
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
