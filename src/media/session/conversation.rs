//! Recording both sides of a staffed call into one WAV file, stereo or mixed.
//!
//! Each side is what one session *receives*, that is what that party says: the caller's
//! channel is the caller's voice, the agent's channel the agent's voice. What a party hears
//! (the other party, hold music, a whisper) is not recorded again. A party on hold keeps
//! its channel running: the held caller's channel carries what their phone still sends
//! (usually nothing, so silence), the agent's channel what the agent says meanwhile.
//!
//! Alignment: every sender round of a session counts exactly one frame into its tap —
//! what arrived since the last round, silence where a packet was lost or late — so each
//! channel advances with the clock, not with the packets. Both taps start in the same
//! instant (within one frame) and both sessions pace on the same monotonic clock, so the
//! channels stay in step for calls of any length.
//!
//! The session's task only copies samples into a buffer it already owns; a writer task
//! takes both buffers once a second (swapping in spares, so nothing is allocated per frame)
//! and writes them on the blocking pool, updating the WAV header each time so a crash
//! leaves a playable file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::state::{ConversationTap, Shared};
use super::{EndReason, MediaError, MediaSession};
use crate::media::config::{MediaConfig, OperatorRecording};

/// How often the writer takes the taps' audio and writes it.
const WRITE_EVERY: Duration = Duration::from_secs(1);
/// Audio a tap holds for the writer before it counts further frames as silence owed (the
/// writer fell behind, e.g. a stalled disk): 30 s at 8 kHz.
const OUT_CAP: usize = 30 * 8000;

/// How the two sides are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordLayout {
    /// Two channels: left = the first session (the caller), right = the second (the agent).
    /// Keeps the voices apart for review and transcription.
    Stereo,
    /// One channel: both voices summed (with clipping). Half the size; what players expect.
    Mixed,
}

impl RecordLayout {
    /// The layout `[media] operator_recording` asks for; `None` when operator calls are
    /// not recorded.
    pub fn for_operator_calls(cfg: &MediaConfig) -> Option<RecordLayout> {
        match cfg.operator_recording {
            OperatorRecording::Off => None,
            OperatorRecording::Stereo => Some(RecordLayout::Stereo),
            OperatorRecording::Mixed => Some(RecordLayout::Mixed),
        }
    }

    fn channels(self) -> u16 {
        match self {
            RecordLayout::Stereo => 2,
            RecordLayout::Mixed => 1,
        }
    }
}

/// Why a conversation recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationEnd {
    /// `finish` was called or the recorder was dropped.
    Stopped,
    /// The first session (the caller) ended.
    FirstEnded(EndReason),
    /// The second session (the agent) ended.
    SecondEnded(EndReason),
}

/// A finished conversation recording: 8 kHz 16-bit PCM WAV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecording {
    /// The file written.
    pub path: PathBuf,
    /// Stereo or mixed.
    pub layout: RecordLayout,
    /// Length of the audio in the file.
    pub duration: Duration,
    /// Why it stopped.
    pub ended_by: ConversationEnd,
    /// Audio written as silence because the writer fell behind by more than 30 s (a
    /// stalled disk); zero normally.
    pub writer_gaps: Duration,
}

/// A running recording of two sessions (see the module docs). Stop it with
/// [`ConversationRecorder::finish`]; dropping it stops it too and still leaves a valid
/// file (written in the background). It also stops by itself when either session ends.
#[derive(Debug)]
#[must_use = "dropping the recorder stops the recording"]
pub struct ConversationRecorder {
    path: PathBuf,
    /// Dropping this tells the writer to stop.
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<ConversationRecording, MediaError>>,
}

impl ConversationRecorder {
    /// Start recording what `a` (the caller) and `b` (the agent) say into a new WAV file at
    /// `path` (created or truncated; its directory must exist). Works whether or not the
    /// two are bridged. Must run inside a tokio runtime.
    pub fn start(
        a: &MediaSession,
        b: &MediaSession,
        path: impl AsRef<Path>,
        layout: RecordLayout,
    ) -> Result<ConversationRecorder, MediaError> {
        if Arc::ptr_eq(&a.sh, &b.sh) {
            return Err(MediaError::SameSession);
        }
        let path = path.as_ref().to_path_buf();
        let spec = hound::WavSpec {
            channels: layout.channels(),
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let (first, second) = if Arc::as_ptr(&a.sh) < Arc::as_ptr(&b.sh) {
            (&a.sh, &b.sh)
        } else {
            (&b.sh, &a.sh)
        };
        {
            // Both taps start under both locks, so the channels start within one frame.
            let mut s1 = first.lock();
            let mut s2 = second.lock();
            if s1.conversation.is_some() || s2.conversation.is_some() {
                return Err(MediaError::AlreadyRecording);
            }
            s1.conversation = Some(ConversationTap::new());
            s2.conversation = Some(ConversationTap::new());
        }
        let taps = Taps {
            a: a.sh.clone(),
            b: b.sh.clone(),
            attached: true,
        };
        let wav = match hound::WavWriter::create(&path, spec) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot create recording");
                return Err(e.into());
            }
        };
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(write_loop(taps, wav, layout, path.clone(), stop_rx));
        Ok(ConversationRecorder { path, stop, task })
    }

    /// Where the file is being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop, write what is left and close the file.
    pub async fn finish(self) -> Result<ConversationRecording, MediaError> {
        let ConversationRecorder { stop, task, .. } = self;
        drop(stop);
        match task.await {
            Ok(r) => r,
            Err(e) => Err(MediaError::Io(std::io::Error::other(format!(
                "recording writer failed: {e}"
            )))),
        }
    }
}

