//! Ticket events → SMS notices: which event texts the resident and with what words, written
//! into the outbox by the `sms` consumer of [`crate::notify::consumer`] in the consumer's
//! transaction. It runs with the sender, and alone when SMS sending is off (notices queue
//! until an SMSC is configured).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyConnection;
use tokio::sync::Notify;

use crate::notify::consumer::{self, ConsumeError, EventHandler};
use crate::notify::templates::render;
use crate::store::Db;
use crate::tickets::events::TicketEvent;

use super::config::SmsConfig;
use super::outbox::{self, Notice};
use super::policy::{signed, template_for};

/// Name of the SMS consumer's cursor over ticket events.
pub const CONSUMER: &str = "sms";

/// The `sms` consumer.
pub struct SmsNotices {
    pub cfg: SmsConfig,
    /// The sender to wake after new notices are committed, if one runs here.
    pub sender: Option<Arc<Notify>>,
}

#[async_trait]
impl EventHandler for SmsNotices {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn batch(&self) -> i64 {
        self.cfg.batch.max(1)
    }

    fn tick(&self) -> Duration {
        if self.sender.is_some() {
            Duration::from_millis(self.cfg.poll_ms.clamp(10, 5_000))
        } else {
            Duration::from_secs(2)
        }
    }

    async fn handle(&self, conn: &mut AnyConnection, ev: &TicketEvent) -> Result<(), ConsumeError> {
        if let Some(n) = notice_for(&self.cfg, ev) {
            outbox::enqueue(conn, &self.cfg, &n).await?;
        }
        Ok(())
    }

    fn committed(&self, _events: usize) {
        if let Some(s) = &self.sender {
            s.notify_one();
        }
    }
}

/// "2026-11-27T18:00:00+08:00" → "11月27日18:00" (already in the hotline's zone).
pub fn deadline_text(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| d.format("%-m月%-d日%H:%M").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// The notice a ticket event gives its resident, if any.
pub fn notice_for(cfg: &SmsConfig, ev: &TicketEvent) -> Option<Notice> {
    let kind = ev.kind.code();
    let template = template_for(&cfg.templates, &kind)?;
    let p = &ev.payload;
    // A landline or an anonymous caller cannot read a text message.
    let phone = p.phone.trim();
    if !phone
        .parse::<crate::tickets::PhoneNumber>()
        .is_ok_and(|n| n.is_mobile())
    {
        return None;
    }
    let deadline = p.deadline.as_deref().map(deadline_text).unwrap_or_default();
    let department = p
        .department_name
        .clone()
        .unwrap_or_else(|| "相关部门".into());
    let answer = p.answer.clone().unwrap_or_default();
    let body = render(
        template,
        &[
            ("number", &p.number),
            ("department", &department),
            ("deadline", &deadline),
            ("answer", &answer),
            ("query_url", &cfg.query_url),
        ],
    );
    Some(Notice {
        dedup_key: format!("ev:{}", ev.id),
        ticket_id: Some(p.ticket_id.0),
        event_id: Some(ev.id),
        phone: phone.to_string(),
        kind,
        body: signed(&cfg.templates, &body),
        event_at: Some(ev.created_at),
    })
}

/// One batch of events → notices, committed with the cursor. Returns events seen.
pub async fn consume_once_for(db: &Db, cfg: &SmsConfig) -> Result<usize, ConsumeError> {
    let h = SmsNotices {
        cfg: cfg.clone(),
        sender: None,
    };
    consumer::consume_once(db, &h).await
}
