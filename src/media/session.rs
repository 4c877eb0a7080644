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

use super::config::{InbandDtmf, MediaConfig};
use super::dtmf::{Digit, DigitSource, EventDeduper, TelephoneEvent, ToneDetector};
use super::g711::Codec;
use super::prompt::{write_wav, Prompt};
use super::rtcp;
use super::tone::ringback_encoded;
use rtp_rs::{RtpPacketBuilder, RtpReader};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Largest frame we send: 60 ms at 8 kHz.
const MAX_FRAME: usize = 480;
/// An RFC 4733 event with no packet for this long counts as ended (its end packets were lost).
const EVENT_QUIET: Duration = Duration::from_millis(600);
/// Audio with old sequence numbers after this long a pause is a restarted stream, not a
/// late packet.
const STREAM_RESTART_GAP: Duration = Duration::from_millis(300);
/// When the sender wakes later than this, it skips the missed frames (the timestamp jumps)
/// instead of bursting them all out.
const MAX_BURST: Duration = Duration::from_millis(100);

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
    /// `record` was called while a recording is running on the same session.
    #[error("a recording is already running on this session")]
    AlreadyRecording,
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
    fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    fn receives(self) -> bool {
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

    fn frame_samples(&self) -> usize {
        (self.ptime_ms.clamp(10, 60) * 8) as usize
    }
}

/// How a `play` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayOutcome {
    /// The whole prompt was sent.
    Finished,
    /// The caller pressed a key (barge-in); the digit is consumed and returned here.
    Interrupted(Digit),
    /// The session ended (hang-up, RTP timeout) or the prompt was replaced by another
    /// play, ringback, bridge or `stop_audio`.
    Ended,
}

/// Limits for `record`.
#[derive(Debug, Clone, Copy)]
pub struct RecordOptions {
    /// Longest recording.
    pub max: Duration,
    /// Stop after this much continuous silence (counted from the start too); `None` never.
    pub silence_end: Option<Duration>,
    /// Stop when the caller presses `#` (the `#` is consumed).
    pub stop_on_hash: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            max: Duration::from_secs(60),
            silence_end: Some(Duration::from_secs(3)),
            stop_on_hash: true,
        }
    }
}

/// Why a recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// Reached `max`.
    MaxLength,
    /// `silence_end` of silence; trailing silence was trimmed.
    Silence,
    /// The caller pressed `#`.
    Hash,
    /// The session ended (caller hung up); what was heard so far is kept.
    SessionEnded,
}

/// A finished recording: 8 kHz mono linear PCM.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Samples, 8 kHz mono.
    pub pcm: Vec<i16>,
    /// Why it stopped.
    pub ended_by: RecordEnd,
    /// Whether anything louder than the silence threshold was heard.
    pub heard_voice: bool,
}

impl Recording {
    /// Length of the audio.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.pcm.len() as u64 * 125)
    }

    /// Write as a 16-bit PCM WAV (8 kHz mono), the format `Prompt::load` and whisper
    /// pipelines read.
    pub fn write_wav(&self, path: impl AsRef<std::path::Path>) -> Result<(), MediaError> {
        write_wav(path, &self.pcm)?;
        Ok(())
    }
}

/// How a `bridge` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// The first session ended.
    FirstEnded(EndReason),
    /// The second session ended.
    SecondEnded(EndReason),
}

/// Counters of one session (all since `open`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP datagrams received (valid or not).
    pub packets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// RTP payload bytes sent.
    pub octets_out: u64,
    /// Truncated or garbage RTP datagrams dropped.
    pub malformed_dropped: u64,
    /// Valid RTP dropped: unknown payload type, before `start`, from a foreign source
    /// address, or late/duplicate sequence numbers.
    pub unexpected_dropped: u64,
    /// Of those, late or duplicate packets.
    pub late_or_duplicate: u64,
    /// RTCP packets received (ignored otherwise).
    pub rtcp_in: u64,
    /// RTCP packets that were not valid RTCP.
    pub rtcp_malformed: u64,
    /// RTCP sender reports sent.
    pub rtcp_out: u64,
    /// Times the send address was re-latched to a new source.
    pub relatched: u64,
    /// Digits queued (after deduplication).
    pub digits: u64,
    /// Sender frames skipped because the task woke more than 100 ms late.
    pub skipped_frames: u64,
    /// Sender wake-up lateness histogram; bucket upper bounds in `LATENESS_BUCKETS_US`.
    pub lateness_histogram: [u64; LATENESS_BUCKETS_US.len() + 1],
    /// Worst sender lateness seen, microseconds.
    pub max_lateness_us: u64,
}

