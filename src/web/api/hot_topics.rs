//! `GET /api/v1/reports/hot-topics`: the hot topics (热点诉求) of the last seven days beside
//! the seven days before, with the burst flag; the board shows the same.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use super::{ApiUser, ErrorBody};
use crate::reports::hot_topics::{this_week, HotTopics, Topic};
use crate::web::authz::Perm;
use crate::web::error::{ApiError, WebError};
use crate::web::Ctx;

pub(super) fn routes() -> Router<Ctx> {
    Router::new().route("/reports/hot-topics", get(hot_topics))
}

#[derive(OpenApi)]
#[openapi(
    paths(hot_topics),
    components(schemas(HotTopics, Topic)),
    security(("bearer" = []))
)]
pub(super) struct HotTopicsDoc;

/// The matters (the routing rule a ticket's text matches, else its kind) and places (its
/// area, a known place or road in its address) raised most in the last seven days, with
/// the seven days before and `burst` (≥ 5 and ≥ 2 × before); supervisor accounts.
#[utoipa::path(get, path = "/api/v1/reports/hot-topics",
    responses((status = 200, body = HotTopics), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn hot_topics(State(ctx): State<Ctx>, u: ApiUser) -> Result<Json<HotTopics>, ApiError> {
    u.require(Perm::Board)?;
    Ok(Json(
        this_week(ctx.tickets(), chrono::Utc::now())
            .await
            .map_err(WebError::from)?,
    ))
}
