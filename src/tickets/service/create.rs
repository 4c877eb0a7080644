//! Taking a ticket in: numbering, routing, deadline, audit line and `accepted` event in one
//! transaction.

use chrono::Utc;
use sqlx::Row;

use super::sql::{audit, fetch};
use super::{summarize, Tickets};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::events::{self, EventKind, EventPayload};
use crate::tickets::model::*;

/// A new ticket as a channel hands it in.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub channel: Channel,
    pub kind: Option<Kind>,
    pub phone: PhoneNumber,
    pub text: String,
    pub address: Option<String>,
    pub area: Option<String>,
    /// A voice message: its path rides on the `accepted` event, from which the speech
    /// consumer queues the transcription job.
    pub recording_path: Option<String>,
    /// The language the caller spoke in, when the channel learnt it (ISO 639-1; the IVR
    /// heard it or the caller chose it): the voice message's transcription takes it rather
    /// than guessing again from the recording.
    pub language: Option<String>,
}

impl Tickets {
    /// Takes a ticket in: numbers it, routes it, sets its deadline, and writes the ticket, its
    /// audit line and its `accepted` event in one transaction.
    pub async fn create(&self, new: NewTicket, actor: &Actor) -> Result<Ticket, TicketsError> {
        self.create_inner(new, actor, None).await
    }

    /// [`Self::create`] at most once per `source_key`: the channel's idempotency key for
    /// the outside message that makes the ticket (an SMSC may hand the same text over again
    /// after a crash). The key is stored in the ticket's own transaction, so a second call
    /// with it — before or after a crash — returns the ticket the first one made.
    pub async fn create_once(
        &self,
        new: NewTicket,
        actor: &Actor,
        source_key: &str,
    ) -> Result<Ticket, TicketsError> {
        self.create_inner(new, actor, Some(source_key)).await
    }

    async fn create_inner(
        &self,
        new: NewTicket,
        actor: &Actor,
        source_key: Option<&str>,
    ) -> Result<Ticket, TicketsError> {
        let text = new.text.trim().to_string();
        if text.is_empty() && new.recording_path.is_none() {
            return Err(Invalid::NoText.into());
        }
        if text.chars().count() > 20_000 {
            return Err(Invalid::TooLong.into());
        }
        let route = self.route(
            &text,
            new.kind,
            new.area.as_deref().or(new.address.as_deref()),
        );
        let now = Utc::now();
        let (sla, deadline) = self.rules.deadline_for(&route, now);
        let day = now.with_timezone(&self.tz()).date_naive();
        let summary = summarize(&text);

        let mut tx = self.db.pool().begin().await?;
        if let Some(key) = source_key {
            // A write first (SQLite: no read→write upgrade); on PostgreSQL a second node with
            // the same key waits here for the first one's commit.
            let fresh = sqlx::query(
                "INSERT INTO ticket_sources (source_key, ticket_id, created_at) VALUES ($1, 0, $2)
                 ON CONFLICT (source_key) DO NOTHING",
            )
            .bind(key)
            .bind(now.timestamp_millis())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                > 0;
            if !fresh {
                let id: i64 = sqlx::query_scalar(
                    "SELECT ticket_id FROM ticket_sources WHERE source_key = $1",
                )
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let ticket = fetch(&mut tx, TicketId(id)).await?;
                tx.commit().await?;
                tracing::info!(ticket = %ticket.number, "the same message again: its ticket exists");
                return Ok(ticket);
            }
        }
        let seq: i64 = sqlx::query(
            "INSERT INTO ticket_counters (day, n) VALUES ($1, 1)
             ON CONFLICT (day) DO UPDATE SET n = ticket_counters.n + 1 RETURNING n",
        )
        .bind(day.format("%Y%m%d").to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let number = TicketNumber::new(day, seq);
        let ms = now.timestamp_millis();
        let id: i64 = sqlx::query(
            "INSERT INTO tickets (number, channel, kind, state, phone, text, summary, address, area, department_id,
                routed_by, needs_review, sla, deadline_at, clock_start_at, supervised, recording_path, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, FALSE, $16, $17, $17) RETURNING id",
        )
        .bind(number.as_str())
        .bind(new.channel.code())
        .bind(route.kind.code())
        .bind(State::Accepted.code())
        .bind(new.phone.as_str())
        .bind(&text)
        .bind(&summary)
        .bind(new.address.as_deref())
        .bind(new.area.as_deref())
        .bind(route.department.as_ref().map(|d| d.as_str()))
        .bind(&route.reason)
        .bind(route.needs_review())
        .bind(&sla)
        .bind(deadline.timestamp_millis())
        .bind(ms)
        .bind(new.recording_path.as_deref())
        .bind(ms)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let id = TicketId(id);
        if let Some(key) = source_key {
            sqlx::query("UPDATE ticket_sources SET ticket_id = $1 WHERE source_key = $2")
                .bind(id.0)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        audit(
            &mut tx,
            id,
            actor,
            "create",
            None,
            State::Accepted,
            &route.reason,
        )
        .await?;
        let ticket = fetch(&mut tx, id).await?;
        let accepted = EventPayload {
            language: new
                .language
                .clone()
                .filter(|_| new.recording_path.is_some()),
            ..self.payload(&ticket, None, actor, None)
        };
        let mut written = vec![events::write(&mut tx, EventKind::Accepted, &accepted).await?];
        // A voice message waits for its transcript before anyone routes it for real.
        let wanted = self.auto_dispatch && new.recording_path.is_none();
        let ticket = self
            .auto_dispatch(
                &mut tx,
                ticket,
                route.department.as_ref(),
                wanted,
                &mut written,
            )
            .await?;
        tx.commit().await?;
        for e in written {
            let _ = self.live.send(e);
        }
        tracing::info!(ticket = %ticket.number, channel = %ticket.channel, kind = %ticket.kind,
            department = ?ticket.department, "ticket accepted");
        Ok(ticket)
    }
}
