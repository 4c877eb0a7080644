//! The events of one call record, in the order they happened. Each channel that handles a
//! call appends what it did (the voice menus their path, the queues who was rung and who
//! answered); reports read them back, so every event carries what a KPI needs exactly.

use serde::{Deserialize, Serialize};

use super::record::{CallRecordId, Calls, CallsError};
use crate::store::now_ms;

/// How ringing one agent's phone ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingResult {
    Answered,
    NoAnswer,
    Busy,
    Failed,
    /// Another agent answered first (ring-all) or the caller left meanwhile.
    Cancelled,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupSide {
    Caller,
    Agent,
    System,
}

/// One thing that happened in a call. Stored as `kind` plus the fields as JSON `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
            CallEvent::QueueLeft { .. } => "queue_left",
            CallEvent::CallbackRequested { .. } => "callback_requested",
            CallEvent::CallbackPlaced { .. } => "callback_placed",
            CallEvent::Transferred { .. } => "transferred",
            CallEvent::Hold { .. } => "hold",
            CallEvent::Monitored { .. } => "monitored",
            CallEvent::Recorded { .. } => "recorded",
        }
    }
}

impl Calls {
    /// Appends one event to a call's record, stamped now.
    pub async fn event(&self, id: CallRecordId, ev: &CallEvent) -> Result<(), CallsError> {
        let detail = serde_json::to_value(ev).unwrap_or_default();
        sqlx::query("INSERT INTO call_events (call, at, kind, detail) VALUES ($1, $2, $3, $4)")
            .bind(id.get())
            .bind(now_ms())
            .bind(ev.kind())
            .bind(detail.to_string())
            .execute(self.db().pool())
            .await?;
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
