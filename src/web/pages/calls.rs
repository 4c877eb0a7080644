//! Call records (通话记录): the list with its filters (`/console/calls`), one call with its
//! timeline (`/console/calls/{id}`) and its recordings. Operators, supervisors and
//! administrators read them; the caller's number is whole only for roles that see it on
//! tickets (`authz::sees_caller_number`), and only they may listen.

use axum::extract::{Path, Query, Request, State};
use chrono::{DateTime, Utc};
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::*;
use crate::calls::{
    hangup_reason_zh, outcome_zh, CallFilter, CallRecordId, CallSummary, Page as CallsPage,
};
use crate::tickets::{TicketNumber, Tickets};
use crate::web::authz::{allows, call_detail_for, call_for, sees_caller_number, Perm};
use crate::web::views::{day_start, when_ms, Paging};

/// The list's filters as the form sends them; every field is optional and checked here.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub(super) struct CallsQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    caller: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    abandoned: Option<String>,
    #[serde(default)]
    page: Option<String>,
    /// Exports only: xlsx or csv.
    #[serde(default, skip_serializing)]
    pub(super) format: Option<String>,
}

/// One line of the list.
#[derive(Debug, Serialize)]
struct CallRow {
    id: i64,
    started: String,
    caller: String,
    answered: bool,
    outcome: String,
    path: String,
    queue: String,
    agent: String,
    wait: String,
    talk: String,
    side: String,
    abandoned: bool,
    callback: bool,
    ticket_number: String,
}

/// Seconds, or minutes and seconds, of a duration in ms.
pub(super) fn duration(ms: Option<i64>) -> String {
    match ms {
        None => String::new(),
        Some(ms) => {
            let s = (ms.max(0) + 999) / 1000;
            if s < 60 {
                format!("{s} 秒")
            } else {
                format!("{}分{:02}秒", s / 60, s % 60)
            }
        }
    }
}

fn at(tk: &Tickets, t: Option<DateTime<Utc>>) -> String {
    t.map(|t| when_ms(tk, t.timestamp_millis()))
        .unwrap_or_default()
}

