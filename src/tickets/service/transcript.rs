//! The speech step's result: a transcript joins the ticket's text and may re-route it.

use super::sql::{audit, fetch, lock_row};
use super::{summarize, Tickets};
use crate::store::now_ms;
use crate::tickets::error::TicketsError;
use crate::tickets::events::{self, EventKind};
use crate::tickets::model::*;
use crate::tickets::routing::Route;

/// Where the transcript starts in a ticket's text that had words of its own.
const TRANSCRIPT_MARK: &str = "\n【录音转写】";

/// Whether the ticket's audit trail already holds its transcript.
async fn already_transcribed(
    conn: &mut sqlx::AnyConnection,
    id: TicketId,
) -> Result<bool, TicketsError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ticket_audit WHERE ticket_id = $1 AND action = 'transcribed'",
    )
    .bind(id.0)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// `text` with its transcript part (everything after the mark, or all of it when the
/// ticket had no words of its own) replaced by `transcript`.
fn replace_transcript(text: &str, transcript: &str) -> String {
    match text.rfind(TRANSCRIPT_MARK) {
        Some(at) => format!("{}{TRANSCRIPT_MARK}{transcript}", &text[..at]),
        None => transcript.to_string(),
    }
}

/// What the speech step learned from a voice message.
#[derive(Debug, Clone)]
pub struct TranscriptUpdate {
    pub transcript: String,
    /// One line for SMS and lists; the first sentence when `None`.
    pub summary: Option<String>,
    /// Kind and department chosen from the transcript; no department means operator review.
    pub route: Route,
}

impl Tickets {
    /// A transcript of the ticket's voice message arrived: it becomes part of the ticket's
    /// text, and — unless a person already routed the ticket — the route the speech step
    /// chose replaces the first one (a route without a department means operator review).
    /// A confident route is dispatched at once when `auto_dispatch` is on.
    #[tracing::instrument(skip(self, update), fields(ticket = %id))]
    pub async fn apply_transcript(
        &self,
        id: TicketId,
        update: TranscriptUpdate,
    ) -> Result<Ticket, TicketsError> {
        let mut tx = self.db.pool().begin().await?;
        lock_row(&mut tx, id).await?;
        let t = fetch(&mut tx, id).await?;
        let routed_by_person = t.routed_by.starts_with("operator");
        let transcript = update.transcript.trim();
        let summary = update
            .summary
            .clone()
            .unwrap_or_else(|| summarize(transcript));
        if already_transcribed(&mut tx, id).await? {
            // A job run again (its worker died before it recorded the end, or a second
            // worker took it): the transcript replaces the one applied before; the route,
            // the audit line and the events happened once already.
            let text = replace_transcript(&t.text, transcript);
            if text != t.text {
                sqlx::query(
                    "UPDATE tickets SET text = $1, summary = $2, updated_at = $3, version = version + 1 WHERE id = $4",
                )
                .bind(&text)
                .bind(&summary)
                .bind(now_ms())
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            }
            let updated = fetch(&mut tx, id).await?;
            tx.commit().await?;
            tracing::info!("transcript applied before; replaced, no new event");
            return Ok(updated);
        }
        let text = if t.text.trim().is_empty() {
            transcript.to_string()
        } else {
            format!("{}{TRANSCRIPT_MARK}{transcript}", t.text)
        };
        let reroute = !routed_by_person && t.state == State::Accepted;
        let (kind, department, reason, sla, deadline) = if reroute {
            let r = &update.route;
            let (class, due) = self.rules.deadline_for(r, t.clock_start);
            (
                r.kind,
                r.department.clone(),
                format!("transcript:{}", r.reason),
                class,
                due,
            )
        } else {
            (
                t.kind,
                t.department.clone(),
                t.routed_by.clone(),
                t.sla.clone(),
                t.deadline,
            )
        };
        if let Some(d) = &department {
            if self.department(d).is_none() {
                return Err(TicketsError::UnknownDepartment(d.to_string()));
            }
        }
        sqlx::query(
            "UPDATE tickets SET text = $1, summary = $2, kind = $3, department_id = $4, routed_by = $5, needs_review = $6,
             sla = $7, deadline_at = $8, updated_at = $9, version = version + 1 WHERE id = $10",
        )
        .bind(&text)
        .bind(&summary)
        .bind(kind.code())
        .bind(department.as_ref().map(|d| d.as_str()))
        .bind(&reason)
        .bind(department.is_none())
        .bind(&sla)
        .bind(deadline.timestamp_millis())
        .bind(now_ms())
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            id,
            &Actor::System,
            "transcribed",
            Some(t.state),
            t.state,
            &reason,
        )
        .await?;
        let updated = fetch(&mut tx, id).await?;
        let mut written = vec![
            events::write(
                &mut tx,
                EventKind::Updated,
                &self.payload(&updated, Some(t.state), &Actor::System, None),
            )
            .await?,
        ];
        let wanted = reroute && self.auto_dispatch;
        let updated = self
            .auto_dispatch(&mut tx, updated, department.as_ref(), wanted, &mut written)
            .await?;
        tx.commit().await?;
        for e in written {
            let _ = self.live.send(e);
        }
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::replace_transcript;

    #[test]
    fn a_second_transcript_replaces_the_first() {
        assert_eq!(replace_transcript("路灯坏了", "路灯不亮"), "路灯不亮");
        assert_eq!(
            replace_transcript("来电\n【录音转写】路灯坏了", "路灯不亮"),
            "来电\n【录音转写】路灯不亮"
        );
    }
}
