//! The events of one call record, in the order they happened. Each channel that handles a
//! call appends what it did (the voice menus their path, the queues who was rung and who
//! answered); reports read them back, so every event carries what a KPI needs exactly.

use serde::{Deserialize, Serialize};

use super::record::{CallRecordId, Calls, CallsError, HangupSide};
use crate::store::now_ms;

/// How ringing one agent's phone ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RingResult {
    Answered,
    NoAnswer,
    Busy,
    Failed,
    /// Another agent answered first (ring-all) or the caller left meanwhile.
    Cancelled,
}

/// One thing that happened in a call. Stored as `kind` plus the fields as JSON `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallEvent {
    /// The caller joined a queue.
    QueueEntered { queue: String },
    /// An agent's phone rang for this caller.
    AgentRung {
        queue: String,
        agent: String,
        ring_ms: u64,
        result: RingResult,
    },
    /// A person answered: the call is connected to `agent` after `wait_ms` in the queue.
    AgentAnswered {
        queue: String,
        agent: String,
        wait_ms: u64,
    },
    /// The bridged conversation with an agent ended.
    AgentCallEnded {
        agent: String,
        talk_ms: u64,
        side: HangupSide,
    },
    /// The caller hung up while waiting in a queue (呼损).
    Abandoned { queue: String, wait_ms: u64 },
    /// The caller hung up in the voice menus before saying anything or being served (no
    /// ticket): a call to return (回拨). `node` is where they left.
    LeftMenu { node: String },
    /// The language the caller spoke (ISO 639-1), told from their first words; the menus
    /// went on in it.
    Language { language: String },
    /// The caller left the queue for something else: `to` is a node, a queue or
    /// `voicemail` / `callback`; `reason` says why (key, max_wait, no_agents, full).
    QueueLeft {
        queue: String,
        wait_ms: u64,
        reason: String,
        to: String,
    },
    /// The caller asked to be called back instead of waiting (virtual hold).
    CallbackRequested { queue: String, number: String },
    /// A callback was placed: agent first, then the resident.
    CallbackPlaced {
        queue: String,
        agent: String,
        answered: bool,
    },
    /// The call was handed to another queue, agent or number.
    Transferred { by: String, to: String },
    /// The caller was put on hold or taken off it.
    Hold { by: String, on: bool },
    /// A supervisor joined the agent's call (`mode`: listen, whisper, barge).
    Monitored { supervisor: String, mode: String },
    /// The call's recording of the conversation with an agent.
    Recorded { path: String },
    /// A `Recorded` whose period ran out (`[calls.retention]`): the file is deleted.
    RecordingPurged,
    /// An operator called this abandoned call back from their own phone (回拨): `by`'s
    /// phone rang first, then the resident's; `answered` says whether the resident did.
    CalledBack { by: String, answered: bool },
}

impl CallEvent {
    /// The `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            CallEvent::QueueEntered { .. } => "queue_entered",
            CallEvent::AgentRung { .. } => "agent_rung",
            CallEvent::AgentAnswered { .. } => "agent_answered",
            CallEvent::AgentCallEnded { .. } => "agent_call_ended",
            CallEvent::Abandoned { .. } => "abandoned",
            CallEvent::LeftMenu { .. } => "left_menu",
            CallEvent::Language { .. } => "language",
            CallEvent::QueueLeft { .. } => "queue_left",
            CallEvent::CallbackRequested { .. } => "callback_requested",
            CallEvent::CallbackPlaced { .. } => "callback_placed",
            CallEvent::Transferred { .. } => "transferred",
            CallEvent::Hold { .. } => "hold",
            CallEvent::Monitored { .. } => "monitored",
            CallEvent::Recorded { .. } => "recorded",
            CallEvent::RecordingPurged => "recording_purged",
            CallEvent::CalledBack { .. } => "called_back",
        }
    }
}