/// Upper bounds (µs) of the lateness histogram buckets; the last bucket is "above".
pub const LATENESS_BUCKETS_US: [u64; 10] =
    [100, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

/// Allocates RTP/RTCP port pairs from the configured range, round-robin so a port just
/// freed is not reused at once (late packets of the old call would leak into the new one).
#[derive(Debug)]
pub struct PortPool {
    cfg: Arc<MediaConfig>,
    first_even: u16,
    pairs: usize,
    next: AtomicUsize,
}

impl PortPool {
    /// Check the range and prepare the pool.
    pub fn new(cfg: &MediaConfig) -> Result<PortPool, MediaError> {
        let first_even = cfg.rtp_port_min.saturating_add(cfg.rtp_port_min & 1);
        if cfg.rtp_port_min == 0 || cfg.rtp_port_max <= first_even {
            return Err(MediaError::Config(format!(
                "rtp_port_min..rtp_port_max ({}..{}) must hold at least one even/odd port pair above 0",
                cfg.rtp_port_min, cfg.rtp_port_max
            )));
        }
        let pairs = ((cfg.rtp_port_max - first_even - 1) / 2 + 1) as usize;
        Ok(PortPool {
            cfg: Arc::new(cfg.clone()),
            first_even,
            pairs,
            next: AtomicUsize::new(rand::random::<usize>() % pairs),
        })
    }

    /// The configuration sessions from this pool use.
    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    fn bind_pair(&self) -> Result<(std::net::UdpSocket, std::net::UdpSocket), MediaError> {
        for _ in 0..self.pairs {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pairs;
            let port = self.first_even + (i as u16) * 2;
            let Ok(rtp) = std::net::UdpSocket::bind((self.cfg.bind_ip, port)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind((self.cfg.bind_ip, port + 1)) else {
                continue;
            };
            rtp.set_nonblocking(true)?;
            rtcp.set_nonblocking(true)?;
            return Ok((rtp, rtcp));
        }
        Err(MediaError::NoFreePort {
            min: self.cfg.rtp_port_min,
            max: self.cfg.rtp_port_max,
        })
    }
}

enum Source {
    Silence,
    Prompt {
        prompt: Arc<Prompt>,
        pos: usize,
        gen: u64,
    },
    Ringback {
        pos: usize,
    },
    Bridge,
}

struct RecordSink {
    pcm: Vec<i16>,
    max_samples: usize,
    threshold_ms: f64,
    heard_voice: bool,
    last_voice: Instant,
    voice_end_sample: usize,
}

struct State {
    params: Option<StreamParams>,
    direction: Direction,
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    rtcp_learned: bool,
    latched: bool,
    candidate: Option<(SocketAddr, u32)>,
    last_rx: Instant,
    remote_ssrc: Option<u32>,
    highest_seq: Option<u16>,
    events: EventDeduper,
    last_event_rx: Instant,
    last_audio_rx: Instant,
    tones: Option<Box<ToneDetector>>,
    digits: VecDeque<Digit>,
    last_digit: Option<(Digit, DigitSource, Instant)>,
    source: Source,
    play_gen: u64,
    play_done_gen: u64,
    marker_next: bool,
    ssrc: u32,
    seq: u16,
    ts: u32,
    recording: Option<RecordSink>,
    bridge_peer: Option<Weak<Shared>>,
    bridge_rx: VecDeque<i16>,
    stats: MediaStats,
}

struct Shared {
    cfg: Arc<MediaConfig>,
    // Plain non-blocking sockets, read by polling once per frame: no reactor registration,
    // no wake-up per received packet (what makes thousands of sessions affordable).
    rtp: std::net::UdpSocket,
    rtcp: std::net::UdpSocket,
    local: SocketAddr,
    state: Mutex<State>,
    notify: Notify,
    ended: watch::Sender<Option<EndReason>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, reason: EndReason) {
        self.ended.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(reason);
                true
            } else {
                false
            }
        });
        self.notify.notify_waiters();
    }

    fn end_reason(&self) -> Option<EndReason> {
        *self.ended.borrow()
    }

    async fn wait_ended(&self) -> EndReason {
        let mut rx = self.ended.subscribe();
        loop {
            if let Some(r) = *rx.borrow_and_update() {
                return r;
            }
            if rx.changed().await.is_err() {
                return EndReason::Closed;
            }
        }
    }

    fn queue_digit(&self, st: &mut State, d: Digit, src: DigitSource) {
        let now = Instant::now();
        if let Some((ld, lsrc, lt)) = st.last_digit {
            if ld == d
                && lsrc != src
                && now.duration_since(lt) < Duration::from_millis(self.cfg.dtmf_dedup_ms)
            {
                return;
            }
        }
        st.last_digit = Some((d, src, now));
        st.digits.push_back(d);
        st.stats.digits += 1;
        tracing::debug!(digit = %d, source = ?src, "dtmf");
        self.notify.notify_waiters();
    }
}

