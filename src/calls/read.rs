//! Reading call records back: a filtered, paginated list of summaries (newest first) and
//! one record with its events. The API, the console and the CLI all read through here.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::events::CallEvent;
use super::record::HangupSide;
use super::record::{CallRecordId, Calls, CallsError};
use crate::store::get_bool;

/// The most records one page holds, whatever is asked.
pub const MAX_PAGE_SIZE: u32 = 200;

/// Which records to list; every filter that is set must match.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Arrived at or after this moment.
    pub from: Option<DateTime<Utc>>,
    /// Arrived before this moment.
    pub to: Option<DateTime<Utc>>,
    /// The caller's number, exactly.
    pub caller: Option<String>,
    /// How the call ended (`completed`, `caller_hung_up`, …).
    pub outcome: Option<String>,
    pub queue: Option<String>,
    /// The agent who answered.
    pub agent: Option<String>,
    pub abandoned: Option<bool>,
    /// The ticket the call made or was linked to (its number).
    pub ticket: Option<String>,
}

/// Which page of a list: `number` from 1, `size` capped at [`MAX_PAGE_SIZE`].
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub number: u32,
    pub size: u32,
}

impl Page {
    pub(super) fn limit_offset(self) -> (i64, i64) {
        let size = self.size.clamp(1, MAX_PAGE_SIZE);
        let number = self.number.max(1);
        (i64::from(size), i64::from(number - 1) * i64::from(size))
    }
}

/// One call as lists show it. Times are RFC 3339 (UTC, milliseconds); durations are ms.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallSummary {
    pub id: i64,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The caller's number (masked for roles that do not see numbers elsewhere).
    pub caller: String,
    /// The number dialled.
    pub called: String,
    /// The dialplan that answered (empty when none did).
    pub dialplan: String,
    /// When the call arrived.
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Utc>,
    /// When the voice menus answered; absent for calls refused or given up before.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<Utc>>,
    /// How the call ended (`completed`, `caller_hung_up`, `transferred`, `no_input`,
    /// `no_dialplan`, `cancelled`, …); absent while it is in progress.
    pub outcome: Option<String>,
    /// The dialplan nodes the call passed, in order (the IVR path).
    pub ivr_path: Vec<String>,
    pub ticket_number: Option<String>,
    /// The first queue the caller waited in.
    pub queue: Option<String>,
    /// The agent who answered first.
    pub agent: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub agent_answered_at: Option<DateTime<Utc>>,
    /// Time in the queue until the first answer, or until the caller gave up or left.
    pub wait_ms: Option<i64>,
    /// Talk time with agents, every leg summed.
    pub talk_ms: Option<i64>,
    pub hangup_side: Option<HangupSide>,
    pub hangup_reason: Option<String>,
    /// The caller hung up while waiting in a queue (呼损).
    pub abandoned: bool,
    /// The caller asked for (or got) a callback.
    pub callback: bool,
    /// The call left a recording (a voice message or a recorded conversation).
    pub has_recording: bool,
}

/// One event of a call, with when it happened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallEventAt {
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    pub event: CallEvent,
}

/// One call with everything it recorded.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallDetail {
    pub call: CallSummary,
    /// Prompts the caller heard, in order.
    pub prompts: Vec<String>,
    /// Keys the caller pressed (empty for roles that do not see numbers elsewhere).
    pub digits: String,
    pub events: Vec<CallEventAt>,
    /// Files of the call's recordings: the voice message first, then each recorded
    /// conversation. Not serialized: the web serves them by index, never by path.
    #[serde(skip)]
    pub recordings: Vec<String>,
}

const COLUMNS: &str = "id, call_id, caller, called, dialplan, started_at, answered_at, ended_at, outcome, nodes, \
    ticket_number, queue, agent, agent_answered_at, wait_ms, talk_ms, hangup_side, hangup_reason, abandoned, callback, \
    recording_path, prompts, digits";

