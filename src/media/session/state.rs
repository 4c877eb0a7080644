//! What the call's task and the session's own task share: one short-held mutex over the
//! stream state, a `Notify` for whoever waits on it, and the end signal.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::stats::{MediaStats, Metrics};
use super::types::{Direction, EndReason, Latching, StreamParams};
use super::MAX_FRAME;
use crate::media::config::MediaConfig;
use crate::media::dtmf::{Digit, DigitSource, EventDeduper, ToneDetector};
use crate::media::prompt::Prompt;

pub(super) enum Source {
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

pub(super) struct RecordSink {
    pub(super) pcm: Vec<i16>,
    pub(super) max_samples: usize,
    pub(super) threshold_ms: f64,
    pub(super) heard_voice: bool,
    pub(super) last_voice: Instant,
    pub(super) voice_end_sample: usize,
    pub(super) voiced_samples: usize,
}

/// What a conversation recording takes from one session: the audio it receives, counted
/// into the session's own frame clock so the two sides of a call stay aligned.
pub(super) struct ConversationTap {
    /// Received audio not yet counted into a frame (a small jitter allowance, capped).
    pub(super) rx: VecDeque<i16>,
    /// One frame per sender round (silence where nothing arrived); the writer takes it.
    pub(super) out: Vec<i16>,
    /// Samples of silence owed after `out` because the writer fell behind and `out` was
    /// full: written later so the two sides stay in step.
    pub(super) owed: u64,
}

/// A session's part in supervisor monitoring (`monitor.rs`).
#[derive(Default)]
pub(super) struct MonitorLink {
    /// Sessions that also hear what this one receives, and the mix slot there.
    pub(super) forward: [Option<(Weak<Shared>, usize)>; 2],
    /// Audio from other sessions mixed into what this one sends; `None` = slot unused.
    pub(super) mix: [Option<VecDeque<i16>>; 2],
}

impl MonitorLink {
    pub(super) fn mixing(&self) -> bool {
        self.mix.iter().any(Option::is_some)
    }
}

/// Most audio queued toward another session (bridge, monitor) or a conversation tap, in
/// samples; older audio is dropped so delay stays bounded when clocks drift.
pub(super) fn queue_cap(cfg: &MediaConfig) -> usize {
    (usize::try_from(cfg.bridge_max_delay_ms)
        .unwrap_or(usize::MAX)
        .saturating_mul(8))
    .max(MAX_FRAME * 2)
}

/// Append `pcm` to `q`, dropping the oldest samples beyond `cap`.
pub(super) fn push_capped(q: &mut VecDeque<i16>, pcm: &[i16], cap: usize) {
    q.extend(pcm.iter().copied());
    let excess = q.len().saturating_sub(cap);
    q.drain(..excess);
}

pub(super) struct State {
    pub(super) params: Option<StreamParams>,
    pub(super) direction: Direction,
    pub(super) remote: Option<SocketAddr>,
    pub(super) remote_rtcp: Option<SocketAddr>,
    pub(super) rtcp_learned: bool,
    pub(super) latched: bool,
    /// Whether and to whom this stream may latch (once).
    pub(super) latching: Latching,
    /// Latching is possible until then (the window after the stream's address was set).
    pub(super) latch_until: Instant,
    /// False until the signalling says the peer is real: nothing is sent before.
    pub(super) confirmed: bool,
    pub(super) candidate: Option<(SocketAddr, u32)>,
    pub(super) last_rx: Instant,
    pub(super) remote_ssrc: Option<u32>,
    pub(super) highest_seq: Option<u16>,
    pub(super) events: EventDeduper,
    pub(super) last_event_rx: Instant,
    pub(super) last_audio_rx: Instant,
    pub(super) tones: Option<Box<ToneDetector>>,
    pub(super) digits: VecDeque<Digit>,
    /// Keys to send to the peer.
    pub(super) keys: super::keys::KeySender,
    pub(super) last_digit: Option<(Digit, DigitSource, Instant)>,
    pub(super) source: Source,
    pub(super) play_gen: u64,
    pub(super) play_done_gen: u64,
    pub(super) marker_next: bool,
    pub(super) ssrc: u32,
    pub(super) seq: u16,
    pub(super) ts: u32,
    pub(super) recording: Option<RecordSink>,
    pub(super) bridge_peer: Option<Weak<Shared>>,
    pub(super) bridge_rx: VecDeque<i16>,
    pub(super) conversation: Option<ConversationTap>,
    pub(super) monitor: Option<Box<MonitorLink>>,
    /// Listening for the caller's words (speak first); `None` when nobody listens.
    pub(super) tape: Option<Box<super::tape::Tape>>,
    pub(super) stats: MediaStats,
}

pub(super) struct Shared {
    pub(super) cfg: Arc<MediaConfig>,
    /// The bound RTP address. The sockets themselves belong to the session's task (see
    /// `send::run_loop`), not here: a call's handle outlives the call while its dialplan
    /// finishes, and the port pair must go back to the pool when the media ends.
    pub(super) local: SocketAddr,
    pub(super) state: Mutex<State>,
    pub(super) notify: Notify,
    pub(super) ended: watch::Sender<Option<EndReason>>,
    pub(super) metrics: Metrics,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn finish(&self, reason: EndReason) {
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

    pub(super) fn end_reason(&self) -> Option<EndReason> {
        *self.ended.borrow()
    }

    pub(super) async fn wait_ended(&self) -> EndReason {
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

    /// Queues a digit heard from the peer; false when it was the same press from another
    /// source.
    pub(super) fn queue_digit(&self, st: &mut State, d: Digit, src: DigitSource) -> bool {
        let now = Instant::now();
        if let Some((ld, lsrc, lt)) = st.last_digit {
            if ld == d
                && lsrc != src
                && now.duration_since(lt) < Duration::from_millis(self.cfg.dtmf_dedup_ms)
            {
                return false;
            }
        }
        st.last_digit = Some((d, src, now));
        st.digits.push_back(d);
        st.stats.digits += 1;
        self.metrics.digit(src);
        tracing::debug!(digit = %d, source = ?src, "dtmf");
        self.notify.notify_waiters();
        true
    }

    /// B2BUA DTMF passthrough: keys heard as telephone-events or SIP INFO are sent on to the
    /// session this one is bridged to (in-band tones need no help: they travel in the
    /// audio). Call without holding this session's lock.
    pub(super) fn pass_on(&self, digit: Digit) {
        let peer = self.lock().bridge_peer.as_ref().and_then(Weak::upgrade);
        if let Some(peer) = peer {
            let mut pst = peer.lock();
            if matches!(pst.source, Source::Bridge) {
                pst.keys.push(digit);
            }
        }
    }
}

/// Stops the session when the last `MediaSession` handle goes away.
pub(super) struct HandleGuard(pub(super) Arc<Shared>);

impl Drop for HandleGuard {
    fn drop(&mut self) {
        self.0.finish(EndReason::Closed);
    }
}
