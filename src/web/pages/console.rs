//! The live ticket list: filters narrowed to what the role may see, the rows alone for
//! refreshes, and the server-sent events that trigger them.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::Deserialize;

use super::*;
use crate::tickets::{Channel, DepartmentId, Kind, State as TState, TicketFilter};
use crate::web::accounts::Role;
use crate::web::auth::Session;
use crate::web::authz::{ticket_phone, Perm};
use crate::web::error::WebError;
use crate::web::views::ticket_view;
use crate::web::Ctx;

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
    /// Exports only: xlsx or csv.
    #[serde(default)]
    pub(super) format: Option<String>,
}

pub(super) const OPEN_STATES: [TState; 6] = [
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
pub(super) fn filter_for(ctx: &Ctx, s: &Session, q: &ListQuery) -> (TicketFilter, String) {
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

pub(super) async fn list_context(ctx: &Ctx, s: &Session, q: &ListQuery) -> Result<Value, WebError> {
    let (f, scope) = filter_for(ctx, s, q);
    let total = ctx.tickets().count(&f).await?;
    let rows: Vec<_> = ctx
        .tickets()
        .list(&f)
        .await?
        .iter()
        .map(|t| {
            let mut v = ticket_view(ctx.tickets(), t, ctx.cfg.near_deadline_hours);
            v.phone = ticket_phone(&ctx.cfg, s.account.role, &v.phone);
            v
        })
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

pub(super) async fn console(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Page {
    s.require(Perm::ViewTickets)?;
    let c = list_context(&ctx, &s, &q).await?;
    render(&ctx, Some(&s), "console.html", c)
}

/// The table body alone, fetched by the page when the live stream says something changed.
pub(super) async fn console_rows(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Page {
    s.require(Perm::ViewTickets)?;
    let c = list_context(&ctx, &s, &q).await?;
    render(&ctx, Some(&s), "rows.html", c)
}

/// Server-sent events: one `ticket` event per change the person may see, for as long as
/// the session stands.
pub(super) async fn console_stream(
    State(ctx): State<Ctx>,
    s: Session,
) -> Result<Response, WebError> {
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
    let stream = crate::web::live::while_signed_in(ctx.clone(), s, stream);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response())
}
