//! `GET /api/v1/reports/departments?month=YYYY-MM`: the department ranking (考核排名) of a
//! month, as the ranking page shows it, sortable with `sort` and `dir`.

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{parse_query, ApiUser, ErrorBody};
use crate::reports::ranking::{ranking, sort, DepartmentRank, SortKey};
use crate::scorecard::{Grain, GroupBy, Span};
use crate::web::authz::Perm;
use crate::web::error::{ApiError, WebError};
use crate::web::Ctx;

pub(super) fn routes() -> Router<Ctx> {
    Router::new().route("/reports/departments", get(departments))
}

#[derive(OpenApi)]
#[openapi(
    paths(departments),
    components(schemas(Ranking, DepartmentRank)),
    security(("bearer" = []))
)]
pub(super) struct RankingDoc;

#[derive(Debug, Serialize, ToSchema)]
pub struct Ranking {
    /// YYYY-MM.
    pub month: String,
    /// Rank order unless `sort` was given.
    pub items: Vec<DepartmentRank>,
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// YYYY-MM in the hotline's time zone; this month when absent.
    pub month: Option<String>,
    /// rank (default), name, received, on_time, on_time_rate, overdue, returned,
    /// return_rate or satisfaction.
    pub sort: Option<String>,
    /// asc or desc; the column's best-first order when absent.
    pub dir: Option<String>,
}

/// The department ranking of a month: tickets received, resolved, on time, overdue,
/// returned, ratings, and the on-time, return and satisfaction rates, with the rank by the
/// rule in docs/reports.md (supervisor accounts).
#[utoipa::path(get, path = "/api/v1/reports/departments", params(RankingQuery),
    responses((status = 200, body = Ranking), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn departments(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Json<Ranking>, ApiError> {
    u.require(Perm::Board)?;
    let q: RankingQuery = parse_query(q)?;
    let sc = ctx.scorecard();
    let (month, span) = match q.month.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => {
            let span = sc.last(Grain::Month, 1);
            (Grain::Month.key(span.first), span)
        }
        Some(m) => {
            let first = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
                .ok()
                .filter(|_| m.len() == 7)
                .ok_or_else(|| ApiError::bad("month must be YYYY-MM, e.g. 2026-12"))?;
            (m.to_string(), Span::of(sc.tz(), Grain::Month, first))
        }
    };
    let key = match q.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => SortKey::Rank,
        Some(s) => s
            .parse::<SortKey>()
            .map_err(|e| ApiError::bad(e.to_string()))?,
    };
    let desc = match q.dir.as_deref().map(str::trim) {
        None | Some("") => key.descending_first(),
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "dir must be asc or desc, not `{other}`"
            )))
        }
    };
    let report = sc
        .report(&span, GroupBy::Department)
        .await
        .map_err(WebError::from)?;
    let mut items = ranking(&report);
    sort(&mut items, key, desc);
    Ok(Json(Ranking { month, items }))
}
