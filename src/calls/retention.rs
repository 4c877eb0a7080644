//! Retention of what call records keep about residents (个人信息保护法): once a call ended
//! longer ago than `[calls.retention]` allows, its recordings (the voice message, each
//! recorded conversation with an agent) are deleted and the record lets go of them, and
//! the caller's number (also a number asked to be called back on, and keys pressed) keeps
//! only its last four digits. The record itself stays, with its times, queue and agent, so
//! every KPI computes as before. Each change is one guarded UPDATE, so several nodes or a
//! second run do it once.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::events::CallEvent;
use super::record::{Calls, CallsError};
use crate::privacy::{keep_last4, mask_numbers};
use crate::store::objects::Recordings;

const DAY_MS: i64 = 86_400_000;

/// Section `[calls]`: call records.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    pub retention: CallRetention,
}

/// Section `[calls.retention]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallRetention {
    /// Days after a call ended that its recordings are kept.
    pub recording_days: u32,
    /// Days after a call ended that the caller's whole number is kept.
    pub phone_days: u32,
}

impl Default for CallRetention {
    fn default() -> Self {
        CallRetention {
            recording_days: 180,
            phone_days: 365,
        }
    }
}

/// What one purge of call records did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CallsPurged {
    pub recordings: u64,
    pub phones: u64,
}

impl Calls {
    /// Purges what expired by `now` (unix ms). `held` are recording files something else
    /// still keeps (a voice message belongs to its ticket until the ticket's own period
    /// ends): the record keeps pointing to them.
    pub async fn purge(
        &self,
        cfg: &CallRetention,
        now: i64,
        held: &HashSet<String>,
        recordings: &Recordings,
    ) -> Result<CallsPurged, CallsError> {
        let pool = self.db().pool();
        let mut done = CallsPurged::default();
        let before = now - i64::from(cfg.recording_days) * DAY_MS;

        // Voice messages.
        for r in sqlx::query(
            "SELECT id, recording_path FROM calls WHERE recording_path IS NOT NULL AND ended_at IS NOT NULL AND ended_at <= $1",
        )
        .bind(before)
        .fetch_all(pool)
        .await?
        {
            let path: String = r.try_get(1)?;
            if held.contains(&path) {
                continue;
            }
            let gone = sqlx::query(
                "UPDATE calls SET recording_path = NULL WHERE id = $1 AND recording_path = $2",
            )
            .bind(r.try_get::<i64, _>(0)?)
            .bind(&path)
            .execute(pool)
            .await?;
            if gone.rows_affected() == 1 {
                remove(recordings, &path).await;
                done.recordings += 1;
            }
        }

        // Recorded conversations: the event stays in the timeline as `recording_purged`.
        let purged = serde_json::to_string(&CallEvent::RecordingPurged).unwrap_or_default();
        for r in sqlx::query(
            "SELECT e.id, e.detail FROM call_events e JOIN calls c ON c.id = e.call
             WHERE e.kind = 'recorded' AND c.ended_at IS NOT NULL AND c.ended_at <= $1",
        )
        .bind(before)
        .fetch_all(pool)
        .await?
        {
            let detail: String = r.try_get(1)?;
            let gone = sqlx::query(
                "UPDATE call_events SET kind = 'recording_purged', detail = $1 WHERE id = $2 AND kind = 'recorded'",
            )
            .bind(&purged)
            .bind(r.try_get::<i64, _>(0)?)
            .execute(pool)
            .await?;
            if gone.rows_affected() == 1 {
                if let Ok(CallEvent::Recorded { path }) = serde_json::from_str(&detail) {
                    remove(recordings, &path).await;
                }
                done.recordings += 1;
            }
        }

        // Numbers: a masked number starts with `*`; four digits or fewer are left as they are.
        let before = now - i64::from(cfg.phone_days) * DAY_MS;
        for r in sqlx::query(
            "SELECT id, caller, digits FROM calls WHERE ended_at IS NOT NULL AND ended_at <= $1
             AND LENGTH(caller) > 4 AND caller NOT LIKE '*%'",
        )
        .bind(before)
        .fetch_all(pool)
        .await?
        {
            let id: i64 = r.try_get(0)?;
            let caller: String = r.try_get(1)?;
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE calls SET caller = $1, digits = $2 WHERE id = $3 AND caller = $4",
            )
            .bind(keep_last4(&caller))
            .bind(mask_numbers(&r.try_get::<String, _>(2)?))
            .bind(id)
            .bind(&caller)
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() != 1 {
                continue;
            }
            for e in sqlx::query(
                "SELECT id, detail FROM call_events WHERE call = $1 AND kind = 'callback_requested'",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            {
                let Ok(CallEvent::CallbackRequested { queue, number }) =
                    serde_json::from_str(&e.try_get::<String, _>(1)?)
                else {
                    continue;
                };
                let masked = CallEvent::CallbackRequested {
                    queue,
                    number: keep_last4(&number),
                };
                sqlx::query("UPDATE call_events SET detail = $1 WHERE id = $2")
                    .bind(serde_json::to_string(&masked).unwrap_or_default())
                    .bind(e.try_get::<i64, _>(0)?)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            done.phones += 1;
        }
        Ok(done)
    }
}

/// Deletes a recording (a file here or an object in the shared store) after its row let go
/// of it; one already gone is fine.
async fn remove(recordings: &Recordings, stored: &str) {
    match recordings.delete(stored).await {
        Ok(()) => tracing::info!("privacy purge: call recording deleted"),
        Err(e) => tracing::warn!(error = %e, "privacy purge: call recording not deleted"),
    }
}
