//! One RTP session per call: sockets, the paced sender, the receive path and the
//! operations a call runs on it (play, digits, record, ringback, bridge).
//!
//! One tokio task per session wakes at absolute deadlines `anchor + n·ptime` (monotonic
//! clock, so no drift). Each round it:
//! - takes one frame from the current source (prompt, ringback, bridged peer or comfort
//!   silence) and sends it;
//! - reads what the peer sent since the last round (non-blocking sockets, no wake-up per
//!   packet): drops what is malformed or unexpected (counted), latches to the peer's real
//!   address, turns telephone-events and tones into digits, feeds a recording or a bridged
//!   peer;
//! - every 25 rounds: reads RTCP, sends an SR when due, reports RFC 4733 events whose end
//!   packets were lost, and ends the session after `no_rtp_timeout_secs` without RTP.
//!
//! State shared with the call's task lives behind one short-held mutex per session.

//!
//! The files: `types` (what SIP negotiates and how a session ends), `ports` (the RTP port
//! pool), `state` (what the call's task and the session's task share), `send` (the paced
//! sender, which owns the sockets, mixes a supervisor in and counts frames into a
//! conversation recording), `receive` (RTP/RTCP in: latching, digits, recording, bridged and
//! monitored audio), `keys` (key presses sent to the peer: RFC 4733 events or tones),
//! `play`, `digits`, `record` and `bridge` (the operations a call runs), `tape` and `listen`
//! (listening all the time, so a caller can speak first and nothing they say is lost),
//! `conversation` (both parties of a staffed call into one WAV, stereo or mixed, written
//! off the session's task), `monitor` (a supervisor listens, whispers to the agent or
//! barges in), `stats` (counters and the Prometheus families).

mod bridge;
mod conversation;
mod digits;
mod keys;
mod listen;
mod monitor;
mod play;
mod ports;
mod receive;
mod record;
mod send;
mod state;
mod stats;
mod tape;
mod types;

pub use bridge::{bridge, BridgeEnd};
pub use conversation::{
    ConversationEnd, ConversationRecorder, ConversationRecording, RecordLayout,
};
pub use listen::{Heard, Utterance, UtteranceEnd};
pub use monitor::{monitor, Monitor, MonitorMode};
pub use play::PlayOutcome;
pub use ports::PortPool;
pub use record::{RecordEnd, RecordOptions, Recording};
pub use stats::{MediaStats, LATENESS_BUCKETS_US};
pub use tape::ListenOptions;
pub use types::{Direction, EndReason, Latching, MediaError, StreamParams};

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::config::InbandDtmf;
use super::dtmf::EventDeduper;
use state::{HandleGuard, Shared, Source, State};
use stats::Metrics;

/// Largest frame we send: 60 ms at 8 kHz.
const MAX_FRAME: usize = 480;

/// One call's RTP session. Cheap to clone; the session stops when `close()` is called or
/// the last clone is dropped.
#[derive(Clone)]
pub struct MediaSession {
    sh: Arc<Shared>,
    _guard: Arc<HandleGuard>,
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession")
            .field("local", &self.sh.local)
            .finish()
    }
}

impl MediaSession {
    /// Bind an even RTP port and the RTCP port above it from `pool`, and start the
    /// session's tasks. Call before answering SDP; must run inside a tokio runtime.
    pub fn open(pool: &PortPool) -> Result<MediaSession, MediaError> {
        let (rtp, rtcp) = pool.bind_pair()?;
        let local = rtp.local_addr()?;
        let now = Instant::now();
        let state = State {
            params: None,
            direction: Direction::SendRecv,
            remote: None,
            remote_rtcp: None,
            rtcp_learned: false,
            latched: false,
            latching: Latching::Off,
            latch_until: now,
            confirmed: true,
            candidate: None,
            last_rx: now,
            remote_ssrc: None,
            highest_seq: None,
            events: EventDeduper::default(),
            last_event_rx: now,
            last_audio_rx: now,
            tones: None,
            digits: VecDeque::new(),
            keys: keys::KeySender::default(),
            last_digit: None,
            source: Source::Silence,
            play_gen: 0,
            play_done_gen: 0,
            marker_next: true,
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
            recording: None,
            bridge_peer: None,
            bridge_rx: VecDeque::new(),
            conversation: None,
            monitor: None,
            tape: None,
            stats: MediaStats::default(),
        };
        let (ended, _) = watch::channel(None);
        let sh = Arc::new(Shared {
            cfg: pool.cfg.clone(),
            local,
            state: Mutex::new(state),
            notify: Notify::new(),
            ended,
            metrics: Metrics::new(),
        });
        tokio::spawn(send::run_loop(sh.clone(), send::Sockets { rtp, rtcp }));
        Ok(MediaSession {
            _guard: Arc::new(HandleGuard(sh.clone())),
            sh,
        })
    }

