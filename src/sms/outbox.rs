//! The durable SMS outbox: rows written with the ticket event that causes them, claimed by
//! one sender at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite),
//! submitted part by part with each SMSC message id stored as it is acknowledged.
//!
//! Guarantee: at least once, and no part is resent once its submit_sm_resp is stored. A
//! part is resent only when no ack was stored for it: the SMSC never answered (connection
//! lost, timeout), or hotline died between the SMSC's answer and the commit of its message
//! id — a window of one short write, hit only by the parts in flight at a crash (≤ window).

use std::time::Duration;

use sqlx::{AnyConnection, Row};

use crate::notify::retry::Backoff;
use crate::privacy::mask;
use crate::store::lease::LeasedTable;
use crate::store::{now_ms, Db, StoreError};

use super::config::SmsConfig;
use super::policy;

#[derive(Debug, Clone)]
pub struct Notice {
    pub dedup_key: String,
    pub ticket_id: Option<i64>,
    pub event_id: Option<i64>,
    pub phone: String,
    pub kind: String,
    /// Already rendered and signed.
    pub body: String,
    pub event_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub phone: String,
    pub body: String,
    pub attempts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    Queued(i64),
    /// Opted out (TD) or over the daily cap: stored as `suppressed` for the record.
    Suppressed(&'static str),
    Duplicate,
}

/// Adds a notice inside the caller's transaction, applying opt-out, daily cap and quiet
/// hours. Idempotent on `dedup_key`.
pub async fn enqueue(
    conn: &mut AnyConnection,
    cfg: &SmsConfig,
    n: &Notice,
) -> Result<Enqueued, StoreError> {
    let now = now_ms();
    let essential = policy::is_essential(&n.kind);
    let mut suppressed: Option<&'static str> = None;
    if !essential {
        let opted: Option<i64> = sqlx::query("SELECT at FROM sms_optouts WHERE phone = $1")
            .bind(&n.phone)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if opted.is_some() {
            suppressed = Some("opted out (TD)");
        }
    }
    if suppressed.is_none() && cfg.daily_cap_per_phone > 0 {
        let since = policy::local_day_start(cfg, now);
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND created_at >= $2 AND state <> 'suppressed'",
        )
        .bind(&n.phone)
        .bind(since)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        if count >= cfg.daily_cap_per_phone {
            suppressed = Some("daily cap for this phone reached");
        }
    }
    let not_before = if essential {
        now
    } else {
        policy::not_before(cfg, now)
    };
    let state = if suppressed.is_some() {
        "suppressed"
    } else {
        "pending"
    };
    let row = sqlx::query(
        "INSERT INTO sms_outbox (dedup_key, ticket_id, event_id, phone, kind, body, essential, state,
            not_before, last_error, event_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
         ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
    )
    .bind(&n.dedup_key)
    .bind(n.ticket_id)
    .bind(n.event_id)
    .bind(&n.phone)
    .bind(&n.kind)
    .bind(&n.body)
    .bind(essential)
    .bind(state)
    .bind(not_before)
    .bind(suppressed)
    .bind(n.event_at)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match (row, suppressed) {
        (None, _) => Enqueued::Duplicate,
        (Some(_), Some(why)) => {
            tracing::info!(phone = %mask(&n.phone), kind = %n.kind, "sms notice suppressed: {why}");
            Enqueued::Suppressed(why)
        }
        (Some(r), None) => Enqueued::Queued(r.try_get(0)?),
    })
}

/// How `sms_outbox` plays the leased queue: rows stay `pending` while leased, attempts
/// count failures.
pub(super) const OUTBOX: LeasedTable = LeasedTable {
    table: "sms_outbox",
    state: "state",
    due: "not_before",
    claimable: &["pending"],
    on_claim: "",
    claimed_by: true,
    returning: "id, phone, body, attempts",
    order: "id",
};

/// Takes due rows for this node for `lease_secs`, after expiring the stale ones.
pub async fn claim(
    db: &Db,
    cfg: &SmsConfig,
    node: &str,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    expire_stale(db, cfg).await?;
    let rows = OUTBOX
        .claim(db, Duration::from_secs(cfg.lease_secs), limit, node)
        .await?;
    let mut out = rows
        .into_iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get(0)?,
                phone: r.try_get(1)?,
                body: r.try_get(2)?,
                attempts: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    out.sort_by_key(|c| c.id);
    Ok(out)
}

