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
//! [sip.registrar]
//! enabled = true
//! algorithms = ["MD5", "SHA-256"]
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
    /// Past it: 503 with Retry-After.
    pub rate_limit_per_ip: f64,
    /// Burst allowed per source IP above the rate.
    pub rate_limit_burst: f64,
    /// Calls being set up (INVITE taken, no ACK yet) at most, all sources together. They
    /// do not count against `max_calls`; when this is full the oldest is given up, so
    /// INVITEs that are never ACKed (spoofed sources) cannot keep real callers out.
    pub max_unconfirmed: usize,
    /// Calls being set up from one source IP at most; past it new INVITEs get 503.
    pub max_unconfirmed_per_ip: usize,
    /// SIP requests over UDP taken per source IP per second before the rest are dropped
    /// unread (scanner floods); 0 = unlimited.
    pub udp_requests_per_ip: f64,
    /// Burst allowed per source IP above `udp_requests_per_ip`.
    pub udp_requests_burst: f64,
    /// Concurrent SIP connections over TCP at most; further ones are closed at once.
    pub max_tcp_connections: usize,
    /// Concurrent SIP connections over TCP from one source IP at most.
    pub max_tcp_per_ip: usize,
    /// Seconds a new TCP connection may stay silent before its first byte; then closed.
    pub tcp_first_message_secs: u64,
    /// Seconds a TCP connection may stay silent once it spoke; then closed (0 = never).
    pub tcp_idle_secs: u64,
    /// Source IPs the per-IP limits above do not apply to (a carrier trunk, the SIP
    /// balancer in front of several nodes): all their calls come from one address.
    pub trusted_sources: Vec<std::net::IpAddr>,
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
    /// The registrar for operator phones.
    pub registrar: RegistrarConfig,
    /// Carrier trunks and SBCs (addresses or networks, `"192.0.2.10"`, `"10.1.0.0/16"`)
    /// whose P-Asserted-Identity names the caller. From anywhere else it is ignored, and the
    /// caller's number is only what they claim (never proof of owning a ticket).
    pub trusted_peers: Vec<ipnet::IpNet>,
}

/// `[sip.registrar]`: operator phones register here with their console name and SIP
/// password (`hotline user sip-password NAME`), digest-authenticated in `realm`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    /// Answer REGISTER at all (off: 405, as for any unknown method).
    pub enabled: bool,
    /// Digest algorithms offered, one challenge each, in this order. RFC 8760 would put
    /// SHA-256 first, but many phones read only the first challenge and know only MD5
    /// (SIPp 3.6, older desk phones), so MD5 comes first by default. baresip 1.x gives up
    /// on any challenge it does not know: such phones need `["MD5"]`. A city whose phones
    /// all speak SHA-256 sets `["SHA-256"]` and MD5 is refused.
    pub algorithms: Vec<String>,
    /// Seconds a nonce is good for; an older one gets `stale=true`.
    pub nonce_lifetime_secs: u64,
    /// Shorter registrations get 423 Interval Too Brief with this Min-Expires.
    pub min_expires: u32,
    /// Longer registrations are cut to this.
    pub max_expires: u32,
    /// Expiry of a contact that names none (nor an Expires header).
    pub default_expires: u32,
    /// Phones one account may register at once.
    pub max_contacts: usize,
    /// Wrong answers from one address within `lockout_window_secs` before it is locked out.
    pub lockout_failures: u32,
    pub lockout_window_secs: u64,
    /// How long a locked-out address gets 403.
    pub lockout_secs: u64,
    /// Seconds between OPTIONS pings to every registered phone (keeps NAT bindings open and
    /// finds phones that went away); 0 = no pings.
    pub keepalive_secs: u64,
    /// Unanswered pings in a row after which a binding is removed.
    pub keepalive_misses: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            algorithms: vec!["MD5".into(), "SHA-256".into()],
            nonce_lifetime_secs: 300,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 5,
            lockout_failures: 5,
            lockout_window_secs: 300,
            lockout_secs: 900,
            keepalive_secs: 30,
            keepalive_misses: 3,
        }
    }
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
            rate_limit_per_ip: 10.0,
            rate_limit_burst: 20.0,
            max_unconfirmed: 50,
            max_unconfirmed_per_ip: 10,
            udp_requests_per_ip: 200.0,
            udp_requests_burst: 400.0,
            max_tcp_connections: 1000,
            max_tcp_per_ip: 20,
            tcp_first_message_secs: 10,
            tcp_idle_secs: 300,
            trusted_sources: vec![],
            drain_timeout_secs: 300,
            ack_timeout_secs: 32,
            send_ringing: false,
            destinations: BTreeMap::new(),
            user_agent: "hotline-12345".into(),
            registrar: RegistrarConfig::default(),
            trusted_peers: Vec::new(),
        }
    }
}
