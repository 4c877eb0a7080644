//! The pages people work in: login, the live ticket list, the ticket page and its actions,
//! the supervisor board, account administration and the public status page.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::Deserialize;
use sqlx::Row;
use tower::ServiceExt;

use super::accounts::{self, NewAccount, Role};
use super::auth::{self, ClientIp, MaybeSession, Session, CSRF_COOKIE, SESSION_COOKIE};
use super::authz::{can_see, home, Perm};
use super::error::{action_zh, WebError};
use super::views::{self, actor_zh, can, note_zh, ticket_view, user_view, when, when_ms};
use super::Ctx;
use crate::tickets::state::{is_open, next_state};
use crate::tickets::{
    Action, Channel, DepartmentId, Kind, NewTicket, PhoneNumber, State as TState, Ticket,
    TicketFilter, TicketId, TicketNumber,
};

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/console", get(console))
        .route("/console/rows", get(console_rows))
        .route("/console/stream", get(console_stream))
        .route("/tickets/new", get(new_ticket_page))
        .route("/tickets", post(create_ticket))
        .route("/tickets/{id}", get(ticket_page))
        .route("/tickets/{id}/recording", get(recording))
        .route("/tickets/{id}/{action}", post(ticket_action))
        .route("/board", get(board))
        .route("/admin/accounts", get(accounts_page).post(create_account))
        .route("/admin/accounts/{id}/password", post(reset_password))
        .route("/admin/accounts/{id}/active", post(set_active))
        .route("/admin/accounts/{id}/role", post(set_role))
        .route("/admin/tokens", post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/status", get(status_page).post(status_lookup))
        .route("/assets/app.js", get(app_js))
        .route("/assets/app.css", get(app_css))
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

async fn login_page(
    State(ctx): State<Ctx>,
    MaybeSession(s): MaybeSession,
    headers: HeaderMap,
) -> Page {
    if let Some(s) = s {
        return Ok(Redirect::to(home(s.account.role)).into_response());
    }
    let (token, fresh) = anon_csrf(&headers);
    let res = render(
        &ctx,
        None,
        "login.html",
        context! { login_csrf => token.clone(), error => "" },
    )?;
    Ok(with_anon_cookie(&ctx, res, &token, fresh))
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(
    State(ctx): State<Ctx>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Page {
    let cfg = &ctx.cfg;
    let window = Duration::from_secs(
        60 * cfg
            .login_window_minutes
            .max(cfg.login_lockout_minutes)
            .max(1),
    );
    let name = f.name.trim().to_string();
    let kn = format!("n:{name}");
    let ki = format!("ip:{ip}");
    let max = cfg.login_max_failures.max(1) as usize;
    let (token, _) = anon_csrf(&headers);
    let refuse = |msg: &str, code: StatusCode| -> Page {
        let mut r = render(
            &ctx,
            None,
            "login.html",
            context! { login_csrf => token.clone(), error => msg, name => name.clone() },
        )?;
        *r.status_mut() = code;
        Ok(r)
    };
    if ctx.login_failures.count(&kn, window) >= max
        || ctx.login_failures.count(&ki, window) >= max * 4
    {
        ctx.stats.login("throttled");
        tracing::warn!(account = %name, %ip, "login refused: too many failures");
        return refuse(
            &format!(
                "登录失败次数过多，请 {} 分钟后再试。",
                cfg.login_lockout_minutes.max(1)
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    match accounts::verify(ctx.db(), &name, &f.password).await? {
        Some(account) => {
            ctx.login_failures.clear(&kn);
            let token = auth::start_session(&ctx, &account).await?;
            ctx.stats.login("ok");
            tracing::info!(account = %account.name, role = %account.role, %ip, "login");
            let mut res = Redirect::to(home(account.role)).into_response();
            let max_age = ctx.cfg.session_hours.max(1) * 3600;
            if let Ok(v) = auth::set_cookie(&ctx, SESSION_COOKIE, &token, Some(max_age)).parse() {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(res)
        }
        None => {
            ctx.login_failures.hit(&kn);
            ctx.login_failures.hit(&ki);
            ctx.stats.login("failed");
            tracing::warn!(account = %name, %ip, "login failed");
            refuse("账号或密码不正确。", StatusCode::UNAUTHORIZED)
        }
    }
}

async fn logout(State(ctx): State<Ctx>, MaybeSession(s): MaybeSession) -> Page {
    if let Some(s) = s {
        auth::end_session(&ctx, &s.token_hash).await?;
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(&ctx, SESSION_COOKIE, "", Some(0)).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    dept: Option<String>,
    #[serde(default)]
    overdue: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

const OPEN_STATES: [TState; 6] = [
    TState::Accepted,
    TState::Dispatched,
    TState::Returned,
    TState::InProgress,
    TState::ExtensionRequested,
    TState::Supervised,
];

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The filter a person asked for, narrowed to what their role may see.
fn filter_for(ctx: &Ctx, s: &Session, q: &ListQuery) -> (TicketFilter, String) {
    let role = s.account.role;
    let default_scope = if role == Role::Operator {
        "queue"
    } else {
        "open"
    };
    let scope = nonempty(&q.scope).unwrap_or(default_scope).to_string();
    let mut f = TicketFilter {
        limit: ctx.cfg.page_size.clamp(10, 200),
        ..Default::default()
    };
    if let Some(st) = nonempty(&q.state).and_then(|v| v.parse::<TState>().ok()) {
        f.states = vec![st];
    } else {
        match scope.as_str() {
            "queue" => f.states = vec![TState::Accepted, TState::Returned],
            "all" => {}
            _ => f.states = OPEN_STATES.to_vec(),
        }
    }
    f.kind = nonempty(&q.kind).and_then(|v| v.parse().ok());
    f.channel = nonempty(&q.channel).and_then(|v| v.parse().ok());
    f.department = nonempty(&q.dept).map(|d| DepartmentId(d.to_string()));
    f.overdue = nonempty(&q.overdue).is_some();
    if role == Role::Department {
        // An account without a department (never created so, but be sure) sees nothing.
        f.department = Some(
            s.account
                .department
                .clone()
                .unwrap_or_else(|| DepartmentId(String::new())),
        );
    }
    let page = q.page.unwrap_or(1).max(1);
    f.offset = (page - 1) * f.limit;
    (f, scope)
}

async fn list_context(ctx: &Ctx, s: &Session, q: &ListQuery) -> Result<Value, WebError> {
    let (f, scope) = filter_for(ctx, s, q);
    let total = ctx.tickets().count(&f).await?;
    let rows: Vec<_> = ctx
        .tickets()
        .list(&f)
        .await?
        .iter()
        .map(|t| ticket_view(ctx.tickets(), t, ctx.cfg.near_deadline_hours))
        .collect();
    let page = f.offset / f.limit + 1;
    let pages = ((total + f.limit - 1) / f.limit).max(1);
    let opts = |all: Vec<(&'static str, &'static str)>| {
        all.into_iter()
            .map(|(c, z)| context! { code => c, label => z })
            .collect::<Vec<_>>()
    };
    Ok(context! {
        rows => Value::from(Serde(&rows)),
        total => total,
        page => page,
        pages => pages,
        scope => scope,
        q => context! {
            state => q.state.clone().unwrap_or_default(),
            kind => q.kind.clone().unwrap_or_default(),
            channel => q.channel.clone().unwrap_or_default(),
            dept => q.dept.clone().unwrap_or_default(),
            overdue => nonempty(&q.overdue).is_some(),
        },
        states => opts(TState::ALL.iter().map(|s| (s.code(), s.label_zh())).collect()),
        kinds => opts(Kind::ALL.iter().map(|s| (s.code(), s.label_zh())).collect()),
        channels => opts(Channel::ALL.iter().map(|s| (s.code(), s.label_zh())).collect()),
        departments => ctx.tickets().departments().iter()
            .map(|d| context! { code => d.id.to_string(), label => d.name.clone() }).collect::<Vec<_>>(),
        dept_user => s.account.role == Role::Department,
    })
}

async fn console(State(ctx): State<Ctx>, s: Session, Query(q): Query<ListQuery>) -> Page {
    s.require(Perm::ViewTickets)?;
    let c = list_context(&ctx, &s, &q).await?;
    render(&ctx, Some(&s), "console.html", c)
}

/// The table body alone, fetched by the page when the live stream says something changed.
async fn console_rows(State(ctx): State<Ctx>, s: Session, Query(q): Query<ListQuery>) -> Page {
    s.require(Perm::ViewTickets)?;
    let c = list_context(&ctx, &s, &q).await?;
    render(&ctx, Some(&s), "rows.html", c)
}

/// Server-sent events: one `ticket` event per change the person may see.
async fn console_stream(State(ctx): State<Ctx>, s: Session) -> Result<Response, WebError> {
    s.require(Perm::ViewTickets)?;
    let rx = ctx.tickets().subscribe();
    let dept = match s.account.role {
        Role::Department => Some(
            s.account
                .department
                .clone()
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
        _ => None,
    };
    let guard = ctx.stats.sse_open();
    let stream = futures::stream::unfold((rx, dept, guard), |(mut rx, dept, guard)| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if let Some(d) = &dept {
                        if ev.payload.department_id.as_deref() != Some(d.as_str()) {
                            continue;
                        }
                    }
                    let data = serde_json::json!({
                        "ticket_id": ev.payload.ticket_id.0,
                        "number": ev.payload.number,
                        "state": ev.payload.to_state.label_zh(),
                    });
                    let e = Event::default().event("ticket").data(data.to_string());
                    return Some((Ok::<_, Infallible>(e), (rx, dept, guard)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let e = Event::default().event("ticket").data("{}");
                    return Some((Ok(e), (rx, dept, guard)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response())
}

/// A ticket this person may see, or 404 (never 403: other departments' tickets do not exist
/// for them).
async fn visible(ctx: &Ctx, s: &Session, id: i64) -> Result<Ticket, WebError> {
    s.require(Perm::ViewTickets)?;
    let t = ctx.tickets().get(TicketId(id)).await?;
    if can_see(&s.account, &t) {
        Ok(t)
    } else {
        Err(WebError::NotFound)
    }
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn ticket_page(
    State(ctx): State<Ctx>,
    s: Session,
    Path(id): Path<i64>,
    Query(dq): Query<DoneQuery>,
) -> Page {
    let t = visible(&ctx, &s, id).await?;
    let tk = ctx.tickets();
    let audit: Vec<_> = tk
        .audit_trail(t.id)
        .await?
        .into_iter()
        .map(|a| {
            context! {
                at => when(tk, a.at),
                actor => actor_zh(tk, &a.actor),
                action => action_zh(&a.action),
                to => a.to.label_zh(),
                note => note_zh(tk, &a.note),
            }
        })
        .collect();
    let dept_user = s.account.role == Role::Department;
    let earlier: Vec<_> = if dept_user {
        Vec::new()
    } else {
        tk.list_by_phone(&t.phone, 20)
            .await?
            .iter()
            .filter(|o| o.id != t.id)
            .map(|o| ticket_view(tk, o, ctx.cfg.near_deadline_hours))
            .collect()
    };
    let sms: Vec<_> = if dept_user {
        Vec::new()
    } else {
        sqlx::query(
            "SELECT created_at, body, state FROM sms_outbox WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(t.id.0)
        .fetch_all(ctx.db().pool())
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            let at: i64 = r.try_get(0).ok()?;
            let body: String = r.try_get(1).ok()?;
            let st: String = r.try_get(2).ok()?;
            Some(
                context! { at => when_ms(tk, at), body => body, state => views::sms_state_zh(&st) },
            )
        })
        .collect()
    };
    let merged_into = match t.merged_into {
        Some(m) => tk
            .get(m)
            .await
            .ok()
            .map(|o| context! { id => o.id.0, number => o.number.to_string() }),
        None => None,
    };
    let c = can(Some(&s.account));
    let ok = |a: Action| next_state(t.state, &a, t.supervised).is_ok();
    let d0 = DepartmentId(String::new());
    let show = context! {
        dispatch => c.dispatch && ok(Action::Dispatch { department: d0.clone() }),
        merge => c.merge && ok(Action::Merge { into: TicketId(0) }),
        answer => c.answer && ok(Action::AnswerDirectly { answer: String::new() }),
        sign => c.sign && ok(Action::Sign),
        resolve => c.resolve && ok(Action::Resolve { answer: String::new() }),
        ret => c.ret && ok(Action::Return { reason: String::new() }),
        extend => c.extend && ok(Action::RequestExtension { days: 1, reason: String::new() }),
        decide => c.decide && ok(Action::GrantExtension),
        supervise => c.supervise && ok(Action::Supervise { note: String::new() }),
        note => c.note && ok(Action::Note { text: String::new() }),
    };
    let done = dq.done.as_deref().map(action_zh).unwrap_or("");
    render(
        &ctx,
        Some(&s),
        "ticket.html",
        context! {
            t => Value::from(Serde(ticket_view(tk, &t, ctx.cfg.near_deadline_hours))),
            routed_by => views::routed_by_zh(tk, &t.routed_by),
            audit => audit,
            earlier => Value::from(Serde(&earlier)),
            sms => sms,
            show => show,
            done => done,
            merged_into => merged_into,
            is_open => is_open(t.state),
            kinds => Kind::ALL.iter().map(|k| context! { code => k.code(), label => k.label_zh() }).collect::<Vec<_>>(),
            departments => tk.departments().iter()
                .map(|d| context! { code => d.id.to_string(), label => d.name.clone() }).collect::<Vec<_>>(),
        },
    )
}

async fn recording(State(ctx): State<Ctx>, s: Session, Path(id): Path<i64>, req: Request) -> Page {
    let t = visible(&ctx, &s, id).await?;
    let Some(path) = t.recording_path else {
        return Err(WebError::NotFound);
    };
    let svc = tower_http::services::ServeFile::new(path);
    match svc.oneshot(req).await {
        Ok(r) if r.status().is_success() || r.status() == StatusCode::PARTIAL_CONTENT => {
            Ok(r.into_response())
        }
        Ok(r) if r.status() == StatusCode::RANGE_NOT_SATISFIABLE => Ok(r.into_response()),
        _ => Err(WebError::NotFound),
    }
}

#[derive(Debug, Deserialize, Default)]
struct ActionForm {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    into: Option<String>,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    days: Option<String>,
}

fn field(v: &Option<String>) -> String {
    v.as_deref().unwrap_or("").trim().to_string()
}

/// Every change to a ticket from the pages: `POST /tickets/{id}/{action}`.
async fn ticket_action(
    State(ctx): State<Ctx>,
    s: Session,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<ActionForm>,
) -> Page {
    let perm = match action.as_str() {
        "dispatch" => Perm::Dispatch,
        "merge" => Perm::Merge,
        "answer" => Perm::AnswerDirectly,
        "sign" => Perm::Sign,
        "note" => Perm::Note,
        "resolve" => Perm::Resolve,
        "return" => Perm::Return,
        "extension" => Perm::RequestExtension,
        "grant" | "refuse" => Perm::DecideExtension,
        "supervise" => Perm::Supervise,
        _ => return Err(WebError::NotFound),
    };
    s.require(perm)?;
    let t = visible(&ctx, &s, id).await?;
    let actor = s.account.actor();
    let done = apply_action(&ctx, &s, &t, &action, &f, &actor).await?;
    tracing::info!(ticket = %t.number, action = %action, account = %s.account.name, "ticket action");
    Ok(Redirect::to(&format!("/tickets/{id}?done={done}")).into_response())
}

/// Runs one page action; shared with nothing else so the mapping stays in one place.
async fn apply_action(
    ctx: &Ctx,
    s: &Session,
    t: &Ticket,
    action: &str,
    f: &ActionForm,
    actor: &crate::tickets::Actor,
) -> Result<&'static str, WebError> {
    let tk = ctx.tickets();
    let id = t.id;
    match action {
        "dispatch" => {
            let dept = field(&f.department);
            if dept.is_empty() {
                return Err(WebError::BadRequest("请选择承办单位。".into()));
            }
            let dept = DepartmentId(dept);
            if tk.department(&dept).is_none() {
                return Err(WebError::BadRequest("没有这个承办单位。".into()));
            }
            let kind: Option<Kind> = match field(&f.kind).as_str() {
                "" => None,
                k => Some(
                    k.parse()
                        .map_err(|_| WebError::BadRequest("没有这个诉求类型。".into()))?,
                ),
            };
            // Refuse before correcting anything, so a refused dispatch changes nothing.
            next_state(
                t.state,
                &Action::Dispatch {
                    department: dept.clone(),
                },
                t.supervised,
            )
            .map_err(|e| WebError::Conflict(super::error::transition_zh(&e)))?;
            let kind_changed = kind.is_some_and(|k| k != t.kind);
            if kind_changed || t.department.as_ref() != Some(&dept) {
                tk.reclassify(id, kind, Some(dept.clone()), actor).await?;
                // A route the speech step chose and a person changed: kept for improving
                // the rules (speech::routing::corrections_report).
                if let Err(e) = crate::speech::routing::record_correction(
                    tk.db(),
                    id,
                    kind.or(Some(t.kind)),
                    Some(&dept),
                    &s.account.name,
                )
                .await
                {
                    tracing::warn!(error = %e, "routing correction not recorded");
                }
            }
            tk.transition(id, Action::Dispatch { department: dept }, actor)
                .await?;
            Ok("dispatch")
        }
        "merge" => {
            let into: TicketNumber = field(&f.into)
                .parse()
                .map_err(|_| WebError::BadRequest("请填写正确的12位以上工单编号。".into()))?;
            let target = tk
                .by_number(&into)
                .await
                .map_err(|_| WebError::BadRequest("没有找到要并入的工单。".into()))?;
            if !can_see(&s.account, &target) {
                return Err(WebError::BadRequest("没有找到要并入的工单。".into()));
            }
            tk.transition(id, Action::Merge { into: target.id }, actor)
                .await?;
            Ok("merge")
        }
        "answer" => {
            let answer = field(&f.answer);
            tk.transition(id, Action::AnswerDirectly { answer }, actor)
                .await?;
            // A consultation answered on the phone is finished: close it at once.
            tk.transition(id, Action::Close, actor).await?;
            Ok("answer_directly")
        }
        "sign" => {
            tk.transition(id, Action::Sign, actor).await?;
            Ok("sign")
        }
        "note" => {
            tk.transition(
                id,
                Action::Note {
                    text: field(&f.text),
                },
                actor,
            )
            .await?;
            Ok("note")
        }
        "resolve" => {
            tk.transition(
                id,
                Action::Resolve {
                    answer: field(&f.answer),
                },
                actor,
            )
            .await?;
            Ok("resolve")
        }
        "return" => {
            tk.transition(
                id,
                Action::Return {
                    reason: field(&f.reason),
                },
                actor,
            )
            .await?;
            Ok("return")
        }
        "extension" => {
            let days: u32 = field(&f.days)
                .parse()
                .map_err(|_| WebError::BadRequest("延期天数须为 1 至 60 个工作日。".into()))?;
            tk.transition(
                id,
                Action::RequestExtension {
                    days,
                    reason: field(&f.reason),
                },
                actor,
            )
            .await?;
            Ok("request_extension")
        }
        "grant" => {
            tk.transition(id, Action::GrantExtension, actor).await?;
            Ok("grant_extension")
        }
        "refuse" => {
            let reason = field(&f.reason);
            if reason.is_empty() {
                return Err(WebError::BadRequest("驳回延期须填写理由。".into()));
            }
            tk.transition(id, Action::RefuseExtension { reason }, actor)
                .await?;
            Ok("refuse_extension")
        }
        "supervise" => {
            let note = field(&f.text);
            if note.is_empty() {
                return Err(WebError::BadRequest("督办须填写督办意见。".into()));
            }
            tk.transition(id, Action::Supervise { note }, actor).await?;
            Ok("supervise")
        }
        _ => Err(WebError::NotFound),
    }
}

#[derive(Deserialize, Default)]
struct NewQuery {
    #[serde(default)]
    phone: Option<String>,
}

async fn new_ticket_page(State(ctx): State<Ctx>, s: Session, Query(q): Query<NewQuery>) -> Page {
    s.require(Perm::CreateTicket)?;
    let callers = ctx.calls.as_ref().map(|c| c.callers()).unwrap_or_default();
    let phone = nonempty(&q.phone)
        .map(str::to_string)
        .or_else(|| callers.first().cloned())
        .unwrap_or_default();
    let in_call = !phone.is_empty() && callers.iter().any(|c| c == &phone);
    render(
        &ctx,
        Some(&s),
        "new_ticket.html",
        context! {
            phone => phone,
            in_call => in_call,
            callers => callers,
            kinds => Kind::ALL.iter().map(|k| context! { code => k.code(), label => k.label_zh() }).collect::<Vec<_>>(),
        },
    )
}

#[derive(Deserialize)]
struct NewTicketForm {
    phone: String,
    #[serde(default)]
    kind: Option<String>,
    text: String,
    #[serde(default)]
    address: Option<String>,
}

async fn create_ticket(State(ctx): State<Ctx>, s: Session, Form(f): Form<NewTicketForm>) -> Page {
    s.require(Perm::CreateTicket)?;
    let phone: PhoneNumber = f
        .phone
        .parse()
        .map_err(|_| WebError::BadRequest("请填写正确的来电号码（3–20 位数字）。".into()))?;
    let kind = match field(&f.kind).as_str() {
        "" => None,
        k => Some(
            k.parse()
                .map_err(|_| WebError::BadRequest("没有这个诉求类型。".into()))?,
        ),
    };
    let address = nonempty(&f.address).map(str::to_string);
    let t = ctx
        .tickets()
        .create(
            NewTicket {
                channel: Channel::Call,
                kind,
                phone,
                text: f.text,
                address,
                area: None,
                recording_path: None,
            },
            &s.account.actor(),
        )
        .await?;
    Ok(Redirect::to(&format!("/tickets/{}?done=create", t.id.0)).into_response())
}

async fn board(State(ctx): State<Ctx>, s: Session) -> Page {
    s.require(Perm::Board)?;
    let tk = ctx.tickets();
    let open = tk
        .list(&TicketFilter {
            states: OPEN_STATES.to_vec(),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let near_h = ctx.cfg.near_deadline_hours;
    let views: Vec<_> = open.iter().map(|t| ticket_view(tk, t, near_h)).collect();
    let mut by_dept: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
    for v in &views {
        let e = by_dept.entry(v.department.clone()).or_default();
        e.0 += 1;
        if v.overdue {
            e.1 += 1;
        }
        if v.near {
            e.2 += 1;
        }
    }
    let depts: Vec<_> = by_dept
        .into_iter()
        .map(|(d, (open, overdue, near))| context! { name => d, open => open, overdue => overdue, near => near })
        .collect();
    let mut urgent: Vec<_> = views.iter().filter(|v| v.overdue || v.near).collect();
    urgent.sort_by(|a, b| a.deadline.cmp(&b.deadline));
    let extensions: Vec<_> = views
        .iter()
        .filter(|v| v.state_code == "extension_requested")
        .collect();
    let returned: Vec<_> = views
        .iter()
        .filter(|v| v.state_code == "returned")
        .collect();
    let kpi = ctx.tickets().kpis().await?;
    render(
        &ctx,
        Some(&s),
        "board.html",
        context! { depts => depts, urgent => Value::from(Serde(&urgent)), extensions => Value::from(Serde(&extensions)), returned => Value::from(Serde(&returned)), kpi => Value::from(Serde(&kpi)) },
    )
}

async fn accounts_context(ctx: &Ctx, new_token: Option<String>) -> Result<Value, WebError> {
    let tk = ctx.tickets();
    let list = accounts::list(ctx.db()).await?;
    let names: std::collections::HashMap<i64, String> =
        list.iter().map(|a| (a.id, a.name.clone())).collect();
    let rows: Vec<_> = list
        .iter()
        .map(|a| {
            context! {
                id => a.id, name => a.name.clone(), display => a.display_name.clone(),
                role => a.role.label_zh(), role_code => a.role.code(), active => a.active,
                dept_code => a.department.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                dept => a.department.as_ref().map(|d| views::dept_name(tk, Some(d.as_str()))).unwrap_or_default(),
            }
        })
        .collect();
    let tokens: Vec<_> = accounts::list_api_tokens(ctx.db())
        .await?
        .into_iter()
        .map(|t| {
            context! {
                id => t.id, label => t.label, revoked => t.revoked,
                account => names.get(&t.account_id).cloned().unwrap_or_default(),
                created => when_ms(tk, t.created_at),
                used => t.last_used_at.map(|m| when_ms(tk, m)).unwrap_or_default(),
            }
        })
        .collect();
    let log: Vec<_> = accounts::audit_log(ctx.db(), 50)
        .await?
        .into_iter()
        .map(|e| context! { at => when_ms(tk, e.at), actor => e.actor, action => account_action_zh(&e.action), target => e.target, note => e.note })
        .collect();
    Ok(context! {
        accounts => rows, tokens => tokens, log => log, new_token => new_token,
        roles => Role::ALL.iter().map(|r| context! { code => r.code(), label => r.label_zh() }).collect::<Vec<_>>(),
        departments => tk.departments().iter()
            .map(|d| context! { code => d.id.to_string(), label => d.name.clone() }).collect::<Vec<_>>(),
    })
}

fn account_action_zh(a: &str) -> &'static str {
    match a {
        "account_create" => "新建账号",
        "account_password" => "重置密码",
        "account_enable" => "启用账号",
        "account_disable" => "停用账号",
        "account_role" => "变更角色",
        "token_create" => "新建接口令牌",
        "token_revoke" => "吊销接口令牌",
        _ => "变更",
    }
}

async fn accounts_page(State(ctx): State<Ctx>, s: Session) -> Page {
    s.require(Perm::ManageAccounts)?;
    let c = accounts_context(&ctx, None).await?;
    render(&ctx, Some(&s), "accounts.html", c)
}

#[derive(Deserialize)]
struct AccountForm {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    role: String,
    #[serde(default)]
    department: Option<String>,
    password: String,
}

async fn create_account(State(ctx): State<Ctx>, s: Session, Form(f): Form<AccountForm>) -> Page {
    s.require(Perm::ManageAccounts)?;
    let role: Role = f.role.parse()?;
    let department = match role {
        Role::Department => nonempty(&f.department).map(|d| DepartmentId(d.to_string())),
        _ => None,
    };
    let a = accounts::add_user(
        ctx.db(),
        ctx.tickets().departments(),
        &NewAccount {
            name: f.name.trim().to_string(),
            display_name: f.display_name.unwrap_or_default(),
            role,
            department,
            password: f.password,
        },
    )
    .await?;
    accounts::audit(
        ctx.db(),
        &s.account.name,
        "account_create",
        &a.name,
        a.role.label_zh(),
    )
    .await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

async fn reset_password(
    State(ctx): State<Ctx>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<PasswordForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    let a = accounts::get(ctx.db(), id).await?;
    accounts::set_password(ctx.db(), id, &f.password).await?;
    accounts::audit(ctx.db(), &s.account.name, "account_password", &a.name, "").await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
struct ActiveForm {
    active: String,
}

async fn set_active(
    State(ctx): State<Ctx>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<ActiveForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    let a = accounts::get(ctx.db(), id).await?;
    let on = f.active == "1";
    if !on && a.id == s.account.id {
        return Err(WebError::BadRequest("不能停用自己的账号。".into()));
    }
    accounts::set_active(ctx.db(), id, on).await?;
    let what = if on {
        "account_enable"
    } else {
        "account_disable"
    };
    accounts::audit(ctx.db(), &s.account.name, what, &a.name, "").await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
    #[serde(default)]
    department: Option<String>,
}

async fn set_role(
    State(ctx): State<Ctx>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    let a = accounts::get(ctx.db(), id).await?;
    let role: Role = f.role.parse()?;
    if a.id == s.account.id && role != Role::Admin {
        return Err(WebError::BadRequest("不能取消自己的管理员角色。".into()));
    }
    let department = match role {
        Role::Department => nonempty(&f.department).map(|d| DepartmentId(d.to_string())),
        _ => None,
    };
    accounts::set_role(
        ctx.db(),
        ctx.tickets().departments(),
        id,
        role,
        department.clone(),
    )
    .await?;
    let note = match &department {
        Some(d) => format!(
            "{}（{}）",
            role.label_zh(),
            views::dept_name(ctx.tickets(), Some(d.as_str()))
        ),
        None => role.label_zh().to_string(),
    };
    accounts::audit(ctx.db(), &s.account.name, "account_role", &a.name, &note).await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
struct TokenForm {
    account_id: i64,
    label: String,
}

async fn create_token(State(ctx): State<Ctx>, s: Session, Form(f): Form<TokenForm>) -> Page {
    s.require(Perm::ManageAccounts)?;
    if f.label.trim().is_empty() {
        return Err(WebError::BadRequest("请填写令牌用途。".into()));
    }
    let a = accounts::get(ctx.db(), f.account_id).await?;
    let token = accounts::create_api_token(ctx.db(), a.id, &f.label).await?;
    accounts::audit(
        ctx.db(),
        &s.account.name,
        "token_create",
        &a.name,
        f.label.trim(),
    )
    .await?;
    let c = accounts_context(&ctx, Some(token)).await?;
    let mut r = render(&ctx, Some(&s), "accounts.html", c)?;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

async fn revoke_token(State(ctx): State<Ctx>, s: Session, Path(id): Path<i64>) -> Page {
    s.require(Perm::ManageAccounts)?;
    accounts::revoke_api_token(ctx.db(), id).await?;
    accounts::audit(
        ctx.db(),
        &s.account.name,
        "token_revoke",
        &id.to_string(),
        "",
    )
    .await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

/// The form token of a public page: the session's when someone is logged in (the CSRF check
/// then expects it), else the anonymous double-submit one.
fn public_csrf(s: &Option<Session>, headers: &HeaderMap) -> (String, bool) {
    match s {
        Some(s) => (s.csrf.clone(), false),
        None => anon_csrf(headers),
    }
}

async fn status_page(
    State(ctx): State<Ctx>,
    MaybeSession(s): MaybeSession,
    headers: HeaderMap,
) -> Page {
    let (token, fresh) = public_csrf(&s, &headers);
    let res = render(
        &ctx,
        None,
        "status.html",
        context! { form_csrf => token.clone() },
    )?;
    Ok(with_anon_cookie(&ctx, res, &token, fresh))
}

#[derive(Deserialize)]
struct StatusForm {
    number: String,
    last4: String,
}

/// The resident's lookup: number plus the last four digits of the phone; the same answer
/// whether the number or the digits were wrong, and a limit per address on both tries and
/// failures.
async fn status_lookup(
    State(ctx): State<Ctx>,
    ClientIp(ip): ClientIp,
    MaybeSession(s): MaybeSession,
    headers: HeaderMap,
    Form(f): Form<StatusForm>,
) -> Page {
    let (token, _) = public_csrf(&s, &headers);
    let key = ip.to_string();
    let cfg = &ctx.cfg;
    let limited = ctx.status_hits.count(&key, Duration::from_secs(60))
        >= cfg.status_per_minute.max(1) as usize
        || ctx.status_failures.count(&key, Duration::from_secs(3600))
            >= cfg.status_failures_per_hour.max(1) as usize;
    if limited {
        ctx.stats.status("throttled");
        tracing::warn!(%ip, "status lookup refused: rate limit");
        let mut r = render(
            &ctx,
            None,
            "status.html",
            context! { form_csrf => token, error => "查询过于频繁，请稍后再试。" },
        )?;
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(r);
    }
    ctx.status_hits.hit(&key);
    let found = match f.number.trim().parse::<TicketNumber>() {
        Ok(n) => match ctx.tickets().by_number(&n).await {
            Ok(t) => {
                let digits = f.last4.trim();
                (digits.len() == 4
                    && auth::constant_eq(digits.as_bytes(), t.phone.last4().as_bytes()))
                .then_some(t)
            }
            Err(crate::tickets::TicketsError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    let Some(t) = found else {
        ctx.status_failures.hit(&key);
        ctx.stats.status("not_found");
        let mut r = render(
            &ctx,
            None,
            "status.html",
            context! { form_csrf => token, error => "没有查到。请核对工单编号和来电号码后四位。", number => f.number.trim() },
        )?;
        *r.status_mut() = StatusCode::NOT_FOUND;
        return Ok(r);
    };
    ctx.stats.status("found");
    let tk = ctx.tickets();
    let state = if t.merged_into.is_some() {
        "已与相同诉求合并办理"
    } else {
        t.state.label_zh()
    };
    let answer = match t.state {
        TState::Resolved | TState::FollowUp | TState::Closed => {
            t.answer.clone().unwrap_or_default()
        }
        _ => String::new(),
    };
    render(
        &ctx,
        None,
        "status.html",
        context! {
            form_csrf => token,
            result => context! {
                number => t.number.to_string(),
                state => state,
                department => t.department.as_ref().map(|d| views::dept_name(tk, Some(d.as_str()))).unwrap_or_else(|| "热线受理中".into()),
                deadline => when(tk, t.deadline),
                answer => answer,
            },
        },
    )
}

async fn app_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("assets/app.js"),
    )
}

async fn app_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("assets/app.css"),
    )
}