fn time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|m| Utc.timestamp_millis_opt(m).single())
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The summary of a row; `has_event_recording` when a `recorded` event names a file.
fn summary(r: &AnyRow, has_event_recording: bool) -> Result<CallSummary, sqlx::Error> {
    let recording: Option<String> = r.try_get("recording_path")?;
    Ok(CallSummary {
        id: r.try_get("id")?,
        call_id: r.try_get("call_id")?,
        caller: r.try_get("caller")?,
        called: r.try_get("called")?,
        dialplan: r.try_get("dialplan")?,
        started_at: time(r.try_get("started_at")?).unwrap_or_default(),
        answered_at: time(r.try_get("answered_at")?),
        ended_at: time(r.try_get("ended_at")?),
        outcome: r.try_get("outcome")?,
        ivr_path: json_list(&r.try_get::<String, _>("nodes")?),
        ticket_number: r.try_get("ticket_number")?,
        queue: r.try_get("queue")?,
        agent: r.try_get("agent")?,
        agent_answered_at: time(r.try_get("agent_answered_at")?),
        wait_ms: r.try_get("wait_ms")?,
        talk_ms: r.try_get("talk_ms")?,
        hangup_side: r
            .try_get::<Option<String>, _>("hangup_side")?
            .as_deref()
            .and_then(HangupSide::from_code),
        hangup_reason: r.try_get("hangup_reason")?,
        abandoned: get_bool(r, "abandoned")?,
        callback: get_bool(r, "callback")?,
        has_recording: recording.is_some() || has_event_recording,
    })
}

/// The WHERE clause of a filter, its binds numbered from `$1`.
fn where_sql(f: &CallFilter) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let mut push = |clause: &str, b: Bind| {
        binds.push(b);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(t) = f.from {
        push("started_at >= ?", Bind::Int(t.timestamp_millis()));
    }
    if let Some(t) = f.to {
        push("started_at < ?", Bind::Int(t.timestamp_millis()));
    }
    if let Some(c) = &f.caller {
        push("caller = ?", Bind::Text(c.clone()));
    }
    if let Some(o) = &f.outcome {
        push("outcome = ?", Bind::Text(o.clone()));
    }
    if let Some(q) = &f.queue {
        push("queue = ?", Bind::Text(q.clone()));
    }
    if let Some(a) = &f.agent {
        push("agent = ?", Bind::Text(a.clone()));
    }
    if let Some(a) = f.abandoned {
        push("abandoned = ?", Bind::Bool(a));
    }
    if let Some(t) = &f.ticket {
        push("ticket_number = ?", Bind::Text(t.clone()));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_all<'q>(mut q: AnyQuery<'q>, binds: &[Bind]) -> AnyQuery<'q> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
            Bind::Bool(v) => q.bind(*v),
        };
    }
    q
}

impl Calls {
    /// Records matching `f`, newest arrival first, one page of them.
    pub async fn list(&self, f: &CallFilter, page: Page) -> Result<Vec<CallSummary>, CallsError> {
        let (clause, binds) = where_sql(f);
        let (limit, offset) = page.limit_offset();
        let n = binds.len();
        let sql = format!(
            "SELECT {COLUMNS}, (SELECT COUNT(*) FROM call_events e WHERE e.call = calls.id AND e.kind = 'recorded') AS recs \
             FROM calls{clause} ORDER BY started_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.db().pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let recs: i64 = r.try_get("recs")?;
            out.push(summary(r, recs > 0)?);
        }
        Ok(out)
    }

