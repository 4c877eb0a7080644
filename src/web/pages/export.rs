//! 导出 Excel / 导出 CSV of the console's lists: the ticket list and the call list, with the
//! filters the list was showing and the same narrowing by role (a department account
//! exports only its own department's tickets), every matching row rather than one page.

use axum::extract::{Query, State};

use super::calls::{filter as call_filter, CallsQuery};
use super::console::{filter_for, ListQuery};
use super::*;
use crate::reports::lists::{
    calls_table, collect_calls, collect_tickets, tickets_table, EXPORT_MAX_ROWS,
};
use crate::web::authz::{export_phones, Perm};
use crate::web::export::{download, format_of};

/// `/console/export`: the ticket list as a file.
pub(super) async fn tickets_export(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<ListQuery>,
) -> Page {
    s.require(Perm::ViewTickets)?;
    let format = format_of(q.format.as_deref())?;
    let (f, _) = filter_for(&ctx, &s, &q);
    let tk = ctx.tickets();
    let list = collect_tickets(tk, &f, EXPORT_MAX_ROWS).await?;
    let table = tickets_table(tk, &list, export_phones(&ctx.cfg, s.account.role));
    tracing::info!(account = %s.account.name, rows = list.len(), %format, "ticket list exported");
    download(tk, &table, format, "tickets")
}

/// `/console/calls/export`: the call list as a file.
pub(super) async fn calls_export(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<CallsQuery>,
) -> Page {
    s.require(Perm::ViewCalls)?;
    let format = format_of(q.format.as_deref())?;
    let tk = ctx.tickets();
    let f = call_filter(tk, &q)?;
    let list = collect_calls(ctx.records(), &f, EXPORT_MAX_ROWS).await?;
    let table = calls_table(tk, &list, export_phones(&ctx.cfg, s.account.role));
    tracing::info!(account = %s.account.name, rows = list.len(), %format, "call list exported");
    download(tk, &table, format, "calls")
}
