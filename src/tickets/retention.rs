//! Retention of residents' personal data (个人信息保护法): once a ticket has been closed
//! longer than `[tickets.retention]` allows, its voice message (the file, and its path on
//! the ticket and on its transcription job), its transcript and all but the last four
//! digits of the resident's number go; with the number, every long number written in the
//! ticket's text, answer, audit notes, transcript and events. Each step of each ticket is a
//! mark taken with [`claim_mark`] in the transaction that does it, so several nodes, a
//! daily run and a run by hand do each step once.

use std::collections::HashSet;

use sqlx::Row;

pub use super::config::RetentionConfig;
use super::supervision::claim_mark;
use super::{State, TicketId, Tickets, TicketsError};
use crate::privacy::{keep_last4, mask_numbers};

/// What one purge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub recordings: u64,
    pub transcripts: u64,
    pub phones: u64,
}

/// The three things that expire, each with its mark.
#[derive(Debug, Clone, Copy)]
enum Step {
    Recording,
    Transcript,
    Phone,
}

impl Step {
    fn mark(self) -> &'static str {
        match self {
            Step::Recording => "retention:recording",
            Step::Transcript => "retention:transcript",
            Step::Phone => "retention:phone",
        }
    }
    fn days(self, cfg: &RetentionConfig) -> u32 {
        match self {
            Step::Recording => cfg.recording_days,
            Step::Transcript => cfg.transcript_days,
            Step::Phone => cfg.phone_days,
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Purges what expired by `now` (unix ms).
pub async fn purge(
    tickets: &Tickets,
    cfg: &RetentionConfig,
    now: i64,
) -> Result<Purged, TicketsError> {
    let mut done = Purged::default();
    for step in [Step::Recording, Step::Transcript, Step::Phone] {
        let before = now - i64::from(step.days(cfg)) * DAY_MS;
        let due = sqlx::query(
            "SELECT id, recording_path FROM tickets WHERE state = $1 AND closed_at IS NOT NULL AND closed_at <= $2
             AND NOT EXISTS (SELECT 1 FROM deadline_marks m WHERE m.ticket_id = tickets.id AND m.point = $3)
             ORDER BY id",
        )
        .bind(State::Closed.code())
        .bind(before)
        .bind(step.mark())
        .fetch_all(tickets.db().pool())
        .await?;
        for r in due {
            let id = TicketId(r.try_get(0)?);
            let path: Option<String> = r.try_get(1)?;
            match apply(tickets, step, id, now).await {
                Ok(false) => {}
                Ok(true) => match step {
                    Step::Recording => {
                        if let Some(p) = path.filter(|p| !p.is_empty()) {
                            remove(tickets, &p, id).await;
                        }
                        done.recordings += 1;
                    }
                    Step::Transcript => done.transcripts += 1,
                    Step::Phone => done.phones += 1,
                },
                Err(e) => {
                    tracing::warn!(ticket = %id, step = step.mark(), error = %e, "privacy purge step failed; next run retries")
                }
            }
        }
    }
    Ok(done)
}

/// One step of one ticket, with its mark, in one transaction; false when another run
/// already did it.
async fn apply(
    tickets: &Tickets,
    step: Step,
    id: TicketId,
    now: i64,
) -> Result<bool, TicketsError> {
    let mut tx = tickets.db().pool().begin().await?;
    if !claim_mark(&mut tx, id, step.mark(), now).await? {
        return Ok(false);
    }
    match step {
        Step::Recording => {
            sqlx::query("UPDATE tickets SET recording_path = NULL WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            // The transcription job named the same recording; one left unfinished cannot
            // run any more.
            sqlx::query(
                "UPDATE transcription_jobs SET recording_path = '',
                   status = CASE WHEN status = 'done' THEN status ELSE 'failed' END,
                   last_error = CASE WHEN status = 'done' THEN last_error ELSE 'recording purged' END,
                   claimed_until = NULL
                 WHERE ticket_id = $1",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            rewrite_events(&mut tx, id, |p| {
                if let Some(o) = p.as_object_mut() {
                    o.remove("recording_path");
                }
            })
            .await?;
        }
        Step::Transcript => {
            sqlx::query(
                "UPDATE transcripts SET text = '', raw_text = '', segments = '[]', repairs = '[]', summary = '' WHERE ticket_id = $1",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        Step::Phone => {
            let r = sqlx::query("SELECT phone, text, summary, answer FROM tickets WHERE id = $1")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
            let phone: String = r.try_get(0)?;
            let answer: Option<String> = r.try_get(3)?;
            sqlx::query(
                "UPDATE tickets SET phone = $1, text = $2, summary = $3, answer = $4 WHERE id = $5",
            )
            .bind(keep_last4(&phone))
            .bind(mask_numbers(&r.try_get::<String, _>(1)?))
            .bind(mask_numbers(&r.try_get::<String, _>(2)?))
            .bind(answer.as_deref().map(mask_numbers))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            mask_numbers_in_notes(&mut tx, id).await?;
            mask_numbers_in_transcript(&mut tx, id).await?;
            rewrite_events(&mut tx, id, |p| {
                let Some(o) = p.as_object_mut() else { return };
                if let Some(serde_json::Value::String(ph)) = o.get_mut("phone") {
                    *ph = keep_last4(ph);
                }
                for k in ["answer", "note"] {
                    if let Some(serde_json::Value::String(t)) = o.get_mut(k) {
                        *t = mask_numbers(t);
                    }
                }
            })
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Deletes a recording (file or object) after its row let go of it; one already gone is
/// fine.
async fn remove(tickets: &Tickets, stored: &str, id: TicketId) {
    match tickets.recordings().delete(stored).await {
        Ok(()) => tracing::info!(ticket = %id, "privacy purge: recording deleted"),
        Err(e) => {
            tracing::warn!(ticket = %id, error = %e, "privacy purge: recording not deleted")
        }
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Long numbers in the notes of the ticket's audit trail (operators write callers' numbers
/// there too).
async fn mask_numbers_in_notes(tx: &mut Tx<'_>, id: TicketId) -> Result<(), TicketsError> {
    let rows = sqlx::query("SELECT id, note FROM ticket_audit WHERE ticket_id = $1")
        .bind(id.0)
        .fetch_all(&mut **tx)
        .await?;
    for r in rows {
        let note: String = r.try_get(1)?;
        let masked = mask_numbers(&note);
        if masked != note {
            sqlx::query("UPDATE ticket_audit SET note = $1 WHERE id = $2")
                .bind(masked)
                .bind(r.try_get::<i64, _>(0)?)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Long numbers in a transcript kept longer than the number (its text, whisper's own text,
/// the summary and each segment's text; segment times stay).
async fn mask_numbers_in_transcript(tx: &mut Tx<'_>, id: TicketId) -> Result<(), TicketsError> {
    let rows = sqlx::query(
        "SELECT text, raw_text, summary, segments FROM transcripts WHERE ticket_id = $1",
    )
    .bind(id.0)
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let mut segments: serde_json::Value =
            serde_json::from_str(&r.try_get::<String, _>(3)?).unwrap_or_default();
        if let Some(list) = segments.as_array_mut() {
            for seg in list {
                if let Some(serde_json::Value::String(t)) = seg.get_mut("text") {
                    *t = mask_numbers(t);
                }
            }
        }
        sqlx::query(
            "UPDATE transcripts SET text = $1, raw_text = $2, summary = $3, segments = $4 WHERE ticket_id = $5",
        )
        .bind(mask_numbers(&r.try_get::<String, _>(0)?))
        .bind(mask_numbers(&r.try_get::<String, _>(1)?))
        .bind(mask_numbers(&r.try_get::<String, _>(2)?))
        .bind(if segments.is_array() { segments.to_string() } else { "[]".into() })
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The ticket's domain events keep a copy of what they told their consumers (number,
/// answer, recording); `change` edits each payload as JSON.
async fn rewrite_events(
    tx: &mut Tx<'_>,
    id: TicketId,
    change: impl Fn(&mut serde_json::Value),
) -> Result<(), TicketsError> {
    let rows = sqlx::query("SELECT id, payload FROM ticket_events WHERE ticket_id = $1")
        .bind(id.0)
        .fetch_all(&mut **tx)
        .await?;
    for r in rows {
        let before: String = r.try_get(1)?;
        let Ok(mut payload) = serde_json::from_str::<serde_json::Value>(&before) else {
            continue;
        };
        change(&mut payload);
        let after = payload.to_string();
        if after != before {
            sqlx::query("UPDATE ticket_events SET payload = $1 WHERE id = $2")
                .bind(after)
                .bind(r.try_get::<i64, _>(0)?)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Recording files tickets still point to: a call record that names one lets the ticket
/// decide when it goes.
pub async fn recordings_held(tickets: &Tickets) -> Result<HashSet<String>, TicketsError> {
    let rows = sqlx::query("SELECT recording_path FROM tickets WHERE recording_path IS NOT NULL")
        .fetch_all(tickets.db().pool())
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).map_err(TicketsError::from))
        .collect()
}
