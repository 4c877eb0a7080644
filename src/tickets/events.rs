//! Domain events: every change of a ticket writes one row to `ticket_events` in the same
//! transaction as the change (so a notice can never be lost or invented), and is broadcast
//! in-process after commit for live screens.
//!
//! Consumers (`notify::consumer`: SMS and mail outboxes, transcription jobs) take events
//! with [`claim_batch`]: they write their own rows inside the batch's transaction, and
//! [`EventBatch::commit`] records the delivery in the same commit — each event reaches each
//! consumer exactly once, also with several nodes on one PostgreSQL.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::store::{now_ms, Db, StoreError};

use super::model::{Channel, Kind, State, TicketId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Accepted,
    Dispatched,
    Returned,
    InProgress,
    Resolved,
    /// The satisfaction question is due.
    FollowUp,
    Closed,
    ExtensionRequested,
    ExtensionGranted,
    ExtensionRefused,
    Supervised,
    DeadlineWarning,
    Overdue,
    /// An unsatisfied resident reopened it.
    Reopened,
    Merged,
    /// Kind or department corrected, or a transcript arrived, without a change of state.
    Updated,
    Note,
}

impl EventKind {
    pub fn code(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// What consumers need to word a notice without reading the ticket again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    pub ticket_id: TicketId,
    pub number: String,
    pub channel: Channel,
    pub kind: Kind,
    pub phone: String,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
    /// RFC 3339 in the hotline's time zone.
    pub deadline: Option<String>,
    pub answer: Option<String>,
    pub note: Option<String>,
    pub from_state: Option<State>,
    pub to_state: State,
    pub actor: String,
    /// A voice message's recording, so the `speech` consumer can queue its transcription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_path: Option<String>,
    /// The voice message's language when the channel knew it (the transcription's hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub id: i64,
    pub kind: EventKind,
    pub payload: EventPayload,
    pub created_at: i64,
}

/// The PostgreSQL channel on which every committed event is announced to all nodes
/// (`fanout.rs`), as `<origin>:<event id>`.
pub const CHANNEL: &str = "hotline_ticket_events";

/// This process's mark on the events it announces, so that its own fan-out skips them
/// (they already went to its live screens straight after the commit).
pub fn origin() -> &'static str {
    crate::store::node_id()
}

/// Writes an event inside the caller's transaction. On PostgreSQL it is also announced on
/// [`CHANNEL`]; PostgreSQL delivers the announcement only if and when the transaction commits.
pub(crate) async fn write(
    conn: &mut AnyConnection,
    kind: EventKind,
    payload: &EventPayload,
) -> Result<TicketEvent, StoreError> {
    let now = now_ms();
    let json = serde_json::to_string(payload).unwrap_or_else(|_| "{}".into());
    let row = sqlx::query(
        "INSERT INTO ticket_events (ticket_id, kind, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(payload.ticket_id.0)
    .bind(kind.code())
    .bind(json)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get(0)?;
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{}:{id}", origin()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(TicketEvent {
        id,
        kind,
        payload: payload.clone(),
        created_at: now,
    })
}

/// Events after `after_id`, oldest first, at most `limit` (live screens catching up; events
/// this build cannot read are left out).
pub async fn since(db: &Db, after_id: i64, limit: i64) -> Result<Vec<TicketEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, kind, payload, created_at FROM ticket_events WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(e) = parse(r)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// One event, if it exists and this build can read it.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<TicketEvent>, StoreError> {
    let row = sqlx::query("SELECT id, kind, payload, created_at FROM ticket_events WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => parse(&r),
        None => Ok(None),
    }
}

/// A row of `id, kind, payload, created_at`; `None` when written by a newer build.
fn parse(row: &sqlx::any::AnyRow) -> Result<Option<TicketEvent>, StoreError> {
    let id: i64 = row.try_get(0)?;
    let kind: String = row.try_get(1)?;
    let payload: String = row.try_get(2)?;
    let created_at: i64 = row.try_get(3)?;
    let kind = serde_json::from_value(serde_json::Value::String(kind));
    let payload = serde_json::from_str(&payload);
    Ok(match (kind, payload) {
        (Ok(kind), Ok(payload)) => Some(TicketEvent {
            id,
            kind,
            payload,
            created_at,
        }),
        _ => None,
    })
}

