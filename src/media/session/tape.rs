//! Listening to the caller all the time (speak first): a tape that keeps a short pre-roll
//! of what the caller sends, notices when they start to speak, and from then on keeps
//! everything they say, whatever plays meanwhile. A prompt or a key wait can yield to the
//! speech (speech barge-in); the voice menus then decide whether the words were a command
//! or the message itself, and a caller who hangs up after speaking has still left it.
//!
//! Before the first word only the pre-roll ring is held, so a silent caller costs a few
//! kilobytes, not a recording.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::record::{RecordEnd, RecordOptions, Recording};
use super::state::Shared;
use super::{later, MediaSession};

/// How the tape listens.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Audio kept from before the first voiced frame, so the first syllable is whole.
    pub preroll: Duration,
    /// Voiced time in a row that counts as speaking (not a click, a cough or line noise).
    pub onset: Duration,
    /// Most audio kept once speaking started; beyond it the tape stops growing.
    pub max: Duration,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            preroll: Duration::from_millis(500),
            onset: Duration::from_millis(120),
            max: Duration::from_secs(180),
        }
    }
}

/// What the caller did while a prompt played or the line waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// A key (consumed).
    Key(crate::media::dtmf::Digit),
    /// The caller started speaking; the words are on the tape.
    Speech,
}

/// How one utterance (words up to a pause) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UtteranceEnd {
    /// The caller paused.
    Pause,
    /// Still speaking after the longest utterance asked for: a story, not a command.
    StillSpeaking,
    /// The caller pressed `#`.
    Hash,
    /// The call ended.
    SessionEnded,
}

/// The words since the caller started speaking, up to a pause.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// 8 kHz mono, the pre-roll included.
    pub pcm: Vec<i16>,
    pub ended_by: UtteranceEnd,
}

const FRAME: usize = 160;

pub(super) struct Tape {
    preroll: usize,
    onset_frames: u32,
    max_samples: usize,
    threshold_ms: f64,
    /// Before speech: the last `preroll` samples plus the voiced run so far.
    ring: VecDeque<i16>,
    /// From the pre-roll before the first word on.
    kept: Vec<i16>,
    voiced_run: u32,
    speaking: bool,
    /// Speech began and nobody has acted on it yet (what makes a prompt yield).
    pending: bool,
    last_voice: Instant,
    /// Sample index in `kept` just after the last voiced frame.
    voice_end: usize,
    voiced_samples: usize,
}

impl Tape {
    pub(super) fn new(opts: ListenOptions, threshold_dbfs: f32) -> Tape {
        let amp = 32767.0 * 10f64.powf(threshold_dbfs as f64 / 20.0);
        let samples = |d: Duration| usize::try_from(d.as_millis()).unwrap_or(usize::MAX) * 8;
        Tape {
            preroll: samples(opts.preroll),
            onset_frames: (opts.onset.as_millis() as u32).div_ceil(20).max(1),
            max_samples: samples(opts.max),
            threshold_ms: amp * amp,
            ring: VecDeque::new(),
            kept: Vec::new(),
            voiced_run: 0,
            speaking: false,
            pending: false,
            last_voice: Instant::now(),
            voice_end: 0,
            voiced_samples: 0,
        }
    }

    /// Feeds received audio; returns whether the caller just started speaking.
    pub(super) fn feed(&mut self, pcm: &[i16], now: Instant) -> bool {
        let mut onset = false;
        for frame in pcm.chunks(FRAME) {
            let ms: f64 =
                frame.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / frame.len() as f64;
            let voiced = ms > self.threshold_ms;
            if self.speaking {
                if self.kept.len() < self.max_samples {
                    self.kept.extend_from_slice(frame);
                    if voiced {
                        self.voice_end = self.kept.len();
                        self.voiced_samples += frame.len();
                    }
                }
                if voiced {
                    self.last_voice = now;
                }
                continue;
            }
            self.ring.extend(frame.iter().copied());
            self.voiced_run = if voiced { self.voiced_run + 1 } else { 0 };
            let cap = self.preroll + self.onset_frames as usize * FRAME;
            let excess = self.ring.len().saturating_sub(cap);
            self.ring.drain(..excess);
            if self.voiced_run >= self.onset_frames {
                self.speaking = true;
                self.pending = true;
                onset = true;
                self.kept = self.ring.drain(..).collect();
                self.voice_end = self.kept.len();
                self.voiced_samples = self.onset_frames as usize * FRAME;
                self.last_voice = now;
            }
        }
        onset
    }

