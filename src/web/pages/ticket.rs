//! One ticket: its page (audit trail, earlier tickets of the caller, texts sent, the voice
//! message's transcript segment by segment, each playing the recording from its start), its
//! recording (served with HTTP ranges, so the player can seek), and every action on it (`POST /tickets/{id}/{action}`), each parsed into a
//! `tickets::Command`.

use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::*;
use crate::tickets::state::{is_open, next_state};
use crate::tickets::{Action, DepartmentId, Kind, Ticket, TicketId};
use crate::tickets::{Command, Input, Verb};
use crate::web::access_log::{self, Of, Opened, Via};
use crate::web::accounts::Role;
use crate::web::auth::{ClientIp, Session};
use crate::web::authz::{can_see, sees_ticket_phone, ticket_phone, Perm};
use crate::web::error::{action_zh, WebError};
use crate::web::views::{self, actor_zh, can, note_zh, ticket_view, when, when_ms};
use crate::web::Ctx;
use crate::web::{act, notices};

fn c_calls(s: &Session) -> bool {
    can(Some(&s.account)).calls
}

/// A ticket this person may see, or 404 (never 403: other departments' tickets do not exist
/// for them).
pub(super) async fn visible(ctx: &Ctx, s: &Session, id: i64) -> Result<Ticket, WebError> {
    s.require(Perm::ViewTickets)?;
    let t = ctx.tickets().get(TicketId(id)).await?;
    if can_see(&s.account, &t) {
        Ok(t)
    } else {
        Err(WebError::NotFound)
    }
}

#[derive(Deserialize, Default)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

pub(super) async fn ticket_page(
    State(ctx): State<Ctx>,
    s: Session,
    ClientIp(ip): ClientIp,
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
        notices::texts_for(ctx.db(), t.id)
            .await
            .into_iter()
            .map(|n| context! { at => when_ms(tk, n.at), body => n.body, state => views::sms_state_zh(&n.state) })
            .collect()
    };
    // The ticket's calls (the voice message, a conversation with an operator), each with
    // its record and recordings on the calls page.
    let calls: Vec<_> = if c_calls(&s) {
        let f = crate::calls::CallFilter {
            ticket: Some(t.number.to_string()),
            ..Default::default()
        };
        ctx.records()
            .list(
                &f,
                crate::calls::Page {
                    number: 1,
                    size: 20,
                },
            )
            .await?
            .into_iter()
            .map(|c| {
                context! {
                    id => c.id,
                    at => when(tk, c.started_at),
                    agent => c.agent.unwrap_or_default(),
                    talk_secs => c.talk_ms.map(|m| m / 1000),
                    recorded => c.has_recording,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let segments = if t.recording_path.is_some() {
        transcript_segments(&ctx, t.id).await
    } else {
        Vec::new()
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
        follow_up => c.follow_up && ok(Action::FollowUp),
        rate => c.follow_up && ok(Action::Rate { satisfaction: crate::tickets::Satisfaction::Satisfied }),
        close => c.follow_up && ok(Action::Close),
    };
    let done = dq.done.as_deref().map(action_zh).unwrap_or("");
    if sees_ticket_phone(&ctx.cfg, s.account.role) {
        access_log::record(
            &ctx,
            &s.account,
            ip,
            Opened::Phone,
            Via::Page,
            Of::Ticket(t.id.0),
        )
        .await;
    }
    render(
        &ctx,
        Some(&s),
        "ticket.html",
        context! {
            t => Value::from(Serde({
                let mut v = ticket_view(tk, &t, ctx.cfg.near_deadline_hours);
                v.phone = ticket_phone(&ctx.cfg, s.account.role, &v.phone);
                v
            })),
            routed_by => views::routed_by_zh(tk, &t.routed_by),
            audit => audit,
            earlier => Value::from(Serde(&earlier)),
            sms => sms,
            calls => calls,
            segments => Value::from(Serde(&segments)),
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

/// One piece of a transcript as the page shows it: where it starts in the recording
/// (seconds, for the player; mm:ss, for people) and what was said.
#[derive(Debug, Serialize)]
struct SegmentView {
    seek: f64,
    at: String,
    text: String,
}

/// The voice message's transcript, piece by piece as whisper cut it (a sentence or a
/// phrase, not single words), each with its start in the recording. None yet (or
/// unreadable, which is logged): the page shows the ticket's text alone.
async fn transcript_segments(ctx: &Ctx, id: TicketId) -> Vec<SegmentView> {
    let stored = match crate::speech::queue::transcript_of(ctx.db(), id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::warn!(ticket = id.0, error = %e, "transcript not read");
            return Vec::new();
        }
    };
    match serde_json::from_str::<Vec<crate::speech::Segment>>(&stored.segments) {
        Ok(segs) => segs
            .into_iter()
            .filter(|s| !s.text.trim().is_empty())
            .map(|s| {
                let start = s.start_ms.max(0);
                let secs = start / 1000;
                SegmentView {
                    seek: start as f64 / 1000.0,
                    at: format!("{:02}:{:02}", secs / 60, secs % 60),
                    text: s.text.trim().to_string(),
                }
            })
            .collect(),
        Err(e) => {
            tracing::warn!(ticket = id.0, error = %e, "transcript segments not readable");
            Vec::new()
        }
    }
}

pub(super) async fn recording(
    State(ctx): State<Ctx>,
    s: Session,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    req: Request,
) -> Page {
    let t = visible(&ctx, &s, id).await?;
    let Some(path) = t.recording_path else {
        return Err(WebError::NotFound);
    };
    access_log::record(
        &ctx,
        &s.account,
        ip,
        Opened::Recording,
        Via::Download,
        Of::Ticket(t.id.0),
    )
    .await;
    super::serve_recording(&ctx, &path, req).await
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct ActionForm {
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
    #[serde(default)]
    satisfaction: Option<String>,
}

impl From<ActionForm> for Input {
    fn from(f: ActionForm) -> Input {
        Input {
            department: f.department,
            kind: f.kind,
            reason: f.reason,
            answer: f.answer,
            text: f.text,
            days: f.days,
            satisfaction: f.satisfaction,
            into: f.into,
        }
    }
}

/// Every change to a ticket from the pages: `POST /tickets/{id}/{action}`. An action no
/// role may take is not a page at all.
pub(super) async fn ticket_action(
    State(ctx): State<Ctx>,
    s: Session,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<ActionForm>,
) -> Page {
    let verb = match action.parse::<Verb>() {
        Ok(v) if v.perm().is_some() => v,
        _ => return Err(WebError::NotFound),
    };
    if !s.account.caller().may(verb) {
        return Err(WebError::Forbidden);
    }
    let t = visible(&ctx, &s, id).await?;
    let mut cmd = Command::parse(verb, &f.into(), ctx.tickets())?;
    if let Command::Answer(a) = &mut cmd {
        // A consultation answered on the phone is finished: close it at once.
        a.then_close = true;
    }
    act::run(&ctx, &s.account, &t, cmd).await?;
    tracing::info!(ticket = %t.number, action = %verb, account = %s.account.name, "ticket action");
    Ok(Redirect::to(&format!("/tickets/{id}?done={}", verb.code())).into_response())
}