/// Notices waiting longer than their kind's max age since their event (SMS was off, the
/// SMSC down for days) are marked `expired`, never sent: news of a step long past misleads.
/// A row a sender holds right now is left to it. Returns how many expired.
pub async fn expire_stale(db: &Db, cfg: &SmsConfig) -> Result<u64, StoreError> {
    if cfg.max_age_secs == 0 && cfg.essential_max_age_secs == 0 {
        return Ok(0);
    }
    let now = now_ms();
    let limit = |secs: u64| {
        if secs == 0 {
            i64::MIN
        } else {
            now - (secs as i64).saturating_mul(1000)
        }
    };
    let r = sqlx::query(
        "UPDATE sms_outbox SET state = 'expired', last_error = $1, updated_at = $2, claimed_until = NULL
         WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until < $2)
           AND ((essential = FALSE AND COALESCE(event_at, created_at) < $3)
             OR (essential = TRUE AND COALESCE(event_at, created_at) < $4))",
    )
    .bind("too old to send (max age)")
    .bind(now)
    .bind(limit(cfg.max_age_secs))
    .bind(limit(cfg.essential_max_age_secs))
    .execute(db.pool())
    .await?;
    let n = r.rows_affected();
    if n > 0 {
        metrics::counter!("hotline_sms_expired_total").increment(n);
        tracing::warn!(
            notices = n,
            "sms notices expired unsent: older than their max age"
        );
    }
    Ok(n)
}

/// Right before a notice is submitted: whether its row is still this node's and unsent
/// (renewing the lease). A node that stalled past its lease finds the row taken by
/// another and leaves it, so one row is sent by one node.
pub async fn still_ours(db: &Db, cfg: &SmsConfig, node: &str, id: i64) -> Result<bool, StoreError> {
    let now = now_ms();
    let r = sqlx::query(
        "UPDATE sms_outbox SET claimed_until = $1 WHERE id = $2 AND claimed_by = $3 AND state = 'pending'",
    )
    .bind(now + (cfg.lease_secs as i64).saturating_mul(1000))
    .bind(id)
    .bind(node)
    .execute(db.pool())
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Part numbers already acknowledged by the SMSC (never submitted again).
pub async fn acked_parts(db: &Db, outbox_id: i64) -> Result<Vec<i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT part_no FROM sms_parts WHERE outbox_id = $1 AND message_id IS NOT NULL",
    )
    .bind(outbox_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().filter_map(|r| r.try_get(0).ok()).collect())
}

/// The SMSC acknowledged a part: from now on it is never submitted again. One write per
/// part keeps the sender near the SMSC's pace; `submitted_at` is when submit_sm left.
pub async fn part_acked(
    db: &Db,
    outbox_id: i64,
    part_no: i64,
    message_id: &str,
    submitted_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sms_parts (outbox_id, part_no, state, attempts, message_id, submitted_at, acked_at, receipt_stat)
         VALUES ($1, $2, 'acked', 1, $3, $4, $5, (SELECT stat FROM sms_receipts WHERE message_id = $3))
         ON CONFLICT (outbox_id, part_no) DO UPDATE SET state = 'acked', message_id = $3, submitted_at = $4, acked_at = $5,
            receipt_stat = (SELECT stat FROM sms_receipts WHERE message_id = $3)",
    )
    .bind(outbox_id)
    .bind(part_no)
    .bind(message_id)
    .bind(submitted_at)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Every part acknowledged: the notice is sent (and maybe already delivered).
pub async fn mark_sent(db: &Db, outbox_id: i64, parts: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE sms_outbox SET parts_total = $1 WHERE id = $2 AND state = 'pending'")
        .bind(parts)
        .bind(outbox_id)
        .execute(db.pool())
        .await?;
    OUTBOX.done(db, outbox_id, "sent", "sent_at = $1").await?;
    settle(db, outbox_id).await
}

/// A temporary failure: due again after the backoff, or failed once the attempts are used
/// up. Returns whether it will be retried.
pub async fn mark_retry(
    db: &Db,
    cfg: &SmsConfig,
    c: &Claimed,
    error: &str,
) -> Result<bool, StoreError> {
    let attempts = c.attempts + 1;
    if attempts >= cfg.max_attempts {
        tracing::error!(outbox_id = c.id, phone = %mask(&c.phone), attempts, "sms notice given up after temporary errors: {error}");
        OUTBOX.fail(db, c.id, Some(attempts), error).await?;
        metrics::counter!("hotline_sms_failed_total").increment(1);
        return Ok(false);
    }
    let backoff = Backoff::new(
        Duration::from_millis(cfg.retry_base_ms),
        Duration::from_millis(cfg.retry_max_ms),
    );
    let delay = backoff.delay(attempts as u32);
    OUTBOX
        .retry(db, c.id, "pending", Some(attempts), delay, error)
        .await?;
    Ok(true)
}