/// To the second, for the steps of one call.
pub(super) fn at_secs(tk: &Tickets, t: DateTime<Utc>) -> String {
    t.with_timezone(&tk.tz())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn row(tk: &Tickets, c: &CallSummary) -> CallRow {
    CallRow {
        id: c.id,
        started: at(tk, Some(c.started_at)),
        caller: c.caller.clone(),
        answered: c.answered_at.is_some(),
        outcome: c
            .outcome
            .as_deref()
            .map(outcome_zh)
            .unwrap_or("通话中")
            .to_string(),
        path: c.ivr_path.join(" › "),
        queue: c.queue.clone().unwrap_or_default(),
        agent: c.agent.clone().unwrap_or_default(),
        wait: duration(c.wait_ms),
        talk: duration(c.talk_ms),
        side: c
            .hangup_side
            .map(|s| s.label_zh().to_string())
            .unwrap_or_default(),
        abandoned: c.abandoned,
        callback: c.callback,
        ticket_number: c.ticket_number.clone().unwrap_or_default(),
    }
}

pub(super) fn filter(tk: &Tickets, q: &CallsQuery) -> Result<CallFilter, WebError> {
    let text = |v: &Option<String>| nonempty(v).map(str::to_string);
    Ok(CallFilter {
        from: nonempty(&q.from)
            .map(|d| day_start(tk, "开始日期", d, 0))
            .transpose()?,
        // The end date is included: before the next midnight.
        to: nonempty(&q.to)
            .map(|d| day_start(tk, "结束日期", d, 1))
            .transpose()?,
        caller: text(&q.caller),
        outcome: text(&q.outcome),
        queue: text(&q.queue),
        agent: text(&q.agent),
        abandoned: nonempty(&q.abandoned).map(|_| true),
        ticket: None,
    })
}

/// The outcomes the filter offers, with their labels.
const OUTCOMES: [&str; 9] = [
    "completed",
    "caller_hung_up",
    "transferred",
    "operator",
    "no_input",
    "cancelled",
    "no_dialplan",
    "error",
    "step_limit",
];

pub(super) async fn calls_page(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<CallsQuery>,
) -> Page {
    s.require(Perm::ViewCalls)?;
    let tk = ctx.tickets();
    let f = filter(tk, &q)?;
    let total = ctx.records().count(&f).await?;
    let Paging { page, pages, size } = Paging::of(ctx.cfg.page_size, total, nonempty(&q.page));
    let rows: Vec<CallRow> = ctx
        .records()
        .list(&f, CallsPage { number: page, size })
        .await?
        .into_iter()
        .map(|c| row(tk, &call_for(s.account.role, c)))
        .collect();
    // The filters again, for the pager's links.
    let keep = serde_urlencoded::to_string(CallsQuery {
        page: None,
        ..q.clone()
    })
    .unwrap_or_default();
    render(
        &ctx,
        Some(&s),
        "calls.html",
        context! {
            rows => Value::from(Serde(&rows)),
            q => Value::from(Serde(&q)),
            keep => keep,
            total => total,
            page => page,
            pages => pages,
            outcomes => OUTCOMES.iter().map(|o| context! { code => *o, label => outcome_zh(o) }).collect::<Vec<_>>(),
        },
    )
}

/// One line of a call's timeline.
#[derive(Debug, Serialize)]
struct Moment {
    at: String,
    what: String,
    detail: String,
}

pub(super) async fn call_page(State(ctx): State<Ctx>, s: Session, Path(id): Path<i64>) -> Page {
    s.require(Perm::ViewCalls)?;
    let tk = ctx.tickets();
    let d = ctx
        .records()
        .get(CallRecordId::from_raw(id))
        .await?
        .ok_or(WebError::NotFound)?;
    let d = call_detail_for(s.account.role, d);
    let c = &d.call;
    let mut timeline = vec![Moment {
        at: at_secs(tk, c.started_at),
        what: "来电".into(),
        detail: format!("{} 拨打 {}", c.caller, c.called),
    }];
    if let Some(a) = c.answered_at {
        timeline.push(Moment {
            at: at_secs(tk, a),
            what: "语音导航接听".into(),
            detail: c.dialplan.clone(),
        });
    }
    if !c.ivr_path.is_empty() {
        timeline.push(Moment {
            at: String::new(),
            what: "语音导航路径".into(),
            detail: c.ivr_path.join(" › "),
        });
    }
    for e in &d.events {
        timeline.push(Moment {
            at: at_secs(tk, e.at),
            what: e.event.label_zh().into(),
            detail: e.event.describe_zh(),
        });
    }
    if let Some(end) = c.ended_at {
        timeline.push(Moment {
            at: at_secs(tk, end),
            what: "通话结束".into(),
            detail: format!(
                "{}{}",
                c.outcome.as_deref().map(outcome_zh).unwrap_or_default(),
                c.hangup_side
                    .map(|s| format!("，{}", s.label_zh()))
                    .unwrap_or_default()
            ),
        });
    }
    // The ticket the call made, linked for roles that read tickets.
    let ticket_id = match (&c.ticket_number, allows(s.account.role, Perm::ViewTickets)) {
        (Some(n), true) => match n.parse::<TicketNumber>() {
            Ok(n) => tk.by_number(&n).await.ok().map(|t| t.id.0),
            Err(_) => None,
        },
        _ => None,
    };
    let listen = sees_caller_number(s.account.role);
    render(
        &ctx,
        Some(&s),
        "call.html",
        context! {
            c => Value::from(Serde(row(tk, c))),
            called => c.called.clone(),
            dialplan => c.dialplan.clone(),
            answered_at => at(tk, c.answered_at),
            ended_at => at(tk, c.ended_at),
            reason => c.hangup_reason.as_deref().map(hangup_reason_zh).unwrap_or_default(),
            digits => d.digits.clone(),
            prompts => d.prompts.join("，"),
            timeline => Value::from(Serde(&timeline)),
            ticket_id => ticket_id,
            recordings => if listen { (0..d.recordings.len()).collect::<Vec<_>>() } else { vec![] },
        },
    )
}

/// The `n`th recording of a call (the voice message first, then each conversation), for
/// roles that may hear callers.
pub(super) async fn call_recording(
    State(ctx): State<Ctx>,
    s: Session,
    crate::web::auth::ClientIp(ip): crate::web::auth::ClientIp,
    Path((id, n)): Path<(i64, usize)>,
    req: Request,
) -> Page {
    s.require(Perm::ViewCalls)?;
    if !sees_caller_number(s.account.role) {
        return Err(WebError::Forbidden);
    }
    let d = ctx
        .records()
        .get(CallRecordId::from_raw(id))
        .await?
        .ok_or(WebError::NotFound)?;
    let path = d.recordings.get(n).ok_or(WebError::NotFound)?;
    crate::web::access_log::record(
        &ctx,
        &s.account,
        ip,
        crate::web::access_log::Opened::Recording,
        crate::web::access_log::Via::Download,
        crate::web::access_log::Of::Call(id),
    )
    .await;
    super::serve_recording(&ctx, path, req).await
}
