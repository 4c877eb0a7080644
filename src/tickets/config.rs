use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::model::Kind;

/// Section `[tickets]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    pub departments_file: PathBuf,
    pub routing_file: PathBuf,
    pub calendar_file: PathBuf,
    /// IANA zone for ticket numbers, office hours and what people see.
    pub timezone: String,
    /// Deadline classes: name → span (`2h` clock hours, `8wh` working hours, `7wd` working days).
    pub deadlines: BTreeMap<String, String>,
    /// Deadline class of each kind when no routing rule picks one.
    pub kind_sla: BTreeMap<Kind, String>,
    pub supervision: SupervisionConfig,
    pub follow_up: FollowUpConfig,
    pub status_lookup: StatusLookupConfig,
    pub retention: RetentionConfig,
    /// Dispatch tickets that routing places confidently without operator review.
    pub auto_dispatch: bool,
}

/// Section `[tickets.supervision]`: the 电子监察 clock.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisionConfig {
    pub enabled: bool,
    /// How often the clock looks at open tickets.
    pub interval_secs: u64,
    /// Fractions of the allowed time at which a deadline warning goes out (e.g. 0.75).
    pub warn_at: Vec<f64>,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        SupervisionConfig {
            enabled: true,
            interval_secs: 30,
            warn_at: vec![0.75],
        }
    }
}

/// Section `[tickets.follow_up]`: the follow-up clock (回访). After a ticket is resolved the
/// resident is asked by SMS; who does not answer is called (the survey call, in working
/// hours only); who never answers has the ticket closed. Times in seconds so a test can
/// shrink them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowUpConfig {
    pub enabled: bool,
    /// How often the clock looks at resolved and followed-up tickets.
    pub interval_secs: u64,
    /// From 办结 to the satisfaction question (SMS).
    pub delay_secs: u64,
    /// From the question to the first survey call when no rating came back.
    pub sms_wait_secs: u64,
    /// From the question to the automatic close (结案) when no rating came at all.
    pub close_after_secs: u64,
    pub survey_call: SurveyCallConfig,
}

/// Section `[tickets.follow_up.survey_call]`: the automated survey call. Placed by the
/// voice menus (`ivr`) through a `[sip.destinations]` trunk; the tickets domain only
/// decides who is due.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurveyCallConfig {
    pub enabled: bool,
    /// `[sip.destinations]` name of the trunk residents are called through; `{number}`
    /// in its URI is replaced by the resident's number.
    pub trunk: String,
    /// Dialplan (file stem under `[ivr] dialplan_dir`) the answered call runs.
    pub dialplan: String,
    /// Calls at most per ticket.
    pub attempts: u32,
    /// Time between two calls of one ticket.
    pub retry_secs: u64,
    /// How long a call rings before it counts as not answered.
    pub ring_secs: u64,
    /// The number residents see calling.
    pub caller_id: String,
}

impl Default for FollowUpConfig {
    fn default() -> Self {
        FollowUpConfig {
            enabled: true,
            interval_secs: 60,
            delay_secs: 3600,
            sms_wait_secs: 24 * 3600,
            close_after_secs: 7 * 24 * 3600,
            survey_call: SurveyCallConfig::default(),
        }
    }
}

impl Default for SurveyCallConfig {
    fn default() -> Self {
        SurveyCallConfig {
            enabled: false,
            trunk: "trunk".into(),
            dialplan: "survey".into(),
            attempts: 3,
            retry_secs: 2 * 3600,
            ring_secs: 30,
            caller_id: "12345".into(),
        }
    }
}

impl Default for TicketsConfig {
    fn default() -> Self {
        let deadlines = [
            ("urgent", "2h"),
            ("utilities", "24h"),
            ("general", "7wd"),
            ("complex", "15wd"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let kind_sla = [
            (Kind::Consultation, "general"),
            (Kind::Complaint, "general"),
            (Kind::Help, "utilities"),
            (Kind::Suggestion, "complex"),
            (Kind::Report, "complex"),
            (Kind::Praise, "general"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        TicketsConfig {
            departments_file: "config/departments.toml".into(),
            routing_file: "config/routing.toml".into(),
            calendar_file: "config/calendar.toml".into(),
            timezone: "Asia/Shanghai".into(),
            deadlines,
            kind_sla,
            supervision: SupervisionConfig::default(),
            retention: Default::default(),
            follow_up: FollowUpConfig::default(),
            status_lookup: StatusLookupConfig::default(),
            auto_dispatch: true,
        }
    }
}

/// `[tickets.status_lookup]`: how many wrong tries lock a ticket's lookup, and an asker out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusLookupConfig {
    /// Wrong last-four tries on one ticket within `ticket_window_mins` before the ticket can
    /// only be looked up by an asserted number or through an operator.
    pub ticket_failures: u32,
    pub ticket_window_mins: u64,
    /// Wrong tries (unknown numbers or wrong digits) by one caller number or one address
    /// (IPv6 by /64) within `asker_window_mins` before that asker is refused.
    pub asker_failures: u32,
    pub asker_window_mins: u64,
}

impl Default for StatusLookupConfig {
    fn default() -> Self {
        StatusLookupConfig {
            ticket_failures: 5,
            ticket_window_mins: 24 * 60,
            asker_failures: 10,
            asker_window_mins: 60,
        }
    }
}

/// Section `[tickets.retention]`: how long personal data of closed tickets is kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Run the purge in `hotline serve` (`hotline privacy purge` runs it by hand).
    pub enabled: bool,
    /// Days after closing that a voice message (file and path) is kept.
    pub recording_days: u32,
    /// Days after closing that a transcript is kept.
    pub transcript_days: u32,
    /// Days after closing that the resident's whole number is kept; then only its last
    /// four digits (which `/status` still asks for).
    pub phone_days: u32,
    /// How often `hotline serve` purges.
    pub interval_hours: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            recording_days: 180,
            transcript_days: 180,
            phone_days: 365,
            interval_hours: 24,
        }
    }
}