    pub(super) fn pending(&self) -> bool {
        self.pending
    }

    /// Back to waiting for the first word: what was kept is dropped.
    fn reset(&mut self) {
        self.ring.clear();
        self.kept = Vec::new();
        self.voiced_run = 0;
        self.speaking = false;
        self.pending = false;
        self.voice_end = 0;
        self.voiced_samples = 0;
    }

    /// What was kept, with trailing silence cut to 200 ms; the tape starts over.
    fn take(&mut self, ended_by: RecordEnd) -> Option<Recording> {
        if !self.speaking {
            return None;
        }
        let mut pcm = std::mem::take(&mut self.kept);
        pcm.truncate(self.voice_end + 1600);
        let voiced = Duration::from_micros(self.voiced_samples as u64 * 125);
        self.reset();
        Some(Recording {
            pcm,
            ended_by,
            heard_voice: true,
            voiced,
        })
    }
}

impl MediaSession {
    /// Starts the tape (no effect when it runs). Speech from now on is kept.
    pub fn listen(&self, opts: ListenOptions) {
        let mut st = self.sh.lock();
        if st.tape.is_none() {
            st.tape = Some(Box::new(Tape::new(
                opts,
                self.sh.cfg.silence_threshold_dbfs,
            )));
        }
    }

    /// Stops the tape and drops what it held (the caller now talks to a person).
    pub fn stop_listening(&self) {
        self.sh.lock().tape = None;
    }

    /// Whether the caller started speaking and nobody has acted on it yet.
    pub fn speech_pending(&self) -> bool {
        self.sh.lock().tape.as_ref().is_some_and(|t| t.pending)
    }