impl ConversationTap {
    fn new() -> ConversationTap {
        ConversationTap {
            rx: VecDeque::with_capacity(2 * 480),
            out: Vec::with_capacity(2 * 8000),
            owed: 0,
        }
    }

    /// One sender round of `n` samples: what arrived (up to `n`), then silence.
    pub(super) fn tick(&mut self, n: usize) {
        let take = self.rx.len().min(n);
        if self.owed > 0 || self.out.len() + n > OUT_CAP {
            self.rx.drain(..take);
            self.owed += n as u64;
            return;
        }
        self.out.extend(self.rx.drain(..take));
        self.out.resize(self.out.len() + (n - take), 0);
    }
}

/// The two sessions' taps; dropping it (writer done, failed or aborted) takes them off.
struct Taps {
    a: Arc<Shared>,
    b: Arc<Shared>,
    attached: bool,
}

impl Taps {
    /// Move what each tap collected into `pending` (swapping in the spare buffers); with
    /// `detach`, take the taps off the sessions.
    fn collect(&mut self, pending: &mut [Pending; 2], detach: bool) {
        if !self.attached {
            return;
        }
        for (sh, p) in [&self.a, &self.b].into_iter().zip(pending.iter_mut()) {
            let owed = {
                let mut st = sh.lock();
                let Some(tap) = st.conversation.as_mut() else {
                    continue;
                };
                let owed = p.take_from(tap);
                if detach {
                    st.conversation = None;
                }
                owed
            };
            p.queue_taken(owed);
        }
        if detach {
            self.attached = false;
        }
    }
}

impl Drop for Taps {
    fn drop(&mut self) {
        if self.attached {
            for sh in [&self.a, &self.b] {
                sh.lock().conversation = None;
            }
        }
    }
}

/// One side's audio taken from its session and not yet written.
#[derive(Default)]
struct Pending {
    queue: VecDeque<i16>,
    spare: Vec<i16>,
    /// Samples of silence written because the writer fell behind.
    owed: u64,
}

impl Pending {
    /// Under the session's lock, O(1): take the tap's audio (its buffer is swapped with
    /// our empty spare, so neither side allocates) and the silence it owes.
    fn take_from(&mut self, tap: &mut ConversationTap) -> u64 {
        std::mem::swap(&mut tap.out, &mut self.spare);
        std::mem::take(&mut tap.owed)
    }

    /// After the lock: queue what was taken, then the owed silence (it came after).
    fn queue_taken(&mut self, owed: u64) {
        self.queue.extend(self.spare.drain(..));
        let owed = usize::try_from(owed).unwrap_or(usize::MAX);
        self.queue.resize(self.queue.len().saturating_add(owed), 0);
        self.owed += owed as u64;
    }
}

type Wav = hound::WavWriter<BufWriter<File>>;

