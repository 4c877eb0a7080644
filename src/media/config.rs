//! `[media]` section of the configuration: RTP ports, timeouts and DTMF policy.

use std::net::{IpAddr, Ipv4Addr};

/// How in-band (audio tone) DTMF detection is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InbandDtmf {
    /// Detect tones only when the peer negotiated no telephone-event payload type
    /// (trunks that send neither RFC 4733 nor SIP INFO). Avoids double digits.
    Auto,
    /// Always run the tone detector (digits are deduplicated against RFC 4733 / INFO).
    Always,
    /// Never look for tones in the audio.
    Never,
}

/// When a call's RTP may be sent to where the peer's packets really come from instead of
/// the address its SDP names (symmetric RTP, for callers behind NAT). The SIP layer applies
/// it to each call; latching happens at most once, within `latch_window_secs` of the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Latch {
    /// Only for legs that may be behind NAT: the SDP names another address than the one
    /// the signalling came from; only to a source with the signalling's IP.
    Nat,
    /// Every call, to any source (all peers behind NAT, e.g. a trunk through a firewall).
    Always,
    /// Never: RTP is sent to, and heard from, the SDP address only.
    Never,
}

/// Whether and how calls answered by an operator are recorded (both voices, one file per
/// call; see `RecordLayout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OperatorRecording {
    /// Operator calls are not recorded.
    Off,
    /// Caller on the left channel, operator on the right.
    Stereo,
    /// Both voices in one channel.
    Mixed,
}

/// Media settings, section `[media]`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address the RTP/RTCP sockets bind to.
    pub bind_ip: IpAddr,
    /// Address written into SDP when `bind_ip` is a wildcard or behind NAT.
    pub advertised_ip: Option<IpAddr>,
    /// Lowest RTP port (even ports are used for RTP, the odd port above for RTCP).
    pub rtp_port_min: u16,
    /// Highest RTP port (inclusive).
    pub rtp_port_max: u16,
    /// Hang up after this many seconds with no RTP from the caller (0 disables).
    /// Not applied while the peer is not expected to send (we hold it, or inactive).
    pub no_rtp_timeout_secs: u64,
    /// Interval between RTCP sender reports.
    pub rtcp_interval_secs: u64,
    /// When to send to where the peer's RTP really comes from (callers behind NAT).
    pub latch: Latch,
    /// Seconds after the stream starts during which latching may happen (once).
    pub latch_window_secs: u64,
    /// Consecutive packets from one source address needed before latching to it; stops a
    /// stray or spoofed packet from taking the call's audio.
    pub latch_probation_packets: u32,
    /// Send comfort silence when nothing plays, so NAT bindings stay open and the peer
    /// sees continuous timestamps.
    pub comfort_silence: bool,
    /// In-band tone detection policy.
    pub inband_dtmf: InbandDtmf,
    /// The same digit from two different sources (RFC 4733, INFO, tones) within this many
    /// milliseconds is reported once.
    pub dtmf_dedup_ms: u64,
    /// Frames quieter than this (dBFS, RMS) count as silence when recording.
    pub silence_threshold_dbfs: f32,
    /// Most audio queued toward a bridged peer, in milliseconds; older audio is dropped to
    /// keep delay bounded.
    pub bridge_max_delay_ms: u64,
    /// Recording of calls answered by an operator: off, stereo or mixed.
    pub operator_recording: OperatorRecording,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            advertised_ip: None,
            rtp_port_min: 20000,
            rtp_port_max: 30000,
            no_rtp_timeout_secs: 30,
            rtcp_interval_secs: 5,
            latch: Latch::Nat,
            latch_window_secs: 5,
            latch_probation_packets: 3,
            comfort_silence: true,
            inband_dtmf: InbandDtmf::Auto,
            dtmf_dedup_ms: 200,
            silence_threshold_dbfs: -45.0,
            bridge_max_delay_ms: 200,
            operator_recording: OperatorRecording::Stereo,
        }
    }
}
