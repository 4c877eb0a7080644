//! The durable transcription queue and the transcripts it produces; [`super::service`]
//! works it.
//!
//! Jobs are rows of `transcription_jobs`, added by the `speech` consumer of ticket events
//! ([`enqueue`], in the consumer's transaction) from the voice message's `accepted` event,
//! which is written with the ticket: a voice message can never lose its job. Jobs are leased
//! through [`crate::store::lease`], like the notice outboxes. A job's life:
//!
//! ```text
//! pending ──claim──▶ running ──whisper ok──▶ applying ──ticket updated──▶ done
//!    ▲                 │  (lease: claimed_until)        │ (transcript stored first)
//!    └──retry, backoff─┘ error / timeout                 └─ crash: re-applied, no new whisper run
//!                      └── attempts used up ──▶ failed (visible, with last_error)
//! ```
//! A crash mid-job leaves `running` with a lease in the past: the next claim takes it again.
//! While a worker runs a job it renews the lease ([`renew`], every third of it), so a job
//! that runs longer than the lease (a long message, a busy pool) is never taken by a second
//! worker; and applying a transcript twice replaces it on the ticket, never appends.

use super::engine::Transcript;
use super::routing::SpeechRoute;
use crate::store::lease::{Backoff, LeasedTable};
use crate::store::{now_ms, Db, StoreError};
use crate::tickets::TicketId;
use sqlx::{AnyConnection, Row};
use std::time::Duration;

/// One claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub ticket_id: i64,
    pub recording_path: String,
    /// Including this one.
    pub attempts: i64,
    /// The caller's language when already known (the IVR heard it): no detection.
    pub language: Option<String>,
}

/// Backlog figures for /metrics and the console.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct QueueStats {
    pub pending: i64,
    pub running: i64,
    pub failed: i64,
    pub done: i64,
    /// Age of the oldest job not yet done, seconds (0 when none).
    pub oldest_age_secs: f64,
}

/// How `transcription_jobs` plays the leased queue: attempts count at claim, and a job
/// whose worker died in `applying` is taken again in `applying` (no new whisper run).
const JOBS: LeasedTable = LeasedTable {
    table: "transcription_jobs",
    state: "status",
    due: "next_attempt_at",
    claimable: &["pending", "running", "applying"],
    on_claim: "status = CASE WHEN status = 'applying' THEN 'applying' ELSE 'running' END, attempts = attempts + 1",
    claimed_by: false,
    returning: "id, ticket_id, recording_path, attempts, language",
    order: "next_attempt_at, id",
};

