//! Abandoned calls (放弃来电) and calling them back (回拨). A call is abandoned when its
//! caller hung up before reaching a person — waiting in a queue, or in the voice menus
//! without saying anything — and it left no ticket: `abandoned` set and no
//! `ticket_number`. The list says where they hung up, how long they waited, whether they
//! called again later (a later call from the number that a person answered or that left a
//! ticket: nothing is left to call back) and the call-back: who is dialling it now, or who
//! called back when and whether the resident answered.
//!
//! One call-back at a time, however many people click: [`Calls::claim_call_back`] is one
//! conditional `UPDATE`, and the `called_back` event that ends the call-back releases the
//! claim in its own transaction (`events.rs`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::read::Page;
use super::record::{CallRecordId, Calls, CallsError};
use crate::store::{get_bool, now_ms};

/// A claim older than this is taken to be left by a hotline that stopped mid-call-back
/// (ringing the operator and the resident takes a minute at most; the claim ends as soon as
/// the resident answers or not).
pub const CLAIM_STALE_MS: i64 = 10 * 60 * 1000;

/// Which abandoned calls to list.
#[derive(Debug, Clone, Default)]
pub struct AbandonedFilter {
    /// Arrived at or after this moment.
    pub from: Option<DateTime<Utc>>,
    /// Arrived before this moment.
    pub to: Option<DateTime<Utc>>,
    /// Only those still to call back (待回拨): not called again, not reached by a call-back.
    pub todo_only: bool,
}

/// Where an abandoned call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallBackStatus {
    /// Nobody has called back yet.
    Todo,
    /// An operator is calling back now.
    CallingBack,
    /// Called back, but the resident did not answer: still to do.
    NotReached,
    /// Called back and the resident answered.
    CalledBack,
    /// The resident called again later and reached a person or left a ticket.
    CalledAgain,
}

impl CallBackStatus {
    pub fn label_zh(self) -> &'static str {
        match self {
            CallBackStatus::Todo => "待回拨",
            CallBackStatus::CallingBack => "回拨中",
            CallBackStatus::NotReached => "回拨未接通",
            CallBackStatus::CalledBack => "已回拨",
            CallBackStatus::CalledAgain => "已再次来电",
        }
    }

    /// Whether the entry is on the to-do list (and may be called back).
    pub fn is_todo(self) -> bool {
        match self {
            CallBackStatus::Todo | CallBackStatus::CallingBack | CallBackStatus::NotReached => true,
            CallBackStatus::CalledBack | CallBackStatus::CalledAgain => false,
        }
    }
}

/// One abandoned call as the call-back list shows it. Times RFC 3339 (UTC), durations ms.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AbandonedCall {
    /// The call record (`/api/v1/calls/{id}`).
    pub id: i64,
    /// The caller's number (masked for roles that do not see numbers elsewhere).
    pub caller: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Utc>,
    /// The queue they hung up in.
    pub queue: Option<String>,
    /// The voice-menu node they hung up in (the last of the call's path), when they never
    /// reached a queue.
    pub ivr_node: Option<String>,
    /// How long they waited: in the queue, or from arrival to hanging up.
    pub waited_ms: i64,
    /// When they called again and reached a person or left a ticket.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub called_again_at: Option<DateTime<Utc>>,
    /// That later call's record.
    pub called_again_call: Option<i64>,
    /// Who is calling back now.
    pub calling_back: Option<String>,
    /// Who called back last (finished).
    pub called_back_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub called_back_at: Option<DateTime<Utc>>,
    /// Whether the resident answered that call-back.
    pub called_back_answered: bool,
    pub status: CallBackStatus,
}

/// Why a call-back was not started.
#[derive(Debug, thiserror::Error)]
pub enum CallBackRefused {
    #[error("no such call")]
    NotFound,
    #[error("the call was not abandoned, or it left a ticket")]
    NotAbandoned,
    #[error("{0} is calling back already")]
    InProgress(String),
    #[error("the resident was called back already")]
    AlreadyReached,
    #[error("the resident called again")]
    CalledAgain,
    #[error(transparent)]
    Calls(#[from] CallsError),
}

impl From<sqlx::Error> for CallBackRefused {
    fn from(e: sqlx::Error) -> Self {
        CallBackRefused::Calls(e.into())
    }
}

/// The later call that makes a call-back needless: from the same number, after this one,
/// answered by a person or leaving a ticket. `{c}` is the abandoned call's table alias.
fn later_call(c: &str) -> String {
    format!(
        "FROM calls l WHERE l.caller = {c}.caller AND l.started_at > {c}.started_at \
         AND (l.agent IS NOT NULL OR l.ticket_number IS NOT NULL)"
    )
}

fn time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    ms.and_then(|m| Utc.timestamp_millis_opt(m).single())
}