/// Stops the session when the last `MediaSession` handle goes away.
struct HandleGuard(Arc<Shared>);

impl Drop for HandleGuard {
    fn drop(&mut self) {
        self.0.finish(EndReason::Closed);
    }
}

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
            candidate: None,
            last_rx: now,
            remote_ssrc: None,
            highest_seq: None,
            events: EventDeduper::default(),
            last_event_rx: now,
            last_audio_rx: now,
            tones: None,
            digits: VecDeque::new(),
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
            stats: MediaStats::default(),
        };
        let (ended, _) = watch::channel(None);
        let sh = Arc::new(Shared {
            cfg: pool.cfg.clone(),
            rtp,
            rtcp,
            local,
            state: Mutex::new(state),
            notify: Notify::new(),
            ended,
        });
        tokio::spawn(run_loop(sh.clone()));
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

    /// Play a prompt from its start. Returns when it has been sent completely, when a
    /// digit arrives (if `barge_in`; a digit already queued interrupts at once), or when the
    /// session ends. Digits pressed during a prompt without barge-in stay queued.
    pub async fn play(&self, prompt: &Arc<Prompt>, barge_in: bool) -> PlayOutcome {
        let gen = {
            let mut st = self.sh.lock();
            if self.sh.end_reason().is_some() {
                return PlayOutcome::Ended;
            }
            if barge_in {
                if let Some(d) = st.digits.pop_front() {
                    return PlayOutcome::Interrupted(d);
                }
            }
            st.play_gen += 1;
            let gen = st.play_gen;
            st.source = Source::Prompt {
                prompt: prompt.clone(),
                pos: 0,
                gen,
            };
            st.marker_next = true;
            gen
        };
        let _guard = PlayGuard { sh: &self.sh, gen };
        loop {
            let notified = self.sh.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.sh.lock();
                if st.play_done_gen >= gen {
                    return PlayOutcome::Finished;
                }
                if self.sh.end_reason().is_some() {
                    return PlayOutcome::Ended;
                }
                if st.play_gen != gen || !matches!(st.source, Source::Prompt { .. }) {
                    return PlayOutcome::Ended;
                }
                if barge_in {
                    if let Some(d) = st.digits.pop_front() {
                        st.source = Source::Silence;
                        return PlayOutcome::Interrupted(d);
                    }
                }
            }
            notified.await;
        }
    }

    /// Send ringback tone (425 Hz, 1 s on, 4 s off) until something else is played,
    /// `stop_audio` is called, or a bridge starts.
    pub fn start_ringback(&self) {
        let mut st = self.sh.lock();
        st.source = Source::Ringback { pos: 0 };
        st.marker_next = true;
        drop(st);
        self.sh.notify.notify_waiters();
    }

    /// Stop whatever plays (prompt, ringback, bridged audio) and send silence.
    pub fn stop_audio(&self) {
        let mut st = self.sh.lock();
        st.source = Source::Silence;
        drop(st);
        self.sh.notify.notify_waiters();
    }

    /// Wait for the next digit from any source (RFC 4733, SIP INFO, in-band tones).
    /// `None` on timeout or when the session ends.
    pub async fn next_digit(&self, timeout: Duration) -> Option<Digit> {
        let deadline = later(Instant::now(), timeout);
        loop {
            let notified = self.sh.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(d) = self.sh.lock().digits.pop_front() {
                return Some(d);
            }
            if self.sh.end_reason().is_some() {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return self.sh.lock().digits.pop_front();
                }
            }
        }
    }

    /// Queue a digit the SIP layer parsed from an INFO request (application/dtmf-relay or
    /// application/dtmf). Deduplicated against the same digit from RTP within
    /// `dtmf_dedup_ms`.
    pub fn push_digit(&self, digit: Digit) {
        let mut st = self.sh.lock();
        self.sh.queue_digit(&mut st, digit, DigitSource::SipInfo);
    }

    /// Forget queued digits (type-ahead), e.g. before a new menu.
    pub fn clear_digits(&self) {
        self.sh.lock().digits.clear();
    }

    /// Record what the peer says, until `opts.max`, `opts.silence_end` of silence, `#`
    /// (if `opts.stop_on_hash`) or the session ends.
    pub async fn record(&self, opts: RecordOptions) -> Result<Recording, MediaError> {
        let started = Instant::now();
        {
            let mut st = self.sh.lock();
            if st.recording.is_some() {
                return Err(MediaError::AlreadyRecording);
            }
            let amp = 32767.0 * 10f64.powf(self.sh.cfg.silence_threshold_dbfs as f64 / 20.0);
            st.recording = Some(RecordSink {
                pcm: Vec::with_capacity(8000),
                max_samples: usize::try_from(opts.max.as_millis())
                    .unwrap_or(usize::MAX)
                    .saturating_mul(8),
                threshold_ms: amp * amp,
                heard_voice: false,
                last_voice: started,
                voice_end_sample: 0,
            });
        }
        let guard = RecordGuard { sh: &self.sh };
        // If the peer stops sending, wall-clock time still bounds the recording.
        let hard_deadline = later(started, opts.max.saturating_add(Duration::from_millis(500)));
        let ended_by = loop {
            let notified = self.sh.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.sh.lock();
                let now = Instant::now();
                let st = &mut *st;
                let Some(sink) = st.recording.as_ref() else {
                    break RecordEnd::SessionEnded;
                };
                if self.sh.end_reason().is_some() {
                    break RecordEnd::SessionEnded;
                }
                if sink.pcm.len() >= sink.max_samples || now >= hard_deadline {
                    break RecordEnd::MaxLength;
                }
                if let Some(s) = opts.silence_end {
                    if now.duration_since(sink.last_voice) >= s {
                        break RecordEnd::Silence;
                    }
                }
                if opts.stop_on_hash {
                    if let Some(i) = st.digits.iter().position(|d| d.as_char() == '#') {
                        st.digits.remove(i);
                        break RecordEnd::Hash;
                    }
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        };
        let sink = self.sh.lock().recording.take();
        drop(guard);
        let Some(mut sink) = sink else {
            return Ok(Recording {
                pcm: Vec::new(),
                ended_by,
                heard_voice: false,
            });
        };
        sink.pcm.truncate(sink.max_samples);
        if ended_by == RecordEnd::Silence && sink.heard_voice {
            // Keep 200 ms after the last voiced frame.
            sink.pcm.truncate(sink.voice_end_sample + 1600);
        }
        Ok(Recording {
            pcm: sink.pcm,
            ended_by,
            heard_voice: sink.heard_voice,
        })
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

    /// End the session: tasks stop, ports are released, pending operations return.
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

struct PlayGuard<'a> {
    sh: &'a Shared,
    gen: u64,
}

impl Drop for PlayGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.sh.lock();
        if let Source::Prompt { gen, .. } = st.source {
            if gen == self.gen {
                st.source = Source::Silence;
            }
        }
    }
}

