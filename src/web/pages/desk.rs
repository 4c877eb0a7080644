//! The agent desk (坐席工作台, `/console/desk`): an operator's state with its buttons, and,
//! the moment their phone rings, the screen pop — who calls, their earlier tickets and
//! calls, similar open tickets (a 并单 suggestion), what they chose or said in the voice
//! menus, the new-ticket form filled from it (linked to the call) — with the call's
//! controls: hold, transfer, hang up. Live through server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::*;
use crate::acd::{AcdEvent, Agent, AgentState, CallerView, PauseReason};
use crate::calls::{outcome_zh, CallFilter, Page as CallsPage};
use crate::tickets::similar::Probe;
use crate::tickets::{Kind, PhoneNumber};
use crate::web::authz::{allows, Perm};
use crate::web::desk::{self, AskedState, CallAction};
use crate::web::views::{ticket_view, when_ms};

/// An agent as the desk and the wallboard show them.
#[derive(Debug, Serialize)]
pub(super) struct AgentRow {
    pub name: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub reason: &'static str,
    /// Time in this state, m:ss (or h:mm:ss).
    pub for_: String,
}

fn clock(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub(super) fn agent_row(a: &Agent) -> AgentRow {
    AgentRow {
        name: a.name.clone(),
        state: a.state.label_zh(),
        state_code: a.state.as_str(),
        reason: a.reason.map(|r| r.label_zh()).unwrap_or(""),
        for_: clock((crate::store::now_ms() - a.since) / 1000),
    }
}

/// Waiting time since `joined_at` (unix ms), m:ss.
pub(super) fn waited(joined_at: i64) -> String {
    clock((crate::store::now_ms() - joined_at) / 1000)
}

pub(super) async fn desk_page(State(ctx): State<Ctx>, s: Session) -> Page {
    s.require(Perm::Desk)?;
    let acd = desk::acd(&ctx)?;
    let me = acd
        .agent(&s.account.name)
        .unwrap_or_else(|| Agent::new(&s.account.name, crate::store::now_ms()));
    // Opened during a call: the pop of the caller this phone rang for.
    let pop = match ctx.offers.last(&me.name) {
        Some(c) if me.state.in_call() => Some(screen_pop(&ctx, &s, &c).await?),
        _ => None,
    };
    render(
        &ctx,
        Some(&s),
        "desk.html",
        context! {
            pop => pop,
            me => Value::from(Serde(agent_row(&me))),
            reasons => PauseReason::CHOSEN.iter().map(|r| context! { code => r.as_str(), label => r.label_zh() }).collect::<Vec<_>>(),
        },
    )
}

#[derive(Deserialize)]
pub(super) struct StateForm {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Where a person's desk command returns them: operators to their desk, supervisors and
/// administrators to the wallboard.
fn back(s: &Session) -> Response {
    let to = if allows(s.account.role, Perm::Desk) {
        "/console/desk"
    } else {
        "/console/wallboard"
    };
    Redirect::to(to).into_response()
}

/// An agent's state from the desk (one's own) or the wallboard (anyone's, supervisors).
pub(super) async fn agent_state(
    State(ctx): State<Ctx>,
    s: Session,
    Path(agent): Path<String>,
    Form(f): Form<StateForm>,
) -> Page {
    let asked = AskedState::parse(&f.state)
        .ok_or_else(|| WebError::BadRequest("没有这个坐席状态。".into()))?;
    let r = asked
        .request(f.reason.as_deref())
        .map_err(|_| WebError::BadRequest("请选择示忙原因。".into()))?;
    desk::set_state(&ctx, &s.account, &agent, r).await?;
    Ok(back(&s))
}

#[derive(Deserialize)]
pub(super) struct CallForm {
    action: String,
    #[serde(default)]
    target: Option<String>,
}

/// A call command from the desk (own call) or the wallboard (any agent, monitoring).
pub(super) async fn agent_call(
    State(ctx): State<Ctx>,
    s: Session,
    Path(agent): Path<String>,
    Form(f): Form<CallForm>,
) -> Page {
    let action = CallAction::parse(&f.action)
        .ok_or_else(|| WebError::BadRequest("没有这个通话操作。".into()))?;
    desk::call(&ctx, &s.account, &agent, action, nonempty(&f.target))?;
    Ok(back(&s))
}

/// A voice-menu variable as the operator reads it; `None` for what the pop shows elsewhere
/// (the numbers) or what means nothing to a person (a recording's path).
fn var_zh(name: &str, value: &str) -> Option<(String, String)> {
    let label = match name {
        "caller" | "called" | "message" | "hung_up" => return None,
        "kind" => {
            let kind = value.parse::<Kind>().map(|k| k.label_zh()).unwrap_or(value);
            return Some(("诉求类型".into(), kind.to_string()));
        }
        "language" => "语言",
        "ahead" => "排队位置",
        "wait_minutes" => "预计等待（分钟）",
        "ticket_number" => "工单编号",
        "number" => "输入的号码",
        "last4" => "输入的尾号",
        other => other,
    };
    Some((label.to_string(), value.to_string()))
}

/// The screen pop for one caller, as HTML (sent whole in the event stream, so it shows
/// while the phone rings without another round trip).
async fn screen_pop(ctx: &Ctx, s: &Session, c: &CallerView) -> Result<String, WebError> {
    let tk = ctx.tickets();
    let vars = c.ivr.get("vars").cloned().unwrap_or_default();
    let var = |k: &str| {
        vars.get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let said = var("summary")
        .or_else(|| var("transcript"))
        .or_else(|| var("text"))
        .unwrap_or_default();
    let kind = var("kind").and_then(|k| k.parse::<Kind>().ok());
    let address = var("address");
    let earlier = match c.caller.parse::<PhoneNumber>() {
        Ok(p) => tk.list_by_phone(&p, 10).await?,
        Err(_) => Vec::new(),
    };
    let near_h = ctx.cfg.near_deadline_hours;
    let calls: Vec<_> = ctx
        .records()
        .list(
            &CallFilter {
                caller: Some(c.caller.clone()),
                ..Default::default()
            },
            CallsPage {
                number: 1,
                size: 11,
            },
        )
        .await?
        .into_iter()
        .filter(|r| Some(r.id) != c.call)
        .take(10)
        .map(|r| {
            context! {
                id => r.id,
                started => when_ms(tk, r.started_at.timestamp_millis()),
                outcome => r.outcome.as_deref().map(outcome_zh).unwrap_or("进行中").to_string(),
                agent => r.agent.unwrap_or_default(),
                ticket_number => r.ticket_number.unwrap_or_default(),
            }
        })
        .collect();
    // Topic and place: what the caller said, else their latest open ticket (a caller
    // chasing a matter others reported too).
    let latest_open = earlier
        .iter()
        .find(|t| crate::tickets::state::is_open(t.state));
    let probe = match latest_open {
        Some(t) if said.is_empty() && address.is_none() => Probe {
            kind: Some(t.kind),
            text: format!("{} {}", t.summary, t.text),
            address: t.address.clone(),
        },
        _ => Probe {
            kind,
            text: said.clone(),
            address: address.clone(),
        },
    };
    let similar: Vec<_> = tk
        .similar_open(&probe, 5)
        .await?
        .iter()
        .filter(|t| t.phone.as_str() != c.caller)
        .map(|t| ticket_view(tk, t, near_h))
        .collect();
    let earlier: Vec<_> = earlier.iter().map(|t| ticket_view(tk, t, near_h)).collect();
    let path: Vec<String> = c
        .ivr
        .get("path")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let vars: Vec<_> = vars
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    var_zh(k, &v).map(|(name, value)| context! { name => name, value => value })
                })
                .collect()
        })
        .unwrap_or_default();
    let acd = desk::acd(ctx)?;
    let queue_name = acd
        .queues()
        .get(&c.queue)
        .map(|q| q.name.clone())
        .unwrap_or_else(|| c.queue.clone());
    let tpl = ctx.tpl.get_template("pop.html")?;
    Ok(tpl.render(context! {
        me => s.account.name.clone(),
        csrf => s.csrf.clone(),
        caller => c.caller.clone(),
        call => c.call,
        queue => queue_name,
        waited => waited(c.joined_at),
        path => path,
        keys => c.ivr.get("keys").and_then(|k| k.as_str()).unwrap_or("").to_string(),
        vars => vars,
        earlier => Value::from(Serde(&earlier)),
        calls => calls,
        similar => Value::from(Serde(&similar)),
        said => said,
        kind => kind.map(|k| k.code()).unwrap_or(""),
        address => address.unwrap_or_default(),
        kinds => Kind::ALL.iter().map(|k| context! { code => k.code(), label => k.label_zh() }).collect::<Vec<_>>(),
        queues => acd.queues().queues.values().map(|q| context! { id => q.id.clone(), name => q.name.clone() }).collect::<Vec<_>>(),
        agents => acd.agents().iter().filter(|a| a.name != s.account.name && a.state != AgentState::LoggedOut).map(|a| a.name.clone()).collect::<Vec<_>>(),
        destinations => ctx.destinations.clone(),
    })?)
}