    /// The next key, or the caller starting to speak, within `timeout`; `None` on timeout
    /// or when the call ends. Speech counts only while the tape listens.
    pub async fn next_key_or_speech(&self, timeout: Duration) -> Option<Heard> {
        let deadline = later(Instant::now(), timeout);
        loop {
            let notified = self.sh.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.sh.lock();
                if let Some(d) = st.digits.pop_front() {
                    return Some(Heard::Key(d));
                }
                if st.tape.as_ref().is_some_and(|t| t.pending) {
                    return Some(Heard::Speech);
                }
            }
            if self.sh.end_reason().is_some() {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// How much of what the tape holds is voiced.
    pub fn voiced(&self) -> Duration {
        let st = self.sh.lock();
        let n = st.tape.as_ref().map_or(0, |t| t.voiced_samples);
        Duration::from_micros(n as u64 * 125)
    }

    /// Forgets what the caller said (it was a command, already acted on); keeps listening.
    pub fn discard_speech(&self) {
        if let Some(t) = self.sh.lock().tape.as_mut() {
            t.reset();
        }
    }

    /// Everything the caller said since they started speaking, when they did; the tape
    /// starts over. Works after the call ended too (a caller who hung up mid-sentence).
    pub fn take_speech(&self) -> Option<Recording> {
        let end = if self.sh.end_reason().is_some() {
            RecordEnd::SessionEnded
        } else {
            RecordEnd::Silence
        };
        self.sh.lock().tape.as_mut().and_then(|t| t.take(end))
    }

    /// Waits until the words the caller started end with a pause of `pause`, or `max` after
    /// they started, or `#`, or the call ends. Returns them (a copy: the tape keeps them,
    /// for a message that goes on) and marks the speech as acted on.
    pub async fn utterance(&self, pause: Duration, max: Duration) -> Utterance {
        let started = Instant::now();
        let ended_by = self
            .wait_tape(later(started, max), |t, now, digits| {
                if !t.speaking {
                    return Some(UtteranceEnd::Pause);
                }
                if take_hash(digits) {
                    return Some(UtteranceEnd::Hash);
                }
                (now.duration_since(t.last_voice) >= pause).then_some(UtteranceEnd::Pause)
            })
            .await
            .unwrap_or(UtteranceEnd::StillSpeaking);
        let mut st = self.sh.lock();
        let ended_by = if self.sh.end_reason().is_some() {
            UtteranceEnd::SessionEnded
        } else {
            ended_by
        };
        let pcm = st.tape.as_mut().map_or_else(Vec::new, |t| {
            t.pending = false;
            t.kept.clone()
        });
        Utterance { pcm, ended_by }
    }

    /// Lets the caller finish: waits for `opts.silence_end` after their last word, `#`,
    /// `opts.max` of tape, or the end of the call, and returns the whole message from its
    /// first syllable (`None` when the caller never spoke).
    pub async fn finish_speech(&self, opts: RecordOptions) -> Option<Recording> {
        let hard = later(Instant::now(), opts.max);
        let ended_by = self
            .wait_tape(hard, |t, now, digits| {
                if !t.speaking {
                    return Some(RecordEnd::Silence);
                }
                if t.kept.len() >= t.max_samples.min(ms_samples(opts.max)) {
                    return Some(RecordEnd::MaxLength);
                }
                if opts.stop_on_hash && take_hash(digits) {
                    return Some(RecordEnd::Hash);
                }
                match opts.silence_end {
                    Some(s) if now.duration_since(t.last_voice) >= s => Some(RecordEnd::Silence),
                    _ => None,
                }
            })
            .await
            .unwrap_or(RecordEnd::MaxLength);
        let ended_by = if self.sh.end_reason().is_some() {
            RecordEnd::SessionEnded
        } else {
            ended_by
        };
        self.sh.lock().tape.as_mut().and_then(|t| t.take(ended_by))
    }

    /// Polls the tape until `done` says so; `None` when the call ends, the tape is stopped
    /// or `deadline` passes.
    async fn wait_tape<T>(
        &self,
        deadline: Instant,
        mut done: impl FnMut(&Tape, Instant, &mut VecDeque<crate::media::dtmf::Digit>) -> Option<T>,
    ) -> Option<T> {
        loop {
            let notified = self.sh.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.sh.lock();
                let st = &mut *st;
                let now = Instant::now();
                let Some(tape) = st.tape.as_deref() else {
                    return None;
                };
                if let Some(v) = done(tape, now, &mut st.digits) {
                    return Some(v);
                }
                if self.sh.end_reason().is_some() || now >= deadline {
                    return None;
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
}

fn ms_samples(d: Duration) -> usize {
    usize::try_from(d.as_millis())
        .unwrap_or(usize::MAX)
        .saturating_mul(8)
}

fn take_hash(digits: &mut VecDeque<crate::media::dtmf::Digit>) -> bool {
    match digits.iter().position(|d| d.as_char() == '#') {
        Some(i) => {
            digits.remove(i);
            true
        }
        None => false,
    }
}

/// Feeds the tape from the receive path; wakes whoever waits when speech starts.
pub(super) fn feed(sh: &Shared, tape: &mut Tape, pcm: &[i16], now: Instant) {
    if tape.feed(pcm, now) {
        tracing::debug!(local = %sh.local, "caller started speaking");
        sh.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize, amp: f64) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| (amp * (i as f64 * 0.3).sin()) as i16)
            .collect()
    }

    #[test]
    fn the_first_syllable_is_kept_and_a_click_is_not_speech() {
        let mut t = Tape::new(ListenOptions::default(), -45.0);
        let now = Instant::now();
        assert!(!t.feed(&tone(2000, 0.0), now), "silence");
        assert!(!t.feed(&tone(40, 8000.0), now), "a 40 ms click");
        assert!(!t.feed(&tone(500, 0.0), now));
        assert!(!t.speaking);
        let quiet_before = 500 * 8;
        // Speech: the onset is seen 120 ms in, and the tape holds the 500 ms before it too.
        assert!(t.feed(&tone(120, 8000.0), now));
        assert!(t.pending && t.speaking);
        assert!(
            t.kept.len() >= quiet_before + 120 * 8 - FRAME,
            "{}",
            t.kept.len()
        );
        t.feed(&tone(1000, 8000.0), now);
        t.feed(&tone(1000, 0.0), now);
        let rec = t.take(RecordEnd::Silence).unwrap();
        // Pre-roll + 1.12 s of voice + 200 ms of the silence after it.
        let secs = rec.pcm.len() as f64 / 8000.0;
        assert!((1.7..=1.9).contains(&secs), "{secs}");
        assert!(!t.speaking && t.take(RecordEnd::Silence).is_none());
    }

    #[test]
    fn the_tape_stops_growing_at_its_limit() {
        let opts = ListenOptions {
            max: Duration::from_secs(2),
            ..Default::default()
        };
        let mut t = Tape::new(opts, -45.0);
        t.feed(&tone(5000, 8000.0), Instant::now());
        assert!(t.kept.len() <= 2 * 8000 + FRAME);
    }
}