struct RecordGuard<'a> {
    sh: &'a Shared,
}

impl Drop for RecordGuard<'_> {
    fn drop(&mut self) {
        // Only has an effect when `record` was cancelled; the normal path takes the sink
        // first.
        self.sh.lock().recording = None;
    }
}

/// Relay audio both ways between two sessions (B2BUA), transcoding μ-law ↔ A-law through
/// linear PCM when their codecs differ. Whatever each session was playing stops. Returns
/// when either session ends; dropping the future un-bridges both (so a `select!` with a
/// hang-up or transfer event ends the bridge too).
pub async fn bridge(a: &MediaSession, b: &MediaSession) -> Result<BridgeEnd, MediaError> {
    if Arc::ptr_eq(&a.sh, &b.sh) {
        return Err(MediaError::AlreadyBridged);
    }
    {
        // Lock in address order so two bridges set up at once cannot deadlock.
        let (first, second) = if Arc::as_ptr(&a.sh) < Arc::as_ptr(&b.sh) {
            (&a.sh, &b.sh)
        } else {
            (&b.sh, &a.sh)
        };
        let mut s1 = first.lock();
        let mut s2 = second.lock();
        if s1.bridge_peer.is_some() || s2.bridge_peer.is_some() {
            return Err(MediaError::AlreadyBridged);
        }
        s1.bridge_peer = Some(Arc::downgrade(second));
        s2.bridge_peer = Some(Arc::downgrade(first));
        for s in [&mut s1, &mut s2] {
            s.source = Source::Bridge;
            s.bridge_rx.clear();
            s.marker_next = true;
        }
    }
    a.sh.notify.notify_waiters();
    b.sh.notify.notify_waiters();
    let _guard = BridgeGuard { a: &a.sh, b: &b.sh };
    let end = tokio::select! {
        r = a.sh.wait_ended() => BridgeEnd::FirstEnded(r),
        r = b.sh.wait_ended() => BridgeEnd::SecondEnded(r),
    };
    Ok(end)
}

