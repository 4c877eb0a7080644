//! whisper on worker threads, off the async runtime.
//!
//! Two lanes share one loaded model: voice messages go to a bounded pool of `workers` threads
//! (niced, so media threads always win the CPU), speech-menu utterances go to their own thread
//! so a caller at a menu never waits behind a 60 s message. Every run has a deadline enforced
//! through whisper's abort callback: unintelligible audio makes the decoder fall back again and
//! again and could otherwise hold a worker for minutes.

use super::config::SpeechConfig;
use super::SpeechError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One piece of a transcript with its time in the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start_ms: i64,
    pub end_ms: i64,
    pub text: String,
}

/// What whisper heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub text: String,
    pub segments: Vec<Segment>,
    /// Mean log-probability of the text tokens (≤ 0; closer to 0 is surer).
    pub avg_logprob: f64,
    /// exp(avg_logprob), in 0..1: what routing compares with `min_confidence`.
    pub confidence: f64,
    pub language: String,
    /// How sure whisper's language detection was of `language` (0..1); `None` when the
    /// language was given (a hint, or the only configured one) rather than detected.
    pub language_probability: Option<f64>,
    /// Length of the audio, seconds.
    pub audio_secs: f64,
    /// Wall time of the whisper run, milliseconds.
    pub elapsed_ms: u64,
}

/// Which lane a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Message,
    Menu,
}

struct Request {
    pcm: Vec<f32>,
    lane: Lane,
    /// A language already known (the IVR heard it during the call): no detection.
    language: Option<String>,
    deadline: Duration,
    reply: oneshot::Sender<Result<Transcript, SpeechError>>,
}

/// Options of one whisper run, taken from the config.
#[derive(Debug, Clone)]
struct RunOptions {
    /// Configured languages, the city's own first; detection picks among these only.
    languages: Vec<String>,
    /// Prompt per language (initial prompt and hot words for the city's own).
    prompts: Vec<String>,
    detect_secs: f32,
    threads: usize,
    beam: usize,
}

