//! Retention of residents' personal data (个人信息保护法): once a ticket has been closed
//! longer than `[tickets.retention]` allows, its voice message (file and path), its
//! transcript and all but the last four digits of the resident's number go. Each step of
//! each ticket is a mark taken with [`claim_mark`] in the transaction that does it, so
//! several nodes, a daily run and a run by hand do each step once.

use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

pub use super::config::RetentionConfig;
use super::supervision::claim_mark;
use super::{State, TicketId, Tickets, TicketsError};
use crate::store::now_ms;

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
    tracing::info!(
        recordings = done.recordings,
        transcripts = done.transcripts,
        phones = done.phones,
        "privacy purge"
    );
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
            let phone: String = sqlx::query("SELECT phone FROM tickets WHERE id = $1")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            sqlx::query("UPDATE tickets SET phone = $1 WHERE id = $2")
                .bind(keep_last4(&phone))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// 13812345678 → *******5678.
pub fn keep_last4(phone: &str) -> String {
    let n = phone.chars().count();
    phone
        .chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '*' } else { c })
        .collect()
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

/// Purges every `interval_hours` (the first right away) until shutdown.
pub async fn run(tickets: Tickets, cfg: RetentionConfig, shutdown: CancellationToken) {
    let mut timer = tokio::time::interval(Duration::from_secs(cfg.interval_hours.max(1) * 3600));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = timer.tick() => {
                if let Err(e) = purge(&tickets, &cfg, now_ms()).await {
                    tracing::warn!(error = %e, "privacy purge failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_last_four_digits_stay() {
        assert_eq!(super::keep_last4("13812345678"), "*******5678");
        assert_eq!(super::keep_last4("5678"), "5678");
        assert_eq!(super::keep_last4("*******5678"), "*******5678");
    }
}
