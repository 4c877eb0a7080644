//! Answers REGISTER transactions: digest authentication ([`super::auth_digest`]), a lockout
//! for addresses that keep guessing, the registrar's rules ([`super::registrar`]) and the
//! bindings in the database ([`super::location`]).
//!
//! ```text
//! REGISTER (no Authorization)        → 401 + WWW-Authenticate (SHA-256, MD5)
//! REGISTER + Authorization, good     → 200 + Contact;expires=… for every binding
//! REGISTER + Authorization, stale    → 401 + …, stale=true
//! REGISTER + Authorization, wrong    → 401 again (403 once the address is locked out)
//! Contact expiry below the minimum   → 423 + Min-Expires
//! REGISTER + Path (through Kamailio) → Path kept with the binding; echoed in the 200 when
//!                                      the phone sent `Supported: path` (RFC 3327 §5.3)
//! ```
//!
//! A Path from a phone that does not list `path` in Supported is still kept rather than
//! refused with 420: the proxy that wrote it is the operator's own balancer, and most desk
//! phones never announce the extension.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tracing::{info, warn};

use super::auth_digest::{Algorithm, Answer, Digest, Refused, StoredHa1};
use super::config::SipConfig;
use super::location::Location;
use super::registrar::{self, Limits, Register, Reply};

/// Where the registrar finds an account's SIP credentials; the layer above implements it
/// (the SIP user name is the console account's name).
#[async_trait::async_trait]
pub trait Directory: Send + Sync + 'static {
    /// The stored HA1s of an active account that has a SIP password, for `realm`.
    async fn sip_credentials(&self, user: &str, realm: &str) -> Option<StoredHa1>;
}

/// Settings of the lockout of addresses that keep sending wrong passwords.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    pub failures: u32,
    pub window: Duration,
    pub duration: Duration,
}