impl CallEvent {
    /// Chinese label of the kind, for the console's timeline.
    pub fn label_zh(&self) -> &'static str {
        match self {
            CallEvent::QueueEntered { .. } => "进入队列",
            CallEvent::AgentRung { .. } => "振铃话务员",
            CallEvent::AgentAnswered { .. } => "话务员接听",
            CallEvent::AgentCallEnded { .. } => "通话结束",
            CallEvent::Abandoned { .. } => "排队中放弃",
            CallEvent::LeftMenu { .. } => "未留言挂机",
            CallEvent::Language { .. } => "来电语种",
            CallEvent::QueueLeft { .. } => "离开队列",
            CallEvent::CallbackRequested { .. } => "预约回拨",
            CallEvent::CallbackPlaced { .. } => "已回拨",
            CallEvent::Transferred { .. } => "转接",
            CallEvent::Hold { .. } => "保持",
            CallEvent::Monitored { .. } => "班长监听",
            CallEvent::Recorded { .. } => "通话录音",
            CallEvent::RecordingPurged => "录音已删除",
            CallEvent::CalledBack { .. } => "放弃来电回拨",
        }
    }

    /// One line of Chinese for a person reading the call's timeline (console and CLI).
    pub fn describe_zh(&self) -> String {
        let secs = |ms: &u64| format!("{} 秒", ms.div_ceil(1000));
        match self {
            CallEvent::QueueEntered { queue } => format!("进入队列 {queue}"),
            CallEvent::AgentRung {
                queue,
                agent,
                ring_ms,
                result,
            } => format!(
                "队列 {queue} 振铃 {agent} {}，{}",
                secs(ring_ms),
                result.label_zh()
            ),
            CallEvent::AgentAnswered {
                queue,
                agent,
                wait_ms,
            } => format!("{agent} 接听（队列 {queue}，等待 {}）", secs(wait_ms)),
            CallEvent::AgentCallEnded {
                agent,
                talk_ms,
                side,
            } => format!("与 {agent} 通话 {}，{}", secs(talk_ms), side.label_zh()),
            CallEvent::Abandoned { queue, wait_ms } => {
                format!("在队列 {queue} 等待 {} 后挂机", secs(wait_ms))
            }
            CallEvent::LeftMenu { node } => format!("在语音菜单 {node} 未留言即挂机"),
            CallEvent::Language { language } => format!("来电语种：{language}"),
            CallEvent::QueueLeft {
                queue,
                wait_ms,
                reason,
                to,
            } => format!(
                "等待 {} 后离开队列 {queue}（{reason}），转至 {to}",
                secs(wait_ms)
            ),
            CallEvent::CallbackRequested { queue, number } => {
                format!("在队列 {queue} 预约回拨 {number}")
            }
            CallEvent::CallbackPlaced {
                queue,
                agent,
                answered,
            } => format!(
                "{agent} 回拨（队列 {queue}），{}",
                if *answered { "已接通" } else { "未接通" }
            ),
            CallEvent::Transferred { by, to } => format!("{by} 转接至 {to}"),
            CallEvent::Hold { by, on } => {
                format!("{by} {}", if *on { "保持通话" } else { "取消保持" })
            }
            CallEvent::Monitored { supervisor, mode } => {
                let mode = match mode.as_str() {
                    "listen" => "监听",
                    "whisper" => "耳语",
                    "barge" => "强插",
                    other => other,
                };
                format!("{supervisor} {mode}")
            }
            CallEvent::Recorded { .. } => "通话已录音".into(),
            CallEvent::RecordingPurged => "通话录音已过保留期限，已删除".into(),
            CallEvent::CalledBack { by, answered } => {
                format!("{by} 回拨，{}", if *answered { "已接通" } else { "未接通" })
            }
        }
    }
}

impl RingResult {
    pub fn label_zh(self) -> &'static str {
        match self {
            RingResult::Answered => "接听",
            RingResult::NoAnswer => "无人接听",
            RingResult::Busy => "占线",
            RingResult::Failed => "呼叫失败",
            RingResult::Cancelled => "已取消",
        }
    }
}

