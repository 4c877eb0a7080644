//! `[speech]` section of the configuration (documented key by key in docs/speech-config.md).

use super::models::{default_model_path, ModelName};
use std::path::PathBuf;

/// Speech settings. Defaults give a working whisper base set-up on a 2-core machine.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechConfig {
    /// Turn transcription off entirely (calls, menus and tickets keep working).
    pub enabled: bool,
    /// Which of the supported models `hotline model fetch` makes and the hotline loads
    /// (name, file and checksum in [`super::models::MODELS`]). Ignored when `model_path` is set.
    pub model: ModelName,
    /// A ggml whisper model of the city's own (small, medium, large-v3 …). Empty: the
    /// supported model named by `model`, at `<data_dir>/models/<its file>`.
    pub model_path: Option<PathBuf>,
    /// Optional sha256 of `model_path`, checked at start when set.
    pub model_sha256: Option<String>,
    /// Languages callers speak (ISO 639-1, whisper's codes), the city's own first. With more
    /// than one, whisper's language detection on the first `detect_secs` of the audio picks
    /// the most probable of these (never any other), and the message is transcribed in it.
    pub languages: Vec<String>,
    /// Audio whisper's language detection looks at, seconds from the start.
    pub detect_secs: f32,
    /// Initial prompt for the first language: steers whisper toward simplified Mandarin and
    /// hotline vocabulary.
    pub initial_prompt: String,
    /// Names whisper should spell right: the city's streets, communities, townships and
    /// departments. Appended to the initial prompt of the first language (whisper.cpp has no
    /// true vocabulary biasing; a prompt is the one way in).
    pub hot_words: Vec<String>,
    /// Worker threads running whisper for voice messages. 0 = cores − 1 (at least 1), which
    /// leaves a core for media.
    pub workers: usize,
    /// Threads each whisper run may use.
    pub threads_per_job: usize,
    /// CPU niceness of message workers (0–19): above 0, media and signalling always get the
    /// CPU first, and a busy pool cannot make calls stutter.
    pub worker_nice: i32,
    /// Beam size; 1 = greedy (fastest).
    pub beam_size: usize,
    /// Hard time limit for one voice message, seconds (unintelligible audio makes whisper slow).
    pub job_timeout_secs: u64,
    /// For long messages the limit is this many times their length, when that is more.
    pub job_timeout_factor: f64,
    /// Time limit for a speech-menu utterance, milliseconds.
    pub menu_timeout_ms: u64,
    /// Longest utterance a speech menu transcribes, seconds.
    pub menu_max_secs: f32,
    /// Attempts before a job ends `failed`.
    pub max_attempts: i64,
    /// First retry delay, seconds; doubled on each further attempt.
    pub retry_base_secs: u64,
    /// How long a claimed job is leased to a worker before another may take it (crash
    /// recovery); a running worker renews it every third of it, so it may be shorter than a
    /// job's time limit.
    pub lease_secs: u64,
    /// How often the queue is polled when idle, milliseconds.
    pub poll_ms: u64,
    /// Jobs waiting while the model is missing are re-checked this often, seconds.
    pub model_retry_secs: u64,
    /// Below this confidence (0..1, from mean token log-probability) a ticket goes to operator
    /// review instead of a department.
    pub min_confidence: f64,
    /// Below this routing score a ticket goes to operator review.
    pub min_route_score: f64,
    /// Longest summary, in characters (for SMS and the console).
    pub summary_chars: usize,
    /// Routing vocabulary: extra synonyms per department id (merged with built-in ones).
    pub department_synonyms: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: ModelName::Base,
            model_path: None,
            model_sha256: None,
            languages: vec!["zh".into()],
            detect_secs: 5.0,
            // Common 12345 topics (from the routing rules, not from the test set): whisper
            // spells the words it was primed with better.
            initial_prompt: "以下是普通话的句子，是市民拨打12345政务服务热线的留言，常见问题有停水、停电、燃气、\
                             路灯、井盖、红绿灯、违章停车、公交、垃圾清运、占道经营、违章搭建、物业、电梯、\
                             拖欠工资、社保、医保、户口、低保、学校、医院、食品安全、噪音、污水、油烟。"
                .into(),
            hot_words: Vec::new(),
            workers: 0,
            threads_per_job: 2,
            worker_nice: 10,
            beam_size: 1,
            job_timeout_secs: 60,
            job_timeout_factor: 2.0,
            menu_timeout_ms: 3000,
            menu_max_secs: 5.0,
            max_attempts: 4,
            retry_base_secs: 10,
            lease_secs: 180,
            poll_ms: 1000,
            model_retry_secs: 60,
            min_confidence: 0.45,
            min_route_score: 1.0,
            summary_chars: 40,
            department_synonyms: Default::default(),
        }
    }
}

impl SpeechConfig {
    /// Workers for voice messages: the configured number, or cores − 1 (at least 1).
    pub fn effective_workers(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        cores.saturating_sub(1).max(1)
    }

    /// Where the model is: `model_path`, else the supported model `model` in the data
    /// directory.
    pub fn resolved_model_path(&self, data_dir: &std::path::Path) -> PathBuf {
        match &self.model_path {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => data_dir.join(p),
            None => default_model_path(data_dir, self.model),
        }
    }

    /// The city's own language: the first of `languages` (`zh` when the list is empty).
    pub fn primary_language(&self) -> &str {
        self.languages.first().map(String::as_str).unwrap_or("zh")
    }

    /// The prompt given to whisper for `language`: the initial prompt and the hot words for
    /// the city's own language, nothing for the others (a Mandarin prompt pulls English
    /// speech toward Chinese text).
    pub fn prompt_for(&self, language: &str) -> String {
        if language != self.primary_language() {
            return String::new();
        }
        let words: Vec<&str> = self
            .hot_words
            .iter()
            .map(|w| w.trim())
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return self.initial_prompt.clone();
        }
        // whisper keeps the last 224 prompt tokens: the names go last so they survive.
        format!(
            "{}本市地名和单位有{}。",
            self.initial_prompt,
            words.join("、")
        )
    }
}
