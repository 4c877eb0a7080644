//! The supervisor board: open tickets by department, the urgent ones, pending extensions
//! and returns, and the scorecard's KPIs today and this month against their targets.

use axum::extract::State;
use minijinja::value::Serde;
use minijinja::{context, Value};

use super::console::OPEN_STATES;
use super::*;
use crate::scorecard::{Direction, Grain, GroupBy};
use crate::tickets::TicketFilter;
use crate::web::auth::Session;
use crate::web::authz::Perm;
use crate::web::views::ticket_view;
use crate::web::Ctx;

pub(super) async fn board(State(ctx): State<Ctx>, s: Session) -> Page {
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
    let sc = ctx.scorecard();
    let today = sc.report(&sc.today(), GroupBy::Total).await?.total;
    let month = sc
        .report(&sc.last(Grain::Month, 1), GroupBy::Total)
        .await?
        .total;
    // One line per KPI: today, this month, the target.
    let kpis: Vec<_> = today
        .kpis
        .iter()
        .zip(&month.kpis)
        .map(|(t, m)| context! { label => t.label.clone(), code => t.kpi.code(), unit => Value::from(Serde(t.unit)), today => Value::from(Serde(t)), month => Value::from(Serde(m)), target => t.target, at_most => t.direction == Direction::AtMost })
        .collect();
    let overdue_now = ctx.tickets().overdue_now().await?;
    let reports = super::reports::board_reports(&ctx).await?;
    render(
        &ctx,
        Some(&s),
        "board.html",
        context! { depts => depts, urgent => Value::from(Serde(&urgent)), extensions => Value::from(Serde(&extensions)), returned => Value::from(Serde(&returned)), kpis => kpis, today => Value::from(Serde(&today)), month => Value::from(Serde(&month)), overdue_now => overdue_now , ..reports },
    )
}