/// Events a consumer has not yet seen, inside an open transaction.
pub struct EventBatch {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    consumer: String,
    pub events: Vec<TicketEvent>,
}

impl EventBatch {
    /// The batch's transaction, for the consumer's own writes.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Records the events as delivered to this consumer, together with its own writes.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        for e in &self.events {
            sqlx::query("INSERT INTO event_deliveries (consumer, event_id) VALUES ($1, $2)")
                .bind(&self.consumer)
                .bind(e.id)
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// How long a transaction may stay open before its event could be skipped: deliveries older
/// than this are folded into the consumer's watermark.
const WATERMARK_LAG_MS: i64 = 10 * 60 * 1000;

/// Takes up to `limit` events not yet delivered to `consumer`, oldest first. Holding the
/// consumer's cursor row locks out other nodes until commit or drop.
pub async fn claim_batch(db: &Db, consumer: &str, limit: i64) -> Result<EventBatch, StoreError> {
    sqlx::query("INSERT INTO event_cursors (consumer, last_id) VALUES ($1, 0) ON CONFLICT (consumer) DO NOTHING")
        .bind(consumer)
        .execute(db.pool())
        .await?;
    let mut tx = db.pool().begin().await?;
    // A write first: it takes the row lock on PostgreSQL and the write lock on SQLite, so two
    // nodes never read the same batch.
    sqlx::query("UPDATE event_cursors SET last_id = last_id WHERE consumer = $1")
        .bind(consumer)
        .execute(&mut *tx)
        .await?;
    let watermark: i64 = sqlx::query("SELECT last_id FROM event_cursors WHERE consumer = $1")
        .bind(consumer)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let rows = sqlx::query(
        "SELECT e.id, e.kind, e.payload, e.created_at FROM ticket_events e
         WHERE e.id > $1 AND NOT EXISTS
           (SELECT 1 FROM event_deliveries d WHERE d.consumer = $2 AND d.event_id = e.id)
         ORDER BY e.id LIMIT $3",
    )
    .bind(watermark)
    .bind(consumer)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        match parse(&row)? {
            Some(e) => events.push(e),
            None => {
                let id: i64 = row.try_get(0)?;
                // An event this build cannot read (written by a newer one): skip it visibly
                // rather than block every later notice.
                tracing::warn!(event_id = id, consumer, "unreadable ticket event skipped");
                sqlx::query("INSERT INTO event_deliveries (consumer, event_id) VALUES ($1, $2)")
                    .bind(consumer)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    advance_watermark(&mut tx, consumer, watermark).await?;
    Ok(EventBatch {
        tx,
        consumer: consumer.to_string(),
        events,
    })
}

/// Moves the watermark past a prefix of delivered events old enough that no transaction can
/// still add one below them, and forgets their delivery rows.
async fn advance_watermark(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    consumer: &str,
    watermark: i64,
) -> Result<(), StoreError> {
    let cutoff = now_ms() - WATERMARK_LAG_MS;
    let first_gap: Option<i64> = sqlx::query(
        "SELECT MIN(e.id) FROM ticket_events e WHERE e.id > $1 AND NOT EXISTS
           (SELECT 1 FROM event_deliveries d WHERE d.consumer = $2 AND d.event_id = e.id)",
    )
    .bind(watermark)
    .bind(consumer)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    let newest_old: Option<i64> =
        sqlx::query("SELECT MAX(id) FROM ticket_events WHERE id > $1 AND created_at < $2")
            .bind(watermark)
            .bind(cutoff)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
    let Some(mut to) = newest_old else {
        return Ok(());
    };
    if let Some(gap) = first_gap {
        to = to.min(gap - 1);
    }
    if to > watermark {
        sqlx::query("UPDATE event_cursors SET last_id = $1 WHERE consumer = $2")
            .bind(to)
            .bind(consumer)
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM event_deliveries WHERE consumer = $1 AND event_id <= $2")
            .bind(consumer)
            .bind(to)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
