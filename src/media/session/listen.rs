//! The operations a call runs on the tape (`tape.rs`): start and stop listening, let a
//! prompt or a key wait yield to speech, wait for the end of an utterance or of the whole
//! message, and take what the caller said.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::record::{RecordEnd, RecordOptions, Recording};
use super::tape::{ListenOptions, Tape};
use super::{later, MediaSession};

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
        let mut st = self.sh.lock();
        recording(st.tape.as_deref_mut(), end)
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
        let mut st = self.sh.lock();
        recording(st.tape.as_deref_mut(), ended_by)
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
                let tape = st.tape.as_deref()?;
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

/// What the tape kept, as a recording that ended `ended_by`.
fn recording(tape: Option<&mut Tape>, ended_by: RecordEnd) -> Option<Recording> {
    let (pcm, voiced) = tape?.take()?;
    Some(Recording {
        pcm,
        ended_by,
        heard_voice: true,
        voiced,
    })
}
