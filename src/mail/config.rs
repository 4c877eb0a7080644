//! `[mail]` section: SMTP relay, sender, wording and retry limits for department mail.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Start the mail sender at all.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// "starttls" (required STARTTLS), "tls" (implicit TLS, port 465) or "none" (plain,
    /// loopback and tests only).
    pub security: String,
    /// SMTP AUTH user; empty = no AUTH.
    pub username: String,
    pub password: String,
    pub from: String,
    /// Department portal; the mail links to `{portal_url}/tickets/{number}`.
    pub portal_url: String,
    /// Put the resident's full phone number in the mail (otherwise 138****5678).
    pub show_full_phone: bool,
    pub timeout_secs: u64,
    pub batch: i64,
    pub poll_ms: u64,
    pub max_attempts: i64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub lease_secs: u64,
    /// Subjects per event, minijinja templates; placeholders `{{ number }}`
    /// `{{ deadline }}` `{{ kind }}` `{{ department }}`.
    pub subject_dispatched: String,
    pub subject_deadline_warning: String,
    pub subject_overdue: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 25,
            security: "starttls".into(),
            username: String::new(),
            password: String::new(),
            from: "12345热线 <hotline@12345.example.gov.cn>".into(),
            portal_url: "http://127.0.0.1:8080/portal".into(),
            show_full_phone: false,
            timeout_secs: 30,
            batch: 50,
            poll_ms: 500,
            max_attempts: 10,
            retry_base_ms: 2_000,
            retry_max_ms: 600_000,
            lease_secs: 120,
            subject_dispatched: "【12345工单】{{ number }} {{ kind }}，请于{{ deadline }}前办结"
                .into(),
            subject_deadline_warning: "【12345工单临期】{{ number }} 将于{{ deadline }}到期".into(),
            subject_overdue: "【12345工单超期】{{ number }} 已超过办理时限{{ deadline }}".into(),
        }
    }
}