/// One change to the summary columns of `calls`, as SQL with its binds (after the id).
enum SummaryBind {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// How an event changes the record's summary columns. The rules, so reports stay exact:
/// the first answer counts (`agent`, `agent_answered_at`, `wait_ms`; a transfer to another
/// agent does not move them); talk time is the sum of every agent leg; a wait that ended
/// without an answer (abandoned, left the queue) sets `wait_ms` only while nobody answered;
/// the hang-up side of the last agent leg stands until the call's end says otherwise.
fn summary_update(ev: &CallEvent, at: i64) -> Option<(&'static str, Vec<SummaryBind>)> {
    use SummaryBind::*;
    let wait = |ms: u64| Int(i64::try_from(ms).unwrap_or(i64::MAX));
    match ev {
        CallEvent::QueueEntered { queue } => Some((
            "queue = COALESCE(queue, $2)",
            vec![Text(queue.clone())],
        )),
        CallEvent::AgentAnswered {
            queue,
            agent,
            wait_ms,
        } => Some((
            "queue = CASE WHEN agent IS NULL THEN $2 ELSE queue END,
             agent_answered_at = CASE WHEN agent IS NULL THEN $4 ELSE agent_answered_at END,
             wait_ms = CASE WHEN agent IS NULL THEN $5 ELSE wait_ms END,
             agent = COALESCE(agent, $3)",
            vec![Text(queue.clone()), Text(agent.clone()), Int(at), wait(*wait_ms)],
        )),
        CallEvent::AgentCallEnded { talk_ms, side, .. } => Some((
            "talk_ms = COALESCE(talk_ms, 0) + $2, hangup_side = $3",
            vec![wait(*talk_ms), Text(side.code().into())],
        )),
        CallEvent::Abandoned { queue, wait_ms } => Some((
            "abandoned = $2, queue = COALESCE(queue, $3),
             wait_ms = CASE WHEN agent IS NULL THEN $4 ELSE wait_ms END",
            vec![Bool(true), Text(queue.clone()), wait(*wait_ms)],
        )),
        CallEvent::LeftMenu { .. } => Some(("abandoned = $2", vec![Bool(true)])),
        CallEvent::QueueLeft { queue, wait_ms, .. } => Some((
            "queue = COALESCE(queue, $2), wait_ms = CASE WHEN agent IS NULL THEN $3 ELSE wait_ms END",
            vec![Text(queue.clone()), wait(*wait_ms)],
        )),
        CallEvent::CallbackRequested { .. } | CallEvent::CallbackPlaced { .. } => {
            Some(("callback = $2", vec![Bool(true)]))
        }
        // The call-back is over: its result stands and the claim on the call is released.
        CallEvent::CalledBack { by, answered } => Some((
            "called_back_by = $2, called_back_at = $3, called_back_answered = $4,
             call_back_claim = NULL, call_back_claim_at = NULL",
            vec![Text(by.clone()), Int(at), Bool(*answered)],
        )),
        CallEvent::AgentRung { .. }
        | CallEvent::Language { .. }
        | CallEvent::Transferred { .. }
        | CallEvent::Hold { .. }
        | CallEvent::Monitored { .. }
        | CallEvent::Recorded { .. }
        | CallEvent::RecordingPurged => None,
    }
}

impl Calls {
    /// Appends one event to a call's record, stamped now, and brings the record's summary
    /// columns up to date in the same transaction (see [`summary_update`]).
    pub async fn event(&self, id: CallRecordId, ev: &CallEvent) -> Result<(), CallsError> {
        let at = now_ms();
        let detail = serde_json::to_value(ev).unwrap_or_default();
        let mut tx = self.db().pool().begin().await?;
        sqlx::query("INSERT INTO call_events (call, at, kind, detail) VALUES ($1, $2, $3, $4)")
            .bind(id.get())
            .bind(at)
            .bind(ev.kind())
            .bind(detail.to_string())
            .execute(&mut *tx)
            .await?;
        if let Some((set, binds)) = summary_update(ev, at) {
            let sql = format!("UPDATE calls SET {set} WHERE id = $1");
            let mut q = sqlx::query(&sql).bind(id.get());
            for b in binds {
                q = match b {
                    SummaryBind::Text(s) => q.bind(s),
                    SummaryBind::Int(i) => q.bind(i),
                    SummaryBind::Bool(v) => q.bind(v),
                };
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A call's events in order, with when each happened (unix ms).
    pub async fn events(&self, id: CallRecordId) -> Result<Vec<(i64, CallEvent)>, CallsError> {
        use sqlx::Row;
        let rows = sqlx::query("SELECT at, detail FROM call_events WHERE call = $1 ORDER BY id")
            .bind(id.get())
            .fetch_all(self.db().pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let detail: String = r.try_get(1)?;
            // An event written by a newer version this one cannot read is skipped.
            if let Ok(ev) = serde_json::from_str::<CallEvent>(&detail) {
                out.push((r.try_get(0)?, ev));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallEnd, NewCall};
    use crate::store::Db;

    async fn answered_call() -> (tempfile::TempDir, Calls, CallRecordId) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/calls.db", dir.path().display());
        let calls = Calls::new(Db::connect_url(&url).await.expect("db"));
        let id = calls
            .start(&NewCall {
                call_id: "q@test",
                caller: "13800000000",
                called: "12345",
                dialplan: "12345",
            })
            .await
            .expect("start");
        calls.answered(id).await.expect("answered");
        (dir, calls, id)
    }

    fn rung(agent: &str, result: RingResult) -> CallEvent {
        CallEvent::AgentRung {
            queue: "general".into(),
            agent: agent.into(),
            ring_ms: 15_000,
            result,
        }
    }

    #[tokio::test]
    async fn rung_twice_answered_and_ended_keeps_the_summary_exact() {
        let (_d, calls, id) = answered_call().await;
        for ev in [
            CallEvent::QueueEntered {
                queue: "general".into(),
            },
            rung("zhang", RingResult::NoAnswer),
            rung("li", RingResult::Answered),
            CallEvent::AgentAnswered {
                queue: "general".into(),
                agent: "li".into(),
                wait_ms: 21_500,
            },
            CallEvent::AgentCallEnded {
                agent: "li".into(),
                talk_ms: 64_000,
                side: HangupSide::Agent,
            },
        ] {
            calls.event(id, &ev).await.expect("event");
        }
        let d = calls.get(id).await.expect("get").expect("the record");
        let s = &d.call;
        assert_eq!(s.queue.as_deref(), Some("general"));
        assert_eq!(
            s.agent.as_deref(),
            Some("li"),
            "who answered, not who was rung"
        );
        assert_eq!(s.wait_ms, Some(21_500));
        assert_eq!(s.talk_ms, Some(64_000));
        assert_eq!(s.hangup_side, Some(HangupSide::Agent));
        assert!(s.agent_answered_at.is_some());
        assert!(!s.abandoned && !s.callback);
        assert_eq!(d.events.len(), 5, "every event kept, in order");
        assert_eq!(d.events[1].event, rung("zhang", RingResult::NoAnswer));
    }

    #[tokio::test]
    async fn a_transfer_adds_talk_time_but_keeps_the_first_answer() {
        let (_d, calls, id) = answered_call().await;
        for ev in [
            CallEvent::AgentAnswered {
                queue: "general".into(),
                agent: "li".into(),
                wait_ms: 4_000,
            },
            CallEvent::Transferred {
                by: "li".into(),
                to: "queue:water".into(),
            },
            CallEvent::AgentCallEnded {
                agent: "li".into(),
                talk_ms: 30_000,
                side: HangupSide::Agent,
            },
            CallEvent::AgentAnswered {
                queue: "water".into(),
                agent: "wang".into(),
                wait_ms: 9_000,
            },
            CallEvent::AgentCallEnded {
                agent: "wang".into(),
                talk_ms: 12_000,
                side: HangupSide::Caller,
            },
        ] {
            calls.event(id, &ev).await.expect("event");
        }
        calls
            .end(
                id,
                &CallEnd {
                    outcome: "transferred",
                    nodes: &[],
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
        let s = calls.get(id).await.expect("get").expect("record").call;
        assert_eq!(s.agent.as_deref(), Some("li"));
        assert_eq!(s.queue.as_deref(), Some("general"));
        assert_eq!(
            s.wait_ms,
            Some(4_000),
            "answered within 15 s counts the first answer"
        );
        assert_eq!(s.talk_ms, Some(42_000));
        assert_eq!(s.hangup_side, Some(HangupSide::Caller));
        assert_eq!(s.hangup_reason.as_deref(), Some("bye"));
    }

    #[tokio::test]
    async fn an_abandoned_wait_and_a_callback_are_flagged() {
        let (_d, calls, id) = answered_call().await;
        for ev in [
            CallEvent::QueueEntered {
                queue: "general".into(),
            },
            CallEvent::CallbackRequested {
                queue: "general".into(),
                number: "13800000000".into(),
            },
            CallEvent::Abandoned {
                queue: "general".into(),
                wait_ms: 33_000,
            },
        ] {
            calls.event(id, &ev).await.expect("event");
        }
        let s = calls.get(id).await.expect("get").expect("record").call;
        assert!(s.abandoned && s.callback);
        assert_eq!(s.wait_ms, Some(33_000));
        assert_eq!(s.agent, None);
        assert_eq!(s.talk_ms, None);
    }
}
