//! The scorecard over the JSON API: `/stats` (today and this month at a glance) and
//! `/reports/kpis` (any period, cut by day, week, month, queue, agent, department or
//! township). The same figures as the board and the exports; definitions in docs/kpis.md.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{parse_query, ApiUser, ErrorBody};
use crate::scorecard::{
    CallFigures, Direction, Grain, GroupBy, Kpi, KpiValue, Report, ReportRow, Span, TicketFigures,
    Unit,
};
use crate::web::authz::Perm;
use crate::web::error::{ApiError, WebError};
use crate::web::Ctx;

pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/stats", get(stats))
        .route("/reports/kpis", get(kpis))
}

#[derive(OpenApi)]
#[openapi(
    paths(stats, kpis),
    components(schemas(Stats, Report, ReportRow, KpiValue, Kpi, Unit, Direction, CallFigures, TicketFigures, GroupBy)),
    security(("bearer" = []))
)]
pub(super) struct ReportsDoc;

/// Today and this month, one row each, and the tickets overdue now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub today: ReportRow,
    pub month: ReportRow,
    /// Open tickets past their deadline now.
    pub overdue_now: i64,
}

/// KPIs for today and this month (supervisor accounts).
#[utoipa::path(get, path = "/api/v1/stats",
    responses((status = 200, body = Stats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn stats(State(ctx): State<Ctx>, u: ApiUser) -> Result<Json<Stats>, ApiError> {
    u.require(Perm::Board)?;
    let sc = ctx.scorecard();
    let today = sc
        .report(&sc.today(), GroupBy::Total)
        .await
        .map_err(WebError::from)?;
    let month = sc
        .report(&sc.last(Grain::Month, 1), GroupBy::Total)
        .await
        .map_err(WebError::from)?;
    Ok(Json(Stats {
        today: today.total,
        month: month.total,
        overdue_now: ctx.tickets().overdue_now().await.map_err(WebError::from)?,
    }))
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct KpiQuery {
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

/// The span a query names, in the hotline's time zone.
pub(crate) fn span_of(ctx: &Ctx, q: &KpiQuery) -> Result<Span, ApiError> {
    let sc = ctx.scorecard();
    let date = |what: &str, v: &str| {
        chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .map_err(|_| ApiError::bad(format!("{what} must be a date YYYY-MM-DD, not `{v}`")))
    };
    match (q.from.as_deref(), q.to.as_deref()) {
        (Some(f), Some(t)) => {
            let end = date("to", t)? + chrono::Duration::days(1);
            Span::new(sc.tz(), date("from", f)?, end).map_err(|e| ApiError::bad(e.to_string()))
        }
        (Some(_), None) | (None, Some(_)) => {
            Err(ApiError::bad("give both from and to, or a period"))
        }
        (None, None) => match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => sc.parse_span(p).map_err(|e| ApiError::bad(e.to_string())),
            None => Ok(sc.last(Grain::Month, 1)),
        },
    }
}

/// The KPIs of a period, one row per group and a total (supervisor accounts). Every rate
/// carries its numerator and denominator; `met` is false where a target is missed.
#[utoipa::path(get, path = "/api/v1/reports/kpis", params(KpiQuery),
    responses((status = 200, body = Report), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn kpis(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Json<Report>, ApiError> {
    u.require(Perm::Board)?;
    let q: KpiQuery = parse_query(q)?;
    let span = span_of(&ctx, &q)?;
    let group: GroupBy = q
        .group_by
        .as_deref()
        .unwrap_or("total")
        .parse()
        .map_err(|e: crate::scorecard::UnknownGroup| ApiError::bad(e.to_string()))?;
    Ok(Json(
        ctx.scorecard()
            .report(&span, group)
            .await
            .map_err(WebError::from)?,
    ))
}