    /// The bound RTP address (IP may be the wildcard).
    pub fn local_addr(&self) -> SocketAddr {
        self.sh.local
    }

    /// The address to put in our SDP (`c=` IP and `m=audio` port): `advertised_ip` if set,
    /// else the bind IP (if that is the wildcard, the SIP layer must substitute its own
    /// address toward the peer).
    pub fn sdp_addr(&self) -> SocketAddr {
        let ip: IpAddr = self.sh.cfg.advertised_ip.unwrap_or(self.sh.local.ip());
        SocketAddr::new(ip, self.sh.local.port())
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.sh.lock().ssrc
    }

    /// Begin the stream with negotiated parameters (after the answer is sent/received).
    /// The no-RTP timer starts now.
    pub fn start(&self, params: StreamParams) {
        self.update(params);
    }

    /// New parameters after a re-INVITE. A changed remote address resets latching.
    pub fn update(&self, params: StreamParams) {
        let mut st = self.sh.lock();
        let remote_changed = st.params.map(|p| p.remote) != Some(params.remote);
        if remote_changed {
            st.latch_until = later(
                Instant::now(),
                Duration::from_secs(self.sh.cfg.latch_window_secs),
            );
            st.remote = Some(params.remote);
            st.remote_rtcp = Some(SocketAddr::new(
                params.remote.ip(),
                params.remote.port().wrapping_add(1),
            ));
            st.rtcp_learned = false;
            st.latched = false;
            st.candidate = None;
            st.marker_next = true;
        }
        let inband = match self.sh.cfg.inband_dtmf {
            InbandDtmf::Always => true,
            InbandDtmf::Never => false,
            InbandDtmf::Auto => params.dtmf_payload_type.is_none(),
        };
        if inband && st.tones.is_none() {
            st.tones = Some(Box::default());
        } else if !inband {
            st.tones = None;
        }
        if st.params.is_none() {
            st.last_rx = Instant::now();
        }
        st.params = Some(params);
        drop(st);
        self.sh.notify.notify_waiters();
    }

    /// Whether this stream may latch to another source (see [`Latching`]); set before
    /// `start`, as the signalling layer knows whether the peer is behind NAT.
    pub fn set_latching(&self, latching: Latching) {
        self.sh.lock().latching = latching;
    }

    /// Send nothing until [`confirm`](Self::confirm): the peer's address is only claimed
    /// (a spoofed INVITE names any address), and a stream sent there would reflect traffic
    /// at whoever owns it. Received RTP is still heard.
    pub fn await_confirmation(&self) {
        self.sh.lock().confirmed = false;
    }

    /// The peer proved it is where it says (it answered from there): sending may begin.
    pub fn confirm(&self) {
        self.sh.lock().confirmed = true;
    }

    /// Hold / resume (from SDP direction attributes). Resuming reception restarts the
    /// no-RTP timer.
    pub fn set_direction(&self, direction: Direction) {
        let mut st = self.sh.lock();
        if !st.direction.receives() && direction.receives() {
            st.last_rx = Instant::now();
        }
        if !st.direction.sends() && direction.sends() {
            st.marker_next = true;
        }
        st.direction = direction;
    }

    /// Where RTP is being sent now (the SDP address, or the latched source).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.sh.lock().remote
    }

    /// Resolves when the session ends (RTP timeout or close), with the reason.
    pub async fn ended(&self) -> EndReason {
        self.sh.wait_ended().await
    }

    /// The reason, if the session has ended.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.sh.end_reason()
    }

    /// Counters so far.
    pub fn stats(&self) -> MediaStats {
        self.sh.lock().stats.clone()
    }

    /// End the session: tasks stop, ports are released (at once, even while clones of this
    /// handle live on), pending operations return.
    pub fn close(&self) {
        self.sh.finish(EndReason::Closed);
    }
}

/// `t + d`, capped about 30 years ahead instead of overflowing (callers may pass
/// `Duration::MAX` to mean "no limit").
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(Duration::from_secs(30 * 365 * 86400)))
        .unwrap_or(t)
}
