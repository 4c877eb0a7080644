//! The SQL the service shares: the ticket columns, a row into a [`Ticket`], the list filter,
//! the audit line and the row lock.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::{get_bool, now_ms};
use crate::tickets::error::TicketsError;
use crate::tickets::model::*;

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub states: Vec<State>,
    pub kind: Option<Kind>,
    pub channel: Option<Channel>,
    pub department: Option<DepartmentId>,
    pub phone: Option<PhoneNumber>,
    pub overdue: bool,
    pub needs_review: Option<bool>,
    /// Taken in at or after this moment (reports over a period).
    pub created_from: Option<DateTime<Utc>>,
    /// Taken in before this moment.
    pub created_to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

pub(super) const COLUMNS: &str = "id, number, channel, kind, state, phone, text, summary, address, area, department_id, \
    routed_by, needs_review, sla, deadline_at, clock_start_at, supervised, satisfaction, answer, recording_path, \
    merged_into, created_at, updated_at, resolved_at, closed_at, version, extension_days";

pub(super) fn route_actor(actor: &Actor) -> String {
    match actor {
        Actor::System => "system".into(),
        other => format!("operator:{other}"),
    }
}

pub(super) enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
    Null,
}

pub(super) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl Bind {
    pub(super) fn bind_to<'q>(&self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
            Bind::Bool(b) => q.bind(*b),
            Bind::Null => q.bind(None::<i64>),
        }
    }
}

pub(super) fn filter_sql(f: &TicketFilter, head: &str) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let push = |clause: &str, b: Bind, binds: &mut Vec<Bind>, clauses: &mut Vec<String>| {
        binds.push(b);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if !f.states.is_empty() {
        let mut ors = Vec::new();
        for s in &f.states {
            binds.push(Bind::Text(s.code().into()));
            ors.push(format!("state = ${}", binds.len()));
        }
        clauses.push(format!("({})", ors.join(" OR ")));
    }
    if let Some(k) = f.kind {
        push(
            "kind = ?",
            Bind::Text(k.code().into()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(c) = f.channel {
        push(
            "channel = ?",
            Bind::Text(c.code().into()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(d) = &f.department {
        push(
            "department_id = ?",
            Bind::Text(d.to_string()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(p) = &f.phone {
        push(
            "phone = ?",
            Bind::Text(p.to_string()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(r) = f.needs_review {
        push("needs_review = ?", Bind::Bool(r), &mut binds, &mut clauses);
    }
    if let Some(t) = f.created_from {
        push(
            "created_at >= ?",
            Bind::Int(t.timestamp_millis()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(t) = f.created_to {
        push(
            "created_at < ?",
            Bind::Int(t.timestamp_millis()),
            &mut binds,
            &mut clauses,
        );
    }
    if f.overdue {
        push(
            "deadline_at < ?",
            Bind::Int(now_ms()),
            &mut binds,
            &mut clauses,
        );
        clauses.push("state NOT IN ('resolved', 'follow_up', 'closed')".into());
    }
    let sql = if clauses.is_empty() {
        head.to_string()
    } else {
        format!("{head} WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

/// Writes one audit row; it keeps the department that holds the ticket after the step.
pub(super) async fn audit(
    conn: &mut AnyConnection,
    id: TicketId,
    actor: &Actor,
    action: &str,
    from: Option<State>,
    to: State,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_audit (ticket_id, at, actor, action, from_state, to_state, note, department_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT department_id FROM tickets WHERE id = $1))",
    )
    .bind(id.0)
    .bind(now_ms())
    .bind(actor.to_string())
    .bind(action)
    .bind(from.map(|s| s.code()))
    .bind(to.code())
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the ticket's write lock before reading it: the row lock on PostgreSQL, the write
/// lock on SQLite. A transaction that reads first and writes later would get "database is
/// locked" at once on SQLite when another connection commits in between.
pub(super) async fn lock_row(conn: &mut AnyConnection, id: TicketId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET version = version WHERE id = $1")
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) async fn fetch(conn: &mut AnyConnection, id: TicketId) -> Result<Ticket, TicketsError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| TicketsError::NotFound(id.to_string()))?;
    from_row(&row)
}

pub(super) fn ms_to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(super) fn parse_word<T: std::str::FromStr<Err = ParseError>>(
    s: &str,
) -> Result<T, TicketsError> {
    Ok(s.parse()?)
}

pub(super) fn from_row(r: &AnyRow) -> Result<Ticket, TicketsError> {
    let opt_ms = |c: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(r.try_get::<Option<i64>, _>(c)?.map(ms_to_utc))
    };
    let number: String = r.try_get("number")?;
    let phone: String = r.try_get("phone")?;
    let satisfaction: Option<String> = r.try_get("satisfaction")?;
    Ok(Ticket {
        id: TicketId(r.try_get("id")?),
        number: parse_word(&number)?,
        channel: parse_word(&r.try_get::<String, _>("channel")?)?,
        kind: parse_word(&r.try_get::<String, _>("kind")?)?,
        state: parse_word(&r.try_get::<String, _>("state")?)?,
        phone: PhoneNumber::from_stored(&phone)?,
        text: r.try_get("text")?,
        summary: r.try_get("summary")?,
        address: r.try_get("address")?,
        area: r.try_get("area")?,
        department: r
            .try_get::<Option<String>, _>("department_id")?
            .map(DepartmentId),
        routed_by: r.try_get("routed_by")?,
        needs_review: get_bool(r, "needs_review")?,
        sla: r.try_get("sla")?,
        deadline: ms_to_utc(r.try_get("deadline_at")?),
        clock_start: ms_to_utc(r.try_get("clock_start_at")?),
        supervised: get_bool(r, "supervised")?,
        satisfaction: satisfaction.map(|s| parse_word(&s)).transpose()?,
        answer: r.try_get("answer")?,
        recording_path: r.try_get("recording_path")?,
        merged_into: r.try_get::<Option<i64>, _>("merged_into")?.map(TicketId),
        created_at: ms_to_utc(r.try_get("created_at")?),
        updated_at: ms_to_utc(r.try_get("updated_at")?),
        resolved_at: opt_ms("resolved_at")?,
        closed_at: opt_ms("closed_at")?,
        version: r.try_get("version")?,
        extension_days: r.try_get("extension_days")?,
    })
}
