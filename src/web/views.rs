//! Server-rendered pages: minijinja templates compiled into the binary, and the view models
//! that turn tickets into what people read (Chinese labels, Beijing time, no code names).

use chrono::{DateTime, Utc};
use minijinja::Environment;
use serde::Serialize;

use super::accounts::Account;
use super::auth::Session;
use super::authz::{allows, Perm};
use crate::tickets::{state, Ticket, Tickets};

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    let templates: &[(&str, &str)] = &[
        ("layout.html", include_str!("templates/layout.html")),
        ("login.html", include_str!("templates/login.html")),
        ("console.html", include_str!("templates/console.html")),
        ("rows.html", include_str!("templates/rows.html")),
        ("ticket.html", include_str!("templates/ticket.html")),
        ("new_ticket.html", include_str!("templates/new_ticket.html")),
        ("board.html", include_str!("templates/board.html")),
        ("ranking.html", include_str!("templates/ranking.html")),
        ("monthly.html", include_str!("templates/monthly.html")),
        ("hot_topics.html", include_str!("templates/hot_topics.html")),
        ("calls.html", include_str!("templates/calls.html")),
        ("abandoned.html", include_str!("templates/abandoned.html")),
        ("access_log.html", include_str!("templates/access_log.html")),
        ("call.html", include_str!("templates/call.html")),
        ("accounts.html", include_str!("templates/accounts.html")),
        ("status.html", include_str!("templates/status.html")),
        ("desk.html", include_str!("templates/desk.html")),
        ("pop.html", include_str!("templates/pop.html")),
        ("wallboard.html", include_str!("templates/wallboard.html")),
        (
            "wallboard_body.html",
            include_str!("templates/wallboard_body.html"),
        ),
    ];
    for (name, src) in templates {
        if let Err(e) = env.add_template(name, src) {
            // A broken template is a bug in this crate; the page will answer 500 and log it.
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
}

/// Beijing time, minutes.
pub fn when(tickets: &Tickets, t: DateTime<Utc>) -> String {
    t.with_timezone(&tickets.tz())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Midnight starting `date` (YYYY-MM-DD) in the hotline's time zone, `days` later.
pub fn day_start(
    tk: &Tickets,
    what: &str,
    date: &str,
    days: u64,
) -> Result<DateTime<Utc>, super::error::WebError> {
    let bad = || super::error::WebError::BadRequest(format!("{what}应为日期，例如 2024-05-01。"));
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad())?;
    let d = d
        .checked_add_days(chrono::Days::new(days))
        .ok_or_else(bad)?;
    let midnight = d.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
    use chrono::TimeZone;
    tk.tz()
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// One page of a console list: the page asked for, clamped to those that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// From 1.
    pub page: u32,
    pub pages: u32,
    /// Rows on a page: the configured page size, within 1..=200.
    pub size: u32,
}

impl Paging {
    /// `asked` is the `page` query parameter as typed; anything unreadable is the first page.
    pub fn of(page_size: i64, total: i64, asked: Option<&str>) -> Self {
        let size = u32::try_from(page_size.clamp(1, 200)).unwrap_or(50);
        let pages = u32::try_from((total.max(0) + i64::from(size) - 1) / i64::from(size))
            .unwrap_or(u32::MAX)
            .max(1);
        let page = asked
            .and_then(|p| p.trim().parse::<u32>().ok())
            .unwrap_or(1)
            .clamp(1, pages);
        Self { page, pages, size }
    }

    /// Rows before this page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.size)
    }
}

/// Today in the hotline's time zone, YYYY-MM-DD (a day filter's default).
pub fn today(tk: &Tickets) -> String {
    Utc::now()
        .with_timezone(&tk.tz())
        .format("%Y-%m-%d")
        .to_string()
}

