//! The glue between SDP results and the media layer: the RTP port pool and one media
//! session per call leg, driven by what offer/answer negotiated.

use std::net::{IpAddr, SocketAddr};

use super::error::CallError;
use super::sdp::{Codec, Direction, Negotiated};
use crate::media::{self, MediaConfig, MediaSession, PortPool, StreamParams};

/// Shared media context: the RTP port pool and the address for our SDP.
pub(crate) struct MediaCtx {
    pool: PortPool,
    ip: IpAddr,
}

impl MediaCtx {
    pub(crate) fn new(cfg: MediaConfig, sip_ip: IpAddr) -> Result<Self, CallError> {
        let pool = PortPool::new(&cfg).map_err(|e| CallError::Media(e.to_string()))?;
        // SDP carries the media layer's advertised/bind IP, or our SIP IP for a wildcard.
        let ip = cfg
            .advertised_ip
            .or(Some(cfg.bind_ip).filter(|ip| !ip.is_unspecified()))
            .unwrap_or(sip_ip);
        Ok(Self { pool, ip })
    }
    pub(crate) async fn open(&self) -> Result<MediaHandle, CallError> {
        let session =
            MediaSession::open(&self.pool).map_err(|e| CallError::Media(e.to_string()))?;
        let addr = SocketAddr::new(self.ip, session.local_addr().port());
        Ok(MediaHandle { session, addr })
    }
}

/// One call leg's media session, driven from SDP results.
pub(crate) struct MediaHandle {
    pub(crate) session: MediaSession,
    addr: SocketAddr,
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