impl RunOptions {
    fn prompt(&self, language: &str) -> &str {
        self.languages
            .iter()
            .position(|l| l == language)
            .and_then(|i| self.prompts.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Handle to the loaded model and its worker threads. Cheap to clone; threads stop when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Transcriber {
    msg_tx: mpsc::SyncSender<Request>,
    menu_tx: mpsc::SyncSender<Request>,
    busy: Arc<AtomicUsize>,
    workers: usize,
    cfg: Arc<SpeechConfig>,
    model: PathBuf,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("model", &self.model)
            .field("workers", &self.workers)
            .finish()
    }
}

impl Transcriber {
    /// Load the model and start the threads. Blocking (≈0.1–1 s): call from `spawn_blocking`
    /// or before the runtime is busy.
    pub fn start(cfg: &SpeechConfig, model: &Path) -> Result<Self, SpeechError> {
        let mut languages: Vec<String> = Vec::new();
        for l in &cfg.languages {
            let l = l.trim().to_ascii_lowercase();
            if !backend::known_language(&l) {
                return Err(SpeechError::Model(format!(
                    "speech.languages: `{l}` is not a language whisper knows (ISO 639-1, e.g. zh, en)"
                )));
            }
            if !languages.contains(&l) {
                languages.push(l);
            }
        }
        if languages.is_empty() {
            languages.push(cfg.primary_language().to_string());
        }
        let ctx = backend::load(model)?;
        let workers = cfg.effective_workers();
        let opts = RunOptions {
            prompts: languages.iter().map(|l| cfg.prompt_for(l)).collect(),
            languages,
            detect_secs: cfg.detect_secs.clamp(1.0, 30.0),
            threads: cfg.threads_per_job.max(1),
            beam: cfg.beam_size.max(1),
        };
        let prompt_tokens = backend::count_tokens(&ctx, &opts.prompts[0]);
        if prompt_tokens > PROMPT_TOKENS {
            tracing::warn!(
                tokens = prompt_tokens,
                kept = PROMPT_TOKENS,
                "speech: initial prompt and hot words exceed what whisper reads; the start of the prompt is dropped"
            );
        }
        // Queue depth = workers: the durable job queue in the database is the real backlog.
        let (msg_tx, msg_rx) = mpsc::sync_channel::<Request>(workers);
        let (menu_tx, menu_rx) = mpsc::sync_channel::<Request>(2);
        let msg_rx = Arc::new(Mutex::new(msg_rx));
        let busy = Arc::new(AtomicUsize::new(0));
        let nice = cfg.worker_nice.clamp(0, 19);
        for i in 0..workers {
            let rx = msg_rx.clone();
            let ctx = ctx.clone();
            let opts = opts.clone();
            let busy = busy.clone();
            std::thread::Builder::new()
                .name(format!("whisper-{i}"))
                .spawn(move || {
                    lower_priority(nice);
                    loop {
                        // Hold the lock only while waiting for the next request.
                        let next = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        let Ok(req) = next else { return };
                        busy.fetch_add(1, Ordering::SeqCst);
                        let (reply, result) = serve(&ctx, &opts, req);
                        // Free before answering, so a caller that got its answer sees it free.
                        busy.fetch_sub(1, Ordering::SeqCst);
                        let _ = reply.send(result);
                    }
                })
                .map_err(|e| SpeechError::Engine(format!("cannot start worker: {e}")))?;
        }
        {
            let ctx = ctx.clone();
            let opts = opts.clone();
            std::thread::Builder::new()
                .name("whisper-menu".into())
                .spawn(move || {
                    // Menus are latency-bound: normal priority, like the call that waits.
                    while let Ok(req) = menu_rx.recv() {
                        let (reply, result) = serve(&ctx, &opts, req);
                        let _ = reply.send(result);
                    }
                })
                .map_err(|e| SpeechError::Engine(format!("cannot start menu worker: {e}")))?;
        }
        Ok(Self {
            msg_tx,
            menu_tx,
            busy,
            workers,
            cfg: Arc::new(cfg.clone()),
            model: model.to_path_buf(),
        })
    }

    /// Path of the loaded model.
    pub fn model_path(&self) -> &Path {
        &self.model
    }

    /// The city's own language (the first configured).
    pub fn primary_language(&self) -> &str {
        self.cfg.primary_language()
    }

    /// Number of message workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Message workers running whisper right now.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    /// Time limit of one message: `job_timeout_secs`, or `job_timeout_factor` × its length
    /// when that is longer (a 3-minute message may take longer than a 10-second one).
    fn message_deadline(&self, samples: usize) -> Duration {
        let audio = samples as f64 / super::audio::WHISPER_RATE as f64;
        let scaled = audio * self.cfg.job_timeout_factor.max(0.0);
        Duration::from_secs_f64((self.cfg.job_timeout_secs.max(1) as f64).max(scaled))
    }

    /// Transcribe a voice message (16 kHz mono). Waits for a free worker. `language`: the
    /// caller's language when already known (skips detection); it must be one of the
    /// configured `languages`, otherwise it is ignored and detection runs.
    pub async fn transcribe_message(
        &self,
        pcm: Vec<f32>,
        language: Option<&str>,
    ) -> Result<Transcript, SpeechError> {
        let deadline = self.message_deadline(pcm.len());
        let (reply, rx) = oneshot::channel();
        let req = Request {
            pcm,
            lane: Lane::Message,
            language: language.map(str::to_string),
            deadline,
            reply,
        };
        let tx = self.msg_tx.clone();
        // A full channel blocks the sender: do that wait off the runtime.
        tokio::task::spawn_blocking(move || tx.send(req))
            .await
            .map_err(|e| SpeechError::Engine(e.to_string()))?
            .map_err(|_| SpeechError::Engine("speech workers stopped".into()))?;
        rx.await
            .map_err(|_| SpeechError::Engine("speech worker dropped the job".into()))?
    }

    /// Transcribe a short speech-menu utterance (16 kHz mono), cut to `menu_max_secs`.
    /// Answers `Busy` at once rather than queueing behind other callers. `language`: as for
    /// [`Self::transcribe_message`]; `None` detects it among the configured languages.
    pub async fn transcribe_utterance(
        &self,
        mut pcm: Vec<f32>,
        language: Option<&str>,
    ) -> Result<Transcript, SpeechError> {
        let max = (self.cfg.menu_max_secs.max(0.5) * super::audio::WHISPER_RATE as f32) as usize;
        pcm.truncate(max);
        let (reply, rx) = oneshot::channel();
        let req = Request {
            pcm,
            lane: Lane::Menu,
            language: language.map(str::to_string),
            deadline: Duration::from_millis(self.cfg.menu_timeout_ms.max(100)),
            reply,
        };
        self.menu_tx.try_send(req).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => SpeechError::Busy,
            mpsc::TrySendError::Disconnected(_) => {
                SpeechError::Engine("speech menu worker stopped".into())
            }
        })?;
        rx.await
            .map_err(|_| SpeechError::Engine("speech worker dropped the utterance".into()))?
    }

