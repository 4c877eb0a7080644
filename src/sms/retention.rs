//! Retention of the SMS log (个人信息保护法): texts sent and received longer ago than
//! `[sms.retention] days` lose their text and all but the last four digits of the number;
//! parts of incoming texts that never became whole are deleted. A notice still waiting to
//! go (`pending`) is left alone, and so are opt-outs (退订 must hold for good). Each change
//! is one guarded UPDATE, so several nodes or a second run do it once.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::privacy::keep_last4;
use crate::store::{Db, StoreError};

const DAY_MS: i64 = 86_400_000;

/// Section `[sms.retention]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsRetention {
    /// Days a text's number and words are kept after it was written or received.
    pub days: u32,
}

impl Default for SmsRetention {
    fn default() -> Self {
        SmsRetention { days: 180 }
    }
}

/// Rows of `sms_outbox` and `sms_inbound` purged, and stray parts deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SmsPurged {
    pub messages: u64,
}

/// The tables with a number and a text, and which rows of them may go.
const LOGS: [(&str, &str, &str); 2] = [
    ("sms_outbox", "body", "state <> 'pending'"),
    ("sms_inbound", "text", "1 = 1"),
];

/// Purges what expired by `now` (unix ms).
pub async fn purge(db: &Db, cfg: &SmsRetention, now: i64) -> Result<SmsPurged, StoreError> {
    let before = now - i64::from(cfg.days) * DAY_MS;
    let pool = db.pool();
    let mut done = SmsPurged::default();
    for (table, text, may_go) in LOGS {
        // A masked number starts with `*`; four digits or fewer are left as they are.
        let due = sqlx::query(&format!(
            "SELECT id, phone FROM {table} WHERE created_at <= $1 AND {may_go}
             AND LENGTH(phone) > 4 AND phone NOT LIKE '*%'"
        ))
        .bind(before)
        .fetch_all(pool)
        .await?;
        for r in due {
            let phone: String = r.try_get(1)?;
            let changed = sqlx::query(&format!(
                "UPDATE {table} SET phone = $1, {text} = '' WHERE id = $2 AND phone = $3"
            ))
            .bind(keep_last4(&phone))
            .bind(r.try_get::<i64, _>(0)?)
            .bind(&phone)
            .execute(pool)
            .await?;
            done.messages += changed.rows_affected();
        }
    }
    let parts = sqlx::query("DELETE FROM sms_inbound_parts WHERE received_at <= $1")
        .bind(before)
        .execute(pool)
        .await?;
    done.messages += parts.rows_affected();
    Ok(done)
}
