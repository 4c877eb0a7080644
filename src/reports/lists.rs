//! The ticket list and the call list as export tables, with the Chinese headers the console
//! shows. Rows are built from the same records the lists read; phone numbers are whole or
//! masked as the caller decides (the web applies the list's rule, `authz`).

use chrono::{DateTime, Utc};

use super::table::{Cell, Table};
use super::ReportsError;
use crate::calls::{outcome_zh, CallFilter, CallSummary, Calls, Page, MAX_PAGE_SIZE};
use crate::tickets::{state, Ticket, TicketFilter, Tickets};

/// Whether an export shows callers' numbers whole or as 138****5678.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phones {
    Whole,
    Masked,
}

impl Phones {
    fn show(self, number: &str) -> String {
        match self {
            Phones::Whole => number.to_string(),
            Phones::Masked => crate::privacy::mask(number),
        }
    }
}

/// Minutes in the hotline's time zone, as the console shows times.
fn local(tk: &Tickets, t: DateTime<Utc>) -> String {
    t.with_timezone(&tk.tz())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub const TICKET_HEADERS: [&str; 14] = [
    "工单编号",
    "来源",
    "类型",
    "状态",
    "承办单位",
    "受理时间",
    "办结时限",
    "是否超期",
    "督办",
    "来电号码",
    "地址",
    "诉求摘要",
    "办结时间",
    "满意度",
];

/// 工单列表: one row per ticket, in the order given.
pub fn tickets_table(tk: &Tickets, tickets: &[Ticket], phones: Phones) -> Table {
    let mut t = Table::new("工单列表", &TICKET_HEADERS);
    let now = Utc::now();
    for x in tickets {
        let open = state::is_open(x.state);
        let department = match &x.department {
            None => "未分派".to_string(),
            Some(d) => tk
                .department(d)
                .map(|d| d.name.clone())
                .unwrap_or_else(|| d.to_string()),
        };
        let summary = if x.summary.is_empty() {
            crate::tickets::summarize(&x.text)
        } else {
            x.summary.clone()
        };
        t.push(vec![
            Cell::text(x.number.as_str()),
            Cell::text(x.channel.label_zh()),
            Cell::text(x.kind.label_zh()),
            Cell::text(x.state.label_zh()),
            Cell::text(department),
            Cell::text(local(tk, x.created_at)),
            Cell::text(local(tk, x.deadline)),
            Cell::yes_no(open && x.deadline < now),
            Cell::yes_no(x.supervised),
            Cell::text(phones.show(x.phone.as_str())),
            Cell::text(x.address.clone().unwrap_or_default()),
            Cell::text(summary),
            Cell::text(x.resolved_at.map(|r| local(tk, r)).unwrap_or_default()),
            Cell::text(x.satisfaction.map(|s| s.label_zh()).unwrap_or_default()),
        ]);
    }
    t
}

pub const CALL_HEADERS: [&str; 12] = [
    "来电时间",
    "来电号码",
    "被叫号码",
    "语音导航路径",
    "队列",
    "接听话务员",
    "等待秒数",
    "通话秒数",
    "结果",
    "挂机方",
    "排队放弃",
    "工单编号",
];

fn secs(ms: Option<i64>) -> Cell {
    ms.map(|ms| Cell::Int((ms.max(0) + 999) / 1000))
        .unwrap_or(Cell::Empty)
}

/// 通话记录: one row per call, in the order given.
pub fn calls_table(tk: &Tickets, calls: &[CallSummary], phones: Phones) -> Table {
    let mut t = Table::new("通话记录", &CALL_HEADERS);
    for c in calls {
        t.push(vec![
            Cell::text(
                c.started_at
                    .with_timezone(&tk.tz())
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
            ),
            Cell::text(phones.show(&c.caller)),
            Cell::text(c.called.clone()),
            Cell::text(c.ivr_path.join(" › ")),
            Cell::text(c.queue.clone().unwrap_or_default()),
            Cell::text(c.agent.clone().unwrap_or_default()),
            secs(c.wait_ms),
            secs(c.talk_ms),
            Cell::text(c.outcome.as_deref().map(outcome_zh).unwrap_or("通话中")),
            Cell::text(c.hangup_side.map(|s| s.label_zh()).unwrap_or_default()),
            Cell::yes_no(c.abandoned),
            Cell::text(c.ticket_number.clone().unwrap_or_default()),
        ]);
    }
    t
}

/// A list too long to export or tally at once.
#[derive(Debug, thiserror::Error)]
#[error("{found} rows match, more than the {max} one export holds: narrow the filters")]
pub struct TooMany {
    pub found: i64,
    pub max: usize,
}

/// The most rows one export holds.
pub const EXPORT_MAX_ROWS: usize = 20_000;

/// Every ticket matching `f` (its `limit` and `offset` ignored), newest first, read a
/// thousand at a time (the most one list query returns); more than `max` is an error, not
/// a silently cut file.
pub async fn collect_tickets(
    tk: &Tickets,
    f: &TicketFilter,
    max: usize,
) -> Result<Vec<Ticket>, ReportsError> {
    // As of now: tickets arriving while the pages are read would shift them.
    let mut f = f.clone();
    f.created_to.get_or_insert_with(Utc::now);
    let f = &f;
    let found = tk.count(f).await?;
    if found > max as i64 {
        return Err(TooMany { found, max }.into());
    }
    let mut out = Vec::with_capacity(found.max(0) as usize);
    each_ticket(tk, f, |t| out.push(t)).await?;
    out.truncate(max);
    Ok(out)
}

/// Hands every ticket matching `f` to `each`, newest first, a thousand at a time, holding
/// no more than one page: for tallies over periods of any size.
pub async fn each_ticket(
    tk: &Tickets,
    f: &TicketFilter,
    mut each: impl FnMut(Ticket),
) -> Result<(), ReportsError> {
    const PAGE: i64 = 1000;
    let mut f = f.clone();
    f.limit = PAGE;
    f.offset = 0;
    loop {
        let page = tk.list(&f).await?;
        let n = page.len() as i64;
        page.into_iter().for_each(&mut each);
        if n < PAGE {
            return Ok(());
        }
        f.offset += PAGE;
    }
}

/// Every call record matching `f`, newest first, a page at a time; more than `max` is an
/// error.
pub async fn collect_calls(
    records: &Calls,
    f: &CallFilter,
    max: usize,
) -> Result<Vec<CallSummary>, ReportsError> {
    // As of now: calls arriving while the pages are read would shift them.
    let mut f = f.clone();
    f.to.get_or_insert_with(Utc::now);
    let f = &f;
    let found = records.count(f).await?;
    if found > max as i64 {
        return Err(TooMany { found, max }.into());
    }
    let mut out = Vec::with_capacity(found.max(0) as usize);
    let mut number = 1;
    loop {
        let page = records
            .list(
                f,
                Page {
                    number,
                    size: MAX_PAGE_SIZE,
                },
            )
            .await?;
        let n = page.len();
        out.extend(page);
        if n < MAX_PAGE_SIZE as usize || out.len() >= max {
            break;
        }
        number += 1;
    }
    out.truncate(max);
    Ok(out)
}