pub fn when_ms(tickets: &Tickets, ms: i64) -> String {
    use chrono::TimeZone;
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| when(tickets, t))
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct UserView {
    pub name: String,
    pub label: String,
    pub role: &'static str,
    pub role_zh: &'static str,
    pub dept_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Can {
    pub view: bool,
    pub create: bool,
    pub dispatch: bool,
    pub merge: bool,
    pub answer: bool,
    pub sign: bool,
    pub resolve: bool,
    pub ret: bool,
    pub extend: bool,
    pub decide: bool,
    pub supervise: bool,
    pub note: bool,
    /// 回访、代评价、结案 by hand.
    pub follow_up: bool,
    pub board: bool,
    pub accounts: bool,
    pub calls: bool,
    pub desk: bool,
    pub wallboard: bool,
    pub access_log: bool,
}

pub fn can(a: Option<&Account>) -> Can {
    let p = |perm| a.map(|a| allows(a.role, perm)).unwrap_or(false);
    Can {
        view: p(Perm::ViewTickets),
        create: p(Perm::CreateTicket),
        dispatch: p(Perm::Dispatch),
        merge: p(Perm::Merge),
        answer: p(Perm::AnswerDirectly),
        sign: p(Perm::Sign),
        resolve: p(Perm::Resolve),
        ret: p(Perm::Return),
        extend: p(Perm::RequestExtension),
        decide: p(Perm::DecideExtension),
        supervise: p(Perm::Supervise),
        note: p(Perm::Note),
        follow_up: p(Perm::FollowUp),
        board: p(Perm::Board),
        accounts: p(Perm::ManageAccounts),
        calls: p(Perm::ViewCalls),
        desk: p(Perm::Desk),
        wallboard: p(Perm::ManageAgents),
        access_log: a.is_some_and(|a| super::authz::reads_access_log(a.role)),
    }
}

pub fn user_view(tickets: &Tickets, s: &Session) -> UserView {
    let a = &s.account;
    UserView {
        name: a.name.clone(),
        label: a.label(),
        role: a.role.code(),
        role_zh: a.role.label_zh(),
        dept_name: a
            .department
            .as_ref()
            .map(|d| dept_name(tickets, Some(d.as_str()))),
    }
}

pub fn dept_name(tickets: &Tickets, id: Option<&str>) -> String {
    match id {
        None => "未分派".into(),
        Some(id) => tickets
            .departments()
            .iter()
            .find(|d| d.id.as_str() == id)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| "（已撤销的单位）".into()),
    }
}

#[derive(Debug, Serialize)]
pub struct TicketView {
    pub id: i64,
    pub number: String,
    pub channel: &'static str,
    pub kind: &'static str,
    pub kind_code: &'static str,
    pub state: &'static str,
    pub state_code: &'static str,
    pub phone: String,
    pub text: String,
    pub summary: String,
    pub address: String,
    pub department: String,
    pub department_id: String,
    pub deadline: String,
    pub created: String,
    pub updated: String,
    pub overdue: bool,
    pub near: bool,
    pub open: bool,
    pub needs_review: bool,
    pub supervised: bool,
    pub answer: String,
    pub has_recording: bool,
    pub satisfaction: String,
    pub extension_days: Option<i64>,
}

pub fn ticket_view(tickets: &Tickets, t: &Ticket, near_hours: u64) -> TicketView {
    let now = Utc::now();
    let open = state::is_open(t.state);
    TicketView {
        id: t.id.0,
        number: t.number.to_string(),
        channel: t.channel.label_zh(),
        kind: t.kind.label_zh(),
        kind_code: t.kind.code(),
        state: t.state.label_zh(),
        state_code: t.state.code(),
        phone: t.phone.to_string(),
        text: t.text.clone(),
        summary: if t.summary.is_empty() {
            crate::tickets::summarize(&t.text)
        } else {
            t.summary.clone()
        },
        address: t.address.clone().unwrap_or_default(),
        department: dept_name(tickets, t.department.as_ref().map(|d| d.as_str())),
        department_id: t
            .department
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        deadline: when(tickets, t.deadline),
        created: when(tickets, t.created_at),
        updated: when(tickets, t.updated_at),
        overdue: open && t.deadline < now,
        near: open
            && t.deadline >= now
            && t.deadline < now + chrono::Duration::hours(near_hours as i64),
        open,
        needs_review: t.needs_review,
        supervised: t.supervised,
        answer: t.answer.clone().unwrap_or_default(),
        has_recording: t.recording_path.is_some(),
        satisfaction: t
            .satisfaction
            .map(|s| s.label_zh().to_string())
            .unwrap_or_default(),
        extension_days: t.extension_days,
    }
}

