//! Abandoned calls to call back (放弃来电 · 待回拨, `/console/abandoned`): callers who hung
//! up before reaching a person and left no ticket, newest first, one day at a time (today
//! unless a date is chosen). Each row says where they hung up, how long they waited,
//! whether they called again later (then it leaves the to-do list) and the call-back —
//! with a 回拨 button for operators and supervisors, which rings their own phone and then
//! the resident (`desk::call_back`). Read by whoever reads call records; numbers masked as
//! on the calls page.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::calls::{at_secs, duration};
use super::*;
use crate::calls::{AbandonedCall, AbandonedFilter, CallBackStatus, Page as CallsPage};
use crate::tickets::Tickets;
use crate::web::authz::{may_call_back, sees_caller_number, Perm};
use crate::web::desk;
use crate::web::views::{day_start, today, Paging};

/// The list's choices as the form sends them; every field optional and checked here.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub(super) struct AbandonedQuery {
    /// YYYY-MM-DD in the hotline's time zone; today when absent.
    #[serde(default)]
    date: Option<String>,
    /// `all`: every abandoned call of the day; else only those still to call back.
    #[serde(default)]
    show: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

/// One line of the list.
#[derive(Debug, Serialize)]
struct Row {
    id: i64,
    started: String,
    caller: String,
    hung_up_in: String,
    waited: String,
    status: &'static str,
    status_code: CallBackStatus,
    /// The later call that made the call-back needless, and when.
    again_call: Option<i64>,
    again_at: String,
    /// Who called back, when and how it went (or who is calling back now).
    call_back: String,
    /// The 回拨 button is shown.
    can_call_back: bool,
}

/// Where a caller hung up, as people read it: the queue's name, or the voice-menu node.
fn hung_up_in(ctx: &Ctx, e: &AbandonedCall) -> String {
    match (&e.queue, &e.ivr_node) {
        (Some(q), _) => {
            let name = ctx
                .acd
                .as_ref()
                .and_then(|a| a.queues().get(q).map(|q| q.name.clone()))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| q.clone());
            format!("排队：{name}")
        }
        (None, Some(node)) => format!("语音导航：{node}"),
        (None, None) => "接听前".into(),
    }
}

fn row(ctx: &Ctx, tk: &Tickets, e: &AbandonedCall, may_call: bool) -> Row {
    let call_back = match (&e.calling_back, &e.called_back_by, e.called_back_at) {
        (Some(who), _, _) => format!("{who} 正在回拨"),
        (None, Some(by), Some(at)) => format!(
            "{by} {} 回拨，{}",
            at_secs(tk, at),
            if e.called_back_answered {
                "已接通"
            } else {
                "未接通"
            }
        ),
        _ => String::new(),
    };
    Row {
        id: e.id,
        started: at_secs(tk, e.started_at),
        caller: e.caller.clone(),
        hung_up_in: hung_up_in(ctx, e),
        waited: duration(Some(e.waited_ms)),
        status: e.status.label_zh(),
        status_code: e.status,
        again_call: e.called_again_call,
        again_at: e
            .called_again_at
            .map(|t| at_secs(tk, t))
            .unwrap_or_default(),
        call_back,
        can_call_back: may_call && e.status.is_todo() && e.status != CallBackStatus::CallingBack,
    }
}

pub(super) async fn abandoned_page(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<AbandonedQuery>,
) -> Page {
    s.require(Perm::ViewCalls)?;
    let tk = ctx.tickets();
    let date = nonempty(&q.date)
        .map(str::to_string)
        .unwrap_or_else(|| today(tk));
    let all = nonempty(&q.show) == Some("all");
    let f = AbandonedFilter {
        from: Some(day_start(tk, "日期", &date, 0)?),
        to: Some(day_start(tk, "日期", &date, 1)?),
        todo_only: !all,
    };
    let todo = ctx
        .records()
        .count_abandoned(&AbandonedFilter {
            todo_only: true,
            ..f.clone()
        })
        .await?;
    let every = ctx
        .records()
        .count_abandoned(&AbandonedFilter {
            todo_only: false,
            ..f.clone()
        })
        .await?;
    let total = if all { every } else { todo };
    let Paging { page, pages, size } = Paging::of(ctx.cfg.page_size, total, nonempty(&q.page));
    let role = s.account.role;
    let may_call = may_call_back(role);
    let rows: Vec<Row> = ctx
        .records()
        .abandoned(&f, CallsPage { number: page, size })
        .await?
        .into_iter()
        .map(|mut e| {
            if !sees_caller_number(role) {
                e.caller = crate::privacy::mask(&e.caller);
            }
            row(&ctx, tk, &e, may_call)
        })
        .collect();
    let keep = serde_urlencoded::to_string(AbandonedQuery {
        page: None,
        date: Some(date.clone()),
        ..q.clone()
    })
    .unwrap_or_default();
    render(
        &ctx,
        Some(&s),
        "abandoned.html",
        context! {
            rows => Value::from(Serde(&rows)),
            date => date,
            all => all,
            todo => todo,
            every => every,
            keep => keep,
            total => total,
            page => page,
            pages => pages,
            may_call => may_call,
        },
    )
}

/// The 回拨 button: rings the person's own phone, then the resident.
pub(super) async fn call_back(State(ctx): State<Ctx>, s: Session, Path(id): Path<i64>) -> Page {
    desk::call_back(&ctx, &s.account, id).await?;
    Ok(Redirect::to("/console/abandoned").into_response())
}