    /// How many records match `f` (for the page count).
    pub async fn count(&self, f: &CallFilter) -> Result<i64, CallsError> {
        let (clause, binds) = where_sql(f);
        let sql = format!("SELECT COUNT(*) FROM calls{clause}");
        let row = bind_all(sqlx::query(&sql), &binds)
            .fetch_one(self.db().pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// One record with its events, or `None` when there is no such call.
    pub async fn get(&self, id: CallRecordId) -> Result<Option<CallDetail>, CallsError> {
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(id.get())
            .fetch_optional(self.db().pool())
            .await?
        else {
            return Ok(None);
        };
        let events: Vec<CallEventAt> = self
            .events(id)
            .await?
            .into_iter()
            .map(|(at, event)| CallEventAt {
                at: time(Some(at)).unwrap_or_default(),
                event,
            })
            .collect();
        let mut recordings: Vec<String> = row
            .try_get::<Option<String>, _>("recording_path")?
            .into_iter()
            .collect();
        recordings.extend(events.iter().filter_map(|e| match &e.event {
            CallEvent::Recorded { path } => Some(path.clone()),
            _ => None,
        }));
        let mut call = summary(&row, false)?;
        call.has_recording = !recordings.is_empty();
        Ok(Some(CallDetail {
            call,
            prompts: json_list(&row.try_get::<String, _>("prompts")?),
            digits: row.try_get("digits")?,
            events,
            recordings,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallEnd, NewCall};
    use crate::store::Db;

    async fn calls() -> (tempfile::TempDir, Calls) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/calls.db", dir.path().display());
        let db = Db::connect_url(&url).await.expect("db");
        (dir, Calls::new(db))
    }

    async fn call(c: &Calls, caller: &str, outcome: &str) -> CallRecordId {
        let id = c
            .start(&NewCall {
                call_id: &format!("{caller}-{outcome}@test"),
                caller,
                called: "12345",
                dialplan: "12345",
            })
            .await
            .expect("start");
        c.answered(id).await.expect("answered");
        c.end(
            id,
            &CallEnd {
                outcome,
                nodes: &["screen".to_string(), "welcome".to_string()],
                prompts: &[],
                digits: "",
                ticket_number: None,
                recording_path: None,
                hangup_side: HangupSide::Caller,
                hangup_reason: "bye",
            },
        )
        .await
        .expect("end");
        id
    }

    #[tokio::test]
    async fn filters_match_and_pages_hold_at_most_the_cap() {
        let (_d, c) = calls().await;
        let first = call(&c, "13800000001", "completed").await;
        let second = call(&c, "13800000002", "caller_hung_up").await;
        c.event(
            second,
            &CallEvent::Abandoned {
                queue: "general".into(),
                wait_ms: 9000,
            },
        )
        .await
        .expect("event");
        let all = c
            .list(
                &CallFilter::default(),
                Page {
                    number: 1,
                    size: 10,
                },
            )
            .await
            .expect("list");
        assert_eq!(
            all.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![second.get(), first.get()],
            "newest first"
        );
        assert_eq!(all[1].ivr_path, vec!["screen", "welcome"]);
        let by = |f: CallFilter| {
            let c = c.clone();
            async move {
                c.list(
                    &f,
                    Page {
                        number: 1,
                        size: 10,
                    },
                )
                .await
                .expect("list")
                .into_iter()
                .map(|s| s.caller)
                .collect::<Vec<_>>()
            }
        };
        let abandoned = by(CallFilter {
            abandoned: Some(true),
            ..Default::default()
        })
        .await;
        assert_eq!(abandoned, vec!["13800000002"]);
        let caller = by(CallFilter {
            caller: Some("13800000001".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(caller, vec!["13800000001"]);
        let queue = by(CallFilter {
            queue: Some("general".into()),
            outcome: Some("caller_hung_up".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(queue, vec!["13800000002"]);
        let later = by(CallFilter {
            from: Some(Utc::now() + chrono::Duration::hours(1)),
            ..Default::default()
        })
        .await;
        assert!(later.is_empty());
        let second_page = c
            .list(&CallFilter::default(), Page { number: 2, size: 1 })
            .await
            .expect("page 2");
        assert_eq!(second_page.len(), 1);
        assert_eq!(second_page[0].id, first.get());
        assert_eq!(
            Page {
                number: 1,
                size: 100_000
            }
            .limit_offset()
            .0,
            i64::from(MAX_PAGE_SIZE)
        );
        assert_eq!(c.count(&CallFilter::default()).await.expect("count"), 2);
        assert!(c
            .get(CallRecordId::from_raw(999))
            .await
            .expect("get")
            .is_none());
    }
}