struct BridgeGuard<'a> {
    a: &'a Shared,
    b: &'a Shared,
}

impl Drop for BridgeGuard<'_> {
    fn drop(&mut self) {
        for sh in [self.a, self.b] {
            let mut st = sh.lock();
            st.bridge_peer = None;
            st.bridge_rx = VecDeque::new();
            if matches!(st.source, Source::Bridge) {
                st.source = Source::Silence;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------------

fn record_lateness(stats: &mut MediaStats, late: Duration) {
    let us = late.as_micros() as u64;
    let idx = LATENESS_BUCKETS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(LATENESS_BUCKETS_US.len());
    stats.lateness_histogram[idx] += 1;
    stats.max_lateness_us = stats.max_lateness_us.max(us);
}

/// Fill `payload` from the current source; returns whether it carries real audio.
fn fill_frame(sh: &Shared, st: &mut State, codec: Codec, payload: &mut [u8]) -> bool {
    let n = payload.len();
    match &mut st.source {
        Source::Silence => {
            payload.fill(codec.silence());
            false
        }
        Source::Prompt { prompt, pos, gen } => {
            let enc = prompt.encoded(codec);
            let take = enc.len().saturating_sub(*pos).min(n);
            payload[..take].copy_from_slice(&enc[*pos..*pos + take]);
            payload[take..].fill(codec.silence());
            *pos += take;
            if *pos >= enc.len() {
                st.play_done_gen = *gen;
                st.source = Source::Silence;
                sh.notify.notify_waiters();
            }
            true
        }
        Source::Ringback { pos } => {
            *pos = ringback_encoded(codec, *pos, payload);
            true
        }
        Source::Bridge => {
            let take = st.bridge_rx.len().min(n);
            for (o, s) in payload.iter_mut().zip(st.bridge_rx.drain(..take)) {
                *o = codec.encode_sample(s);
            }
            payload[take..].fill(codec.silence());
            true
        }
    }
}

/// The session's one task: every frame time, send a frame, then take in whatever the
/// peer sent since the last frame; every half second, RTCP and timers.
async fn run_loop(sh: Arc<Shared>) {
    // Futures registered once and polled each round: re-creating them per packet costs
    // more than the packet itself when thousands of sessions run.
    let mut ended_rx = sh.ended.subscribe();
    let ended = async move {
        let _ = ended_rx.wait_for(|e| e.is_some()).await;
    };
    tokio::pin!(ended);
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut buf = [0u8; 12 + MAX_FRAME];
    let mut payload = [0u8; MAX_FRAME];
    let mut rx = [0u8; 1500];
    let mut round: u32 = 0;
    let mut rtcp_buf = [0u8; 128];
    let cname = format!("hotline@{}", sh.local);
    let mut ptime = Duration::from_millis(20);
    let mut anchor = Instant::now();
    let mut n: u32 = 0;
    let rtcp_every = Duration::from_secs(sh.cfg.rtcp_interval_secs.max(1));
    let mut next_rtcp = anchor + rtcp_every;
    loop {
        let deadline = anchor + ptime * n;
        sleep.as_mut().reset(deadline);
        tokio::select! {
            biased;
            _ = &mut ended => break,
            _ = sleep.as_mut() => {}
        }
        let now = Instant::now();
        let late = now.saturating_duration_since(deadline);
        let mut out: Option<(usize, SocketAddr)> = None;
        let mut sr: Option<(usize, SocketAddr)> = None;
        {
            let mut guard = sh.lock();
            let st = &mut *guard;
            record_lateness(&mut st.stats, late);
            let params = st.params;
            let samples = params.map(|p| p.frame_samples()).unwrap_or(160);
            let want = Duration::from_millis(samples as u64 / 8);
            if want != ptime {
                // Packet time changed (re-INVITE): re-anchor the schedule.
                ptime = want;
                anchor = deadline;
                n = 0;
            }
            n += 1;
            if late > MAX_BURST {
                let skip = (late.as_micros() / ptime.as_micros()) as u32;
                n += skip;
                st.ts = st.ts.wrapping_add(skip * samples as u32);
                st.stats.skipped_frames += skip as u64;
            }
            let codec = params.map(|p| p.codec).unwrap_or(Codec::Pcmu);
            let audio = fill_frame(&sh, st, codec, &mut payload[..samples]);
            let send_ok = params.is_some()
                && st.direction.sends()
                && st.remote.is_some()
                && (audio || sh.cfg.comfort_silence);
            if let (true, Some(p), Some(remote)) = (send_ok, params, st.remote) {
                let marker = std::mem::take(&mut st.marker_next);
                let built = RtpPacketBuilder::new()
                    .payload_type(p.payload_type)
                    .ssrc(st.ssrc)
                    .sequence(st.seq.into())
                    .timestamp(st.ts)
                    .marked(marker)
                    .payload(&payload[..samples])
                    .build_into(&mut buf);
                if let Ok(len) = built {
                    st.seq = st.seq.wrapping_add(1);
                    st.stats.packets_out += 1;
                    st.stats.octets_out += samples as u64;
                    out = Some((len, remote));
                }
            } else if !audio || params.is_none() || !st.direction.sends() {
                st.marker_next = true;
            }
            st.ts = st.ts.wrapping_add(samples as u32);
            if now >= next_rtcp {
                next_rtcp = now + rtcp_every;
                if let (Some(dst), true) = (st.remote_rtcp, st.stats.packets_out > 0) {
                    let len = rtcp::build_sender_report(
                        &mut rtcp_buf,
                        st.ssrc,
                        st.ts,
                        st.stats.packets_out as u32,
                        st.stats.octets_out as u32,
                        &cname,
                    );
                    st.stats.rtcp_out += 1;
                    sr = Some((len, dst));
                }
            }
        }
        if let Some((len, remote)) = out {
            // Non-blocking: a full send buffer drops this frame, like loss on the wire.
            if let Err(e) = sh.rtp.send_to(&buf[..len], remote) {
                tracing::debug!(%remote, error = %e, "rtp send failed");
            }
        }
        if let Some((len, dst)) = sr {
            if let Err(e) = sh.rtcp.send_to(&rtcp_buf[..len], dst) {
                tracing::debug!(%dst, error = %e, "rtcp send failed");
            }
        }
        drain(&sh.rtp, &mut rx, RX_PER_ROUND, |data, from| {
            on_rtp(&sh, data, from)
        });
        round = round.wrapping_add(1);
        if round.is_multiple_of(TIMER_ROUNDS) {
            drain(&sh.rtcp, &mut rx, RX_PER_ROUND, |data, from| {
                on_rtcp(&sh, data, from)
            });
            on_tick(&sh);
        }
    }
}

/// At most this many datagrams are read per socket per frame (bounds the work a flood can
/// cause; the rest waits in the socket buffer or is dropped by the kernel).
const RX_PER_ROUND: usize = 64;
/// RTCP, the no-RTP timer and lost RFC 4733 ends are looked at every this many frames.
const TIMER_ROUNDS: u32 = 25;

fn drain(
    sock: &std::net::UdpSocket,
    buf: &mut [u8],
    max: usize,
    mut on_packet: impl FnMut(&[u8], SocketAddr),
) {
    for _ in 0..max {
        match sock.recv_from(buf) {
            Ok((len, from)) => on_packet(&buf[..len], from),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            // ICMP errors (port unreachable) surface here on Linux; they carry no packet.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => {
                tracing::debug!(error = %e, "media recv error");
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Receive path (called from the session's loop)
// ---------------------------------------------------------------------------------------

fn on_tick(sh: &Shared) {
    let now = Instant::now();
    let mut st = sh.lock();
    if st.events.pending() && now.duration_since(st.last_event_rx) >= EVENT_QUIET {
        if let Some(d) = st.events.on_quiet() {
            sh.queue_digit(&mut st, d, DigitSource::Rfc4733);
        }
    }
    let timeout = sh.cfg.no_rtp_timeout_secs;
    if timeout > 0
        && st.params.is_some()
        && st.direction.receives()
        && now.duration_since(st.last_rx) >= Duration::from_secs(timeout)
    {
        drop(st);
        tracing::info!(local = %sh.local, "no RTP for {timeout} s, ending session");
        sh.finish(EndReason::RtpTimeout);
    }
}

fn on_rtcp(sh: &Shared, data: &[u8], from: SocketAddr) {
    let mut st = sh.lock();
    if !rtcp::is_valid_rtcp(data) {
        st.stats.rtcp_malformed += 1;
        return;
    }
    st.stats.rtcp_in += 1;
    if sh.cfg.symmetric_rtp && st.params.is_some() && !st.rtcp_learned {
        st.remote_rtcp = Some(from);
        st.rtcp_learned = true;
    }
}

fn on_rtp(sh: &Shared, data: &[u8], from: SocketAddr) {
    let now = Instant::now();
    let mut guard = sh.lock();
    let st = &mut *guard;
    st.stats.packets_in += 1;
    let rd = match RtpReader::new(data) {
        Ok(rd) => rd,
        Err(_) => {
            st.stats.malformed_dropped += 1;
            return;
        }
    };
    let Some(params) = st.params else {
        st.stats.unexpected_dropped += 1;
        return;
    };
    let pt = rd.payload_type();
    let is_audio = pt == params.payload_type;
    let is_event = Some(pt) == params.dtmf_payload_type;
    if !is_audio && !is_event {
        st.stats.unexpected_dropped += 1;
        return;
    }
    // Symmetric RTP: send to where the peer's packets really come from.
    if sh.cfg.symmetric_rtp {
        if !st.latched {
            if st.remote != Some(from) {
                tracing::debug!(%from, "latching RTP to source address");
                st.remote = Some(from);
                if !st.rtcp_learned {
                    st.remote_rtcp = Some(SocketAddr::new(from.ip(), from.port().wrapping_add(1)));
                }
            }
            st.latched = true;
        } else if st.remote != Some(from) {
            let count = match st.candidate {
                Some((addr, c)) if addr == from => c + 1,
                _ => 1,
            };
            if count >= sh.cfg.latch_probation_packets.max(1) {
                tracing::info!(%from, "RTP source moved, re-latching");
                st.remote = Some(from);
                if !st.rtcp_learned {
                    st.remote_rtcp = Some(SocketAddr::new(from.ip(), from.port().wrapping_add(1)));
                }
                st.candidate = None;
                st.stats.relatched += 1;
                st.remote_ssrc = None;
                st.highest_seq = None;
            } else {
                st.candidate = Some((from, count));
                st.stats.unexpected_dropped += 1;
                return;
            }
        } else {
            st.candidate = None;
        }
    }
    st.last_rx = now;
    let payload = rd.payload();
    if is_event {
        // No sequence check here: the deduper works on timestamps and arrival times (SIPp
        // replays captures with the same sequence numbers for every key press).
        st.last_event_rx = now;
        match TelephoneEvent::parse(payload) {
            Some(ev) => {
                for d in st
                    .events
                    .on_packet(rd.timestamp(), ev, now.into_std())
                    .into_iter()
                    .flatten()
                {
                    sh.queue_digit(st, d, DigitSource::Rfc4733);
                }
            }
            None => st.stats.malformed_dropped += 1,
        }
        return;
    }
    // Late and duplicate audio (no jitter buffer: audio is used in arrival order). Old
    // sequence numbers after a pause mean the stream started over (a replayed capture).
    let ssrc = rd.ssrc();
    let seq: u16 = rd.sequence_number().into();
    if st.remote_ssrc != Some(ssrc) {
        st.remote_ssrc = Some(ssrc);
        st.highest_seq = None;
    }
    if let Some(h) = st.highest_seq {
        let d = seq.wrapping_sub(h) as i16;
        if d <= 0 && d > -1000 && now.duration_since(st.last_audio_rx) < STREAM_RESTART_GAP {
            st.stats.late_or_duplicate += 1;
            st.stats.unexpected_dropped += 1;
            return;
        }
    }
    st.highest_seq = Some(seq);
    st.last_audio_rx = now;
    if !st.direction.receives() || payload.is_empty() {
        return;
    }
    let peer = st.bridge_peer.as_ref().and_then(Weak::upgrade);
    if st.tones.is_none() && st.recording.is_none() && peer.is_none() {
        return;
    }
    let mut pcm = [0i16; 1500];
    let pcm = &mut pcm[..payload.len().min(1500)];
    params.codec.decode(payload, pcm);
    if let Some(det) = st.tones.as_mut() {
        let mut found: [Option<Digit>; 4] = [None; 4];
        let mut k = 0;
        det.feed(pcm, |d| {
            if k < found.len() {
                found[k] = Some(d);
                k += 1;
            }
        });
        for d in found.into_iter().flatten() {
            sh.queue_digit(st, d, DigitSource::Inband);
        }
    }
    if let Some(sink) = st.recording.as_mut() {
        for frame in pcm.chunks(160) {
            let ms: f64 =
                frame.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / frame.len() as f64;
            sink.pcm.extend_from_slice(frame);
            if ms > sink.threshold_ms {
                sink.heard_voice = true;
                sink.last_voice = now;
                sink.voice_end_sample = sink.pcm.len();
            }
        }
        if sink.pcm.len() >= sink.max_samples {
            sh.notify.notify_waiters();
        }
    }
    drop(guard);
    if let Some(peer) = peer {
        let cap = (peer.cfg.bridge_max_delay_ms as usize * 8).max(MAX_FRAME * 2);
        let mut pst = peer.lock();
        if matches!(pst.source, Source::Bridge) {
            pst.bridge_rx.extend(pcm.iter().copied());
            let excess = pst.bridge_rx.len().saturating_sub(cap);
            pst.bridge_rx.drain(..excess);
        }
    }
}
