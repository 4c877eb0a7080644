//! The report pages of supervisors: the department ranking of a month (`/reports/departments`,
//! sorted on the server by `sort=` and `dir=` so it works without JavaScript), the printable
//! monthly report (`/reports/monthly`), and the exports of both and of any KPI report
//! (`/reports/kpis/export`). The board's trend charts and hot topics are made here too.
//! Figures come from the scorecard; nothing is counted here.

use axum::extract::{Query, State};
use chrono::{NaiveDate, TimeZone, Utc};
use minijinja::value::Serde;
use minijinja::{context, Value};
use serde::Deserialize;

use super::*;
use crate::reports::hot_topics::{self, HotTopics};
use crate::reports::kpi_table::report_table;
use crate::reports::ranking::{ranking, ranking_table, sort, DepartmentRank, SortKey};
use crate::reports::trend;
use crate::scorecard::{Direction, Grain, GroupBy, Span};
use crate::web::authz::Perm;
use crate::web::export::{download, format_of};

#[derive(Debug, Deserialize, Default)]
pub(super) struct MonthQuery {
    #[serde(default)]
    month: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// The month asked for (`YYYY-MM`), this month when absent, as its key and span.
fn month_of(ctx: &Ctx, v: Option<&str>) -> Result<(String, Span), WebError> {
    let sc = ctx.scorecard();
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            let span = sc.last(Grain::Month, 1);
            Ok((Grain::Month.key(span.first), span))
        }
        Some(m) => {
            let first = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
                .ok()
                .filter(|_| m.len() == 7)
                .ok_or_else(|| WebError::BadRequest("月份应为 YYYY-MM，例如 2026-12。".into()))?;
            let span = Span::of(sc.tz(), Grain::Month, first);
            Ok((m.to_string(), span))
        }
    }
}

/// The sort a query asks for, checked; the column's best-first order when `dir` is absent.
fn sort_of(q: &MonthQuery) -> Result<(SortKey, bool), WebError> {
    let key = match q.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => SortKey::Rank,
        Some(s) => s
            .parse::<SortKey>()
            .map_err(|_| WebError::BadRequest("没有这个排序列。".into()))?,
    };
    let desc = match q.dir.as_deref().map(str::trim) {
        None | Some("") => key.descending_first(),
        Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(WebError::BadRequest("排序方向应为 asc 或 desc。".into())),
    };
    Ok((key, desc))
}

/// The ranking of a month, in rank order.
pub(super) async fn month_ranking(ctx: &Ctx, span: &Span) -> Result<Vec<DepartmentRank>, WebError> {
    let report = ctx.scorecard().report(span, GroupBy::Department).await?;
    Ok(ranking(&report))
}

/// `/reports/departments`: 考核排名.
pub(super) async fn ranking_page(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<MonthQuery>,
) -> Page {
    s.require(Perm::Board)?;
    let (month, span) = month_of(&ctx, q.month.as_deref())?;
    let (key, desc) = sort_of(&q)?;
    let mut rows = month_ranking(&ctx, &span).await?;
    sort(&mut rows, key, desc);
    // Each header links to its sort; clicking the current column flips the order.
    let columns: Vec<_> = SortKey::ALL
        .iter()
        .map(|k| {
            let next_desc = if *k == key { !desc } else { k.descending_first() };
            context! {
                code => k.code(),
                label => k.label_zh(),
                current => *k == key,
                desc => desc,
                href => format!("?month={month}&sort={}&dir={}", k.code(), if next_desc { "desc" } else { "asc" }),
            }
        })
        .collect();
    render(
        &ctx,
        Some(&s),
        "ranking.html",
        context! {
            month => month,
            period => span.label(),
            rows => Value::from(Serde(&rows)),
            columns => columns,
            sort => key.code(),
            dir => if desc { "desc" } else { "asc" },
        },
    )
}