/// The registrar of one node.
pub struct RegistrarUas {
    digest: Digest,
    limits: Limits,
    location: Location,
    directory: Arc<dyn Directory>,
    lockout: Lockout,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

impl RegistrarUas {
    pub fn new(
        digest: Digest,
        limits: Limits,
        location: Location,
        directory: Arc<dyn Directory>,
        lockout: Lockout,
    ) -> RegistrarUas {
        RegistrarUas {
            digest,
            limits,
            location,
            directory,
            lockout,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The registrar `cfg` describes, with a fresh nonce secret.
    pub fn from_config(
        cfg: &SipConfig,
        location: Location,
        directory: Arc<dyn Directory>,
    ) -> RegistrarUas {
        let r = &cfg.registrar;
        let algorithms = r
            .algorithms
            .iter()
            .filter_map(|a| Algorithm::parse(a))
            .collect();
        let digest = Digest::new(
            cfg.realm.clone(),
            rand::random(),
            Duration::from_secs(r.nonce_lifetime_secs.max(1)),
        )
        .with_algorithms(algorithms);
        let limits = Limits {
            min_expires: r.min_expires,
            max_expires: r.max_expires.max(r.min_expires),
            default_expires: r.default_expires,
            max_contacts: r.max_contacts.max(1),
        };
        let lockout = Lockout {
            failures: r.lockout_failures.max(1),
            window: Duration::from_secs(r.lockout_window_secs),
            duration: Duration::from_secs(r.lockout_secs),
        };
        RegistrarUas::new(digest, limits, location, directory, lockout)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    fn locked(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ip)
            .and_then(|f| f.locked_until)
            .is_some_and(|t| t > now)
    }

    /// Counts a wrong answer; true when this one locks the address out.
    fn failed(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 50_000 {
            map.retain(|_, f| {
                now.duration_since(f.since) < self.lockout.window
                    || f.locked_until.is_some_and(|t| t > now)
            });
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(f.since) > self.lockout.window {
            *f = Failures {
                count: 0,
                since: now,
                locked_until: None,
            };
        }
        f.count += 1;
        if f.count >= self.lockout.failures && f.locked_until.is_none() {
            f.locked_until = Some(now + self.lockout.duration);
            return true;
        }
        false
    }

    fn succeeded(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&ip).is_some_and(|f| f.locked_until.is_none()) {
            map.remove(&ip);
        }
    }

    /// Checks a request's digest credentials (RFC 3261 §22) for the account named in its
    /// From (INVITE, answered with 407 and Proxy-Authenticate) or To (REGISTER, 401 and
    /// WWW-Authenticate). Answers the request itself when the credentials are missing or
    /// wrong (a new challenge, or 403 while the address is locked out) and returns `None`;
    /// returns the account's name when they are right.
    pub async fn authenticate(&self, tx: &mut Transaction, ip: IpAddr) -> Option<String> {
        let proxy = tx.original.method == Method::Invite;
        if self.locked(ip) {
            reply(tx, StatusCode::Forbidden, vec![]).await;
            return None;
        }
        let named = if proxy {
            tx.original.from_header().ok().and_then(|h| h.uri().ok())
        } else {
            tx.original.to_header().ok().and_then(|h| h.uri().ok())
        };
        let user = named
            .and_then(|u| u.auth.map(|a| a.user))
            .unwrap_or_default();
        let authorization = tx.original.headers.iter().find_map(|h| match h {
            Header::Authorization(a) if !proxy => Some(a.value().to_string()),
            Header::ProxyAuthorization(a) if proxy => Some(a.value().to_string()),
            _ => None,
        });
        let Some(authorization) = authorization else {
            self.challenge(tx, false, proxy).await;
            return None;
        };
        let method = tx.original.method.to_string();
        let answer = match Answer::parse(&authorization) {
            Ok(a) => a,
            Err(e) => {
                info!(%ip, %method, error = %e, "unreadable credentials: 400");
                reply(tx, StatusCode::BadRequest, vec![]).await;
                return None;
            }
        };
        let ha1 = if answer.username == user && !user.is_empty() {
            self.directory
                .sip_credentials(&user, self.digest.realm())
                .await
        } else {
            None
        };
        let verdict = match &ha1 {
            Some(ha1) => self.digest.verify(&answer, &method, ha1),
            None => Err(Refused::Wrong),
        };
        match verdict {
            Ok(()) => {
                self.succeeded(ip);
                Some(user)
            }
            Err(Refused::Stale) => {
                self.challenge(tx, true, proxy).await;
                None
            }
            Err(why) => {
                let locked = self.failed(ip);
                warn!(%ip, user = %user, reason = %why, locked, "{method} refused");
                if !proxy {
                    metrics::counter!("hotline_sip_registrations_total", "result" => "refused")
                        .increment(1);
                }
                if locked {
                    reply(tx, StatusCode::Forbidden, vec![]).await;
                } else {
                    self.challenge(tx, false, proxy).await;
                }
                None
            }
        }
    }

    /// Answers one REGISTER; `source` is where it came from (`udp:ip:port`).
    pub async fn handle(&self, tx: &mut Transaction, ip: IpAddr, source: String) {
        let Some(user) = self.authenticate(tx, ip).await else {
            return;
        };

        let headers: Vec<(String, String)> = tx
            .original
            .headers
            .iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect();
        let req = match Register::read(&headers, source) {
            Ok(r) => r,
            Err(e) => {
                info!(%ip, error = %e, "unreadable REGISTER: 400");
                reply(tx, StatusCode::BadRequest, vec![]).await;
                return;
            }
        };
        let current = match self.location.bindings(&user).await {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "reading bindings failed: 500");
                reply(tx, StatusCode::ServerInternalError, vec![]).await;
                return;
            }
        };
        let now = crate::store::now_ms();
        let (verdict, changes) = registrar::plan(now, &current, &req, &self.limits);
        match verdict {
            Reply::Ok => {}
            Reply::IntervalTooBrief { min_expires } => {
                let h = Header::MinExpires(min_expires.to_string().into());
                reply(tx, StatusCode::IntervalTooBrief, vec![h]).await;
                return;
            }
            Reply::BadRequest(why) => {
                info!(%ip, user = %user, why, "REGISTER refused: 400");
                reply(tx, StatusCode::BadRequest, vec![]).await;
                return;
            }
        }
        if let Err(e) = self.location.apply(&user, &changes).await {
            warn!(error = %e, "storing bindings failed: 500");
            reply(tx, StatusCode::ServerInternalError, vec![]).await;
            return;
        }
        let left = registrar::applied(&current, &changes);
        info!(user = %user, contacts = left.len(), path = %req.path.stored(), "registered");
        metrics::counter!("hotline_sip_registrations_total", "result" => "ok").increment(1);
        let mut headers: Vec<Header> = left
            .iter()
            .map(|b| {
                let secs = ((b.expires_at - now).max(0) + 999) / 1000;
                Header::Contact(format!("<{}>;expires={secs}", b.contact).into())
            })
            .collect();
        if req.supports_path && !req.path.is_empty() {
            headers.push(Header::Path(req.path.stored().into()));
        }
        reply(tx, StatusCode::OK, headers).await;
    }

    async fn challenge(&self, tx: &mut Transaction, stale: bool, proxy: bool) {
        let h = self
            .digest
            .challenges(stale)
            .into_iter()
            .map(|c| match proxy {
                true => Header::ProxyAuthenticate(c.into()),
                false => Header::WwwAuthenticate(c.into()),
            })
            .collect();
        let code = match proxy {
            true => StatusCode::ProxyAuthenticationRequired,
            false => StatusCode::Unauthorized,
        };
        reply(tx, code, h).await;
    }
}

async fn reply(tx: &mut Transaction, code: StatusCode, headers: Vec<Header>) {
    if let Err(e) = tx.reply_with(code, headers, None).await {
        warn!(error = %e, "could not answer the request");
    }
}