fn entry(r: &AnyRow, now: i64) -> Result<AbandonedCall, sqlx::Error> {
    let started: i64 = r.try_get("started_at")?;
    let ended: Option<i64> = r.try_get("ended_at")?;
    let queue: Option<String> = r.try_get("queue")?;
    let nodes: Vec<String> =
        serde_json::from_str(&r.try_get::<String, _>("nodes")?).unwrap_or_default();
    let wait: Option<i64> = r.try_get("wait_ms")?;
    let claim: Option<String> = r.try_get("call_back_claim")?;
    let claim_at: Option<i64> = r.try_get("call_back_claim_at")?;
    let calling_back = claim.filter(|_| claim_at.is_some_and(|t| now - t < CLAIM_STALE_MS));
    let again_at: Option<i64> = r.try_get("again_at")?;
    let by: Option<String> = r.try_get("called_back_by")?;
    let answered = get_bool(r, "called_back_answered")?;
    let status = if again_at.is_some() {
        CallBackStatus::CalledAgain
    } else if by.is_some() && answered {
        CallBackStatus::CalledBack
    } else if calling_back.is_some() {
        CallBackStatus::CallingBack
    } else if by.is_some() {
        CallBackStatus::NotReached
    } else {
        CallBackStatus::Todo
    };
    Ok(AbandonedCall {
        id: r.try_get("id")?,
        caller: r.try_get("caller")?,
        started_at: time(Some(started)).unwrap_or_default(),
        ivr_node: if queue.is_none() {
            nodes.last().cloned()
        } else {
            None
        },
        queue,
        waited_ms: wait.or(ended.map(|e| e - started)).unwrap_or(0).max(0),
        called_again_at: time(again_at),
        called_again_call: r.try_get("again_id")?,
        calling_back,
        called_back_by: by,
        called_back_at: time(r.try_get("called_back_at")?),
        called_back_answered: answered,
        status,
    })
}

enum Bind {
    Int(i64),
    Bool(bool),
}

/// The WHERE clause (alias `c`) and its binds, numbered from `$1`.
fn where_sql(f: &AbandonedFilter) -> (String, Vec<Bind>) {
    let mut binds = vec![Bind::Bool(true)];
    let mut sql = String::from(" WHERE c.abandoned = $1 AND c.ticket_number IS NULL");
    if let Some(t) = f.from {
        binds.push(Bind::Int(t.timestamp_millis()));
        sql.push_str(&format!(" AND c.started_at >= ${}", binds.len()));
    }
    if let Some(t) = f.to {
        binds.push(Bind::Int(t.timestamp_millis()));
        sql.push_str(&format!(" AND c.started_at < ${}", binds.len()));
    }
    if f.todo_only {
        binds.push(Bind::Bool(false));
        sql.push_str(&format!(
            " AND c.called_back_answered = ${} AND NOT EXISTS (SELECT 1 {})",
            binds.len(),
            later_call("c")
        ));
    }
    (sql, binds)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_all<'q>(mut q: AnyQuery<'q>, binds: &[Bind]) -> AnyQuery<'q> {
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(*i),
            Bind::Bool(v) => q.bind(*v),
        };
    }
    q
}

impl Calls {
    /// Abandoned calls matching `f`, newest first, one page of them.
    pub async fn abandoned(
        &self,
        f: &AbandonedFilter,
        page: Page,
    ) -> Result<Vec<AbandonedCall>, CallsError> {
        let (clause, binds) = where_sql(f);
        let (limit, offset) = page.limit_offset();
        let n = binds.len();
        let later = later_call("c");
        let sql = format!(
            "SELECT c.id, c.caller, c.started_at, c.ended_at, c.queue, c.nodes, c.wait_ms, \
             c.call_back_claim, c.call_back_claim_at, c.called_back_by, c.called_back_at, c.called_back_answered, \
             (SELECT l.id {later} ORDER BY l.started_at, l.id LIMIT 1) AS again_id, \
             (SELECT l.started_at {later} ORDER BY l.started_at, l.id LIMIT 1) AS again_at \
             FROM calls c{clause} ORDER BY c.started_at DESC, c.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.db().pool())
            .await?;
        let now = now_ms();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(entry(r, now)?);
        }
        Ok(out)
    }