pub async fn mark_failed(db: &Db, c: &Claimed, error: &str) -> Result<(), StoreError> {
    tracing::error!(outbox_id = c.id, phone = %mask(&c.phone), "sms notice refused by the SMSC for good: {error}");
    OUTBOX.fail(db, c.id, None, error).await?;
    metrics::counter!("hotline_sms_failed_total").increment(1);
    Ok(())
}

/// A delivery receipt: remember it, attach it to its part, settle the notice.
pub async fn record_receipt(
    db: &Db,
    message_id: &str,
    stat: &str,
    err: &str,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query("INSERT INTO sms_receipts (message_id, stat, err, at) VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO NOTHING")
        .bind(message_id)
        .bind(stat)
        .bind(err)
        .bind(now)
        .execute(db.pool())
        .await?;
    metrics::counter!("hotline_sms_receipts_total", "stat" => stat_label(stat)).increment(1);
    let row = sqlx::query("UPDATE sms_parts SET receipt_stat = $1, receipt_at = $2 WHERE message_id = $3 RETURNING outbox_id")
        .bind(stat)
        .bind(now)
        .bind(message_id)
        .fetch_optional(db.pool())
        .await?;
    if stat != "DELIVRD" {
        tracing::warn!(message_id, stat, err, "sms delivery receipt: not delivered");
    }
    if let Some(r) = row {
        settle(db, r.try_get(0)?).await?;
    }
    Ok(())
}

/// Once every part of a sent notice has a receipt: delivered, or undeliverable.
async fn settle(db: &Db, outbox_id: i64) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT o.parts_total, COUNT(p.receipt_stat),
                SUM(CASE WHEN p.receipt_stat = 'DELIVRD' THEN 1 ELSE 0 END)
         FROM sms_outbox o LEFT JOIN sms_parts p ON p.outbox_id = o.id
         WHERE o.id = $1 AND o.state = 'sent' GROUP BY o.parts_total",
    )
    .bind(outbox_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(()) };
    let total: Option<i64> = row.try_get(0)?;
    let with_receipt: i64 = row.try_get(1)?;
    let delivered: Option<i64> = row.try_get(2)?;
    let Some(total) = total else { return Ok(()) };
    if with_receipt < total {
        return Ok(());
    }
    let state = if delivered.unwrap_or(0) == total {
        "delivered"
    } else {
        "undeliverable"
    };
    sqlx::query(
        "UPDATE sms_outbox SET state = $1, updated_at = $2 WHERE id = $3 AND state = 'sent'",
    )
    .bind(state)
    .bind(now_ms())
    .bind(outbox_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn opt_out(db: &Db, phone: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sms_optouts (phone, at) VALUES ($1, $2) ON CONFLICT (phone) DO NOTHING",
    )
    .bind(phone)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The ticket whose satisfaction question this phone was asked most recently.
pub async fn last_follow_up(db: &Db, phone: &str) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT ticket_id FROM sms_outbox WHERE phone = $1 AND kind = 'follow_up' AND ticket_id IS NOT NULL
         ORDER BY id DESC LIMIT 1",
    )
    .bind(phone)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn log_inbound(
    db: &Db,
    phone: &str,
    text: &str,
    command: &str,
    ticket_id: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sms_inbound (phone, text, command, ticket_id, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(phone)
        .bind(text)
        .bind(command)
        .bind(ticket_id)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The SMPP 3.4 receipt states (appendix B); anything else a carrier sends counts as `other`
/// so a strange SMSC cannot grow the metric without bound.
fn stat_label(stat: &str) -> &'static str {
    match stat {
        "DELIVRD" => "DELIVRD",
        "EXPIRED" => "EXPIRED",
        "DELETED" => "DELETED",
        "UNDELIV" => "UNDELIV",
        "ACCEPTD" => "ACCEPTD",
        "UNKNOWN" => "UNKNOWN",
        "REJECTD" => "REJECTD",
        _ => "other",
    }
}
