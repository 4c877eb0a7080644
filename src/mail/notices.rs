//! Ticket events → department mail: the `mail` consumer of [`crate::notify::consumer`]
//! writes one `mail_outbox` row per mail in the consumer's transaction, with a Message-ID
//! (`<mail-ev{event}.{number}@hotline>`) that stays the same on every retry.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyConnection;
use tokio::sync::Notify;

use crate::notify::consumer::{ConsumeError, EventHandler};
use crate::notify::TicketDesk;
use crate::store::now_ms;
use crate::tickets::events::TicketEvent;

use super::compose::{compose, subject_for};
use super::config::MailConfig;

pub const CONSUMER: &str = "mail";

/// The `mail` consumer.
pub struct MailNotices {
    pub cfg: MailConfig,
    pub desk: Arc<dyn TicketDesk>,
    /// The sender to wake after new mail is committed.
    pub sender: Arc<Notify>,
}

#[async_trait]
impl EventHandler for MailNotices {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn batch(&self) -> i64 {
        self.cfg.batch.max(1)
    }

    fn tick(&self) -> Duration {
        Duration::from_millis(self.cfg.poll_ms.clamp(10, 10_000))
    }

    async fn handle(&self, conn: &mut AnyConnection, ev: &TicketEvent) -> Result<(), ConsumeError> {
        let kind = ev.kind.code();
        if subject_for(&self.cfg, &kind).is_none() {
            return Ok(());
        }
        let p = &ev.payload;
        let Some(f) = self
            .desk
            .mail_facts(&mut *conn, p.ticket_id.0, p.department_id.as_deref())
            .await?
        else {
            return Ok(());
        };
        let Some(to) = f.department_email.clone().filter(|e| e.contains('@')) else {
            tracing::warn!(ticket = %f.number, department = %f.department_name, "mail: department has no email address; nothing sent");
            return Ok(());
        };
        let (subject, body) = compose(&self.cfg, &kind, &f);
        sqlx::query(
            "INSERT INTO mail_outbox (dedup_key, ticket_id, event_id, kind, to_addr, subject, body, message_id,
                state, not_before, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $9)
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(format!("ev:{}", ev.id))
        .bind(p.ticket_id.0)
        .bind(ev.id)
        .bind(&kind)
        .bind(&to)
        .bind(&subject)
        .bind(&body)
        .bind(format!("<mail-ev{}.{}@hotline>", ev.id, f.number))
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    fn committed(&self, _events: usize) {
        self.sender.notify_one();
    }
}