fn sql(e: StoreError) -> sqlx::Error {
    match e {
        StoreError::Sql(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Queues the transcription of a voice message inside the caller's transaction (the
/// `speech` consumer's, with the ticket's `accepted` event). A ticket gets one job, however
/// often this runs; returns whether a job was added. `language`: the caller's language when
/// already known (ISO 639-1, e.g. from the IVR); the job then skips language detection.
pub async fn enqueue(
    conn: &mut AnyConnection,
    ticket: TicketId,
    recording_path: &str,
    language: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO transcription_jobs (ticket_id, recording_path, status, attempts, next_attempt_at, created_at, updated_at, language)
         SELECT $1, $2, 'pending', 0, $3, $3, $3, $4
         WHERE NOT EXISTS (SELECT 1 FROM transcription_jobs WHERE ticket_id = $1)",
    )
    .bind(ticket.0)
    .bind(recording_path)
    .bind(now_ms())
    .bind(language.map(str::to_string))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Take the next due job (or one whose worker died), leasing it for `lease`.
pub async fn claim(db: &Db, lease: Duration) -> Result<Option<Job>, sqlx::Error> {
    let rows = JOBS.claim(db, lease, 1, "").await.map_err(sql)?;
    rows.into_iter()
        .next()
        .map(|r| {
            Ok(Job {
                id: r.try_get("id")?,
                ticket_id: r.try_get("ticket_id")?,
                recording_path: r.try_get("recording_path")?,
                attempts: r.try_get("attempts")?,
                language: r.try_get("language")?,
            })
        })
        .transpose()
}

/// The worker still runs `job`: its lease is extended to `lease` from now (the heartbeat
/// that keeps a long transcription from being taken by a second worker).
pub async fn renew(db: &Db, job: &Job, lease: Duration) -> Result<bool, sqlx::Error> {
    JOBS.renew(db, job.id, lease).await.map_err(sql)
}

/// A failed attempt: back to `pending` with exponential backoff from `retry_base`, or
/// `failed` for good when the attempts are used up. Returns whether the job is now failed.
pub async fn fail(
    db: &Db,
    job: &Job,
    error: &str,
    max_attempts: i64,
    retry_base: Duration,
) -> Result<bool, sqlx::Error> {
    if job.attempts >= max_attempts.max(1) {
        JOBS.fail(db, job.id, None, error).await.map_err(sql)?;
        return Ok(true);
    }
    let backoff = Backoff::new(retry_base, retry_base.saturating_mul(1 << 16)).exact();
    let delay = backoff.delay(job.attempts.clamp(1, 64) as u32);
    JOBS.retry(db, job.id, "pending", None, delay, error)
        .await
        .map_err(sql)?;
    Ok(false)
}

/// Store the transcript and speech's routing, and move the job to `applying` — one transaction.
pub async fn store_transcript(
    db: &Db,
    job: &Job,
    t: &Transcript,
    route: &SpeechRoute,
    model_name: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query("DELETE FROM transcripts WHERE ticket_id = $1")
        .bind(job.ticket_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO transcripts (ticket_id, job_id, text, raw_text, segments, avg_logprob, confidence,
            language, audio_ms, elapsed_ms, model, kind, department_id, route_reason, needs_review,
            repairs, summary, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
    )
    .bind(job.ticket_id)
    .bind(job.id)
    .bind(route.text.clone())
    .bind(t.text.clone())
    .bind(serde_json::to_string(&t.segments).unwrap_or_else(|_| "[]".into()))
    .bind(t.avg_logprob)
    .bind(t.confidence)
    .bind(t.language.clone())
    .bind((t.audio_secs * 1000.0) as i64)
    .bind(t.elapsed_ms as i64)
    .bind(model_name.to_string())
    .bind(route.route.kind.code().to_string())
    .bind(route.route.department.as_ref().map(|d| d.as_str().to_string()))
    .bind(route.route.reason.clone())
    .bind(route.needs_review())
    .bind(serde_json::to_string(&route.repairs).unwrap_or_else(|_| "[]".into()))
    .bind(route.summary.clone())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE transcription_jobs SET status = 'applying', updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(job.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The ticket has its transcript: the job is done.
pub async fn finish(db: &Db, job: &Job) -> Result<(), sqlx::Error> {
    JOBS.done(db, job.id, "done", "").await.map_err(sql)?;
    Ok(())
}

/// Backlog figures.
pub async fn stats(db: &Db) -> Result<QueueStats, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM transcription_jobs GROUP BY status",
    )
    .fetch_all(db.pool())
    .await?;
    let mut s = QueueStats::default();
    let now = now_ms();
    let mut oldest = i64::MAX;
    for r in rows {
        let status: String = r.try_get("status")?;
        let n: i64 = r.try_get("n")?;
        let o: Option<i64> = r.try_get("oldest")?;
        match status.as_str() {
            "pending" => s.pending = n,
            "running" | "applying" => s.running += n,
            "failed" => s.failed = n,
            "done" => s.done = n,
            _ => {}
        }
        if matches!(status.as_str(), "pending" | "running" | "applying") {
            oldest = oldest.min(o.unwrap_or(now));
        }
    }
    if oldest != i64::MAX {
        s.oldest_age_secs = (now - oldest).max(0) as f64 / 1000.0;
    }
    Ok(s)
}

/// Stored transcript of a ticket, if any.
pub async fn transcript_of(
    db: &Db,
    ticket: TicketId,
) -> Result<Option<StoredTranscript>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT text, raw_text, confidence, language, audio_ms, elapsed_ms, department_id, kind, needs_review, summary, segments
           FROM transcripts WHERE ticket_id = $1",
    )
    .bind(ticket.0)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(StoredTranscript {
            text: r.try_get("text")?,
            raw_text: r.try_get("raw_text")?,
            confidence: r.try_get("confidence")?,
            language: r.try_get("language")?,
            audio_ms: r.try_get("audio_ms")?,
            elapsed_ms: r.try_get("elapsed_ms")?,
            department_id: r.try_get("department_id")?,
            kind: r.try_get("kind")?,
            needs_review: crate::store::get_bool(&r, "needs_review")?,
            summary: r.try_get("summary")?,
            segments: r.try_get("segments")?,
        })
    })
    .transpose()
}