/// The desk's live events: `agent` (my state changed: JSON) and `pop` (my phone rings:
/// the screen pop's HTML).
pub(super) async fn desk_stream(State(ctx): State<Ctx>, s: Session) -> Result<Response, WebError> {
    s.require(Perm::Desk)?;
    let rx = desk::acd(&ctx)?.subscribe();
    let guard = ctx.stats.sse_open();
    let (live_ctx, live_s) = (ctx.clone(), s.clone());
    let stream =
        futures::stream::unfold((rx, ctx, s, guard), |(mut rx, ctx, s, guard)| async move {
            loop {
                let e = match rx.recv().await {
                    Ok(AcdEvent::Agent(a)) if a.name == s.account.name => {
                        let data = serde_json::to_string(&agent_row(&a)).unwrap_or_default();
                        Event::default().event("agent").data(data)
                    }
                    Ok(AcdEvent::Offered { agent, caller }) if agent == s.account.name => {
                        match screen_pop(&ctx, &s, &caller).await {
                            Ok(html) => Event::default().event("pop").data(html),
                            Err(e) => {
                                tracing::warn!(agent, error = ?e, "screen pop not built");
                                continue;
                            }
                        }
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                return Some((Ok::<_, Infallible>(e), (rx, ctx, s, guard)));
            }
        });
    let stream = crate::web::live::while_signed_in(live_ctx, live_s, stream);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_menu_variables_read_in_chinese_and_paths_stay_hidden() {
        assert_eq!(
            var_zh("kind", "complaint"),
            Some(("诉求类型".into(), "投诉".into()))
        );
        assert_eq!(var_zh("message", "/data/rec/1.wav"), None);
        assert_eq!(var_zh("caller", "13800000000"), None);
        assert_eq!(var_zh("area", "东城"), Some(("area".into(), "东城".into())));
        assert_eq!(clock(65), "1:05");
        assert_eq!(clock(3725), "1:02:05");
    }
}
