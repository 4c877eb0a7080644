//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 8760), server side.
//!
//! rsipstack has digest helpers, but they misprint RFC 8760's algorithm names, compute
//! `-sess` wrongly and read `nc` as decimal, so the registrar issues and checks challenges
//! here. On the wire:
//!
//! ```text
//! SIP/2.0 401 Unauthorized
//! WWW-Authenticate: Digest realm="hotline", nonce="…", opaque="…", algorithm=SHA-256, qop="auth"
//! WWW-Authenticate: Digest realm="hotline", nonce="…", opaque="…", algorithm=MD5, qop="auth"
//!
//! REGISTER sip:hotline SIP/2.0
//! Authorization: Digest username="ops1", realm="hotline", nonce="…", uri="sip:hotline",
//!   response="…", algorithm=SHA-256, cnonce="…", qop=auth, nc=00000001
//! ```
//!
//! One challenge per algorithm, SHA-256 first (RFC 8760 §2.4); the phone answers the first
//! it supports. Passwords are never stored: an account keeps `HA1 = H(user:realm:password)`
//! for each algorithm. Nonces are stateless to check (issue time + random, sealed with an
//! HMAC of a secret), so they work across restarts of one node; they expire after a
//! lifetime (the phone is told `stale=true` and retries without asking its user), and a
//! nonce-count may only grow, so a captured request cannot be replayed.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The hash of a digest exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The name on the wire (RFC 8760 §2.2).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "SHA-256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hex(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an account stores instead of its SIP password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHa1 {
    pub md5: String,
    pub sha256: String,
}

impl StoredHa1 {
    /// `H(username:realm:password)` for both algorithms.
    pub fn new(username: &str, realm: &str, password: &str) -> StoredHa1 {
        let a1 = format!("{username}:{realm}:{password}");
        StoredHa1 {
            md5: Algorithm::Md5.hex(&a1),
            sha256: Algorithm::Sha256.hex(&a1),
        }
    }

    fn get(&self, a: Algorithm) -> &str {
        match a {
            Algorithm::Md5 => &self.md5,
            Algorithm::Sha256 => &self.sha256,
        }
    }
}

/// The fields of an `Authorization` (or `Proxy-Authorization`) header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a Digest credential")]
    NotDigest,
    #[error("unterminated quoted string")]
    Unterminated,
    #[error("missing parameter `{0}`")]
    Missing(&'static str),
}

impl Answer {
    /// Reads `Digest k=v, k="v", …` (quoted values may hold commas and `\"`).
    pub fn parse(header: &str) -> Result<Answer, ParseError> {
        let h = header.trim();
        let rest = match h.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("digest") => rest,
            _ => return Err(ParseError::NotDigest),
        };
        let params = params(rest)?;
        let take = |k: &'static str| params.get(k).cloned();
        let need = |k: &'static str| take(k).ok_or(ParseError::Missing(k));
        Ok(Answer {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm: take("algorithm"),
            cnonce: take("cnonce"),
            opaque: take("opaque"),
            qop: take("qop"),
            nc: take("nc"),
        })
    }
}

/// `k=v` pairs, keys lower-cased.
fn params(s: &str) -> Result<HashMap<String, String>, ParseError> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() && chars.peek().is_none() {
            return Ok(out);
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(e) = chars.next() {
                                value.push(e);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(ParseError::Unterminated);
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        if !key.is_empty() {
            out.insert(key, value);
        }
    }
}

/// Why an answer to a challenge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the nonce was not issued here")]
    ForeignNonce,
    /// The nonce was ours but is too old: challenge again with `stale=true`.
    #[error("the nonce expired")]
    Stale,
    #[error("the nonce count did not grow (a replay)")]
    Replay,
    #[error("realm `{0}` is not ours")]
    Realm(String),
    #[error("algorithm `{0}` is not offered")]
    Algorithm(String),
    #[error("qop `{0}` is not offered")]
    Qop(String),
    #[error("wrong password")]
    Wrong,
}

type HmacSha256 = Hmac<Sha256>;

/// Issues and checks challenges for one realm.
pub struct Digest {
    realm: String,
    /// Offered in this order (RFC 8760: strongest first).
    algorithms: Vec<Algorithm>,
    secret: [u8; 32],
    lifetime: Duration,
    /// Highest nonce-count seen per nonce still within its lifetime.
    counts: Mutex<HashMap<String, (u64, u32)>>,
}

