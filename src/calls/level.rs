//! The service level of each queue (服务水平): of the callers who reached a queue since a
//! moment (the wallboard asks for local midnight), the share an agent answered within the
//! target wait. Callers who gave up count against it; callers still waiting do not count
//! yet. Read from the summary columns, one row per call.

use serde::Serialize;
use sqlx::Row;

use super::record::{CallRecordId, Calls, CallsError};

/// One queue's service level figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ServiceLevel {
    pub queue: String,
    /// Answered by an agent within the target wait.
    pub answered_in_target: i64,
    /// Answered by an agent at all.
    pub answered: i64,
    /// Gave up while waiting.
    pub abandoned: i64,
    /// `answered_in_target / (answered + abandoned)` in percent; `None` when no caller
    /// counted yet.
    pub percent: Option<u32>,
}

impl ServiceLevel {
    /// A queue nobody reached yet.
    pub fn none(queue: &str) -> Self {
        ServiceLevel::new(queue.to_string(), 0, 0, 0)
    }

    fn new(queue: String, answered_in_target: i64, answered: i64, abandoned: i64) -> Self {
        let total = answered + abandoned;
        let percent = (total > 0).then(|| ((answered_in_target * 100 + total / 2) / total) as u32);
        ServiceLevel {
            queue,
            answered_in_target,
            answered,
            abandoned,
            percent,
        }
    }
}

impl Calls {
    /// Per queue service level of the calls that arrived at or after `since_ms` (unix ms),
    /// with `target_ms` the longest wait that still counts as in time.
    pub async fn service_levels(
        &self,
        since_ms: i64,
        target_ms: i64,
    ) -> Result<Vec<ServiceLevel>, CallsError> {
        let rows = sqlx::query(
            "SELECT queue,
                    COUNT(CASE WHEN agent_answered_at IS NOT NULL AND wait_ms <= $2 THEN 1 END) AS in_target,
                    COUNT(CASE WHEN agent_answered_at IS NOT NULL THEN 1 END) AS answered,
                    COUNT(CASE WHEN agent_answered_at IS NULL AND abandoned = $3 THEN 1 END) AS abandoned
             FROM calls WHERE started_at >= $1 AND queue IS NOT NULL
             GROUP BY queue ORDER BY queue",
        )
        .bind(since_ms)
        .bind(target_ms)
        .bind(true)
        .fetch_all(self.db().pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(ServiceLevel::new(
                r.try_get("queue")?,
                r.try_get("in_target")?,
                r.try_get("answered")?,
                r.try_get("abandoned")?,
            ));
        }
        Ok(out)
    }

    /// Links the ticket made during a call to the call's record (shown on both). A later
    /// end of the call keeps it.
    pub async fn link_ticket(
        &self,
        id: CallRecordId,
        ticket_number: &str,
    ) -> Result<bool, CallsError> {
        let r = sqlx::query("UPDATE calls SET ticket_number = $1 WHERE id = $2")
            .bind(ticket_number)
            .bind(id.get())
            .execute(self.db().pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallEvent, NewCall};
    use crate::store::{now_ms, Db};

    async fn queued(c: &Calls, n: &str, queue: &str, ev: CallEvent) -> CallRecordId {
        let id = c
            .start(&NewCall {
                call_id: &format!("{n}@sl"),
                caller: n,
                called: "12345",
                dialplan: "12345",
            })
            .await
            .expect("start");
        c.event(
            id,
            &CallEvent::QueueEntered {
                queue: queue.into(),
            },
        )
        .await
        .expect("entered");
        c.event(id, &ev).await.expect("event");
        id
    }

    fn answered(queue: &str, wait_ms: u64) -> CallEvent {
        CallEvent::AgentAnswered {
            queue: queue.into(),
            agent: "ops1".into(),
            wait_ms,
        }
    }

    #[tokio::test]
    async fn answered_in_time_over_answered_and_abandoned_per_queue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect_url(&format!("sqlite://{}/c.db", dir.path().display()))
            .await
            .expect("db");
        let c = Calls::new(db);
        let since = now_ms() - 1000;
        queued(&c, "1", "operators", answered("operators", 5_000)).await;
        queued(&c, "2", "operators", answered("operators", 15_000)).await;
        queued(&c, "3", "operators", answered("operators", 40_000)).await;
        queued(
            &c,
            "4",
            "operators",
            CallEvent::Abandoned {
                queue: "operators".into(),
                wait_ms: 3_000,
            },
        )
        .await;
        queued(&c, "5", "english", answered("english", 20_000)).await;
        let levels = c.service_levels(since, 15_000).await.expect("levels");
        assert_eq!(
            levels,
            vec![
                ServiceLevel::new("english".into(), 0, 1, 0),
                ServiceLevel::new("operators".into(), 2, 3, 1),
            ]
        );
        assert_eq!(levels[1].percent, Some(50));
        assert_eq!(levels[0].percent, Some(0));
        // Calls before the moment asked for are not counted.
        assert!(c
            .service_levels(now_ms() + 60_000, 15_000)
            .await
            .expect("levels")
            .is_empty());
        assert_eq!(ServiceLevel::new("q".into(), 0, 0, 0).percent, None);
    }

    #[tokio::test]
    async fn a_linked_ticket_survives_the_end_of_the_call() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect_url(&format!("sqlite://{}/c.db", dir.path().display()))
            .await
            .expect("db");
        let c = Calls::new(db);
        let id = queued(&c, "6", "operators", answered("operators", 1_000)).await;
        assert!(c.link_ticket(id, "202612020001").await.expect("link"));
        c.end(
            id,
            &crate::calls::CallEnd {
                outcome: "completed",
                hangup_side: crate::calls::HangupSide::Caller,
                hangup_reason: "bye",
                nodes: &[],
                prompts: &[],
                digits: "",
                ticket_number: None,
                recording_path: None,
            },
        )
        .await
        .expect("end");
        let d = c.get(id).await.expect("get").expect("the record");
        assert_eq!(d.call.ticket_number.as_deref(), Some("202612020001"));
        assert!(!c
            .link_ticket(CallRecordId::from_raw(999), "202612020002")
            .await
            .expect("link"));
    }
}
