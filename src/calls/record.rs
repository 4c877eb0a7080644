//! Writing one call's record: a row when the call arrives (before any answer, so a call
//! refused or given up before it was answered is counted too), the moment it is answered,
//! and its end with what happened (nodes passed, prompts heard, keys pressed, the ticket it
//! made, who hung up and why).

use serde::{Deserialize, Serialize};

use crate::store::{now_ms, Db};

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HangupSide {
    Caller,
    Agent,
    System,
}

impl HangupSide {
    /// The `hangup_side` column.
    pub fn code(self) -> &'static str {
        match self {
            HangupSide::Caller => "caller",
            HangupSide::Agent => "agent",
            HangupSide::System => "system",
        }
    }

    /// Chinese label for the console.
    pub fn label_zh(self) -> &'static str {
        match self {
            HangupSide::Caller => "来电人挂机",
            HangupSide::Agent => "话务员挂机",
            HangupSide::System => "系统挂机",
        }
    }

    /// The side a column value names; `None` for anything else (a newer version's value).
    pub fn from_code(code: &str) -> Option<HangupSide> {
        [HangupSide::Caller, HangupSide::Agent, HangupSide::System]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// The row of one call in the `calls` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallRecordId(i64);

impl CallRecordId {
    pub fn get(self) -> i64 {
        self.0
    }
    /// The record with this row id (as read back from the table or an API path).
    pub fn from_raw(id: i64) -> Self {
        CallRecordId(id)
    }
}

/// A call that has just arrived.
#[derive(Debug, Clone, Copy)]
pub struct NewCall<'a> {
    /// The SIP Call-ID.
    pub call_id: &'a str,
    pub caller: &'a str,
    pub called: &'a str,
    /// The dialplan that answers it (empty when none does).
    pub dialplan: &'a str,
}

/// How a call ended and what happened in it.
#[derive(Debug, Clone, Copy)]
pub struct CallEnd<'a> {
    /// Why it ended, e.g. `completed`, `caller_hung_up`, `transferred`, `no_input`,
    /// `no_dialplan`, `cancelled` (the caller gave up before the answer).
    pub outcome: &'a str,
    /// Who ended the call.
    pub hangup_side: HangupSide,
    /// Why that side ended it: `bye` (the caller or agent hung up), `cancel` (before the
    /// answer), or for the system the outcome that made it hang up (`completed`, `no_input`,
    /// `no_dialplan`, `error`, …).
    pub hangup_reason: &'a str,
    /// Dialplan nodes in the order the call passed them.
    pub nodes: &'a [String],
    /// Prompts the caller heard, in order.
    pub prompts: &'a [String],
    /// Every key the caller pressed.
    pub digits: &'a str,
    pub ticket_number: Option<&'a str>,
    pub recording_path: Option<&'a str>,
}

/// Chinese for an outcome code (`CallEnd::outcome`); an unknown code is shown as it is.
pub fn outcome_zh(code: &str) -> &str {
    match code {
        "completed" => "流程结束",
        "caller_hung_up" => "来电人挂机",
        "transferred" => "已转人工",
        "operator" => "选择人工",
        "no_input" => "无有效按键",
        "no_dialplan" => "号码未开通",
        "cancelled" => "接听前挂断",
        "error" => "系统故障",
        "step_limit" => "流程超长",
        "missing_node" => "流程错误",
        other => other,
    }
}

