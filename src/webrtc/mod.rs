//! WebRTC legs for browsers: an operator's console tab is their phone. Knows nothing of SIP,
//! queues or the web; the web layer carries the SDP over its own authenticated WebSocket.
//!
//! A leg is ICE-lite (the browser is the controlling agent; we only answer its checks),
//! DTLS-SRTP with rtcp-mux, G.711 (PCMU/PCMA: no transcoding) and RFC 4733 telephone-events
//! (the page's keypad, passed on to the caller by the bridge), driven by `str0m`, which
//! does no I/O of its own. Each leg owns one UDP socket from the RTP port range and a
//! [`MediaSession`](crate::media::MediaSession) of its own on loopback: audio is relayed
//! between the two as plain RTP, so everything that works on a desk phone's leg (bridge,
//! hold music, recording, listen/whisper, statistics) works on a browser's unchanged.
//!
//! ```text
//! browser ══ SRTP (ICE-lite, DTLS) ══ leg socket ── str0m ── relay ── RTP ── MediaSession
//! ```
//!
//! The files: `leg` (one browser's leg and the task that drives it); `tests` (a second str0m
//! plays the browser).

mod leg;
#[cfg(test)]
mod tests;

pub use leg::{BrowserLeg, LegHandle};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::media::{MediaError, PortPool};

/// Why a browser's offer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    /// The offer is not SDP, or offers nothing we can answer (no PCMU/PCMA audio).
    #[error("unusable offer: {0}")]
    Offer(String),
    /// No port or no media session for the leg.
    #[error("media: {0}")]
    Media(#[from] MediaError),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Makes browser legs; cheap to clone.
#[derive(Clone, Debug)]
pub struct Gateway {
    pool: Arc<PortPool>,
    /// The address browsers reach us at (our ICE host candidate).
    candidate_ip: IpAddr,
}

impl Gateway {
    /// Legs take their ports from `pool`. Browsers are told to reach us at `[media]
    /// advertised_ip`, else the bind address, else loopback (a wildcard bind with no
    /// advertised address works for a browser on this machine only).
    pub fn new(pool: Arc<PortPool>) -> Gateway {
        let cfg = pool.config();
        let candidate_ip = match (cfg.advertised_ip, cfg.bind_ip) {
            (Some(ip), _) => ip,
            (None, ip) if !ip.is_unspecified() => ip,
            (None, _) => {
                tracing::warn!(
                    "[media] advertised_ip is not set and RTP binds to a wildcard: browser \
                     softphones work only on this machine"
                );
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
        };
        // One process-wide choice of crypto for DTLS-SRTP (pure Rust: no C library).
        static CRYPTO: std::sync::Once = std::sync::Once::new();
        CRYPTO.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
        Gateway { pool, candidate_ip }
    }

    /// Answers a browser's SDP offer: a new leg, already listening, and the SDP answer to
    /// send back. The leg ends on its own when ICE consent or DTLS fails, when the
    /// browser never connects, or when it falls silent (its network died).
    pub fn answer(&self, offer_sdp: &str) -> Result<(BrowserLeg, String), WebRtcError> {
        leg::answer(&self.pool, self.candidate_ip, offer_sdp)
    }
}

/// `addr` with a wildcard IP replaced by loopback: where a socket bound to all addresses is
/// reached from this machine.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}
