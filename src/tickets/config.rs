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
            auto_dispatch: true,
        }
    }
}