    /// How many abandoned calls match `f`.
    pub async fn count_abandoned(&self, f: &AbandonedFilter) -> Result<i64, CallsError> {
        let (clause, binds) = where_sql(f);
        let sql = format!("SELECT COUNT(*) FROM calls c{clause}");
        let row = bind_all(sqlx::query(&sql), &binds)
            .fetch_one(self.db().pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Claims the call-back of abandoned call `id` for `by`: refused while someone else
    /// calls it back, once the resident was reached, or when they called again. The claim
    /// ends with the `called_back` event, or [`Calls::release_call_back`].
    pub async fn claim_call_back(&self, id: CallRecordId, by: &str) -> Result<(), CallBackRefused> {
        let now = now_ms();
        let sql = format!(
            "UPDATE calls SET call_back_claim = $2, call_back_claim_at = $3 \
             WHERE id = $1 AND abandoned = $4 AND ticket_number IS NULL AND called_back_answered = $5 \
             AND (call_back_claim IS NULL OR call_back_claim_at < $6) \
             AND NOT EXISTS (SELECT 1 {})",
            later_call("calls")
        );
        let done = sqlx::query(&sql)
            .bind(id.get())
            .bind(by)
            .bind(now)
            .bind(true)
            .bind(false)
            .bind(now - CLAIM_STALE_MS)
            .execute(self.db().pool())
            .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        // Refused: say why.
        let later = later_call("c");
        let row = sqlx::query(&format!(
            "SELECT c.abandoned, c.ticket_number, c.call_back_claim, c.called_back_answered, \
             EXISTS (SELECT 1 {later}) AS again FROM calls c WHERE c.id = $1"
        ))
        .bind(id.get())
        .fetch_optional(self.db().pool())
        .await?;
        let Some(r) = row else {
            return Err(CallBackRefused::NotFound);
        };
        if !get_bool(&r, "abandoned")? || r.try_get::<Option<String>, _>("ticket_number")?.is_some()
        {
            return Err(CallBackRefused::NotAbandoned);
        }
        if get_bool(&r, "again")? {
            return Err(CallBackRefused::CalledAgain);
        }
        if get_bool(&r, "called_back_answered")? {
            return Err(CallBackRefused::AlreadyReached);
        }
        let who: Option<String> = r.try_get("call_back_claim")?;
        Err(CallBackRefused::InProgress(who.unwrap_or_default()))
    }

    /// Gives up `by`'s claim on calling `id` back without a result (their own phone did
    /// not answer): someone may try again at once.
    pub async fn release_call_back(&self, id: CallRecordId, by: &str) -> Result<(), CallsError> {
        sqlx::query(
            "UPDATE calls SET call_back_claim = NULL, call_back_claim_at = NULL WHERE id = $1 AND call_back_claim = $2",
        )
        .bind(id.get())
        .bind(by)
        .execute(self.db().pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallEnd, CallEvent, HangupSide, NewCall};
    use crate::store::Db;

    async fn calls() -> (tempfile::TempDir, Calls) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/calls.db", dir.path().display());
        (dir, Calls::new(Db::connect_url(&url).await.expect("db")))
    }

    /// A finished call from `caller`; `how` sets what happened in it.
    async fn call(
        c: &Calls,
        caller: &str,
        nodes: &[&str],
        events: &[CallEvent],
        ticket: Option<&str>,
    ) -> CallRecordId {
        let id = c
            .start(&NewCall {
                call_id: &format!("{caller}-{}@test", rand_suffix()),
                caller,
                called: "12345",
                dialplan: "12345",
            })
            .await
            .expect("start");
        c.answered(id).await.expect("answered");
        for e in events {
            c.event(id, e).await.expect("event");
        }
        let nodes: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
        c.end(
            id,
            &CallEnd {
                outcome: "caller_hung_up",
                nodes: &nodes,
                prompts: &[],
                digits: "",
                ticket_number: ticket,
                recording_path: None,
                hangup_side: HangupSide::Caller,
                hangup_reason: "bye",
            },
        )
        .await
        .expect("end");
        // Arrivals one millisecond apart at least, so "later" is well defined.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        id
    }

    fn rand_suffix() -> u64 {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    fn gave_up(queue: &str, wait_ms: u64) -> CallEvent {
        CallEvent::Abandoned {
            queue: queue.into(),
            wait_ms,
        }
    }

    async fn list(c: &Calls, todo_only: bool) -> Vec<AbandonedCall> {
        c.abandoned(
            &AbandonedFilter {
                todo_only,
                ..Default::default()
            },
            Page {
                number: 1,
                size: 50,
            },
        )
        .await
        .expect("list")
    }

    #[tokio::test]
    async fn a_later_answered_call_takes_the_entry_off_the_to_do_list() {
        let (_d, c) = calls().await;
        let first = call(
            &c,
            "13800000001",
            &["welcome", "operator"],
            &[gave_up("operators", 42_000)],
            None,
        )
        .await;
        let other = call(
            &c,
            "13800000002",
            &["welcome", "operator"],
            &[gave_up("operators", 5_000)],
            None,
        )
        .await;
        // Abandoned but left a ticket: not on the list at all.
        call(
            &c,
            "13800000003",
            &["welcome"],
            &[gave_up("operators", 1_000)],
            Some("202401010001"),
        )
        .await;
        // 13800000002 called again and gave up again: still to do.
        call(
            &c,
            "13800000002",
            &["welcome"],
            &[gave_up("operators", 2_000)],
            None,
        )
        .await;
        // 13800000001 called again and a person answered.
        let again = call(
            &c,
            "13800000001",
            &["welcome", "operator"],
            &[CallEvent::AgentAnswered {
                queue: "operators".into(),
                agent: "ops1".into(),
                wait_ms: 3_000,
            }],
            None,
        )
        .await;
        let all = list(&c, false).await;
        assert_eq!(all.len(), 3, "{all:?}");
        let e = all.iter().find(|e| e.id == first.get()).expect("first");
        assert_eq!(e.status, CallBackStatus::CalledAgain);
        assert_eq!(e.called_again_call, Some(again.get()));
        assert_eq!(
            (e.queue.as_deref(), e.waited_ms),
            (Some("operators"), 42_000)
        );
        let todo: Vec<i64> = list(&c, true).await.iter().map(|e| e.id).collect();
        assert!(
            !todo.contains(&first.get()) && todo.contains(&other.get()),
            "{todo:?}"
        );
        assert_eq!(todo.len(), 2);
        assert_eq!(
            c.count_abandoned(&AbandonedFilter {
                todo_only: true,
                ..Default::default()
            })
            .await
            .expect("count"),
            2
        );
        assert!(matches!(
            c.claim_call_back(first, "ops1").await,
            Err(CallBackRefused::CalledAgain)
        ));
    }

    #[tokio::test]
    async fn one_call_back_at_a_time_and_none_once_reached() {
        let (_d, c) = calls().await;
        // Hung up in the voice menus without a word.
        let id = call(
            &c,
            "13800000004",
            &["welcome", "menu"],
            &[CallEvent::LeftMenu {
                node: "menu".into(),
            }],
            None,
        )
        .await;
        let e = &list(&c, true).await[0];
        assert_eq!(
            (e.ivr_node.as_deref(), e.queue.as_deref()),
            (Some("menu"), None)
        );
        assert!(e.waited_ms >= 0);

        c.claim_call_back(id, "ops1")
            .await
            .expect("first click wins");
        match c.claim_call_back(id, "ops2").await {
            Err(CallBackRefused::InProgress(who)) => assert_eq!(who, "ops1"),
            other => panic!("second click: {other:?}"),
        }
        assert_eq!(list(&c, true).await[0].status, CallBackStatus::CallingBack);
        c.event(
            id,
            &CallEvent::CalledBack {
                by: "ops1".into(),
                answered: false,
            },
        )
        .await
        .expect("event");
        let e = &list(&c, true).await[0];
        assert_eq!(
            (e.status, e.called_back_by.as_deref()),
            (CallBackStatus::NotReached, Some("ops1"))
        );
        c.claim_call_back(id, "ops2")
            .await
            .expect("not reached: again");
        c.release_call_back(id, "ops2").await.expect("release");
        c.claim_call_back(id, "ops2")
            .await
            .expect("released: again");
        c.event(
            id,
            &CallEvent::CalledBack {
                by: "ops2".into(),
                answered: true,
            },
        )
        .await
        .expect("event");
        assert!(list(&c, true).await.is_empty());
        let e = &list(&c, false).await[0];
        assert_eq!(
            (
                e.status,
                e.called_back_by.as_deref(),
                e.called_back_answered
            ),
            (CallBackStatus::CalledBack, Some("ops2"), true)
        );
        assert!(matches!(
            c.claim_call_back(id, "ops1").await,
            Err(CallBackRefused::AlreadyReached)
        ));
        let answered = call(&c, "13800000005", &[], &[], None).await;
        assert!(matches!(
            c.claim_call_back(answered, "ops1").await,
            Err(CallBackRefused::NotAbandoned)
        ));
        assert!(matches!(
            c.claim_call_back(CallRecordId::from_raw(9999), "ops1")
                .await,
            Err(CallBackRefused::NotFound)
        ));
    }
}
