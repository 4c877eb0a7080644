//! The access log of personal data (个人信息保护法): who opened which resident's recording
//! or whole phone number, when, and through which face. Written by the ticket page, the
//! recording downloads and the JSON API; read by supervisors and administrators
//! (`GET /api/v1/access-log`, the page `/console/access-log`).
//! A row that cannot be written is logged as an error; the person still gets the page.

use std::net::IpAddr;

use serde::Serialize;
use sqlx::Row;

use super::accounts::Account;
use super::Ctx;
use crate::store::now_ms;

/// What was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Phone,
    Recording,
}

impl Opened {
    fn code(self) -> &'static str {
        match self {
            Opened::Phone => "phone",
            Opened::Recording => "recording",
        }
    }
}

/// Through which face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Page,
    Api,
    Download,
}

impl Via {
    fn code(self) -> &'static str {
        match self {
            Via::Page => "page",
            Via::Api => "api",
            Via::Download => "download",
        }
    }
}

/// Whose data: a ticket's or a call's.
#[derive(Debug, Clone, Copy)]
pub enum Of {
    Ticket(i64),
    Call(i64),
}

/// One row: `who` opened `what` of `of` through `via`, from the address `from`.
pub async fn record(ctx: &Ctx, who: &Account, from: IpAddr, what: Opened, via: Via, of: Of) {
    let (ticket, call) = match of {
        Of::Ticket(t) => (Some(t), None),
        Of::Call(c) => (None, Some(c)),
    };
    let r = sqlx::query(
        "INSERT INTO personal_data_access (at, account, role, what, via, ticket_id, call_id, from_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now_ms())
    .bind(&who.name)
    .bind(who.role.code())
    .bind(what.code())
    .bind(via.code())
    .bind(ticket)
    .bind(call)
    .bind(from.to_string())
    .execute(ctx.db().pool())
    .await;
    if let Err(e) = r {
        tracing::error!(account = %who.name, what = what.code(), error = %e, "access log row not written");
    }
}

/// One row of the access log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessRow {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub account: String,
    pub role: String,
    /// phone or recording.
    pub what: String,
    /// page, api or download.
    pub via: String,
    pub ticket_id: Option<i64>,
    pub call_id: Option<i64>,
    /// The client's address (none on rows older than the column).
    pub from_addr: Option<String>,
}

/// Which rows to read: one account's, within `[from, to)` (unix ms).
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    pub account: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl AccessFilter {
    /// The WHERE clause with its binds in order (numbered from $1).
    fn clause(&self) -> (String, Vec<Bind>) {
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        if let Some(a) = &self.account {
            binds.push(Bind::Text(a.clone()));
            conds.push(format!("account = ${}", binds.len()));
        }
        if let Some(f) = self.from {
            binds.push(Bind::Int(f));
            conds.push(format!("at >= ${}", binds.len()));
        }
        if let Some(t) = self.to {
            binds.push(Bind::Int(t));
            conds.push(format!("at < ${}", binds.len()));
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        (clause, binds)
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

fn query<'q>(
    sql: &'q str,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    binds.into_iter().fold(sqlx::query(sql), |q, b| match b {
        Bind::Text(t) => q.bind(t),
        Bind::Int(i) => q.bind(i),
    })
}

/// How many rows `f` selects.
pub async fn count(ctx: &Ctx, f: &AccessFilter) -> Result<i64, sqlx::Error> {
    let (clause, binds) = f.clause();
    let sql = format!("SELECT COUNT(*) FROM personal_data_access {clause}");
    query(&sql, binds)
        .fetch_one(ctx.db().pool())
        .await?
        .try_get(0)
}

/// The rows `f` selects, newest first.
pub async fn list(
    ctx: &Ctx,
    f: &AccessFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<AccessRow>, sqlx::Error> {
    let (clause, mut binds) = f.clause();
    let n = binds.len();
    let sql = format!(
        "SELECT id, at, account, role, what, via, ticket_id, call_id, from_addr FROM personal_data_access {clause}
         ORDER BY id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let rows = query(&sql, binds).fetch_all(ctx.db().pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(AccessRow {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                account: r.try_get(2)?,
                role: r.try_get(3)?,
                what: r.try_get(4)?,
                via: r.try_get(5)?,
                ticket_id: r.try_get(6)?,
                call_id: r.try_get(7)?,
                from_addr: r.try_get(8)?,
            })
        })
        .collect()
}