/// `/reports/departments/export`: the ranking as a file, in the order the page showed.
pub(super) async fn ranking_export(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<MonthQuery>,
) -> Page {
    s.require(Perm::Board)?;
    let format = format_of(q.format.as_deref())?;
    let (month, span) = month_of(&ctx, q.month.as_deref())?;
    let (key, desc) = sort_of(&q)?;
    let mut rows = month_ranking(&ctx, &span).await?;
    sort(&mut rows, key, desc);
    download(
        ctx.tickets(),
        &ranking_table(&month, &rows),
        format,
        "ranking",
    )
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct KpiExportQuery {
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    group_by: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// `/reports/kpis/export`: a KPI report (a day, week or month, cut by any grouping) as a file.
pub(super) async fn kpis_export(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<KpiExportQuery>,
) -> Page {
    s.require(Perm::Board)?;
    let format = format_of(q.format.as_deref())?;
    let sc = ctx.scorecard();
    let span = match q.period.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => sc.last(Grain::Month, 1),
        Some(p) => sc
            .parse_span(p)
            .map_err(|_| WebError::BadRequest("期间应为日期、周或月份，例如 2026-12。".into()))?,
    };
    let group: GroupBy = q
        .group_by
        .as_deref()
        .filter(|g| !g.trim().is_empty())
        .unwrap_or("total")
        .parse()
        .map_err(|_| WebError::BadRequest("没有这种分组。".into()))?;
    let report = sc.report(&span, group).await?;
    download(ctx.tickets(), &report_table(&report), format, "kpis")
}

/// Charts as inline SVG for a template.
fn svgs(charts: Vec<crate::reports::chart::Chart>) -> Vec<Value> {
    charts
        .iter()
        .map(|c| Value::from_safe_string(c.svg()))
        .collect()
}

/// The board's trends (last 30 days, last 12 months) and this week's hot topics.
pub(super) async fn board_reports(ctx: &Ctx) -> Result<Value, WebError> {
    let sc = ctx.scorecard();
    let days = sc.report(&sc.last(Grain::Day, 30), GroupBy::Day).await?;
    let months = sc
        .report(&sc.last(Grain::Month, 12), GroupBy::Month)
        .await?;
    let hot = hot_topics::this_week(ctx.tickets(), Utc::now()).await?;
    Ok(context! {
        days => svgs(trend::charts(&days, "近30天")),
        months => svgs(trend::charts(&months, "近12个月")),
        hot => Value::from(Serde(&hot)),
        hot_from => super::super::views::when(ctx.tickets(), hot.from),
        this_month => Grain::Month.key(sc.last(Grain::Month, 1).first),
    })
}

/// `/reports/monthly`: the month's KPIs against their targets, the ranking, the trends and
/// the hot topics, on one page that prints on A4.
pub(super) async fn monthly_page(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<MonthQuery>,
) -> Page {
    s.require(Perm::Board)?;
    let (month, span) = month_of(&ctx, q.month.as_deref())?;
    let sc = ctx.scorecard();
    let total = sc.report(&span, GroupBy::Total).await?.total;
    let kpis: Vec<_> = total
        .kpis
        .iter()
        .map(|k| context! { v => Value::from(Serde(k)), at_most => k.direction == Direction::AtMost })
        .collect();
    let days = sc.report(&span, GroupBy::Day).await?;
    let year = Span::last(
        sc.tz(),
        Grain::Month,
        12,
        span.end - chrono::Duration::days(1),
    );
    let months = sc.report(&year, GroupBy::Month).await?;
    let rows = month_ranking(&ctx, &span).await?;
    let at = |d: NaiveDate| {
        sc.tz()
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    let to = at(span.end).min(Utc::now());
    let hot: HotTopics = hot_topics::between(ctx.tickets(), at(span.first), to).await?;
    let title = format!("{}年{}月", &month[..4], month[5..].trim_start_matches('0'));
    render(
        &ctx,
        Some(&s),
        "monthly.html",
        context! {
            month => month,
            title => title.clone(),
            period => span.label(),
            total => Value::from(Serde(&total)),
            kpis => kpis,
            rows => Value::from(Serde(&rows)),
            days => svgs(trend::charts(&days, &title)),
            months => svgs(trend::charts(&months, "近12个月")),
            hot => Value::from(Serde(&hot)),
            made => super::super::views::when(ctx.tickets(), Utc::now()),
        },
    )
}
