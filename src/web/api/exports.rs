//! Exports over the API: the ticket list, the call list and a KPI report as XLSX or CSV,
//! with the same filters and the same narrowing by role as the JSON lists (a department
//! account gets only its own department's tickets), every matching row in one file.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::reports::{span_of, KpiQuery};
use super::{
    call_filter, parse_query, ticket_filter, ApiUser, CallQuery, ChannelCode, ErrorBody, KindCode,
    StateCode, TicketQuery,
};
use crate::reports::kpi_table::report_table;
use crate::reports::lists::{
    calls_table, collect_calls, collect_tickets, tickets_table, EXPORT_MAX_ROWS,
};
use crate::scorecard::GroupBy;
use crate::web::authz::{export_phones, Perm};
use crate::web::error::{ApiError, WebError};
use crate::web::export::{download, format_of};
use crate::web::Ctx;

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/tickets/export", get(export_tickets))
        .route("/calls/export", get(export_calls))
        .route("/reports/kpis/export", get(export_kpis))
}

#[derive(OpenApi)]
#[openapi(
    paths(export_tickets, export_calls, export_kpis),
    components(schemas(ExportFormat)),
    security(("bearer" = []))
)]
pub(super) struct ExportsDoc;

/// File formats of an export.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ExportFormat {
    /// Office Open XML workbook (Excel, WPS).
    Xlsx,
    /// UTF-8 with a byte-order mark, RFC 4180.
    Csv,
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TicketExportQuery {
    /// xlsx (default) or csv.
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
    #[param(value_type = Option<StateCode>)]
    pub state: Option<String>,
    #[param(value_type = Option<KindCode>)]
    pub kind: Option<String>,
    #[param(value_type = Option<ChannelCode>)]
    pub channel: Option<String>,
    /// Department id (ignored for department accounts: always their own).
    pub department: Option<String>,
    /// Only open tickets past their deadline.
    pub overdue: Option<bool>,
}

fn format(v: &Option<String>) -> Result<crate::reports::Format, ApiError> {
    format_of(v.as_deref()).map_err(|_| ApiError::bad("format must be xlsx or csv"))
}

/// The ticket list as an XLSX or CSV file (工单编号, 来源, 类型, 状态, 承办单位, 受理时间,
/// 办结时限, …), newest first; at most 20 000 rows (400 beyond: narrow the filters).
#[utoipa::path(get, path = "/api/v1/tickets/export", params(TicketExportQuery),
    responses((status = 200, description = "the file", content((String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_tickets(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    u.require(Perm::ViewTickets)?;
    let q: TicketExportQuery = parse_query(q)?;
    let fmt = format(&q.format)?;
    let f = ticket_filter(
        &u,
        &TicketQuery {
            state: q.state,
            kind: q.kind,
            channel: q.channel,
            department: q.department,
            overdue: q.overdue,
            page: None,
            per_page: None,
        },
    )?;
    let tk = ctx.tickets();
    let list = collect_tickets(tk, &f, EXPORT_MAX_ROWS)
        .await
        .map_err(WebError::from)?;
    let table = tickets_table(tk, &list, export_phones(&ctx.cfg, u.0.role));
    tracing::info!(account = %u.0.name, rows = list.len(), format = %fmt, "ticket list exported");
    Ok(download(tk, &table, fmt, "tickets")?)
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct CallExportQuery {
    /// xlsx (default) or csv.
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
    /// Arrived at or after this moment (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Arrived before this moment (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    pub caller: Option<String>,
    pub outcome: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub abandoned: Option<bool>,
    pub ticket: Option<String>,
}

/// The call list (通话记录) as an XLSX or CSV file, newest first, the caller masked for roles
/// that see numbers masked in the list; at most 20 000 rows.
#[utoipa::path(get, path = "/api/v1/calls/export", params(CallExportQuery),
    responses((status = 200, description = "the file", content((String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_calls(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    u.require(Perm::ViewCalls)?;
    let q: CallExportQuery = parse_query(q)?;
    let fmt = format(&q.format)?;
    let f = call_filter(CallQuery {
        from: q.from,
        to: q.to,
        caller: q.caller,
        outcome: q.outcome,
        queue: q.queue,
        agent: q.agent,
        abandoned: q.abandoned,
        ticket: q.ticket,
        page: None,
        per_page: None,
    })?;
    let tk = ctx.tickets();
    let list = collect_calls(ctx.records(), &f, EXPORT_MAX_ROWS)
        .await
        .map_err(WebError::from)?;
    let table = calls_table(tk, &list, export_phones(&ctx.cfg, u.0.role));
    tracing::info!(account = %u.0.name, rows = list.len(), format = %fmt, "call list exported");
    Ok(download(tk, &table, fmt, "calls")?)
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct KpiExportQuery {
    /// xlsx (default) or csv.
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
    /// A day `2026-12-02`, an ISO week `2026-W49` or a month `2026-12`; this month when
    /// absent. Ignored when `from` is given.
    pub period: Option<String>,
    /// First day (YYYY-MM-DD) of a span of days, with `to`.
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD), included.
    pub to: Option<String>,
    /// total (default), day, week, month, queue, agent, department or township.
    pub group_by: Option<String>,
}

/// A KPI report (the same figures as `/api/v1/reports/kpis`) as an XLSX or CSV file: one
/// row per group and 合计, the figures and every KPI (supervisor accounts).
#[utoipa::path(get, path = "/api/v1/reports/kpis/export", params(KpiExportQuery),
    responses((status = 200, description = "the file", content((String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export_kpis(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    u.require(Perm::Board)?;
    let q: KpiExportQuery = parse_query(q)?;
    let fmt = format(&q.format)?;
    let span = span_of(
        &ctx,
        &KpiQuery {
            period: q.period,
            from: q.from,
            to: q.to,
            group_by: None,
        },
    )?;
    let group: GroupBy = q
        .group_by
        .as_deref()
        .unwrap_or("total")
        .parse()
        .map_err(|e: crate::scorecard::UnknownGroup| ApiError::bad(e.to_string()))?;
    let report = ctx
        .scorecard()
        .report(&span, group)
        .await
        .map_err(WebError::from)?;
    Ok(download(
        ctx.tickets(),
        &report_table(&report),
        fmt,
        "kpis",
    )?)
}
