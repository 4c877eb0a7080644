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

/// The NAT rule (docs/media-config.md): with `latch = "nat"` a leg may be behind NAT (or on
/// a host with several addresses) when its SDP names another address than the one its
/// signalling came from, typically a private one; it may then latch once, early, to a
/// source with the signalling's IP, which a stranger elsewhere does not have. Anything else
/// is sent to, and heard from, the SDP address only.
pub(crate) fn latching(policy: Latch, sdp: SocketAddr, signalling: Option<IpAddr>) -> Latching {
    match policy {
        Latch::Never => Latching::Off,
        Latch::Always => Latching::Once { from_ip: None },
        Latch::Nat => match signalling {
            Some(ip) if ip != sdp.ip() => Latching::Once { from_ip: Some(ip) },
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
    fn only_a_leg_whose_sdp_names_another_address_may_latch_to_its_signalling_ip() {
        let public: IpAddr = "203.0.113.9".parse().expect("ip");
        let nat = Latching::Once {
            from_ip: Some(public),
        };
        assert_eq!(
            latching(Latch::Nat, at("192.168.1.20:4000"), Some(public)),
            nat
        );
        assert_eq!(
            latching(Latch::Nat, at("100.64.3.2:4000"), Some(public)),
            nat,
            "carrier-grade NAT space"
        );
        assert_eq!(
            latching(Latch::Nat, at("203.0.113.9:4000"), Some(public)),
            Latching::Off,
            "media where the signalling is: no NAT between"
        );
        assert_eq!(
            latching(Latch::Nat, at("127.0.0.1:4000"), None),
            Latching::Off,
            "no signalling address known"
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
