//! The call centre's tables: agents (`acd_agents`), their state changes (`acd_agent_log`),
//! callers waiting and callbacks owed (`acd_waiting`). Written at every change, read at
//! start, so a restart keeps agent states and owed callbacks (Asterisk loses its queue
//! counters on a reload).

use sqlx::Row;

use super::agent::{Agent, AgentState, PauseReason};
use crate::privacy::keep_last4;
use crate::store::{now_ms, Db};

/// Whether a waiting entry is a caller on the line or a callback owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Live,
    Callback,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::Live => "live",
            EntryKind::Callback => "callback",
        }
    }
}

/// A row of `acd_waiting` still waiting.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub id: i64,
    pub queue: String,
    pub kind: EntryKind,
    pub caller: String,
    pub call_record: Option<i64>,
    pub joined_at: i64,
    pub attempts: u32,
    pub next_try_at: i64,
    pub info: String,
}

#[derive(Debug, Clone)]
pub struct AcdStore {
    db: Db,
}

impl AcdStore {
    pub fn new(db: Db) -> AcdStore {
        AcdStore { db }
    }

    pub async fn agents(&self) -> Result<Vec<Agent>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT name, state, reason, since, last_call_end, answered_today, answered_day, missed_in_row FROM acd_agents",
        )
        .fetch_all(self.db.pool())
        .await?;
        let today = local_day(now_ms());
        let mut out = Vec::new();
        for r in rows {
            let name: String = r.try_get(0)?;
            let Some(state) = AgentState::parse(&r.try_get::<String, _>(1)?) else {
                tracing::warn!(agent = %name, "unknown agent state in the database; taken as logged out");
                continue;
            };
            let day: String = r.try_get(6)?;
            out.push(Agent {
                name,
                state,
                reason: r
                    .try_get::<Option<String>, _>(2)?
                    .as_deref()
                    .and_then(PauseReason::parse),
                since: r.try_get(3)?,
                last_call_end: r.try_get(4)?,
                answered_today: if day == today {
                    r.try_get::<i64, _>(5)? as u32
                } else {
                    0
                },
                missed_in_row: r.try_get::<i64, _>(7)? as u32,
                pending: None,
            });
        }
        Ok(out)
    }

    /// Stores an agent; with `changed_by` the state change is also logged.
    pub async fn save_agent(&self, a: &Agent, changed_by: Option<&str>) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO acd_agents (name, state, reason, since, last_call_end, answered_today, answered_day, missed_in_row, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state, reason = excluded.reason, since = excluded.since,
               last_call_end = excluded.last_call_end, answered_today = excluded.answered_today,
               answered_day = excluded.answered_day, missed_in_row = excluded.missed_in_row, updated_at = excluded.updated_at",
        )
        .bind(&a.name)
        .bind(a.state.as_str())
        .bind(a.reason.map(|r| r.as_str()))
        .bind(a.since)
        .bind(a.last_call_end)
        .bind(a.answered_today as i64)
        .bind(local_day(now))
        .bind(a.missed_in_row as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(by) = changed_by {
            sqlx::query("INSERT INTO acd_agent_log (agent, state, reason, by_whom, at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&a.name)
                .bind(a.state.as_str())
                .bind(a.reason.map(|r| r.as_str()))
                .bind(by)
                .bind(a.since)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// An agent's state changes since `from` (unix ms): (at, state, reason, by whom).
    pub async fn agent_log(
        &self,
        agent: &str,
        from: i64,
    ) -> Result<Vec<(i64, AgentState, Option<PauseReason>, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT at, state, reason, by_whom FROM acd_agent_log WHERE agent = $1 AND at >= $2 ORDER BY id",
        )
        .bind(agent)
        .bind(from)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(s) = AgentState::parse(&r.try_get::<String, _>(1)?) {
                out.push((
                    r.try_get(0)?,
                    s,
                    r.try_get::<Option<String>, _>(2)?
                        .as_deref()
                        .and_then(PauseReason::parse),
                    r.try_get(3)?,
                ));
            }
        }
        Ok(out)
    }

    pub async fn add_entry(
        &self,
        queue: &str,
        kind: EntryKind,
        caller: &str,
        call_record: Option<i64>,
        joined_at: i64,
        info: &str,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO acd_waiting (queue, kind, status, caller, call_record, joined_at, info, updated_at)
             VALUES ($1, $2, 'waiting', $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(queue)
        .bind(kind.as_str())
        .bind(caller)
        .bind(call_record)
        .bind(joined_at)
        .bind(info)
        .bind(now_ms())
        .fetch_one(self.db.pool())
        .await?;
        row.try_get(0)
    }

    /// A live caller becomes a callback owed (keeping their place), or moves queue.
    pub async fn update_entry(
        &self,
        id: i64,
        queue: &str,
        kind: EntryKind,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE acd_waiting SET queue = $1, kind = $2, updated_at = $3 WHERE id = $4")
            .bind(queue)
            .bind(kind.as_str())
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// A callback attempt that did not reach the resident: try again at `next_try_at`.
    pub async fn retry_entry(
        &self,
        id: i64,
        attempts: u32,
        next_try_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE acd_waiting SET attempts = $1, next_try_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(attempts as i64)
        .bind(next_try_at)
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The entry left the queue (`done`: connected, left, given up; `lost`: nobody can
    /// reach them any more).
    pub async fn finish_entry(&self, id: i64, status: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE acd_waiting SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status)
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Retention (个人信息保护法, `[calls.retention] phone_days`): entries that left the queue
    /// by `before` (unix ms) keep only the last four digits of the caller's number and drop
    /// their voice-menu context (which may hold more numbers). Entries still waiting keep
    /// both: an owed callback needs the number. Returns how many entries changed.
    pub async fn purge_personal_data(&self, before: i64) -> Result<u64, sqlx::Error> {
        let pool = self.db.pool();
        let mut done = 0;
        for r in sqlx::query(
            "SELECT id, caller FROM acd_waiting WHERE status <> 'waiting' AND updated_at <= $1
             AND (LENGTH(caller) > 4 AND caller NOT LIKE '*%' OR info <> '{}')",
        )
        .bind(before)
        .fetch_all(pool)
        .await?
        {
            let caller: String = r.try_get(1)?;
            let masked = if caller.starts_with('*') {
                caller.clone()
            } else {
                keep_last4(&caller)
            };
            let changed = sqlx::query(
                "UPDATE acd_waiting SET caller = $1, info = '{}' WHERE id = $2 AND caller = $3",
            )
            .bind(masked)
            .bind(r.try_get::<i64, _>(0)?)
            .bind(&caller)
            .execute(pool)
            .await?;
            done += changed.rows_affected();
        }
        Ok(done)
    }

    pub async fn waiting(&self) -> Result<Vec<StoredEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, queue, kind, caller, call_record, joined_at, attempts, next_try_at, info FROM acd_waiting
             WHERE status = 'waiting' ORDER BY joined_at, id",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(StoredEntry {
                id: r.try_get(0)?,
                queue: r.try_get(1)?,
                kind: if r.try_get::<String, _>(2)? == "callback" {
                    EntryKind::Callback
                } else {
                    EntryKind::Live
                },
                caller: r.try_get(3)?,
                call_record: r.try_get(4)?,
                joined_at: r.try_get(5)?,
                attempts: r.try_get::<i64, _>(6)? as u32,
                next_try_at: r.try_get(7)?,
                info: r.try_get(8)?,
            });
        }
        Ok(out)
    }
}