impl Digest {
    /// `secret` seals nonces; a random one per start is fine for one node.
    pub fn new(realm: impl Into<String>, secret: [u8; 32], lifetime: Duration) -> Digest {
        Digest {
            realm: realm.into(),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            secret,
            lifetime,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Offers only `algorithms`, in this order (some phones read only the first challenge).
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Digest {
        if !algorithms.is_empty() {
            self.algorithms = algorithms;
        }
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, issued: u64, salt: &[u8]) -> String {
        let mut m = HmacSha256::new_from_slice(&self.secret).expect("any key length");
        m.update(&issued.to_be_bytes());
        m.update(salt);
        hex::encode(&m.finalize().into_bytes()[..12])
    }

    /// A fresh nonce: `issued-salt-mac`, all hex.
    pub fn nonce(&self) -> String {
        self.nonce_at(now_secs())
    }

    fn nonce_at(&self, issued: u64) -> String {
        let salt: [u8; 8] = rand::random();
        format!(
            "{issued:x}-{}-{}",
            hex::encode(salt),
            self.mac(issued, &salt)
        )
    }

    /// The `WWW-Authenticate` values for a 401, one per offered algorithm.
    pub fn challenges(&self, stale: bool) -> Vec<String> {
        let nonce = self.nonce();
        let opaque = &nonce[nonce.len() - 8..];
        self.algorithms
            .iter()
            .map(|a| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", opaque=\"{opaque}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    a.name(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks `answer` to one of our challenges for `method`, against the account's HA1.
    pub fn verify(&self, answer: &Answer, method: &str, ha1: &StoredHa1) -> Result<(), Refused> {
        self.verify_at(answer, method, ha1, now_secs())
    }

    fn verify_at(
        &self,
        answer: &Answer,
        method: &str,
        ha1: &StoredHa1,
        now: u64,
    ) -> Result<(), Refused> {
        if answer.realm != self.realm {
            return Err(Refused::Realm(answer.realm.clone()));
        }
        let algorithm = match answer.algorithm.as_deref() {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or_else(|| Refused::Algorithm(a.to_string()))?,
        };
        if !self.algorithms.contains(&algorithm) {
            return Err(Refused::Algorithm(algorithm.name().to_string()));
        }
        let issued = self.check_nonce(&answer.nonce)?;
        let ha1 = ha1.get(algorithm);
        let ha2 = algorithm.hex(&format!("{method}:{}", answer.uri));
        let (expected, nc) = match answer.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc_text = answer.nc.as_deref().unwrap_or("");
                let cnonce = answer.cnonce.as_deref().unwrap_or("");
                let nc = u32::from_str_radix(nc_text, 16).map_err(|_| Refused::Replay)?;
                (
                    algorithm.hex(&format!(
                        "{ha1}:{}:{nc_text}:{cnonce}:auth:{ha2}",
                        answer.nonce
                    )),
                    nc,
                )
            }
            Some(q) => return Err(Refused::Qop(q.to_string())),
            // RFC 2069 style (no qop): the nonce may serve once.
            None => (algorithm.hex(&format!("{ha1}:{}:{ha2}", answer.nonce)), 1),
        };
        let ok: bool = expected
            .as_bytes()
            .ct_eq(answer.response.to_ascii_lowercase().as_bytes())
            .into();
        if !ok {
            return Err(Refused::Wrong);
        }
        if now.saturating_sub(issued) > self.lifetime.as_secs() {
            return Err(Refused::Stale);
        }
        self.count(&answer.nonce, issued, nc, now)
    }

    /// The issue time of a nonce we made, or why it is not ours.
    fn check_nonce(&self, nonce: &str) -> Result<u64, Refused> {
        let mut parts = nonce.split('-');
        let (Some(t), Some(salt), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::ForeignNonce);
        };
        let issued = u64::from_str_radix(t, 16).map_err(|_| Refused::ForeignNonce)?;
        let salt = hex::decode(salt).map_err(|_| Refused::ForeignNonce)?;
        let ok: bool = self
            .mac(issued, &salt)
            .as_bytes()
            .ct_eq(mac.as_bytes())
            .into();
        if ok {
            Ok(issued)
        } else {
            Err(Refused::ForeignNonce)
        }
    }

    /// Accepts `nc` only if it is higher than any seen for this nonce.
    fn count(&self, nonce: &str, issued: u64, nc: u32, now: u64) -> Result<(), Refused> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let life = self.lifetime.as_secs();
        if counts.len() > 10_000 {
            counts.retain(|_, (t, _)| now.saturating_sub(*t) <= life);
        }
        match counts.get_mut(nonce) {
            Some((_, seen)) if nc <= *seen => Err(Refused::Replay),
            Some((_, seen)) => {
                *seen = nc;
                Ok(())
            }
            None => {
                counts.insert(nonce.to_string(), (issued, nc));
                Ok(())
            }
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::new("hotline", [7; 32], Duration::from_secs(300))
    }

    /// What a phone computes for a challenge.
    fn answer(d: &Digest, nonce: &str, a: Algorithm, password: &str, nc: u32) -> Answer {
        let ha1 = a.hex(&format!("ops1:{}:{password}", d.realm()));
        let uri = "sip:hotline";
        let ha2 = a.hex(&format!("REGISTER:{uri}"));
        let nc = format!("{nc:08x}");
        Answer {
            username: "ops1".into(),
            realm: d.realm().into(),
            nonce: nonce.into(),
            uri: uri.into(),
            response: a.hex(&format!("{ha1}:{nonce}:{nc}:abc:auth:{ha2}")),
            algorithm: Some(a.name().into()),
            cnonce: Some("abc".into()),
            opaque: None,
            qop: Some("auth".into()),
            nc: Some(nc),
        }
    }

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5, with qop=auth and MD5.
        let ha1 = Algorithm::Md5.hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = Algorithm::Md5.hex("GET:/dir/index.html");
        let r = Algorithm::Md5.hex(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn sha256_and_md5_answers_are_accepted() {
        let d = digest();
        let ha1 = StoredHa1::new("ops1", "hotline", "s3cret");
        for a in [Algorithm::Sha256, Algorithm::Md5] {
            let n = d.nonce();
            assert_eq!(
                d.verify(&answer(&d, &n, a, "s3cret", 1), "REGISTER", &ha1),
                Ok(())
            );
        }
    }

    #[test]
    fn wrong_password_is_refused() {
        let d = digest();
        let ha1 = StoredHa1::new("ops1", "hotline", "s3cret");
        let n = d.nonce();
        let a = answer(&d, &n, Algorithm::Sha256, "guess", 1);
        assert_eq!(d.verify(&a, "REGISTER", &ha1), Err(Refused::Wrong));
    }

    #[test]
    fn replayed_nonce_count_is_refused_and_a_higher_one_accepted() {
        let d = digest();
        let ha1 = StoredHa1::new("ops1", "hotline", "s3cret");
        let n = d.nonce();
        let first = answer(&d, &n, Algorithm::Sha256, "s3cret", 1);
        assert_eq!(d.verify(&first, "REGISTER", &ha1), Ok(()));
        assert_eq!(d.verify(&first, "REGISTER", &ha1), Err(Refused::Replay));
        // nc is hex: 0x10 follows 0x0f (a decimal reader would stumble here).
        let a = answer(&d, &n, Algorithm::Sha256, "s3cret", 0x0f);
        assert_eq!(d.verify(&a, "REGISTER", &ha1), Ok(()));
        let a = answer(&d, &n, Algorithm::Sha256, "s3cret", 0x10);
        assert_eq!(d.verify(&a, "REGISTER", &ha1), Ok(()));
    }

    #[test]
    fn old_nonce_is_stale_and_foreign_nonce_refused() {
        let d = digest();
        let ha1 = StoredHa1::new("ops1", "hotline", "s3cret");
        let old = d.nonce_at(now_secs() - 301);
        let a = answer(&d, &old, Algorithm::Sha256, "s3cret", 1);
        assert_eq!(d.verify(&a, "REGISTER", &ha1), Err(Refused::Stale));
        let other = Digest::new("hotline", [8; 32], Duration::from_secs(300));
        let n = other.nonce();
        let a = answer(&d, &n, Algorithm::Sha256, "s3cret", 1);
        assert_eq!(d.verify(&a, "REGISTER", &ha1), Err(Refused::ForeignNonce));
    }

    #[test]
    fn parses_quoted_values_with_commas_and_escapes() {
        let h = r#"Digest username="ops1", realm="hotline", nonce="a-b-c", uri="sip:x;a=1,2", response="ff", algorithm=SHA-256, cnonce="q\"x", qop=auth, nc=00000001"#;
        let a = Answer::parse(h).unwrap();
        assert_eq!(a.uri, "sip:x;a=1,2");
        assert_eq!(a.cnonce.as_deref(), Some("q\"x"));
        assert_eq!(a.algorithm.as_deref(), Some("SHA-256"));
        assert_eq!(a.nc.as_deref(), Some("00000001"));
        assert_eq!(Answer::parse("Basic abc"), Err(ParseError::NotDigest));
        assert_eq!(
            Answer::parse(r#"Digest username="x"#),
            Err(ParseError::Unterminated)
        );
        assert_eq!(
            Answer::parse(r#"Digest username="x""#),
            Err(ParseError::Missing("realm"))
        );
    }

    #[test]
    fn challenges_offer_sha256_before_md5() {
        let c = digest().challenges(true);
        assert!(c[0].contains("algorithm=SHA-256") && c[0].contains("stale=true"));
        assert!(c[1].contains("algorithm=MD5"));
    }
}
