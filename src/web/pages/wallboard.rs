//! The supervisors' wallboard (班长监控, `/console/wallboard`): per queue the callers
//! waiting, callbacks owed, the longest wait, agents ready, busy and logged in, and today's
//! service level; every agent with their state and time in it; the callers waiting. For an
//! agent in a call: listen, whisper, barge in (from the supervisor's own phone) and stop.
//! The figures refresh every 2 s (`/console/wallboard/live`, the body alone).

use axum::extract::State;
use minijinja::value::Serde;
use minijinja::{context, Value};

use super::desk::{agent_row, waited};
use super::*;
use crate::web::authz::{allows, Perm};
use crate::web::desk;

async fn board_context(ctx: &Ctx, s: &Session) -> Result<Value, WebError> {
    s.require(Perm::ManageAgents)?;
    let b = desk::board(ctx, &s.account).await?;
    let acd = desk::acd(ctx)?;
    let queues: Vec<_> = b
        .queues
        .iter()
        .map(|q| {
            context! {
                name => q.queue.name.clone(),
                waiting => q.queue.waiting,
                callbacks_owed => q.queue.callbacks_owed,
                longest => waited(crate::store::now_ms() - (q.queue.longest_wait_secs as i64) * 1000),
                ready => q.queue.agents_ready,
                busy => q.queue.agents_busy,
                logged_in => q.queue.agents_logged_in,
                level => q.service_level.percent,
                answered_in_target => q.service_level.answered_in_target,
                counted => q.service_level.answered + q.service_level.abandoned,
            }
        })
        .collect();
    let agents: Vec<_> = acd.agents().iter().map(agent_row).collect();
    let waiting: Vec<_> = b
        .waiting
        .iter()
        .map(|w| {
            context! {
                caller => w.caller.clone(),
                queue => acd.queues().get(&w.queue).map(|q| q.name.clone()).unwrap_or_else(|| w.queue.clone()),
                callback => w.kind == crate::acd::EntryKind::Callback,
                waited => waited(w.joined_at),
                ringing => w.ringing.join("、"),
            }
        })
        .collect();
    Ok(context! {
        queues => queues,
        agents => Value::from(Serde(&agents)),
        waiting => waiting,
        monitor => allows(s.account.role, Perm::Monitor),
        target_secs => desk::SERVICE_LEVEL_TARGET_SECS,
    })
}

pub(super) async fn wallboard(State(ctx): State<Ctx>, s: Session) -> Page {
    let c = board_context(&ctx, &s).await?;
    render(&ctx, Some(&s), "wallboard.html", c)
}

pub(super) async fn wallboard_live(State(ctx): State<Ctx>, s: Session) -> Page {
    let c = board_context(&ctx, &s).await?;
    render(&ctx, Some(&s), "wallboard_body.html", c)
}