/// Chinese for a hang-up reason (`CallEnd::hangup_reason`).
pub fn hangup_reason_zh(code: &str) -> &str {
    match code {
        "bye" => "挂断",
        "cancel" => "接听前挂断",
        other => outcome_zh(other),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallsError {
    #[error("call record: {0}")]
    Sql(#[from] sqlx::Error),
}

/// The call records service; cheap to clone.
#[derive(Clone, Debug)]
pub struct Calls {
    db: Db,
}

impl Calls {
    pub fn new(db: Db) -> Calls {
        Calls { db }
    }

    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// Writes the row of a call that has just arrived (`started_at` = now), before it is
    /// answered.
    pub async fn start(&self, call: &NewCall<'_>) -> Result<CallRecordId, CallsError> {
        use sqlx::Row;
        let row = sqlx::query(
            "INSERT INTO calls (call_id, caller, called, dialplan, started_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(call.call_id)
        .bind(call.caller)
        .bind(call.called)
        .bind(call.dialplan)
        .bind(now_ms())
        .fetch_one(self.db.pool())
        .await?;
        Ok(CallRecordId(row.try_get(0)?))
    }

    /// Notes that the call was answered now (by the voice menus).
    pub async fn answered(&self, id: CallRecordId) -> Result<(), CallsError> {
        sqlx::query("UPDATE calls SET answered_at = $1 WHERE id = $2 AND answered_at IS NULL")
            .bind(now_ms())
            .bind(id.0)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Removes the row of a setup that never became a call: our answer was never
    /// acknowledged, so nobody proved to be at the caller's address. Left in, a flood of
    /// spoofed INVITEs would count as offered and abandoned calls.
    pub async fn forget_unconfirmed(&self, id: CallRecordId) -> Result<(), CallsError> {
        // Both deletes carry the one condition, so an answered call keeps its events too.
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "DELETE FROM call_events WHERE call = $1
             AND EXISTS (SELECT 1 FROM calls WHERE id = $1 AND answered_at IS NULL)",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM calls WHERE id = $1 AND answered_at IS NULL")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Completes the row of a call that has ended now. The side given here is final: it
    /// replaces what the last agent leg said, because the call may have gone on after it.
    pub async fn end(&self, id: CallRecordId, end: &CallEnd<'_>) -> Result<(), CallsError> {
        sqlx::query(
            "UPDATE calls SET ended_at = $1, outcome = $2, nodes = $3, prompts = $4, digits = $5, ticket_number = COALESCE($6, ticket_number),
             recording_path = $7, hangup_side = $9, hangup_reason = $10 WHERE id = $8",
        )
        .bind(now_ms())
        .bind(end.outcome)
        .bind(serde_json::to_string(end.nodes).unwrap_or_default())
        .bind(serde_json::to_string(end.prompts).unwrap_or_default())
        .bind(end.digits)
        .bind(end.ticket_number)
        .bind(end.recording_path)
        .bind(id.0)
        .bind(end.hangup_side.code())
        .bind(end.hangup_reason)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::CallEvent;
    use sqlx::Row;

    #[tokio::test]
    async fn a_call_is_recorded_from_arrival_to_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/calls.db", dir.path().display());
        let db = Db::connect_url(&url).await.expect("db");
        let calls = Calls::new(db.clone());
        let id = calls
            .start(&NewCall {
                call_id: "abc@host",
                caller: "13800000000",
                called: "12345",
                dialplan: "12345",
            })
            .await
            .expect("start");
        let nodes = vec!["welcome".to_string(), "menu".to_string()];
        let prompts = vec!["welcome".to_string()];
        calls
            .end(
                id,
                &CallEnd {
                    outcome: "completed",
                    nodes: &nodes,
                    prompts: &prompts,
                    digits: "1",
                    ticket_number: Some("202401010001"),
                    recording_path: None,
                    hangup_side: HangupSide::System,
                    hangup_reason: "completed",
                },
            )
            .await
            .expect("end");
        let row = sqlx::query(
            "SELECT caller, outcome, nodes, digits, ticket_number, ended_at FROM calls WHERE id = $1",
        )
        .bind(id.get())
        .fetch_one(db.pool())
        .await
        .expect("row");
        assert_eq!(row.get::<String, _>(0), "13800000000");
        assert_eq!(row.get::<String, _>(1), "completed");
        assert_eq!(row.get::<String, _>(2), r#"["welcome","menu"]"#);
        assert_eq!(row.get::<String, _>(3), "1");
        assert_eq!(
            row.get::<Option<String>, _>(4).as_deref(),
            Some("202401010001")
        );
        assert!(row.get::<Option<i64>, _>(5).is_some());
    }

    #[tokio::test]
    async fn only_a_setup_never_answered_is_forgotten_with_its_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/calls.db", dir.path().display());
        let calls = Calls::new(Db::connect_url(&url).await.expect("db"));
        let call = |call_id| NewCall {
            call_id,
            caller: "13800000000",
            called: "12345",
            dialplan: "12345",
        };
        let spoofed = calls.start(&call("spoofed@host")).await.expect("start");
        let real = calls.start(&call("real@host")).await.expect("start");
        calls.answered(real).await.expect("answered");
        for id in [spoofed, real] {
            let ev = CallEvent::LeftMenu {
                node: "welcome".into(),
            };
            calls.event(id, &ev).await.expect("event");
        }
        for id in [spoofed, real] {
            calls.forget_unconfirmed(id).await.expect("forget");
        }
        assert!(calls.events(spoofed).await.expect("events").is_empty());
        assert_eq!(calls.events(real).await.expect("events").len(), 1);
    }
}
