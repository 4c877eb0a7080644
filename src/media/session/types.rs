//! The vocabulary of a session: what SDP negotiation decided for it, the direction from
//! hold, how it ends and what can go wrong.

use std::net::{IpAddr, SocketAddr};

use crate::media::g711::Codec;

/// Errors from opening or driving a session.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The `[media]` section is unusable.
    #[error("media config: {0}")]
    Config(String),
    /// Every RTP/RTCP port pair in the range is taken.
    #[error("no free RTP port pair in {min}-{max}")]
    NoFreePort {
        /// Range start.
        min: u16,
        /// Range end.
        max: u16,
    },
    /// A socket operation failed.
    #[error("media socket: {0}")]
    Io(#[from] std::io::Error),
    /// `record` was called while a recording is running on the same session, or a
    /// conversation recording was started on a session that already has one.
    #[error("a recording is already running on this session")]
    AlreadyRecording,
    /// A session takes part in at most one monitor (as party or supervisor) at a time.
    #[error("session is already monitored or monitoring")]
    AlreadyMonitored,
    /// The same session was given for two roles (caller and agent, or supervisor).
    #[error("the same session was given twice")]
    SameSession,
    /// One of the two sessions given to `bridge` is already bridged, or both are the same.
    #[error("session is already bridged")]
    AlreadyBridged,
    /// Writing a WAV file failed.
    #[error("writing WAV: {0}")]
    Wav(#[from] hound::Error),
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// No RTP from the peer for `no_rtp_timeout_secs`.
    RtpTimeout,
    /// `close()` was called or every handle was dropped.
    Closed,
}

/// Whether a session may follow the peer's RTP to an address other than the negotiated one
/// (symmetric RTP). Whoever negotiated the stream decides; the session only obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latching {
    /// RTP is sent to, and taken from, the negotiated address only.
    #[default]
    Off,
    /// Once, early: the first source to send `latch_probation_packets` packets in a row
    /// within `latch_window_secs` of the start becomes the address; with `from_ip`, only a
    /// source with that IP may.
    Once {
        /// The only IP a latched source may have (where the signalling came from).
        from_ip: Option<IpAddr>,
    },
}

/// Media direction from our side, as in our SDP (`a=sendrecv` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Normal call.
    #[default]
    SendRecv,
    /// We send, the peer does not (we hold the peer, e.g. with music).
    SendOnly,
    /// The peer sends, we do not (the peer holds us).
    RecvOnly,
    /// Nobody sends.
    Inactive,
}

impl Direction {
    pub(super) fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    pub(super) fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// What SDP negotiation decided for this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamParams {
    /// Where to send RTP (from the peer's SDP `c=` and `m=`); RTCP goes to port + 1.
    pub remote: SocketAddr,
    /// The audio codec.
    pub codec: Codec,
    /// The payload type for the codec (usually 0 or 8).
    pub payload_type: u8,
    /// The telephone-event payload type from the offer, if both sides have it.
    pub dtmf_payload_type: Option<u8>,
    /// Packet time in milliseconds (10-60; 20 when the SDP says nothing).
    pub ptime_ms: u32,
}

impl StreamParams {
    /// PCMU/PCMA with its static payload type, 20 ms, no telephone-event.
    pub fn new(remote: SocketAddr, codec: Codec) -> Self {
        StreamParams {
            remote,
            codec,
            payload_type: codec.static_payload_type(),
            dtmf_payload_type: None,
            ptime_ms: 20,
        }
    }

    pub(super) fn frame_samples(&self) -> usize {
        (self.ptime_ms.clamp(10, 60) * 8) as usize
    }
}