/// A row of `transcripts`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredTranscript {
    pub text: String,
    pub raw_text: String,
    pub confidence: f64,
    pub language: String,
    pub audio_ms: i64,
    pub elapsed_ms: i64,
    pub department_id: Option<String>,
    pub kind: Option<String>,
    pub needs_review: bool,
    pub summary: String,
    pub segments: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/q.db", dir.path().display());
        (dir, Db::connect_url(&url).await.unwrap())
    }

    async fn add_job(db: &Db, ticket: i64) -> i64 {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO transcription_jobs (ticket_id, recording_path, status, attempts, next_attempt_at, created_at, updated_at)
             VALUES ($1, '/nowhere.wav', 'pending', 0, $2, $3, $4) RETURNING id",
        )
        .bind(ticket)
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get::<i64, _>(0)
    }

    async fn status(db: &Db, id: i64) -> (String, i64, Option<String>) {
        let r = sqlx::query(
            "SELECT status, attempts, last_error FROM transcription_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
        (r.get(0), r.get(1), r.get(2))
    }

    #[tokio::test]
    async fn a_job_is_claimed_once_and_again_only_after_its_lease_ends() {
        let (_d, db) = db().await;
        let id = add_job(&db, 1).await;
        let j = claim(&db, Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!((j.id, j.attempts), (id, 1));
        // Leased: nobody else gets it.
        assert!(claim(&db, Duration::from_secs(60)).await.unwrap().is_none());
        // The worker "crashes": its lease runs out and the job is taken again.
        sqlx::query("UPDATE transcription_jobs SET claimed_until = 0 WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await
            .unwrap();
        let again = claim(&db, Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (id, 2));
        finish(&db, &again).await.unwrap();
        assert_eq!(status(&db, id).await.0, "done");
        assert!(claim(&db, Duration::from_secs(60)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn failures_back_off_then_end_visibly_failed() {
        let (_d, db) = db().await;
        let id = add_job(&db, 7).await;
        let j = claim(&db, Duration::from_secs(60)).await.unwrap().unwrap();
        assert!(!fail(&db, &j, "bad audio", 2, Duration::from_secs(3600))
            .await
            .unwrap());
        assert_eq!(status(&db, id).await.0, "pending");
        // Backoff: not due yet.
        assert!(claim(&db, Duration::from_secs(60)).await.unwrap().is_none());
        sqlx::query("UPDATE transcription_jobs SET next_attempt_at = 0 WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await
            .unwrap();
        let j = claim(&db, Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(j.attempts, 2);
        assert!(fail(&db, &j, "bad audio again", 2, Duration::ZERO)
            .await
            .unwrap());
        let (st, attempts, err) = status(&db, id).await;
        assert_eq!((st.as_str(), attempts), ("failed", 2));
        assert_eq!(err.as_deref(), Some("bad audio again"));
        assert!(claim(&db, Duration::from_secs(60)).await.unwrap().is_none());
        let s = stats(&db).await.unwrap();
        assert_eq!((s.failed, s.pending, s.running), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_ticket_gets_one_job_however_often_it_is_queued() {
        let (_d, db) = db().await;
        let mut conn = db.pool().acquire().await.unwrap();
        assert!(enqueue(&mut conn, TicketId(3), "/a.wav", None)
            .await
            .unwrap());
        assert!(!enqueue(&mut conn, TicketId(3), "/a.wav", None)
            .await
            .unwrap());
        drop(conn);
        assert_eq!(stats(&db).await.unwrap().pending, 1);
    }

    #[tokio::test]
    async fn a_known_language_travels_with_the_job() {
        let (_d, db) = db().await;
        let mut conn = db.pool().acquire().await.unwrap();
        enqueue(&mut conn, TicketId(4), "/en.wav", Some("en"))
            .await
            .unwrap();
        enqueue(&mut conn, TicketId(5), "/zh.wav", None)
            .await
            .unwrap();
        drop(conn);
        let a = claim(&db, Duration::from_secs(60)).await.unwrap().unwrap();
        let b = claim(&db, Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(a.language.as_deref(), Some("en"));
        assert_eq!(b.language, None);
    }

    #[tokio::test]
    async fn backlog_age_is_reported() {
        let (_d, db) = db().await;
        add_job(&db, 1).await;
        sqlx::query("UPDATE transcription_jobs SET created_at = created_at - 5000")
            .execute(db.pool())
            .await
            .unwrap();
        let s = stats(&db).await.unwrap();
        assert_eq!(s.pending, 1);
        assert!(s.oldest_age_secs >= 5.0, "{s:?}");
    }
}
