//! The rows a report folds: one per call, per ticket touched in the period, per lifecycle
//! step that counts, per agent state change. Read in a few plain queries that run the same
//! on SQLite and PostgreSQL; every figure is then counted from these rows in Rust (see
//! `fold.rs`), so each KPI is exact and has one definition whatever the database.

use sqlx::Row;

use crate::store::{get_bool, Db, StoreError};

/// One call record, as the KPIs need it.
#[derive(Debug, Clone, Default)]
pub struct CallFact {
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// The voice menus answered it.
    pub answered: bool,
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// A person answered it.
    pub agent_answered: bool,
    pub wait_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub abandoned: bool,
}

/// One ticket touched in the period.
#[derive(Debug, Clone, Default)]
pub struct TicketFact {
    pub id: i64,
    pub created_at: i64,
    pub deadline_at: i64,
    pub department: Option<String>,
    pub area: Option<String>,
}

/// The lifecycle steps the KPIs count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Dispatch,
    Return,
    Resolve,
    AnswerDirectly,
    FollowUp,
    /// A rating; `satisfied` for 满意 and 基本满意 (the ticket closed), not for 不满意 (it
    /// reopened as supervised).
    Rate {
        satisfied: bool,
    },
}

impl Step {
    const CODES: &'static str =
        "'dispatch', 'return', 'resolve', 'answer_directly', 'follow_up', 'rate'";

    fn read(action: &str, to_state: &str) -> Option<Step> {
        Some(match action {
            "dispatch" => Step::Dispatch,
            "return" => Step::Return,
            "resolve" => Step::Resolve,
            "answer_directly" => Step::AnswerDirectly,
            "follow_up" => Step::FollowUp,
            "rate" => Step::Rate {
                satisfied: to_state == "closed",
            },
            _ => return None,
        })
    }

    pub fn resolves(self) -> bool {
        matches!(self, Step::Resolve | Step::AnswerDirectly)
    }
}

/// One audit row of a counted step: when, and the department that held the ticket then.
#[derive(Debug, Clone)]
pub struct StepFact {
    pub ticket: i64,
    pub at: i64,
    pub step: Step,
    pub department: Option<String>,
}

/// One change of an agent's state.
#[derive(Debug, Clone)]
pub struct AgentFact {
    pub agent: String,
    pub at: i64,
    pub logged_in: bool,
}

/// Everything a report over `[from, to)` reads.
#[derive(Debug, Default)]
pub struct Facts {
    pub calls: Vec<CallFact>,
    pub tickets: Vec<TicketFact>,
    /// Every counted step of `tickets`, at any time (a follow-up may come after the period).
    pub steps: Vec<StepFact>,
    /// Each agent's last state before `from`, then every change up to `to`, in order.
    pub agents: Vec<AgentFact>,
}

/// Tickets created, due or worked on in the period.
const TOUCHED: &str =
    "(created_at >= $1 AND created_at < $2) OR (deadline_at >= $1 AND deadline_at < $2)
     OR id IN (SELECT ticket_id FROM ticket_audit WHERE at >= $1 AND at < $2)";

impl Facts {
    pub async fn read(db: &Db, from: i64, to: i64) -> Result<Facts, StoreError> {
        let pool = db.pool();
        let mut calls = Vec::new();
        for r in sqlx::query(
            "SELECT started_at, ended_at, answered_at, queue, agent, agent_answered_at, wait_ms, talk_ms, abandoned
             FROM calls WHERE started_at >= $1 AND started_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
        {
            calls.push(CallFact {
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
                answered: r.try_get::<Option<i64>, _>("answered_at")?.is_some(),
                queue: r.try_get("queue")?,
                agent: r.try_get("agent")?,
                agent_answered: r.try_get::<Option<i64>, _>("agent_answered_at")?.is_some(),
                wait_ms: r.try_get("wait_ms")?,
                talk_ms: r.try_get("talk_ms")?,
                abandoned: get_bool(&r, "abandoned")?,
            });
        }
        let mut tickets = Vec::new();
        for r in sqlx::query(&format!(
            "SELECT id, created_at, deadline_at, department_id, area FROM tickets WHERE {TOUCHED}"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
        {
            tickets.push(TicketFact {
                id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                deadline_at: r.try_get("deadline_at")?,
                department: r.try_get("department_id")?,
                area: r.try_get("area")?,
            });
        }
        let mut steps = Vec::new();
        for r in sqlx::query(&format!(
            "SELECT ticket_id, at, action, to_state, department_id FROM ticket_audit
             WHERE action IN ({}) AND ticket_id IN (SELECT id FROM tickets WHERE {TOUCHED})
             ORDER BY at, id",
            Step::CODES
        ))
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
        {
            let action: String = r.try_get("action")?;
            let to_state: String = r.try_get("to_state")?;
            if let Some(step) = Step::read(&action, &to_state) {
                steps.push(StepFact {
                    ticket: r.try_get("ticket_id")?,
                    at: r.try_get("at")?,
                    step,
                    department: r.try_get("department_id")?,
                });
            }
        }
        let mut agents = Vec::new();
        for r in sqlx::query(
            "SELECT agent, state, at FROM acd_agent_log
             WHERE id IN (SELECT MAX(id) FROM acd_agent_log WHERE at < $1 GROUP BY agent)
                OR (at >= $1 AND at < $2)
             ORDER BY at, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
        {
            let state: String = r.try_get("state")?;
            agents.push(AgentFact {
                agent: r.try_get("agent")?,
                at: r.try_get("at")?,
                logged_in: state != "logged_out",
            });
        }
        Ok(Facts {
            calls,
            tickets,
            steps,
            agents,
        })
    }
}