/// The calendar day (China time, where the hotline's day is counted) of a unix-ms time.
fn local_day(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    (t + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string()
}

/// A request from outside the running hotline (`hotline agent ...`).
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub id: i64,
    pub agent: String,
    pub request: String,
    pub by: String,
}

impl AcdStore {
    /// Leaves a request for the running hotline; returns its id.
    pub async fn add_request(
        &self,
        agent: &str,
        request: &str,
        by: &str,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO acd_requests (agent, request, by_whom, at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(agent)
        .bind(request)
        .bind(by)
        .bind(now_ms())
        .fetch_one(self.db.pool())
        .await?;
        row.try_get(0)
    }

    pub async fn open_requests(&self) -> Result<Vec<StoredRequest>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, agent, request, by_whom FROM acd_requests WHERE done_at IS NULL ORDER BY id LIMIT 100",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredRequest {
                    id: r.try_get(0)?,
                    agent: r.try_get(1)?,
                    request: r.try_get(2)?,
                    by: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn close_request(&self, id: i64, result: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE acd_requests SET done_at = $1, result = $2 WHERE id = $3")
            .bind(now_ms())
            .bind(result)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The result of a request, once the running hotline applied it.
    pub async fn request_result(&self, id: i64) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT result FROM acd_requests WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => None,
        })
    }
}
