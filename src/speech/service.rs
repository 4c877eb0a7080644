//! [`SpeechService`]: speech as the server runs it — the model (loaded when it appears), the
//! whisper worker pool, speech menus, and the loop that works the transcription queue of
//! [`super::queue`]: claim a job, transcribe, store the transcript, update the ticket.

use super::audio;
use super::config::SpeechConfig;
use super::engine::Transcriber;
use super::model;
use super::queue::{claim, fail, finish, renew, stats, store_transcript, transcript_of, Job};
use super::routing::{SpeechRoute, SpeechRouter};
use super::SpeechError;
use crate::store::Db;
use crate::tickets::{TicketId, Tickets};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, RwLock, Semaphore};
use tokio_util::sync::CancellationToken;

/// What [`SpeechService::hear`] made of a caller's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// Whisper's text, in `language`.
    pub text: String,
    /// ISO 639-1 code of the language spoken (one of the configured `languages`).
    pub language: String,
    /// How sure detection was among the configured languages (0..1); `None` when only one
    /// language is configured.
    pub language_probability: Option<f64>,
    /// exp(mean token log-probability) of the text, 0..1.
    pub confidence: f64,
}

impl Heard {
    /// Which of a speech menu's phrases the words say, if any (as [`SpeechService::choose_phrase`]).
    pub fn choose(&self, phrases: &[&str]) -> Option<usize> {
        super::menu::match_phrases(&self.text, phrases, super::menu::DEFAULT_MIN_SCORE)
            .map(|m| m.index)
    }
}

/// Speech as the server runs it: the model (once it is there), the worker pool and the queue.
pub struct SpeechService {
    cfg: SpeechConfig,
    data_dir: PathBuf,
    db: Db,
    tickets: Tickets,
    router: SpeechRouter,
    engine: RwLock<Option<Transcriber>>,
    ready: std::sync::atomic::AtomicBool,
    wake: Notify,
}

