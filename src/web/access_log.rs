//! The access log of personal data (个人信息保护法): who opened which resident's recording
//! or whole phone number, when, and through which face. Written by the ticket page, the
//! recording downloads and the JSON API; read by supervisors (`GET /api/v1/access-log`).
//! A row that cannot be written is logged as an error; the person still gets the page.

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

pub async fn record(ctx: &Ctx, who: &Account, what: Opened, via: Via, of: Of) {
    let (ticket, call) = match of {
        Of::Ticket(t) => (Some(t), None),
        Of::Call(c) => (None, Some(c)),
    };
    let r = sqlx::query(
        "INSERT INTO personal_data_access (at, account, role, what, via, ticket_id, call_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now_ms())
    .bind(&who.name)
    .bind(who.role.code())
    .bind(what.code())
    .bind(via.code())
    .bind(ticket)
    .bind(call)
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
}

/// The newest rows first.
pub async fn list(ctx: &Ctx, limit: i64, offset: i64) -> Result<Vec<AccessRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at, account, role, what, via, ticket_id, call_id FROM personal_data_access ORDER BY id DESC LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(ctx.db().pool())
    .await?;
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
            })
        })
        .collect()
}
