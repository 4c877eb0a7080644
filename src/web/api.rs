//! The JSON API under `/api/v1` for machine clients (bearer API tokens), with its OpenAPI
//! document generated from these handlers at `/api/v1/openapi.json`.
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}`; lists are paginated with
//! `page` (from 1) and `per_page` (1–200) and report `total`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::access_log::{self, AccessRow, Of, Opened, Via};
use super::accounts::{self, Account, Role};
use super::authz::{allows, call_detail_for, call_for, can_see, sees_caller_number, Perm};
use super::desk::{self, AskedState, Board, CallAction, QueueOut};
use super::error::ApiError;
use super::Ctx;

mod exports;
mod hot_topics;
mod ranking;
mod reports;
use crate::acd::{Agent, AgentState, CallerView, EntryKind, PauseReason, QueueView};
use crate::calls::{
    AbandonedCall, AbandonedFilter, CallBackStatus, CallDetail, CallEvent, CallEventAt, CallFilter,
    CallRecordId, CallSummary, HangupSide, Page, RingResult, ServiceLevel,
};
use crate::tickets::{
    state, Channel, Command, DepartmentId, Input, Kind, NewTicket, PhoneNumber, State as TState,
    Ticket, TicketFilter, TicketId, Verb,
};

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/tickets", get(list_tickets).post(create_ticket))
        .route("/tickets/{id}", get(get_ticket))
        .route("/tickets/{id}/audit", get(ticket_audit))
        .route("/tickets/{id}/transitions", post(transition))
        .route("/departments", get(departments))
        .route("/calls", get(list_calls))
        .route("/calls/abandoned", get(list_abandoned))
        .route("/calls/{id}", get(get_call))
        .route("/calls/{id}/call-back", post(call_back))
        .route("/agents", get(list_agents))
        .route("/agents/{name}/state", post(agent_state))
        .route("/agents/{name}/call", post(agent_call))
        .route("/queues", get(queues))
        .route("/access-log", get(access_log))
        .merge(reports::routes())
        .merge(exports::routes())
        .merge(hot_topics::routes())
        .merge(ranking::routes())
        .fallback(|| async { ApiError::not_found() })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hotline 12345 API", version = "1", description = "Tickets, transitions, departments, statistics and call records of the 12345 hotline. Authenticate with `Authorization: Bearer <API token>` (tokens are issued by an administrator)."),
    paths(list_tickets, create_ticket, get_ticket, ticket_audit, transition, departments, list_calls, list_abandoned, get_call, call_back, list_agents, agent_state, agent_call, queues, access_log),
    components(schemas(StateCode, KindCode, ChannelCode, TicketOut, TicketPage, NewTicketIn, TransitionIn, ApiAction, SatisfactionIn, AuditOut, DepartmentOut, ErrorBody, ErrorDetail,
        CallPage, CallSummary, CallDetail, CallEventAt, CallEvent, HangupSide, RingResult,
        AbandonedPage, AbandonedCall, CallBackStatus, CallBackOut,
        Agent, AgentState, PauseReason, AgentStateIn, AskedState, AgentCallIn, CallAction, AgentCallOut, Board, QueueOut, QueueView, ServiceLevel, CallerView, EntryKind, AccessPage, AccessRow)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

async fn openapi_json() -> impl IntoResponse {
    let mut doc = ApiDoc::openapi();
    doc.merge(reports::ReportsDoc::openapi());
    doc.merge(exports::ExportsDoc::openapi());
    doc.merge(hot_topics::HotTopicsDoc::openapi());
    doc.merge(ranking::RankingDoc::openapi());
    match doc.to_json() {
        Ok(s) => ([(header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            .into_response(),
    }
}

/// The account behind the request's bearer token.
pub struct ApiUser(pub Account);

impl FromRequestParts<Ctx> for ApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() < 200)
            .ok_or_else(ApiError::unauthorized)?;
        match accounts::account_for_token(ctx.db(), token).await? {
            Some(a) => Ok(ApiUser(a)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

impl ApiUser {
    fn require(&self, p: Perm) -> Result<(), ApiError> {
        if allows(self.0.role, p) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// Ticket states (see `tickets::State`), for the OpenAPI document.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum StateCode {
    Accepted,
    Dispatched,
    Returned,
    InProgress,
    ExtensionRequested,
    Supervised,
    Resolved,
    FollowUp,
    Closed,
}

/// Kinds of request (诉求类型).
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum KindCode {
    Consultation,
    Complaint,
    Help,
    Suggestion,
    Report,
    Praise,
}

/// Channels a ticket came through.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ChannelCode {
    Call,
    Sms,
    Web,
    Open311,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketOut {
    pub id: i64,
    /// 12+ digits: yyyymmdd and a sequence.
    pub number: String,
    #[schema(value_type = ChannelCode)]
    pub channel: String,
    #[schema(value_type = KindCode)]
    pub kind: String,
    #[schema(value_type = StateCode)]
    pub state: String,
    /// Chinese label of the state.
    pub state_label: String,
    /// The deadline clock still runs.
    pub open: bool,
    pub phone: String,
    pub text: String,
    pub summary: String,
    pub address: Option<String>,
    pub department_id: Option<String>,
    pub department_name: Option<String>,
    /// RFC 3339, Asia/Shanghai.
    pub deadline: String,
    pub overdue: bool,
    pub supervised: bool,
    pub needs_review: bool,
    pub satisfaction: Option<String>,
    pub answer: Option<String>,
    pub merged_into: Option<i64>,
    pub has_recording: bool,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
}

fn ticket_out(ctx: &Ctx, role: Role, t: &Ticket) -> TicketOut {
    let tz = ctx.tickets().tz();
    let ts = |d: chrono::DateTime<chrono::Utc>| d.with_timezone(&tz).to_rfc3339();
    let open = state::is_open(t.state);
    TicketOut {
        id: t.id.0,
        number: t.number.to_string(),
        channel: t.channel.code().into(),
        kind: t.kind.code().into(),
        state: t.state.code().into(),
        state_label: t.state.label_zh().into(),
        open,
        phone: super::authz::ticket_phone(&ctx.cfg, role, t.phone.as_str()),
        text: t.text.clone(),
        summary: t.summary.clone(),
        address: t.address.clone(),
        department_id: t.department.as_ref().map(|d| d.to_string()),
        department_name: t
            .department
            .as_ref()
            .and_then(|d| ctx.tickets().department(d))
            .map(|d| d.name.clone()),
        deadline: ts(t.deadline),
        overdue: open && t.deadline < chrono::Utc::now(),
        supervised: t.supervised,
        needs_review: t.needs_review,
        satisfaction: t.satisfaction.map(|s| s.code().into()),
        answer: t.answer.clone(),
        merged_into: t.merged_into.map(|m| m.0),
        has_recording: t.recording_path.is_some(),
        created_at: ts(t.created_at),
        updated_at: ts(t.updated_at),
        resolved_at: t.resolved_at.map(ts),
        closed_at: t.closed_at.map(ts),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<TicketOut>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// One state code.
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
    /// From 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

fn parse_query<T: serde::de::DeserializeOwned + Default>(q: Option<String>) -> Result<T, ApiError> {
    match q {
        None => Ok(T::default()),
        Some(q) => {
            serde_urlencoded::from_str(&q).map_err(|e| ApiError::bad(format!("invalid query: {e}")))
        }
    }
}

/// The page and page size a list asks for, checked: `page` from 1, `per_page` 1–200 (the
/// console's page size when absent).
fn paging(ctx: &Ctx, page: Option<i64>, per_page: Option<i64>) -> Result<(i64, i64), ApiError> {
    let per_page = per_page.unwrap_or(ctx.cfg.page_size);
    if !(1..=200).contains(&per_page) {
        return Err(ApiError::bad("per_page must be 1 to 200"));
    }
    let page = page.unwrap_or(1);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::bad("page must be 1 or more"));
    }
    Ok((page, per_page))
}

fn parse_word<T: std::str::FromStr>(what: &str, v: &Option<String>) -> Result<Option<T>, ApiError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("unknown {what} `{s}`"))),
    }
}

fn parse_id(id: &str) -> Result<TicketId, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .map(TicketId)
        .ok_or_else(ApiError::not_found)
}

async fn visible(ctx: &Ctx, u: &ApiUser, id: &str) -> Result<Ticket, ApiError> {
    u.require(Perm::ViewTickets)?;
    let t = ctx.tickets().get(parse_id(id)?).await?;
    if can_see(&u.0, &t) {
        Ok(t)
    } else {
        Err(ApiError::not_found())
    }
}

/// List tickets, newest first.
#[utoipa::path(get, path = "/api/v1/tickets", params(TicketQuery),
    responses((status = 200, body = TicketPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_tickets(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Json<TicketPage>, ApiError> {
    u.require(Perm::ViewTickets)?;
    let q: TicketQuery = parse_query(q)?;
    let (page, per_page) = paging(&ctx, q.page, q.per_page)?;
    let mut f = ticket_filter(&u, &q)?;
    f.limit = per_page;
    f.offset = (page - 1) * per_page;
    let total = ctx.tickets().count(&f).await?;
    let items = ctx
        .tickets()
        .list(&f)
        .await?
        .iter()
        .map(|t| ticket_out(&ctx, u.0.role, t))
        .collect();
    Ok(Json(TicketPage {
        items,
        page,
        per_page,
        total,
    }))
}

/// The tickets a query asks for, narrowed as the list narrows them: a department account
/// sees only its own department's, whatever it asks.
fn ticket_filter(u: &ApiUser, q: &TicketQuery) -> Result<TicketFilter, ApiError> {
    let mut f = TicketFilter {
        states: parse_word::<TState>("state", &q.state)?
            .into_iter()
            .collect(),
        kind: parse_word::<Kind>("kind", &q.kind)?,
        channel: parse_word::<Channel>("channel", &q.channel)?,
        department: q
            .department
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|d| DepartmentId(d.to_string())),
        overdue: q.overdue.unwrap_or(false),
        ..Default::default()
    };
    if u.0.role == Role::Department {
        f.department = Some(
            u.0.department
                .clone()
                .unwrap_or_else(|| DepartmentId(String::new())),
        );
    }
    Ok(f)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketIn {
    /// The resident's number: 3 to 20 digits (a leading +86 is dropped).
    #[schema(pattern = "^(\\+86)?[0-9]{3,20}$")]
    pub phone: String,
    #[schema(min_length = 1, max_length = 20000)]
    pub text: String,
    /// Leave out to let the routing rules decide.
    #[schema(value_type = Option<KindCode>)]
    pub kind: Option<String>,
    pub address: Option<String>,
}

/// Create a ticket (operator accounts).
#[utoipa::path(post, path = "/api/v1/tickets", request_body = NewTicketIn,
    responses((status = 201, body = TicketOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_ticket(
    State(ctx): State<Ctx>,
    u: ApiUser,
    body: Result<Json<NewTicketIn>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    u.require(Perm::CreateTicket)?;
    let Json(b) = body.map_err(|e| ApiError::bad(e.body_text()))?;
    let phone: PhoneNumber = b
        .phone
        .parse()
        .map_err(|_| ApiError::bad("phone must be 3 to 20 digits"))?;
    let t = ctx
        .tickets()
        .create(
            NewTicket {
                channel: Channel::Web,
                kind: parse_word::<Kind>("kind", &b.kind)?,
                phone,
                text: b.text,
                address: b.address.filter(|a| !a.trim().is_empty()),
                area: None,
                recording_path: None,
                language: None,
            },
            &crate::tickets::Actor::Client(u.0.name.clone()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(ticket_out(&ctx, u.0.role, &t))))
}

/// One ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", params(("id" = i64, Path, description = "ticket id")),
    responses((status = 200, body = TicketOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_ticket(
    State(ctx): State<Ctx>,
    u: ApiUser,
    super::auth::ClientIp(ip): super::auth::ClientIp,
    Path(id): Path<String>,
) -> Result<Json<TicketOut>, ApiError> {
    let t = visible(&ctx, &u, &id).await?;
    if super::authz::sees_ticket_phone(&ctx.cfg, u.0.role) {
        access_log::record(&ctx, &u.0, ip, Opened::Phone, Via::Api, Of::Ticket(t.id.0)).await;
    }
    Ok(Json(ticket_out(&ctx, u.0.role, &t)))
}

/// One page of the access log of personal data, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessPage {
    pub items: Vec<AccessRow>,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Deserialize, Default)]
struct AccessQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

/// Who opened which resident's recording or whole phone number (supervisors and
/// administrators).
#[utoipa::path(get, path = "/api/v1/access-log",
    params(("page" = Option<i64>, Query, description = "1-based"), ("per_page" = Option<i64>, Query, description = "1 to 200")),
    responses((status = 200, body = AccessPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn access_log(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Json<AccessPage>, ApiError> {
    if !super::authz::reads_access_log(u.0.role) {
        return Err(ApiError::forbidden());
    }
    let q: AccessQuery = parse_query(q)?;
    let (page, per_page) = paging(&ctx, q.page, q.per_page)?;
    let items = access_log::list(
        &ctx,
        &access_log::AccessFilter::default(),
        per_page,
        (page - 1) * per_page,
    )
    .await?;
    Ok(Json(AccessPage {
        items,
        page,
        per_page,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: String,
}

/// The audit trail of a ticket, oldest first.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/audit", params(("id" = i64, Path, description = "ticket id")),
    responses((status = 200, body = [AuditOut]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn ticket_audit(
    State(ctx): State<Ctx>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<AuditOut>>, ApiError> {
    let t = visible(&ctx, &u, &id).await?;
    let tz = ctx.tickets().tz();
    Ok(Json(
        ctx.tickets()
            .audit_trail(t.id)
            .await?
            .into_iter()
            .map(|a| AuditOut {
                at: a.at.with_timezone(&tz).to_rfc3339(),
                actor: a.actor,
                action: a.action,
                from_state: a.from.map(|s| s.code().into()),
                to_state: a.to.code().into(),
                note: a.note,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiAction {
    Dispatch,
    Sign,
    Return,
    RequestExtension,
    GrantExtension,
    RefuseExtension,
    Resolve,
    AnswerDirectly,
    Supervise,
    Merge,
    Note,
    /// 回访: the satisfaction question goes out (operators, supervisors).
    FollowUp,
    /// 评价 on the resident's behalf (after phoning them); `satisfaction` required.
    Rate,
    /// 结案 without a rating.
    Close,
}

impl ApiAction {
    fn verb(self) -> Verb {
        match self {
            ApiAction::Dispatch => Verb::Dispatch,
            ApiAction::Sign => Verb::Sign,
            ApiAction::Return => Verb::Return,
            ApiAction::RequestExtension => Verb::Extend,
            ApiAction::GrantExtension => Verb::Grant,
            ApiAction::RefuseExtension => Verb::Refuse,
            ApiAction::Resolve => Verb::Resolve,
            ApiAction::AnswerDirectly => Verb::Answer,
            ApiAction::Supervise => Verb::Supervise,
            ApiAction::Merge => Verb::Merge,
            ApiAction::Note => Verb::Note,
            ApiAction::FollowUp => Verb::FollowUp,
            ApiAction::Rate => Verb::Rate,
            ApiAction::Close => Verb::Close,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionIn {
    pub action: ApiAction,
    /// dispatch: department id.
    pub department: Option<String>,
    /// return, request_extension, refuse_extension: why (required); rate: the resident's
    /// reason (optional), kept in the audit trail.
    pub reason: Option<String>,
    /// resolve, answer_directly: the answer for the resident.
    pub answer: Option<String>,
    /// request_extension: working days, 1–60.
    #[schema(minimum = 1, maximum = 60)]
    pub days: Option<u32>,
    /// note, supervise: the text (required).
    pub text: Option<String>,
    /// merge: number of the ticket this one duplicates.
    pub into: Option<String>,
    /// rate: satisfied, basically_satisfied or unsatisfied (不满意 reopens it as supervised).
    pub satisfaction: Option<SatisfactionIn>,
}

/// The resident's rating, as the API spells it.
#[derive(Debug, Deserialize, Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SatisfactionIn {
    Satisfied,
    BasicallySatisfied,
    Unsatisfied,
}

impl SatisfactionIn {
    fn code(self) -> &'static str {
        match self {
            SatisfactionIn::Satisfied => "satisfied",
            SatisfactionIn::BasicallySatisfied => "basically_satisfied",
            SatisfactionIn::Unsatisfied => "unsatisfied",
        }
    }
}

/// Apply one step of the ticket lifecycle.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/transitions", params(("id" = i64, Path, description = "ticket id")), request_body = TransitionIn,
    responses((status = 200, body = TicketOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn transition(
    State(ctx): State<Ctx>,
    u: ApiUser,
    Path(id): Path<String>,
    body: Result<Json<TransitionIn>, JsonRejection>,
) -> Result<Json<TicketOut>, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad(e.body_text()))?;
    let verb = b.action.verb();
    if !u.0.caller().may(verb) {
        return Err(ApiError::forbidden());
    }
    let t = visible(&ctx, &u, &id).await?;
    let input = Input {
        department: b.department,
        kind: None,
        reason: b.reason,
        answer: b.answer,
        text: b.text,
        days: b.days.map(|d| d.to_string()),
        satisfaction: b.satisfaction.map(|s| s.code().to_string()),
        into: b.into,
    };
    let cmd = Command::parse(verb, &input, ctx.tickets())?;
    let t = super::act::run(&ctx, &u.0, &t, cmd).await?;
    Ok(Json(ticket_out(&ctx, u.0.role, &t)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentOut {
    pub id: String,
    pub name: String,
}

/// Departments tickets can be dispatched to (from departments.toml).
#[utoipa::path(get, path = "/api/v1/departments",
    responses((status = 200, body = [DepartmentOut]), (status = 401, body = ErrorBody)))]
async fn departments(State(ctx): State<Ctx>, _u: ApiUser) -> Json<Vec<DepartmentOut>> {
    Json(
        ctx.tickets()
            .departments()
            .iter()
            .map(|d| DepartmentOut {
                id: d.id.to_string(),
                name: d.name.clone(),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallPage {
    pub items: Vec<CallSummary>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    /// Arrived at or after this moment (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Arrived before this moment (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// The caller's number, exactly.
    pub caller: Option<String>,
    /// How the call ended: completed, caller_hung_up, transferred, no_input, operator,
    /// no_dialplan, cancelled, error, …
    pub outcome: Option<String>,
    pub queue: Option<String>,
    /// The agent who answered.
    pub agent: Option<String>,
    /// Only calls abandoned in a queue (true) or only the others (false).
    pub abandoned: Option<bool>,
    /// The number of the ticket the call made or was linked to.
    pub ticket: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

fn parse_time(
    what: &str,
    v: &Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&chrono::Utc)))
            .map_err(|_| {
                ApiError::bad(format!(
                    "{what} must be an RFC 3339 time, e.g. 2024-05-01T08:00:00+08:00"
                ))
            }),
    }
}

fn text_filter(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The call records a query asks for.
fn call_filter(q: CallQuery) -> Result<CallFilter, ApiError> {
    Ok(CallFilter {
        from: parse_time("from", &q.from)?,
        to: parse_time("to", &q.to)?,
        caller: text_filter(q.caller),
        outcome: text_filter(q.outcome),
        queue: text_filter(q.queue),
        agent: text_filter(q.agent),
        abandoned: q.abandoned,
        ticket: text_filter(q.ticket),
    })
}

/// Call records (话单), newest arrival first (operators, supervisors, administrators).
#[utoipa::path(get, path = "/api/v1/calls", params(CallQuery),
    responses((status = 200, body = CallPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_calls(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Json<CallPage>, ApiError> {
    u.require(Perm::ViewCalls)?;
    let q: CallQuery = parse_query(q)?;
    let (page, per_page) = paging(&ctx, q.page, q.per_page)?;
    let f = call_filter(q)?;
    let total = ctx.records().count(&f).await?;
    let items = ctx
        .records()
        .list(
            &f,
            Page {
                number: u32::try_from(page).unwrap_or(u32::MAX),
                size: u32::try_from(per_page).unwrap_or(1),
            },
        )
        .await?
        .into_iter()
        .map(|c| call_for(u.0.role, c))
        .collect();
    Ok(Json(CallPage {
        items,
        page,
        per_page,
        total,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbandonedPage {
    pub items: Vec<AbandonedCall>,
    /// The day listed (YYYY-MM-DD, the hotline's time zone).
    pub date: String,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct AbandonedQuery {
    /// The day, YYYY-MM-DD in the hotline's time zone; today when left out.
    #[param(format = Date)]
    pub date: Option<String>,
    /// `todo` (the default): only calls still to call back; `all`: also those called back
    /// and those whose caller called again.
    pub status: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<i64>,
}

/// Abandoned calls (放弃来电) of one day, newest first: callers who hung up in a queue or
/// in the voice menus and left no ticket, with where they hung up, how long they waited,
/// whether they called again and the call-back (operators, supervisors, administrators).
#[utoipa::path(get, path = "/api/v1/calls/abandoned", params(AbandonedQuery),
    responses((status = 200, body = AbandonedPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_abandoned(
    State(ctx): State<Ctx>,
    u: ApiUser,
    RawQuery(q): RawQuery,
) -> Result<Json<AbandonedPage>, ApiError> {
    u.require(Perm::ViewCalls)?;
    let q: AbandonedQuery = parse_query(q)?;
    let (page, per_page) = paging(&ctx, q.page, q.per_page)?;
    let tk = ctx.tickets();
    let date = text_filter(q.date).unwrap_or_else(|| super::views::today(tk));
    let todo_only = match text_filter(q.status).as_deref() {
        None | Some("todo") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "unknown status `{other}`: expected todo or all"
            )))
        }
    };
    let day = |n| {
        super::views::day_start(tk, "date", &date, n)
            .map_err(|_| ApiError::bad("date must be YYYY-MM-DD, e.g. 2024-05-01"))
    };
    let f = AbandonedFilter {
        from: Some(day(0)?),
        to: Some(day(1)?),
        todo_only,
    };
    let total = ctx.records().count_abandoned(&f).await?;
    let mut items = ctx
        .records()
        .abandoned(
            &f,
            Page {
                number: u32::try_from(page).unwrap_or(u32::MAX),
                size: u32::try_from(per_page).unwrap_or(1),
            },
        )
        .await?;
    if !sees_caller_number(u.0.role) {
        for e in &mut items {
            e.caller = crate::privacy::mask(&e.caller);
        }
    }
    Ok(Json(AbandonedPage {
        items,
        date,
        page,
        per_page,
        total,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallBackOut {
    /// The abandoned call's record.
    pub call: i64,
    /// Whose phone rings first.
    pub by: String,
}

/// Call an abandoned call back (回拨) from one's own registered phone: it rings now, and
/// once answered hotline calls the resident through the trunk and bridges the two; the
/// call's record gets a `called_back` event. Operators signed in as agents, and
/// supervisors. 409 while someone else calls it back, once the resident was reached or
/// called again, when one's phone is not registered or one is in a call.
#[utoipa::path(post, path = "/api/v1/calls/{id}/call-back", params(("id" = i64, Path, description = "call record id")),
    responses((status = 202, body = CallBackOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn call_back(
    State(ctx): State<Ctx>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !super::authz::may_call_back(u.0.role) {
        return Err(ApiError::forbidden());
    }
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(ApiError::not_found)?;
    desk::call_back(&ctx, &u.0, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CallBackOut {
            call: id,
            by: u.0.name.clone(),
        }),
    ))
}

/// One call record with its events, oldest first.
#[utoipa::path(get, path = "/api/v1/calls/{id}", params(("id" = i64, Path, description = "call record id")),
    responses((status = 200, body = CallDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_call(
    State(ctx): State<Ctx>,
    u: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<CallDetail>, ApiError> {
    u.require(Perm::ViewCalls)?;
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .map(CallRecordId::from_raw)
        .ok_or_else(ApiError::not_found)?;
    match ctx.records().get(id).await? {
        Some(d) => Ok(Json(call_detail_for(u.0.role, d))),
        None => Err(ApiError::not_found()),
    }
}

/// The call centre's agents and their states (operators, supervisors, administrators).
#[utoipa::path(get, path = "/api/v1/agents",
    responses((status = 200, body = [Agent]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_agents(State(ctx): State<Ctx>, u: ApiUser) -> Result<Json<Vec<Agent>>, ApiError> {
    u.require(Perm::ViewAgents)?;
    Ok(Json(desk::acd(&ctx)?.agents()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentStateIn {
    pub state: AskedState,
    /// paused: break, meal, meeting, training or paperwork (break when left out).
    pub reason: Option<String>,
}

/// Change an agent's state (就绪 / 示忙 / 签出). Operators only their own; supervisors and
/// administrators anyone's. Asked during a call, it applies when the call ends.
#[utoipa::path(post, path = "/api/v1/agents/{name}/state", params(("name" = String, Path, description = "agent (account) name")), request_body = AgentStateIn,
    responses((status = 200, body = Agent), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn agent_state(
    State(ctx): State<Ctx>,
    u: ApiUser,
    Path(name): Path<String>,
    body: Result<Json<AgentStateIn>, JsonRejection>,
) -> Result<Json<Agent>, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad(e.body_text()))?;
    let r = b.state.request(b.reason.as_deref())?;
    Ok(Json(desk::set_state(&ctx, &u.0, &name, r).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentCallIn {
    pub action: CallAction,
    /// transfer: `queue:<id>`, `agent:<name>` or `destination:<name>`.
    pub target: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentCallOut {
    pub agent: String,
    pub action: CallAction,
}

/// Steer an agent's call: hold, unhold, hang up, blind transfer (operators their own call,
/// supervisors and administrators any); listen, whisper, barge in and stop (supervisors,
/// from their own registered phone, which rings now).
#[utoipa::path(post, path = "/api/v1/agents/{name}/call", params(("name" = String, Path, description = "agent (account) name")), request_body = AgentCallIn,
    responses((status = 202, body = AgentCallOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn agent_call(
    State(ctx): State<Ctx>,
    u: ApiUser,
    Path(name): Path<String>,
    body: Result<Json<AgentCallIn>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad(e.body_text()))?;
    desk::call(&ctx, &u.0, &name, b.action, b.target.as_deref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AgentCallOut {
            agent: name,
            action: b.action,
        }),
    ))
}

/// The wallboard: per queue figures (waiting, callbacks owed, longest wait, agents ready,
/// busy, logged in, today's service level) and the callers waiting.
#[utoipa::path(get, path = "/api/v1/queues",
    responses((status = 200, body = Board), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn queues(State(ctx): State<Ctx>, u: ApiUser) -> Result<Json<Board>, ApiError> {
    Ok(Json(desk::board(&ctx, &u.0).await?))
}

/// Reads outside bytes as the handlers do before they touch the store: `which` picks a
/// JSON body or a query string, `data` is it. Only the fuzz target `api_body` and its
/// replay test call this; an error is a refusal the client would read, never a panic.
pub(crate) fn read_untrusted(which: u8, data: &[u8]) -> Result<(), ApiError> {
    fn json<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(data).map_err(|e| ApiError::bad(e.to_string()))
    }
    fn query<T: serde::de::DeserializeOwned + Default>(data: &[u8]) -> Result<(), ApiError> {
        let q = std::str::from_utf8(data).map_err(|_| ApiError::bad("query is not UTF-8"))?;
        parse_query::<T>(Some(q.to_string())).map(drop)
    }
    match which % 12 {
        0 => {
            let b: NewTicketIn = json(data)?;
            b.phone
                .parse::<PhoneNumber>()
                .map_err(|_| ApiError::bad("phone must be 3 to 20 digits"))?;
            parse_word::<Kind>("kind", &b.kind).map(drop)
        }
        1 => {
            let b: TransitionIn = json(data)?;
            let _ = (b.action.verb(), b.satisfaction.map(SatisfactionIn::code));
            Ok(())
        }
        2 => {
            let b: AgentStateIn = json(data)?;
            b.state
                .request(b.reason.as_deref())
                .map(drop)
                .map_err(Into::into)
        }
        3 => json::<AgentCallIn>(data).map(drop),
        4 => query::<TicketQuery>(data),
        5 => query::<CallQuery>(data),
        6 => query::<AbandonedQuery>(data),
        7 => query::<exports::TicketExportQuery>(data),
        8 => query::<exports::CallExportQuery>(data),
        9 => query::<exports::KpiExportQuery>(data),
        10 => query::<ranking::RankingQuery>(data),
        _ => query::<reports::KpiQuery>(data),
    }
}