impl SpeechService {
    pub fn new(cfg: SpeechConfig, data_dir: PathBuf, db: Db, tickets: Tickets) -> Arc<Self> {
        let rules = tickets.rules();
        let router = SpeechRouter::new(&rules.routing, &rules.directory, &cfg);
        Arc::new(Self {
            cfg,
            data_dir,
            db,
            tickets,
            router,
            engine: RwLock::new(None),
            ready: std::sync::atomic::AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// The router, for tools and tests.
    pub fn router(&self) -> &SpeechRouter {
        &self.router
    }

    /// The loaded transcriber, if the model is there.
    pub async fn transcriber(&self) -> Option<Transcriber> {
        self.engine.read().await.clone()
    }

    /// Check and load the model now. A missing or corrupt model is an error here; the
    /// server logs it and keeps running, and the queue retries every `model_retry_secs`.
    pub async fn load_model(&self) -> Result<Transcriber, SpeechError> {
        if let Some(t) = self.engine.read().await.clone() {
            return Ok(t);
        }
        let cfg = self.cfg.clone();
        let dir = self.data_dir.clone();
        let t = tokio::task::spawn_blocking(move || {
            let info = model::verify(&cfg, &dir)?;
            Transcriber::start(&cfg, &info.path)
        })
        .await
        .map_err(|e| SpeechError::Engine(e.to_string()))??;
        *self.engine.write().await = Some(t.clone());
        self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
        Ok(t)
    }

    /// Whether a model is loaded (speech menus can listen). Cheap, not async.
    pub fn available(&self) -> bool {
        self.cfg.enabled && self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Speech menus: which of `phrases` a short utterance (8 kHz 16-bit PCM from the call)
    /// says. `None` when nothing matched, no model is loaded, the menu lane is busy or the
    /// time limit passed; the dialplan then takes its no-match branch.
    pub async fn choose_phrase(&self, pcm8k: Vec<i16>, phrases: &[String]) -> Option<usize> {
        let engine = self.transcriber().await?;
        let audio = audio::Audio {
            rate: 8000,
            samples: pcm8k.iter().map(|&s| s as f32 / 32768.0).collect(),
        };
        let list: Vec<&str> = phrases.iter().map(String::as_str).collect();
        match super::menu::gather_speech(&engine, &audio, &list, super::menu::DEFAULT_MIN_SCORE)
            .await
        {
            Ok(Some(m)) => {
                tracing::debug!(heard = %m.heard, phrase = %m.phrase, score = m.score, "speech menu match");
                Some(m.index)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::info!(error = %e, "speech menu: no answer");
                None
            }
        }
    }

    /// What a caller said in a short utterance (8 kHz 16-bit PCM from the call), in which of
    /// the configured languages: for the IVR, which answers an English caller in English.
    /// Runs on the menu lane, bounded by `menu_timeout_ms` like [`Self::choose_phrase`];
    /// `None` when no model is loaded, the lane is busy, the limit passed or nothing was said.
    pub async fn hear(&self, pcm8k: Vec<i16>) -> Option<Heard> {
        self.hear_in(pcm8k, None).await
    }

    /// The city's own language (the first configured).
    pub fn primary_language(&self) -> &str {
        self.cfg.primary_language()
    }

    /// `hear` in a language already known (no detection pass: about half the time), or with
    /// detection among the configured languages when `None`.
    pub async fn hear_in(&self, pcm8k: Vec<i16>, language: Option<&str>) -> Option<Heard> {
        let engine = self.transcriber().await?;
        let audio = audio::Audio {
            rate: 8000,
            samples: pcm8k.iter().map(|&s| s as f32 / 32768.0).collect(),
        };
        let pcm = match audio::to_whisper(&audio) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(error = %e, "speech: cannot hear this utterance");
                return None;
            }
        };
        match engine.transcribe_utterance(pcm, language).await {
            Ok(t) if !t.text.trim().is_empty() => {
                tracing::debug!(text = %t.text, language = %t.language, "speech: heard");
                Some(Heard {
                    text: t.text,
                    language: t.language,
                    language_probability: t.language_probability,
                    confidence: t.confidence,
                })
            }
            Ok(_) => None,
            Err(e) => {
                tracing::info!(error = %e, "speech: nothing heard");
                None
            }
        }
    }

    /// Poke the queue (a new job was just committed).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Work the queue until `stop` is cancelled. Spawn this once per process.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        if !self.cfg.enabled {
            tracing::info!("speech disabled by config; voice messages keep their recordings, transcripts stay pending");
            return;
        }
        let workers = self.cfg.effective_workers();
        let permits = Arc::new(Semaphore::new(workers));
        let mut next_model_try = tokio::time::Instant::now();
        let mut warned = false;
        loop {
            if stop.is_cancelled() {
                return;
            }
            self.publish_metrics().await;
            if self.engine.read().await.is_none() {
                if tokio::time::Instant::now() >= next_model_try {
                    match self.load_model().await {
                        Ok(t) => {
                            tracing::info!(model = %t.model_path().display(), workers, "speech ready")
                        }
                        Err(e) => {
                            if !warned {
                                tracing::error!(error = %e, "speech unavailable: transcripts stay pending until a model appears; calls, menus and tickets keep working");
                                warned = true;
                            } else {
                                tracing::debug!(error = %e, "speech model still unavailable");
                            }
                            next_model_try = tokio::time::Instant::now()
                                + Duration::from_secs(self.cfg.model_retry_secs.max(1));
                        }
                    }
                }
                if self.engine.read().await.is_none() {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            }
            let permit = tokio::select! {
                _ = stop.cancelled() => return,
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            };
            let job = match claim(&self.db, self.lease()).await {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim a transcription job");
                    None
                }
            };
            match job {
                Some(job) => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        me.process(job).await;
                        drop(permit);
                    });
                }
                None => {
                    drop(permit);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(self.cfg.poll_ms.max(50))) => {}
                    }
                }
            }
        }
    }

    async fn publish_metrics(&self) {
        if let Ok(s) = stats(&self.db).await {
            metrics::gauge!("hotline_speech_queue_pending").set(s.pending as f64);
            metrics::gauge!("hotline_speech_queue_running").set(s.running as f64);
            metrics::gauge!("hotline_speech_queue_failed").set(s.failed as f64);
            metrics::gauge!("hotline_speech_queue_oldest_age_seconds").set(s.oldest_age_secs);
        }
        let busy = self
            .engine
            .read()
            .await
            .as_ref()
            .map(|t| t.busy())
            .unwrap_or(0);
        metrics::gauge!("hotline_speech_workers_busy").set(busy as f64);
    }

    /// Run one job to its end (done, retry or failed). Never panics on bad input.
    pub async fn process(&self, job: Job) {
        let span = tracing::info_span!(
            "transcription",
            job = job.id,
            ticket = job.ticket_id,
            attempt = job.attempts
        );
        let _e = span.enter();
        if job.attempts > self.cfg.max_attempts.max(1) {
            // Claimed again after its worker died on the last attempt.
            let _ = fail(
                &self.db,
                &job,
                "worker stopped during the last attempt",
                0,
                Duration::ZERO,
            )
            .await;
            metrics::counter!("hotline_speech_jobs_total", "result" => "failed").increment(1);
            return;
        }
        let result = self.attempt_leased(&job).await;
        match result {
            Ok(route) => {
                metrics::counter!("hotline_speech_jobs_total", "result" => "done").increment(1);
                tracing::info!(department = ?route.route.department, review = route.needs_review(), "transcribed");
            }
            Err(e) => {
                let retry = Duration::from_secs(self.cfg.retry_base_secs);
                match fail(&self.db, &job, &e.to_string(), self.cfg.max_attempts, retry).await {
                    Ok(true) => {
                        metrics::counter!("hotline_speech_jobs_total", "result" => "failed")
                            .increment(1);
                        tracing::error!(error = %e, "transcription failed for good; the ticket keeps its recording");
                    }
                    Ok(false) => {
                        metrics::counter!("hotline_speech_jobs_total", "result" => "retry")
                            .increment(1);
                        tracing::warn!(error = %e, "transcription failed; will retry");
                    }
                    Err(db) => {
                        tracing::error!(error = %db, "cannot record a failed transcription; its lease will expire and it will run again")
                    }
                }
            }
        }
    }

    /// The lease this worker holds on a job.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.cfg.lease_secs.max(5))
    }

    /// [`Self::attempt`] with its lease renewed every third of it until it ends: the time
    /// limit grows with a message's length and a job may wait for a free worker, so a fixed
    /// lease could end while the job still runs.
    async fn attempt_leased(&self, job: &Job) -> Result<SpeechRoute, SpeechError> {
        let lease = self.lease();
        let attempt = self.attempt(job);
        tokio::pin!(attempt);
        let mut beat = tokio::time::interval(lease / 3);
        beat.tick().await;
        loop {
            tokio::select! {
                r = &mut attempt => return r,
                _ = beat.tick() => match renew(&self.db, job, lease).await {
                    Ok(true) => tracing::debug!("transcription lease renewed"),
                    Ok(false) => tracing::warn!("transcription job no longer leased to this worker"),
                    Err(e) => tracing::warn!(error = %e, "cannot renew the transcription lease"),
                },
            }
        }
    }

    async fn attempt(&self, job: &Job) -> Result<SpeechRoute, SpeechError> {
        // Already transcribed before a crash: only the ticket update is left.
        let route = match transcript_of(&self.db, TicketId(job.ticket_id)).await? {
            Some(stored) => {
                self.router
                    .route_text_in(&stored.raw_text, stored.confidence, &stored.language)
            }
            None => {
                let engine = self
                    .transcriber()
                    .await
                    .ok_or_else(|| SpeechError::Model("no model loaded".into()))?;
                // Another node may have recorded it: read it from where recordings are kept.
                let copy = self
                    .tickets
                    .recordings()
                    .open(&job.recording_path)
                    .await
                    .map_err(|e| SpeechError::Recording(e.to_string()))?;
                let (pcm, _) = tokio::task::spawn_blocking(move || {
                    let r = audio::load_for_whisper(copy.path());
                    drop(copy);
                    r
                })
                .await
                .map_err(|e| SpeechError::Engine(e.to_string()))??;
                let t = engine
                    .transcribe_message(pcm, job.language.as_deref())
                    .await?;
                metrics::histogram!("hotline_speech_rtf")
                    .record(t.elapsed_ms as f64 / 1000.0 / t.audio_secs.max(0.1));
                let route = self.router.route(&t);
                let name = engine
                    .model_path()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                store_transcript(&self.db, job, &t, &route, &name).await?;
                route
            }
        };
        self.tickets
            .apply_transcript(TicketId(job.ticket_id), route.to_update())
            .await
            .map_err(|e| SpeechError::Tickets(e.to_string()))?;
        finish(&self.db, job).await?;
        Ok(route)
    }
}
