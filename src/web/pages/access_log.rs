//! The access log of personal data (个人信息查阅记录, `/console/access-log`): who opened which
//! resident's whole number or recording, when, through which face and from which address,
//! newest first, filtered by account and day, a page at a time. Supervisors and
//! administrators only; the operators and departments it watches are refused.

use axum::extract::{Query, State};
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::*;
use crate::web::access_log::{self, AccessFilter, AccessRow};
use crate::web::authz::reads_access_log;
use crate::web::views::{day_start, when_ms, Paging};

/// The form's choices; every field optional and checked here.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub(super) struct AccessQuery {
    #[serde(default)]
    account: Option<String>,
    /// YYYY-MM-DD in the hotline's time zone; every day when absent.
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

#[derive(Debug, Serialize)]
struct Row {
    at: String,
    account: String,
    role: String,
    what: &'static str,
    via: &'static str,
    /// Link and label of whose data it was.
    of_href: String,
    of_label: String,
    from_addr: String,
}

fn row(ctx: &Ctx, r: AccessRow) -> Row {
    let (of_href, of_label) = match (r.ticket_id, r.call_id) {
        (Some(t), _) => (format!("/tickets/{t}"), format!("工单 {t}")),
        (None, Some(c)) => (format!("/console/calls/{c}"), format!("通话 {c}")),
        (None, None) => (String::new(), String::new()),
    };
    Row {
        at: when_ms(ctx.tickets(), r.at),
        role: r
            .role
            .parse::<crate::web::accounts::Role>()
            .map(|role| role.label_zh().to_string())
            .unwrap_or(r.role),
        account: r.account,
        what: match r.what.as_str() {
            "phone" => "完整号码",
            "recording" => "录音",
            _ => "其他",
        },
        via: match r.via.as_str() {
            "page" => "页面",
            "api" => "接口",
            "download" => "下载",
            _ => "其他",
        },
        of_href,
        of_label,
        from_addr: r.from_addr.unwrap_or_default(),
    }
}

pub(super) async fn access_log_page(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<AccessQuery>,
) -> Page {
    if !reads_access_log(s.account.role) {
        return Err(WebError::Forbidden);
    }
    let tk = ctx.tickets();
    let date = nonempty(&q.date).map(str::to_string);
    let f = AccessFilter {
        account: nonempty(&q.account).map(str::to_string),
        from: date
            .as_deref()
            .map(|d| day_start(tk, "日期", d, 0))
            .transpose()?
            .map(|t| t.timestamp_millis()),
        to: date
            .as_deref()
            .map(|d| day_start(tk, "日期", d, 1))
            .transpose()?
            .map(|t| t.timestamp_millis()),
    };
    let total = access_log::count(&ctx, &f).await?;
    let paging = Paging::of(ctx.cfg.page_size, total, nonempty(&q.page));
    let Paging { page, pages, size } = paging;
    let rows: Vec<Row> = access_log::list(&ctx, &f, i64::from(size), paging.offset())
        .await?
        .into_iter()
        .map(|r| row(&ctx, r))
        .collect();
    let keep = serde_urlencoded::to_string(AccessQuery {
        page: None,
        ..q.clone()
    })
    .unwrap_or_default();
    render(
        &ctx,
        Some(&s),
        "access_log.html",
        context! {
            rows => Value::from(Serde(&rows)),
            account => f.account.unwrap_or_default(),
            date => date.unwrap_or_default(),
            keep => keep,
            total => total,
            page => page,
            pages => pages,
        },
    )
}
