//! Recording what the caller says, ended by silence, `#`, a length limit or hang-up.

use std::time::Duration;

use tokio::time::Instant;

use super::state::{RecordSink, Shared};
use super::{later, MediaError, MediaSession};
use crate::media::prompt::write_wav;

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
    /// How much of it was louder than the silence threshold (a "喂？" is not a message).
    pub voiced: Duration,
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

impl MediaSession {
    /// Record what the peer says, until `opts.max`, `opts.silence_end` of silence, `#`
    /// (if `opts.stop_on_hash`) or the session ends.
    pub async fn record(&self, opts: RecordOptions) -> Result<Recording, MediaError> {
        let started = Instant::now();
        {
            let mut st = self.sh.lock();
            if st.recording.is_some() {
                return Err(MediaError::AlreadyRecording);
            }
            st.recording = Some(RecordSink {
                pcm: Vec::with_capacity(8000),
                max_samples: usize::try_from(opts.max.as_millis())
                    .unwrap_or(usize::MAX)
                    .saturating_mul(8),
                threshold_ms: super::tape::voice_power(self.sh.cfg.silence_threshold_dbfs),
                heard_voice: false,
                last_voice: started,
                voice_end_sample: 0,
                voiced_samples: 0,
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
                voiced: Duration::ZERO,
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
            voiced: Duration::from_micros(sink.voiced_samples as u64 * 125),
        })
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
