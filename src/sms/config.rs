//! `[sms]` section: SMSC connection, sending limits, templates, quiet hours.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Start the SMPP client and the SMS sender at all.
    pub enabled: bool,
    /// SMSC host:port (loopback in the demo).
    pub host: String,
    pub port: u16,
    /// Connect with TLS (smpps) instead of plain TCP.
    pub tls: bool,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    /// Our short code as source_addr (the hotline number).
    pub source_addr: String,
    pub enquire_link_secs: u64,
    pub response_timeout_secs: u64,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// submit_sm in flight without a response (SMPP window).
    pub window: usize,
    /// submit_sm per second the carrier allows (0 = no limit).
    pub rate_per_sec: u32,
    /// Parts at most per notice; longer texts are cut and end with `truncation_suffix`.
    pub max_parts: usize,
    pub truncation_suffix: String,
    /// Ask the SMSC for delivery receipts.
    pub request_receipts: bool,
    /// Outbox rows taken per round and how often an idle sender looks.
    pub batch: i64,
    pub poll_ms: u64,
    /// Temporary failures: tries before giving up, and the backoff bounds.
    pub max_attempts: i64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// A claimed row whose sender died is taken again after this long.
    pub lease_secs: u64,
    /// Non-essential notices wait for the end of quiet hours ("HH:MM" local time).
    pub quiet_start: String,
    pub quiet_end: String,
    pub timezone: String,
    /// Notices at most per phone per local day (loop guard); 0 = no cap.
    pub daily_cap_per_phone: i64,
    /// Partial incoming messages waiting for their other parts, and for how long.
    pub reassembly_max_groups: usize,
    pub reassembly_timeout_secs: u64,
    /// The same text from the same phone again within this many seconds is the SMSC
    /// handing one message over twice (after a crash or a late answer), when it makes a
    /// ticket: acted on once.
    pub inbound_dedupe_secs: u64,
    /// The same, for a command (CX, a rating, TD): short, since a resident may ask again.
    pub inbound_command_dedupe_secs: u64,
    /// A progress notice not sent within this many seconds of its event is marked `expired`
    /// instead (news of a step long past misleads); 0 = no limit.
    pub max_age_secs: u64,
    /// The same for essential notices (the receipt of a request, the answer, replies).
    pub essential_max_age_secs: u64,
    /// Incoming text longer than this is cut before it becomes a ticket.
    pub max_incoming_chars: usize,
    /// Shown in templates as `{{ query_url }}`.
    pub query_url: String,
    pub templates: SmsTemplates,
    /// How long the SMS log keeps numbers and texts (`[sms.retention]`).
    pub retention: super::retention::SmsRetention,
}

/// Mandarin texts, minijinja templates (see `notify::templates`); placeholders:
/// `{{ number }}` `{{ department }}` `{{ deadline }}` `{{ answer }}` `{{ query_url }}`
/// `{{ state }}`. The signature is prepended to each.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsTemplates {
    pub signature: String,
    pub accepted: String,
    pub dispatched: String,
    pub extension_granted: String,
    pub resolved: String,
    pub follow_up: String,
    pub overdue: String,
    pub reopened: String,
    pub status_line: String,
    pub status_none: String,
    pub rated: String,
    pub rate_none: String,
    pub opted_out: String,
    pub help: String,
}

impl Default for SmsTemplates {
    fn default() -> Self {
        SmsTemplates {
            signature: "【12345】".into(),
            accepted: "您的诉求已受理，工单号{{ number }}。回复CX可查询办理进度。".into(),
            dispatched: "您的工单{{ number }}已转{{ department }}办理，办理时限{{ deadline }}。"
                .into(),
            extension_granted: "您的工单{{ number }}经批准延期，新的办理时限为{{ deadline }}。"
                .into(),
            resolved: "您的工单{{ number }}已办结。{{ department }}答复：{{ answer }}".into(),
            follow_up: "请评价工单{{ number }}的办理结果：回复1满意，2基本满意，3不满意。".into(),
            overdue:
                "很抱歉，您的工单{{ number }}未能在时限内办结，我们已督促{{ department }}尽快办理。"
                    .into(),
            reopened: "您的工单{{ number }}已重新办理，我们将督办并尽快答复您。".into(),
            status_line: "工单{{ number }}：{{ state }}{{ deadline }}".into(),
            status_none: "未查到您的工单。如需帮助请致电12345。".into(),
            rated: "感谢您的评价（{{ state }}），工单{{ number }}。".into(),
            rate_none: "您没有待评价的工单。回复CX查询工单进度。".into(),
            opted_out: "已为您退订办理进度短信，受理和办结通知仍会发送。".into(),
            help: "您好，直接发送诉求内容即可受理；回复CX查询进度，回复TD退订。详询12345。".into(),
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 2775,
            tls: false,
            system_id: "hotline".into(),
            password: "secret".into(),
            system_type: String::new(),
            source_addr: "12345".into(),
            enquire_link_secs: 30,
            response_timeout_secs: 10,
            reconnect_min_ms: 500,
            reconnect_max_ms: 30_000,
            window: 10,
            rate_per_sec: 100,
            max_parts: 4,
            truncation_suffix: "…详询12345".into(),
            request_receipts: true,
            batch: 200,
            poll_ms: 200,
            max_attempts: 8,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            lease_secs: 60,
            quiet_start: "22:00".into(),
            quiet_end: "08:00".into(),
            timezone: "Asia/Shanghai".into(),
            daily_cap_per_phone: 20,
            reassembly_max_groups: 1_000,
            reassembly_timeout_secs: 120,
            inbound_dedupe_secs: 86_400,
            inbound_command_dedupe_secs: 300,
            max_age_secs: 86_400,
            essential_max_age_secs: 259_200,
            max_incoming_chars: 2_000,
            query_url: "https://12345.example.gov.cn/q".into(),
            templates: SmsTemplates::default(),
            retention: Default::default(),
        }
    }
}
