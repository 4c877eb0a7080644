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

/// Mean square power (of linear 16-bit samples) above which a frame counts as voice, from
/// the configured silence threshold in dBFS: what recordings and the tape both compare with.
pub(super) fn voice_power(threshold_dbfs: f32) -> f64 {
    let amp = 32767.0 * 10f64.powf(threshold_dbfs as f64 / 20.0);
    amp * amp
}

/// Mean square power of one frame.
pub(super) fn frame_power(frame: &[i16]) -> f64 {
    frame.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / frame.len().max(1) as f64
}

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

const FRAME: usize = 160;

pub(super) struct Tape {
    pub(super) preroll: usize,
    pub(super) onset_frames: u32,
    pub(super) max_samples: usize,
    pub(super) threshold_ms: f64,
    /// Before speech: the last `preroll` samples plus the voiced run so far.
    pub(super) ring: VecDeque<i16>,
    /// From the pre-roll before the first word on.
    pub(super) kept: Vec<i16>,
    pub(super) voiced_run: u32,
    pub(super) speaking: bool,
    /// Speech began and nobody has acted on it yet (what makes a prompt yield).
    pub(super) pending: bool,
    pub(super) last_voice: Instant,
    /// Sample index in `kept` just after the last voiced frame.
    pub(super) voice_end: usize,
    pub(super) voiced_samples: usize,
}

impl Tape {
    pub(super) fn new(opts: ListenOptions, threshold_dbfs: f32) -> Tape {
        let samples = |d: Duration| usize::try_from(d.as_millis()).unwrap_or(usize::MAX) * 8;
        Tape {
            preroll: samples(opts.preroll),
            onset_frames: (opts.onset.as_millis() as u32).div_ceil(20).max(1),
            max_samples: samples(opts.max),
            threshold_ms: voice_power(threshold_dbfs),
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
            let voiced = frame_power(frame) > self.threshold_ms;
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
    pub(super) fn reset(&mut self) {
        self.ring.clear();
        self.kept = Vec::new();
        self.voiced_run = 0;
        self.speaking = false;
        self.pending = false;
        self.voice_end = 0;
        self.voiced_samples = 0;
    }

    /// What was kept, with trailing silence cut to 200 ms, and how much of it is voiced;
    /// the tape starts over.
    pub(super) fn take(&mut self) -> Option<(Vec<i16>, Duration)> {
        if !self.speaking {
            return None;
        }
        let mut pcm = std::mem::take(&mut self.kept);
        pcm.truncate(self.voice_end + 1600);
        let voiced = Duration::from_micros(self.voiced_samples as u64 * 125);
        self.reset();
        Some((pcm, voiced))
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
        let (pcm, voiced) = t.take().unwrap();
        // Pre-roll + 1.12 s of voice + 200 ms of the silence after it.
        let secs = pcm.len() as f64 / 8000.0;
        assert!((1.7..=1.9).contains(&secs), "{secs}");
        assert_eq!(voiced, Duration::from_millis(1120));
        assert!(!t.speaking && t.take().is_none());
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
