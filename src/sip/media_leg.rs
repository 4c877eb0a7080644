//! The glue between SDP results and the media layer: the RTP port pool and one media
//! session per call leg, driven by what offer/answer negotiated, and the NAT rule that
//! decides whether a leg may latch to another RTP source.

use std::net::{IpAddr, SocketAddr};

use super::error::CallError;
use super::sdp::{Codec, Direction, Negotiated};
use crate::media::{self, Latch, Latching, MediaConfig, MediaSession, PortPool, StreamParams};

/// Shared media context: the RTP port pool and the address for our SDP.
pub(crate) struct MediaCtx {
    pool: PortPool,
    ip: IpAddr,
    latch: Latch,
}

/// Whether an address is one a NAT hides: RFC 1918, shared (RFC 6598), link-local, or an
/// IPv6 unique-local/link-local address.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The NAT rule (docs/media-config.md): with `latch = "nat"` a leg is behind NAT when its
/// SDP names a private address while its signalling came from another address; it may then
/// latch once, early, to a source with the signalling's IP. Anything else is sent to, and
/// heard from, the SDP address only.
pub(crate) fn latching(policy: Latch, sdp: SocketAddr, signalling: Option<IpAddr>) -> Latching {
    match policy {
        Latch::Never => Latching::Off,
        Latch::Always => Latching::Once { from_ip: None },
        Latch::Nat => match signalling {
            Some(ip) if is_private(sdp.ip()) && ip != sdp.ip() => {
                Latching::Once { from_ip: Some(ip) }
            }
            _ => Latching::Off,
        },
    }
}

impl MediaCtx {
    pub(crate) fn new(cfg: MediaConfig, sip_ip: IpAddr) -> Result<Self, CallError> {
        let pool = PortPool::new(&cfg).map_err(|e| CallError::Media(e.to_string()))?;
        // SDP carries the media layer's advertised/bind IP, or our SIP IP for a wildcard.
        let ip = cfg
            .advertised_ip
            .or(Some(cfg.bind_ip).filter(|ip| !ip.is_unspecified()))
            .unwrap_or(sip_ip);
        Ok(Self {
            pool,
            ip,
            latch: cfg.latch,
        })
    }
    /// A media session for a leg whose signalling peer is `peer` (where its requests came
    /// from, or where ours go).
    pub(crate) async fn open(&self, peer: Option<IpAddr>) -> Result<MediaHandle, CallError> {
        let session =
            MediaSession::open(&self.pool).map_err(|e| CallError::Media(e.to_string()))?;
        let addr = SocketAddr::new(self.ip, session.local_addr().port());
        Ok(MediaHandle {
            session,
            addr,
            latch: self.latch,
            peer,
        })
    }
}

/// One call leg's media session, driven from SDP results.
pub(crate) struct MediaHandle {
    pub(crate) session: MediaSession,
    addr: SocketAddr,
    latch: Latch,
    peer: Option<IpAddr>,
}

fn media_dir(d: Direction) -> media::Direction {
    match d {
        Direction::SendRecv => media::Direction::SendRecv,
        Direction::SendOnly => media::Direction::SendOnly,
        Direction::RecvOnly => media::Direction::RecvOnly,
        Direction::Inactive => media::Direction::Inactive,
    }
}

fn params(neg: &Negotiated, remote: SocketAddr) -> StreamParams {
    StreamParams {
        remote,
        codec: match neg.codec {
            Codec::Pcmu => media::Codec::Pcmu,
            Codec::Pcma => media::Codec::Pcma,
        },
        payload_type: neg.payload_type,
        dtmf_payload_type: neg.dtmf_payload_type,
        ptime_ms: neg.ptime_ms,
    }
}

impl MediaHandle {
    /// Address for our SDP.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    pub(crate) fn start(&self, neg: &Negotiated, dir: Direction) {
        self.update(neg, dir)
    }
    pub(crate) fn update(&self, neg: &Negotiated, dir: Direction) {
        // With c=0.0.0.0 (old-style hold) there is no address: keep the old one.
        if let Some(remote) = neg.remote {
            self.session
                .set_latching(latching(self.latch, remote, self.peer));
            self.session.update(params(neg, remote));
        }
        self.session.set_direction(media_dir(dir));
    }
    pub(crate) fn push_digit(&self, d: char) {
        if let Some(d) = media::Digit::from_char(d) {
            self.session.push_digit(d);
        }
    }
    pub(crate) fn close(&self) {
        self.session.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn only_a_private_sdp_address_behind_another_source_may_latch() {
        let public: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(
            latching(Latch::Nat, at("192.168.1.20:4000"), Some(public)),
            Latching::Once {
                from_ip: Some(public)
            }
        );
        assert_eq!(
            latching(Latch::Nat, at("100.64.3.2:4000"), Some(public)),
            Latching::Once {
                from_ip: Some(public)
            },
            "carrier-grade NAT space"
        );
        assert_eq!(
            latching(Latch::Nat, at("198.51.100.7:4000"), Some(public)),
            Latching::Off,
            "a public SDP address is where the media goes"
        );
        assert_eq!(
            latching(
                Latch::Nat,
                at("10.0.0.5:4000"),
                Some("10.0.0.5".parse().expect("ip"))
            ),
            Latching::Off,
            "same host for signalling and media: no NAT between"
        );
        assert_eq!(
            latching(
                Latch::Nat,
                at("127.0.0.1:4000"),
                Some("127.0.0.2".parse().expect("ip"))
            ),
            Latching::Off
        );
        assert_eq!(
            latching(Latch::Always, at("198.51.100.7:4000"), None),
            Latching::Once { from_ip: None }
        );
        assert_eq!(
            latching(Latch::Never, at("192.168.1.20:4000"), Some(public)),
            Latching::Off
        );
    }
}
