//! The pages people work in, one file per screen: `login.rs`, `console.rs` (the live
//! ticket list), `ticket.rs` (one ticket and its actions), `new_ticket.rs`, `board.rs`
//! (supervisors), `desk.rs` (the agent desk and its screen pop), `wallboard.rs` (queues and
//! agents live, monitoring), `calls.rs` (call records), `abandoned.rs` (abandoned calls to
//! call back), `export.rs` (the lists' 导出 Excel / CSV), `reports.rs` (考核排名, the
//! monthly report, the board's trends and hot topics), `access_log.rs` (who opened residents'
//! numbers and recordings), `admin.rs` (accounts and API tokens) and
//! `status.rs` (the public status lookup). Here: the routes and what every page shares.

mod abandoned;
mod access_log;
mod admin;
mod board;
mod calls;
mod console;
mod desk;
mod export;
mod login;
mod new_ticket;
mod reports;
mod status;
mod ticket;
mod wallboard;

use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::value::Serde;
use minijinja::{context, Value};

use super::accounts;
use super::auth::{self, MaybeSession, Session, CSRF_COOKIE};
use super::authz::home;
use super::error::WebError;
use super::views::{can, user_view};
use super::Ctx;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
        .route("/console", get(console::console))
        .route("/console/rows", get(console::console_rows))
        .route("/console/export", get(export::tickets_export))
        .route("/console/calls/export", get(export::calls_export))
        .route("/reports/departments", get(reports::ranking_page))
        .route("/reports/departments/export", get(reports::ranking_export))
        .route("/reports/monthly", get(reports::monthly_page))
        .route("/reports/kpis/export", get(reports::kpis_export))
        .route("/console/stream", get(console::console_stream))
        .route("/console/desk", get(desk::desk_page))
        .route("/console/desk/stream", get(desk::desk_stream))
        .route("/console/desk/phone", get(super::softphone::phone))
        .route("/console/agents/{name}/state", post(desk::agent_state))
        .route("/console/agents/{name}/call", post(desk::agent_call))
        .route("/console/wallboard", get(wallboard::wallboard))
        .route("/console/wallboard/live", get(wallboard::wallboard_live))
        .route("/console/calls", get(calls::calls_page))
        .route("/console/abandoned", get(abandoned::abandoned_page))
        .route(
            "/console/abandoned/{id}/call-back",
            post(abandoned::call_back),
        )
        .route("/console/calls/{id}", get(calls::call_page))
        .route(
            "/console/calls/{id}/recordings/{n}",
            get(calls::call_recording),
        )
        .route("/tickets/new", get(new_ticket::new_ticket_page))
        .route("/tickets", post(new_ticket::create_ticket))
        .route("/tickets/{id}", get(ticket::ticket_page))
        .route("/tickets/{id}/recording", get(ticket::recording))
        .route("/tickets/{id}/{action}", post(ticket::ticket_action))
        .route("/board", get(board::board))
        .route("/console/access-log", get(access_log::access_log_page))
        .route(
            "/admin/accounts",
            get(admin::accounts_page).post(admin::create_account),
        )
        .route("/admin/accounts/{id}/password", post(admin::reset_password))
        .route("/admin/accounts/{id}/active", post(admin::set_active))
        .route("/admin/accounts/{id}/role", post(admin::set_role))
        .route("/admin/tokens", post(admin::create_token))
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route(
            "/status",
            get(status::status_page).post(status::status_lookup),
        )
        .route("/assets/app.js", get(app_js))
        .route("/assets/app.css", get(app_css))
        .route("/assets/softphone.js", get(softphone_js))
}

type Page = Result<Response, WebError>;

/// Renders `name` with the layout's needs (user, permissions, CSRF token) added.
fn render(ctx: &Ctx, s: Option<&Session>, name: &str, extra: Value) -> Page {
    let tpl = ctx.tpl.get_template(name)?;
    let html = tpl.render(context! {
        user => Value::from(Serde(s.map(|s| user_view(ctx.tickets(), s)))),
        can => Value::from(Serde(can(s.map(|s| &s.account)))),
        csrf => s.map(|s| s.csrf.clone()).unwrap_or_default(),
        ..extra
    })?;
    Ok(Html(html).into_response())
}

async fn index(MaybeSession(s): MaybeSession) -> Redirect {
    match s {
        Some(s) => Redirect::to(home(s.account.role)),
        None => Redirect::to("/login"),
    }
}

/// The anonymous double-submit token for login and the status page: the cookie's value, or
/// a new one to set.
fn anon_csrf(headers: &HeaderMap) -> (String, bool) {
    match auth::cookie(headers, CSRF_COOKIE) {
        Some(v) if v.len() == 64 => (v, false),
        _ => (accounts::random_token(), true),
    }
}

fn with_anon_cookie(ctx: &Ctx, mut res: Response, token: &str, fresh: bool) -> Response {
    if fresh {
        if let Ok(v) = auth::set_cookie(ctx, CSRF_COOKIE, token, None).parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// A recording, from wherever recordings are kept (this node's folder or the shared store),
/// with range requests (so the player can seek); one that is gone is 404.
async fn serve_recording(ctx: &Ctx, stored: &str, req: axum::extract::Request) -> Page {
    use axum::http::StatusCode;
    use tower::ServiceExt;
    let copy = match ctx.tickets().recordings().open(stored).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "recording not available");
            return Err(WebError::NotFound);
        }
    };
    let svc = tower_http::services::ServeFile::new(copy.path());
    // The response holds the opened file: a downloaded copy may go when `copy` drops.
    match svc.oneshot(req).await {
        Ok(r) if r.status().is_success() || r.status() == StatusCode::PARTIAL_CONTENT => {
            Ok(r.into_response())
        }
        Ok(r) if r.status() == StatusCode::RANGE_NOT_SATISFIABLE => Ok(r.into_response()),
        _ => Err(WebError::NotFound),
    }
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn field(v: &Option<String>) -> String {
    v.as_deref().unwrap_or("").trim().to_string()
}

async fn app_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/app.js"),
    )
}

/// The agent desk's browser phone (WebRTC), loaded by the desk page only.
async fn softphone_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/softphone.js"),
    )
}

async fn app_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/app.css"),
    )
}