async fn write_loop(
    mut taps: Taps,
    mut wav: Wav,
    layout: RecordLayout,
    path: PathBuf,
    mut stop: oneshot::Receiver<()>,
) -> Result<ConversationRecording, MediaError> {
    let mut pending: [Pending; 2] = Default::default();
    for p in &mut pending {
        p.spare.reserve(2 * 8000);
    }
    let mut batch: Vec<i16> = Vec::with_capacity(2 * 8000 * layout.channels() as usize);
    let mut frames: u64 = 0;
    let (a, b) = (taps.a.clone(), taps.b.clone());
    let a_end = a.wait_ended();
    let b_end = b.wait_ended();
    tokio::pin!(a_end, b_end);
    let mut tick = tokio::time::interval(WRITE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended_by = loop {
        let end = tokio::select! {
            // A hang-up is reported as such even when `finish` follows it at once.
            biased;
            r = &mut a_end => Some(ConversationEnd::FirstEnded(r)),
            r = &mut b_end => Some(ConversationEnd::SecondEnded(r)),
            _ = &mut stop => Some(ConversationEnd::Stopped),
            _ = tick.tick() => None,
        };
        taps.collect(&mut pending, end.is_some());
        let [pa, pb] = &mut pending;
        let mut n = pa.queue.len().min(pb.queue.len());
        if end.is_some() {
            // The last frames: the side that ran ahead by a frame keeps its audio.
            n = pa.queue.len().max(pb.queue.len());
            pa.queue.resize(n, 0);
            pb.queue.resize(n, 0);
        }
        batch.clear();
        let pairs = pa.queue.drain(..n).zip(pb.queue.drain(..n));
        match layout {
            RecordLayout::Stereo => batch.extend(pairs.flat_map(|(l, r)| [l, r])),
            RecordLayout::Mixed => batch.extend(pairs.map(|(l, r)| l.saturating_add(r))),
        }
        frames += n as u64;
        let (w, b, res) = tokio::task::spawn_blocking(move || {
            let res = write_batch(&mut wav, &batch);
            (wav, batch, res)
        })
        .await
        .map_err(|e| std::io::Error::other(format!("recording writer failed: {e}")))?;
        (wav, batch) = (w, b);
        if let Err(e) = res {
            tracing::warn!(path = %path.display(), error = %e, "writing recording failed");
            return Err(e.into());
        }
        if let Some(end) = end {
            break end;
        }
    };
    drop(taps);
    let res = tokio::task::spawn_blocking(move || wav.finalize())
        .await
        .map_err(|e| std::io::Error::other(format!("recording writer failed: {e}")))?;
    if let Err(e) = res {
        tracing::warn!(path = %path.display(), error = %e, "closing recording failed");
        return Err(e.into());
    }
    Ok(ConversationRecording {
        path,
        layout,
        duration: samples_duration(frames),
        ended_by,
        writer_gaps: samples_duration(pending[0].owed.max(pending[1].owed)),
    })
}

/// Append interleaved samples and update the header, so the file is valid up to here.
fn write_batch(w: &mut Wav, batch: &[i16]) -> Result<(), hound::Error> {
    for &s in batch {
        w.write_sample(s)?;
    }
    w.flush()
}

fn samples_duration(samples: u64) -> Duration {
    Duration::from_micros(samples.saturating_mul(125))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: i16) -> [i16; 160] {
        [v; 160]
    }

    #[test]
    fn each_round_counts_one_frame_whatever_arrived() {
        let mut tap = ConversationTap::new();
        // Round 1: a frame arrived. Round 2: nothing (lost). Round 3: two arrived at once
        // (jitter). Round 4: nothing new, the second of those plays.
        tap.rx.extend(frame(1));
        tap.tick(160);
        tap.tick(160);
        tap.rx.extend(frame(3));
        tap.rx.extend(frame(4));
        tap.tick(160);
        tap.tick(160);
        assert_eq!(
            tap.out.len(),
            4 * 160,
            "one frame per round, no more, no less"
        );
        let firsts: Vec<i16> = tap.out.chunks(160).map(|f| f[0]).collect();
        assert_eq!(firsts, [1, 0, 3, 4], "silence where the packet was lost");
        // A late sender round (frames skipped) still counts every frame of the clock.
        tap.tick(3 * 160);
        assert_eq!(tap.out.len(), 7 * 160);
    }

    #[test]
    fn a_writer_behind_is_owed_silence_after_what_it_has() {
        let mut tap = ConversationTap::new();
        tap.out.resize(OUT_CAP - 100, 7);
        tap.rx.extend(frame(1));
        tap.tick(160);
        assert_eq!(tap.owed, 160);
        assert!(
            tap.rx.is_empty(),
            "what arrived meanwhile is not kept for later"
        );
        // Even a frame that would fit goes to the owed silence, so the order stays right.
        tap.tick(50);
        assert_eq!((tap.out.len(), tap.owed), (OUT_CAP - 100, 210));
    }

    #[test]
    fn taken_audio_keeps_owed_silence_after_it() {
        let mut tap = ConversationTap::new();
        tap.out.extend([5; 10]);
        tap.owed = 20;
        let mut p = Pending::default();
        let owed = p.take_from(&mut tap);
        p.queue_taken(owed);
        let got: Vec<i16> = p.queue.iter().copied().collect();
        assert_eq!(got.len(), 30);
        assert!(got[..10].iter().all(|&s| s == 5) && got[10..].iter().all(|&s| s == 0));
        assert_eq!(p.owed, 20);
        assert!(tap.out.is_empty() && tap.owed == 0, "the tap starts over");
    }

    #[test]
    fn one_config_line_turns_operator_recording_off_or_picks_the_layout() {
        let layout = |line: &str| {
            let cfg: MediaConfig = toml::from_str(line).expect("valid [media] line");
            RecordLayout::for_operator_calls(&cfg)
        };
        assert_eq!(
            layout(""),
            Some(RecordLayout::Stereo),
            "recorded by default"
        );
        assert_eq!(layout(r#"operator_recording = "off""#), None);
        assert_eq!(
            layout(r#"operator_recording = "mixed""#),
            Some(RecordLayout::Mixed)
        );
        let bad = toml::from_str::<MediaConfig>(r#"operator_recording = "loud""#)
            .expect_err("an unknown value is refused");
        assert!(bad.to_string().contains("off"), "{bad}");
    }
}