/// The audit's actor strings (`operator:张三`, `department:water:李四`) for people.
pub fn actor_zh(tickets: &Tickets, actor: &str) -> String {
    let mut parts = actor.splitn(3, ':');
    let kind = parts.next().unwrap_or("");
    let a = parts.next().unwrap_or("");
    let b = parts.next();
    match kind {
        "system" => "系统".into(),
        "operator" if a == "admin" => format!("管理员 {}", b.unwrap_or("")),
        "operator" => format!(
            "话务员 {}",
            actor.split_once(':').map(|x| x.1).unwrap_or("")
        ),
        "department" => format!("{} {}", dept_name(tickets, Some(a)), b.unwrap_or("")),
        "supervisor" => format!("督办 {}", actor.split_once(':').map(|x| x.1).unwrap_or("")),
        "resident" => format!("市民 {a}"),
        "client" => format!("对接系统 {a}"),
        "survey-call" => "回访电话".into(),
        _ => actor.to_string(),
    }
}

/// Notes may carry department ids and rule names (from routing); show names instead.
pub fn note_zh(tickets: &Tickets, note: &str) -> String {
    let mut out = note.to_string();
    for d in tickets.departments() {
        if out.contains(d.id.as_str()) {
            out = out.replace(d.id.as_str(), &d.name);
        }
    }
    out.replace("rule:", "规则：")
        .replace("area:", "属地：")
        .replace("transcript:", "转写：")
        .replace("review", "待人工分派")
        .replace("operator:", "")
}

/// Why a ticket went where it went (`rule:…`, `area:…`, `transcript:…`, `review`, an operator).
pub fn routed_by_zh(tickets: &Tickets, routed_by: &str) -> String {
    match routed_by {
        "" => String::new(),
        "system" => "系统自动".into(),
        r if r.starts_with("operator:") => {
            let who = r.rsplit(':').next().unwrap_or("");
            format!("人工分派（{who}）")
        }
        r => note_zh(tickets, r),
    }
}

pub fn sms_state_zh(s: &str) -> &'static str {
    match s {
        "pending" => "待发送",
        "sent" => "已发送",
        "delivered" => "已送达",
        "undeliverable" => "无法送达",
        "failed" => "发送失败",
        "suppressed" => "未发送（退订或超限）",
        _ => "处理中",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_states_read_in_chinese() {
        assert_eq!(sms_state_zh("delivered"), "已送达");
        assert_eq!(sms_state_zh("whatever"), "处理中");
    }

    #[test]
    fn a_page_past_the_end_is_the_last_and_nonsense_the_first() {
        let p = Paging::of(50, 120, Some("9"));
        assert_eq!((p.page, p.pages, p.size, p.offset()), (3, 3, 50, 100));
        assert_eq!(Paging::of(50, 120, Some("x")).page, 1);
        assert_eq!(Paging::of(50, 0, None).pages, 1);
        assert_eq!(Paging::of(0, 5, None).size, 1);
    }

    #[test]
    fn templates_all_compile() {
        let env = environment();
        for name in [
            "layout.html",
            "login.html",
            "console.html",
            "rows.html",
            "ticket.html",
            "new_ticket.html",
            "board.html",
            "ranking.html",
            "monthly.html",
            "hot_topics.html",
            "accounts.html",
            "status.html",
            "desk.html",
            "pop.html",
            "wallboard.html",
            "wallboard_body.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