    /// Blocking transcription on the calling thread (benchmarks and tools); `language` as
    /// for [`Self::transcribe_message`].
    pub fn transcribe_blocking(
        &self,
        pcm: Vec<f32>,
        lane: Lane,
        language: Option<&str>,
    ) -> Result<Transcript, SpeechError> {
        let (reply, rx) = oneshot::channel();
        let deadline = match lane {
            Lane::Message => self.message_deadline(pcm.len()),
            Lane::Menu => Duration::from_millis(self.cfg.menu_timeout_ms.max(100)),
        };
        let req = Request {
            pcm,
            lane,
            language: language.map(str::to_string),
            deadline,
            reply,
        };
        let tx = match lane {
            Lane::Message => &self.msg_tx,
            Lane::Menu => &self.menu_tx,
        };
        tx.send(req)
            .map_err(|_| SpeechError::Engine("speech workers stopped".into()))?;
        rx.blocking_recv()
            .map_err(|_| SpeechError::Engine("speech worker dropped the job".into()))?
    }
}

/// Prompt tokens whisper reads (half its text context); older ones are dropped.
const PROMPT_TOKENS: usize = 224;

type Reply = oneshot::Sender<Result<Transcript, SpeechError>>;

fn serve(
    ctx: &backend::Ctx,
    opts: &RunOptions,
    req: Request,
) -> (Reply, Result<Transcript, SpeechError>) {
    let started = Instant::now();
    let audio_secs = req.pcm.len() as f64 / super::audio::WHISPER_RATE as f64;
    // A panic inside the FFI wrapper must not kill the worker (and lose every later job).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        backend::run(
            ctx,
            opts,
            &req.pcm,
            req.lane,
            req.language.as_deref(),
            started + req.deadline,
        )
    }))
    .unwrap_or_else(|_| Err(SpeechError::Engine("whisper panicked".into())));
    let result = result.map(|mut t| {
        t.audio_secs = audio_secs;
        t.elapsed_ms = started.elapsed().as_millis() as u64;
        t
    });
    (req.reply, result)
}

/// Give this thread (and the threads whisper starts from it) a lower CPU priority.
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(feature = "speech")]
mod backend {
    use super::*;
    use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

    pub type Ctx = Arc<WhisperContext>;

    pub fn load(model: &Path) -> Result<Ctx, SpeechError> {
        static HOOK: std::sync::Once = std::sync::Once::new();
        // whisper.cpp logs to stderr by default; send it to tracing instead.
        HOOK.call_once(whisper_rs::install_logging_hooks);
        let path = model
            .to_str()
            .ok_or_else(|| SpeechError::Model("model path is not UTF-8".into()))?;
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        WhisperContext::new_with_params(path, params)
            .map(Arc::new)
            .map_err(|e| SpeechError::Model(format!("{}: {e}", model.display())))
    }

    pub fn known_language(code: &str) -> bool {
        !code.is_empty() && !code.contains('\0') && whisper_rs::get_lang_id(code).is_some()
    }

    pub fn count_tokens(ctx: &Ctx, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        ctx.tokenize(text, 4096).map(|t| t.len()).unwrap_or(0)
    }

