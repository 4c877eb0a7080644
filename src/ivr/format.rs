//! The dialplan file format: TOML a city's hotline team can read and change.
//!
//! ```toml
//! [dialplan]
//! start = "welcome"          # first node
//! operator_key = "0"         # pressed at any prompt or menu: go to `operator_node`
//! operator_node = "operator"
//! speech_node = "open"       # speak first: words said at any prompt go to this `listen` node
//! languages = ["zh", "en"]   # every `say` prompt needs a text for each
//!
//! [prompts]                  # what the caller hears, by name
//! welcome = { zh = "您好，欢迎致电12345政务服务便民热线。" }   # spoken by the TTS command
//! beep = { file = "tones/beep.wav" }                        # or a recorded file
//!
//! [node.welcome]
//! do = "play"
//! prompts = ["welcome"]
//! next = "menu"
//!
//! [node.menu]
//! do = "menu"
//! prompts = ["menu"]
//! choices = { "1" = "status", "2" = "message" }
//! timeout_secs = 5
//! retries = 2                  # ask again this often
//! invalid_prompts = ["wrong"]  # after a wrong key
//! on_timeout = "message"       # nothing pressed, retries used up
//! ```
//!
//! Each node does one thing (`do`, one file per kind in `nodes/`) and names where the call
//! goes next. With a `speech_node` the caller's words are kept from the answer on (the media
//! session's tape, with a pre-roll): prompts and key waits yield to speech, the `listen`
//! node tells a command from the message, and a caller who hangs up after speaking leaves a
//! ticket. The caller's language (`language`, detected from their first words among
//! `languages`, or set by a `set` node after a menu choice) chooses the prompts' texts; a
//! prompt lacking it plays in the first language. Once known it also goes with the voice
//! message, whose transcription then skips detection. Prompt lists may contain pieces built
//! at run time: `digits:VAR` (each digit of
//! a variable), `date:VAR` (month and day), `state:VAR` (a ticket state), `department:VAR`,
//! `speak:VAR` (a text spoken for this call alone: the survey call's `speak:answer`).

use std::collections::BTreeMap;

use serde::Deserialize;

pub use super::nodes::Node;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialplanFile {
    pub dialplan: Header,
    #[serde(default)]
    pub prompts: BTreeMap<String, PromptDef>,
    /// Named lists of phone numbers, e.g. a blacklist of nuisance callers.
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub node: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    #[serde(default)]
    pub name: String,
    pub start: String,
    #[serde(default)]
    pub operator_key: Option<String>,
    #[serde(default)]
    pub operator_node: Option<String>,
    /// Speak first: the caller's words are kept from the answer on, and a caller who starts
    /// speaking at any prompt that takes keys goes to this `listen` node, which hears them.
    #[serde(default)]
    pub speech_node: Option<String>,
    /// Voiced speech shorter than this is no message (a "喂？" before hanging up).
    #[serde(default = "default_min_message_ms")]
    pub min_message_ms: u64,
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
}

fn default_min_message_ms() -> u64 {
    800
}

fn default_languages() -> Vec<String> {
    vec!["zh".into()]
}

/// A prompt: a recorded file, or texts per language for the TTS command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptDef {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub zh: Option<String>,
    #[serde(default)]
    pub en: Option<String>,
}

impl PromptDef {
    pub fn text(&self, lang: &str) -> Option<&str> {
        match lang {
            "zh" => self.zh.as_deref(),
            "en" => self.en.as_deref(),
            _ => None,
        }
    }
}

/// What a branch tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Office hours on a working day (the calendar from config).
    WorkingTime,
    /// A working day, any hour.
    WorkingDay,
    /// Local time between `from` and `to` (`HH:MM`), wrapping past midnight.
    Time { from: String, to: String },
    /// A variable equals a value.
    Variable { name: String, equals: String },
    /// The caller's number is in a `[lists]` list.
    CallerIn { list: String },
}
