//! `[sip]` section of the configuration.
//!
//! ```toml
//! [sip]
//! listen_udp = ["0.0.0.0:5060"]
//! listen_tcp = ["0.0.0.0:5060"]
//! public_addr = "203.0.113.10"
//! max_calls = 500
//! [sip.destinations]
//! operators = "sip:ops@127.0.0.1:5070"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Signalling settings: where we listen, how many calls we take, where bridges go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP listen addresses (`ip:port`); port 0 picks a free one (tests).
    pub listen_udp: Vec<SocketAddr>,
    /// TCP listen addresses (`ip:port`).
    pub listen_tcp: Vec<SocketAddr>,
    /// Address written into Contact, Via and SDP `c=` when behind NAT; empty = the listen IP.
    pub public_addr: Option<String>,
    /// Our SIP domain (From of outbound calls, Server-side identity).
    pub domain: String,
    /// Digest realm, for the registrar (operator phones).
    pub realm: String,
    /// Concurrent calls taken at most; past it new INVITEs get 503 with Retry-After.
    pub max_calls: usize,
    /// Seconds suggested in Retry-After of a 503.
    pub retry_after_secs: u32,
    /// New INVITEs accepted per source IP per second (token bucket rate); 0 = unlimited.
    pub rate_limit_per_ip: f64,
    /// Burst allowed per source IP above the rate.
    pub rate_limit_burst: f64,
    /// On shutdown: seconds calls in progress may run before they are hung up.
    pub drain_timeout_secs: u64,
    /// Seconds to wait for the ACK of our 2xx before giving the call up (RFC 3261: 64·T1).
    pub ack_timeout_secs: u64,
    /// Send 180 Ringing before answering (only useful when the handler rings first).
    pub send_ringing: bool,
    /// Named bridge targets, e.g. `operators = "sip:ops@127.0.0.1:5070"`.
    pub destinations: BTreeMap<String, String>,
    /// User-Agent / Server header value.
    pub user_agent: String,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen_udp: vec!["0.0.0.0:5060".parse().expect("literal address")],
            listen_tcp: vec!["0.0.0.0:5060".parse().expect("literal address")],
            public_addr: None,
            domain: "12345.local".into(),
            realm: "12345.local".into(),
            max_calls: 500,
            retry_after_secs: 5,
            rate_limit_per_ip: 0.0,
            rate_limit_burst: 50.0,
            drain_timeout_secs: 300,
            ack_timeout_secs: 32,
            send_ringing: false,
            destinations: BTreeMap::new(),
            user_agent: "hotline-12345".into(),
        }
    }
}