    /// The language to transcribe in: the hint when it is configured, the only configured
    /// language, or the most probable configured language by whisper's detection on the
    /// first `detect_secs` (one extra encoder pass).
    fn choose_language(
        state: &mut whisper_rs::WhisperState,
        opts: &RunOptions,
        pcm: &[f32],
        hint: Option<&str>,
    ) -> Result<(String, Option<f64>), SpeechError> {
        if let Some(h) = hint.filter(|h| opts.languages.iter().any(|l| l == h)) {
            return Ok((h.to_string(), None));
        }
        if opts.languages.len() == 1 {
            return Ok((opts.languages[0].clone(), None));
        }
        let n =
            ((opts.detect_secs * super::super::audio::WHISPER_RATE as f32) as usize).min(pcm.len());
        state
            .pcm_to_mel(&pcm[..n], opts.threads)
            .map_err(|e| SpeechError::Engine(format!("mel: {e}")))?;
        let (_, probs) = state
            .lang_detect(0, opts.threads)
            .map_err(|e| SpeechError::Engine(format!("language detection: {e}")))?;
        let scored: Vec<(&String, f64)> = opts
            .languages
            .iter()
            .map(|l| {
                let p = whisper_rs::get_lang_id(l)
                    .and_then(|id| probs.get(id as usize))
                    .copied()
                    .unwrap_or(0.0);
                (l, p as f64)
            })
            .collect();
        let total: f64 = scored.iter().map(|(_, p)| p).sum();
        let (best, p) = scored
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(l, p)| ((*l).clone(), *p))
            .unwrap_or_else(|| (opts.languages[0].clone(), 0.0));
        // Probability among the configured languages: what the choice was between.
        let share = if total > 0.0 { p / total } else { 0.0 };
        Ok((best, Some(share)))
    }

    pub fn run(
        ctx: &Ctx,
        opts: &RunOptions,
        pcm: &[f32],
        lane: Lane,
        hint: Option<&str>,
        deadline: Instant,
    ) -> Result<Transcript, SpeechError> {
        let mut state = ctx
            .create_state()
            .map_err(|e| SpeechError::Engine(e.to_string()))?;
        // whisper needs at least 1 s of audio; pad short utterances with silence.
        let padded: Vec<f32>;
        let input = if pcm.len() < 16_800 {
            let mut v = pcm.to_vec();
            v.resize(16_800, 0.0);
            padded = v;
            &padded[..]
        } else {
            pcm
        };
        let (language, language_probability) = choose_language(&mut state, opts, input, hint)?;
        if Instant::now() > deadline {
            return Err(SpeechError::Timeout);
        }
        let strategy = if opts.beam > 1 {
            SamplingStrategy::BeamSearch {
                beam_size: opts.beam as i32,
                patience: -1.0,
            }
        } else {
            SamplingStrategy::Greedy { best_of: 1 }
        };
        let mut p = FullParams::new(strategy);
        p.set_language(Some(&language));
        let prompt = opts.prompt(&language);
        if !prompt.is_empty() {
            p.set_initial_prompt(prompt);
        }
        p.set_n_threads(opts.threads as i32);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_special(false);
        p.set_print_timestamps(false);
        p.set_suppress_blank(true);
        p.set_no_context(true);
        if lane == Lane::Menu {
            p.set_single_segment(true);
            p.set_no_timestamps(true);
            // The encoder's cost follows the audio context: 50 frames per second of audio,
            // plus a margin, instead of the full 30 s window.
            let secs = pcm.len() as f32 / super::super::audio::WHISPER_RATE as f32;
            let ctx_frames = ((secs + 1.0) * 50.0).ceil() as i32;
            p.set_audio_ctx(ctx_frames.clamp(128, 1500));
            // One pass, no temperature fallback: the time budget is ~1.5 s.
            p.set_temperature_inc(0.0);
            // A few seconds of speech are a few dozen tokens; a decoder caught repeating
            // itself must not spend the caller's wait on it.
            p.set_max_tokens(64);
        }
        p.set_abort_callback_safe(move || Instant::now() > deadline);
        let res = state.full(p, input);
        if Instant::now() > deadline {
            return Err(SpeechError::Timeout);
        }
        res.map_err(|e| SpeechError::Engine(e.to_string()))?;
        let eot = ctx.token_eot();
        let mut segments = Vec::new();
        let (mut lp_sum, mut lp_n) = (0.0f64, 0usize);
        for seg in state.as_iter() {
            let text = seg
                .to_str_lossy()
                .map(|s| s.into_owned())
                .unwrap_or_default();
            for i in 0..seg.n_tokens() {
                if let Some(tok) = seg.get_token(i) {
                    if tok.token_id() < eot {
                        lp_sum += tok.token_data().plog as f64;
                        lp_n += 1;
                    }
                }
            }
            segments.push(Segment {
                start_ms: seg.start_timestamp() * 10,
                end_ms: seg.end_timestamp() * 10,
                text: text.trim().to_string(),
            });
        }
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join("");
        let avg_logprob = if lp_n == 0 {
            -10.0
        } else {
            lp_sum / lp_n as f64
        };
        Ok(Transcript {
            text,
            segments,
            avg_logprob,
            confidence: avg_logprob.exp().clamp(0.0, 1.0),
            language,
            language_probability,
            audio_secs: 0.0,
            elapsed_ms: 0,
        })
    }
}

#[cfg(not(feature = "speech"))]
mod backend {
    use super::*;

    #[derive(Clone)]
    pub struct Ctx;

    pub fn load(_model: &Path) -> Result<Ctx, SpeechError> {
        Err(SpeechError::NotBuilt)
    }

    pub fn known_language(_: &str) -> bool {
        true
    }

    pub fn count_tokens(_: &Ctx, _: &str) -> usize {
        0
    }

    pub fn run(
        _: &Ctx,
        _: &RunOptions,
        _: &[f32],
        _: Lane,
        _: Option<&str>,
        _: Instant,
    ) -> Result<Transcript, SpeechError> {
        Err(SpeechError::NotBuilt)
    }
}
