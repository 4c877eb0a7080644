//! Speech: whisper transcription of voice messages and speech-menu utterances, run on worker
//! threads off the async runtime, and the step from a transcript to a ticket's kind,
//! department and summary. Everything runs on the city's own machine: the model is a local
//! ggml file made by `hotline model fetch` (see [`model`]); nothing is fetched at run time.
//!
//! - [`model`]: provisioning and verification of the ggml model.
//! - [`audio`]: WAV/G.711 reading and 8 → 16 kHz resampling.
//! - [`engine`]: the worker pool with per-run time limits ([`Transcriber`]).
//! - [`queue`]: the durable job queue (jobs queued by `notify`'s `speech` consumer) and the
//!   stored transcripts.
//! - [`service`]: [`SpeechService`], the model, the worker pool and the loop that works the
//!   queue.
//! - [`routing`], [`pinyin`]: transcript → route, tolerant of recognition errors.
//! - [`menu`]: gather-speech matching for dialplans.

pub mod audio;
pub mod cer;
pub mod config;
pub mod engine;
pub mod hanzi;
pub mod menu;
pub mod model;
pub mod models;
pub mod pinyin;
pub mod queue;
pub mod routing;
pub mod service;

pub use config::SpeechConfig;
pub use engine::{Lane, Segment, Transcriber, Transcript};
pub use model::ModelName;
pub use queue::QueueStats;
pub use routing::{SpeechRoute, SpeechRouter};
pub use service::{Heard, SpeechService};

/// Everything speech can fail with. Each is answered (job retried or failed, menu no-match);
/// none stops calls, menus or tickets.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("speech model: {0}")]
    Model(String),
    #[error("speech engine: {0}")]
    Engine(String),
    #[error("transcription exceeded its time limit")]
    Timeout,
    #[error("speech menu worker busy")]
    Busy,
    #[error("this build has no speech support (cargo feature `speech` off)")]
    NotBuilt,
    #[error(transparent)]
    Audio(#[from] audio::AudioError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("tickets: {0}")]
    Tickets(String),
    /// The recording could not be read (not uploaded yet, store unreachable): retried.
    #[error("recording: {0}")]
    Recording(String),
}
