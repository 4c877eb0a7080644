//! The dialplan file format: TOML a city's hotline team can read and change.
//!
//! ```toml
//! [dialplan]
//! start = "welcome"          # first node
//! operator_key = "0"         # pressed at any prompt or menu: go to `operator_node`
//! operator_node = "operator"
//! languages = ["zh"]         # every `say` prompt needs a text for each
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
//! Each node does one thing (`do`) and names where the call goes next. Prompt lists may
//! contain pieces built at run time: `digits:VAR` (each digit of a variable), `date:VAR`
//! (month and day), `state:VAR` (a ticket state), `department:VAR`.

use std::collections::BTreeMap;

use serde::Deserialize;

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
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
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

/// One step of a call.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// Play prompts, then go on.
    Play {
        prompts: Vec<String>,
        #[serde(default = "yes")]
        barge_in: bool,
        next: String,
    },
    /// Play prompts and wait for one key.
    Menu {
        prompts: Vec<String>,
        choices: BTreeMap<String, String>,
        #[serde(default = "five")]
        timeout_secs: u64,
        /// How often a wrong key is asked again.
        #[serde(default = "two")]
        retries: u32,
        /// How often silence is asked again; defaults to `retries`.
        #[serde(default)]
        timeout_retries: Option<u32>,
        /// Played after a wrong key, before asking again.
        #[serde(default)]
        invalid_prompts: Vec<String>,
        /// Nothing pressed, after the retries.
        on_timeout: Option<String>,
        /// A wrong answer, after the retries; defaults to `on_timeout`.
        on_invalid: Option<String>,
    },
    /// Collect several digits into a variable.
    Gather {
        prompts: Vec<String>,
        into: String,
        #[serde(default = "one")]
        min_digits: usize,
        #[serde(default = "twenty")]
        max_digits: usize,
        #[serde(default)]
        terminator: Option<String>,
        #[serde(default = "five")]
        first_timeout_secs: u64,
        #[serde(default = "five")]
        between_timeout_secs: u64,
        #[serde(default = "two")]
        retries: u32,
        /// Whether the operator key leaves this node (off when 0 is a valid first digit).
        #[serde(default = "yes")]
        operator: bool,
        next: String,
        #[serde(default)]
        invalid_prompts: Vec<String>,
        on_timeout: Option<String>,
        /// Fewer than `min_digits`, after the retries; defaults to `on_timeout`.
        on_invalid: Option<String>,
    },
    /// Ask a question answered by voice (matched against phrases) or by key.
    GatherSpeech {
        prompts: Vec<String>,
        /// Spoken phrase → node.
        phrases: BTreeMap<String, String>,
        /// Key → node, when speech is unavailable or not understood.
        choices: BTreeMap<String, String>,
        #[serde(default = "five")]
        timeout_secs: u64,
        /// How often a wrong answer is asked again.
        #[serde(default = "two")]
        retries: u32,
        /// How often silence is asked again; defaults to `retries`.
        #[serde(default)]
        timeout_retries: Option<u32>,
        #[serde(default)]
        invalid_prompts: Vec<String>,
        on_timeout: Option<String>,
        on_invalid: Option<String>,
        /// Speech that matches no phrase (someone already telling their story); when absent
        /// it counts as a wrong answer.
        #[serde(default)]
        on_unrecognized: Option<String>,
    },
    /// Record a voice message into a variable.
    Record {
        #[serde(default)]
        prompts: Vec<String>,
        into: String,
        #[serde(default = "sixty")]
        max_secs: u64,
        #[serde(default = "three")]
        silence_secs: u64,
        /// After recording: play `confirm_prompts`; 1 keeps, 2 records again.
        #[serde(default)]
        confirm_prompts: Vec<String>,
        next: String,
        /// Nothing but silence was heard.
        on_empty: Option<String>,
    },
    /// Bridge the caller to a `[sip.destinations]` name.
    Transfer {
        #[serde(default)]
        prompts: Vec<String>,
        to: String,
        /// How long to ring; `[ivr] ring_secs` when absent.
        #[serde(default)]
        ring_secs: Option<u64>,
        /// After the bridged conversation ends.
        next: Option<String>,
        on_no_answer: String,
        on_busy: Option<String>,
        on_failed: Option<String>,
    },
    /// Create a ticket from what was gathered and recorded; sets `ticket_number`.
    CreateTicket {
        /// A fixed kind, or `$VAR` for a kind chosen earlier.
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        recording: Option<String>,
        #[serde(default)]
        text: Option<String>,
        next: String,
        on_error: String,
    },
    /// Look up a ticket by the number in `number` for this caller; sets `ticket_state`,
    /// `ticket_department`, `ticket_deadline`.
    TicketStatus {
        number: String,
        /// Variable with the last four digits of the ticket's phone, when the caller's
        /// number does not match it.
        #[serde(default)]
        last4: Option<String>,
        next: String,
        on_not_found: String,
        /// The caller's number does not match: ask for the last four digits.
        on_mismatch: String,
    },
    /// Choose a way by time, calendar, variable or caller.
    Branch {
        when: Condition,
        then: String,
        #[serde(rename = "else")]
        otherwise: String,
    },
    Set {
        variable: String,
        value: String,
        next: String,
    },
    Hangup {
        #[serde(default)]
        prompts: Vec<String>,
    },
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

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn two() -> u32 {
    2
}
fn three() -> u64 {
    3
}
fn five() -> u64 {
    5
}
fn twenty() -> usize {
    20
}
fn sixty() -> u64 {
    60
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Play { .. } => "play",
            Node::Menu { .. } => "menu",
            Node::Gather { .. } => "gather",
            Node::GatherSpeech { .. } => "gather_speech",
            Node::Record { .. } => "record",
            Node::Transfer { .. } => "transfer",
            Node::CreateTicket { .. } => "create_ticket",
            Node::TicketStatus { .. } => "ticket_status",
            Node::Branch { .. } => "branch",
            Node::Set { .. } => "set",
            Node::Hangup { .. } => "hangup",
        }
    }

    /// Every node this one can lead to, with the key that names it.
    pub fn targets(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |k: &str, v: Option<&String>| {
            if let Some(v) = v {
                out.push((k.to_string(), v.clone()))
            }
        };
        match self {
            Node::Play { next, .. } | Node::Set { next, .. } => add("next", Some(next)),
            Node::Menu {
                choices,
                on_timeout,
                on_invalid,
                ..
            } => {
                for (k, v) in choices {
                    add(&format!("choices.{k}"), Some(v));
                }
                add("on_timeout", on_timeout.as_ref());
                add("on_invalid", on_invalid.as_ref());
            }
            Node::Gather {
                next,
                on_timeout,
                on_invalid,
                ..
            } => {
                add("next", Some(next));
                add("on_timeout", on_timeout.as_ref());
                add("on_invalid", on_invalid.as_ref());
            }
            Node::GatherSpeech {
                phrases,
                choices,
                on_timeout,
                on_invalid,
                on_unrecognized,
                ..
            } => {
                add("on_unrecognized", on_unrecognized.as_ref());
                for (k, v) in phrases {
                    add(&format!("phrases.{k}"), Some(v));
                }
                for (k, v) in choices {
                    add(&format!("choices.{k}"), Some(v));
                }
                add("on_timeout", on_timeout.as_ref());
                add("on_invalid", on_invalid.as_ref());
            }
            Node::Record { next, on_empty, .. } => {
                add("next", Some(next));
                add("on_empty", on_empty.as_ref());
            }
            Node::Transfer {
                next,
                on_no_answer,
                on_busy,
                on_failed,
                ..
            } => {
                add("next", next.as_ref());
                add("on_no_answer", Some(on_no_answer));
                add("on_busy", on_busy.as_ref());
                add("on_failed", on_failed.as_ref());
            }
            Node::CreateTicket { next, on_error, .. } => {
                add("next", Some(next));
                add("on_error", Some(on_error));
            }
            Node::TicketStatus {
                next,
                on_not_found,
                on_mismatch,
                ..
            } => {
                add("next", Some(next));
                add("on_not_found", Some(on_not_found));
                add("on_mismatch", Some(on_mismatch));
            }
            Node::Branch {
                then, otherwise, ..
            } => {
                add("then", Some(then));
                add("else", Some(otherwise));
            }
            Node::Hangup { .. } => {}
        }
        out
    }

    /// The prompts this node plays.
    pub fn prompts(&self) -> Vec<&str> {
        let lists: Vec<&Vec<String>> = match self {
            Node::Menu {
                prompts,
                invalid_prompts,
                ..
            }
            | Node::Gather {
                prompts,
                invalid_prompts,
                ..
            }
            | Node::GatherSpeech {
                prompts,
                invalid_prompts,
                ..
            } => vec![prompts, invalid_prompts],
            Node::Play { prompts, .. }
            | Node::Transfer { prompts, .. }
            | Node::Hangup { prompts } => vec![prompts],
            Node::Record {
                prompts,
                confirm_prompts,
                ..
            } => vec![prompts, confirm_prompts],
            Node::CreateTicket { .. }
            | Node::TicketStatus { .. }
            | Node::Branch { .. }
            | Node::Set { .. } => vec![],
        };
        lists.into_iter().flatten().map(String::as_str).collect()
    }

    /// Nodes where the caller can act (keys or voice), and so can always reach the operator.
    pub fn waits_for_caller(&self) -> bool {
        matches!(
            self,
            Node::Menu { .. }
                | Node::Gather { .. }
                | Node::GatherSpeech { .. }
                | Node::Record { .. }
        )
    }
}
