//! A scorecard report as an export table: one row per group and the total, the figures
//! behind the rates and every KPI (a KPI that does not apply to the grouping is empty).

use super::table::{Cell, Table};
use crate::scorecard::{GroupBy, Report, ReportRow};

/// What the first column holds for a grouping.
pub fn group_header(g: GroupBy) -> &'static str {
    match g {
        GroupBy::Total => "范围",
        GroupBy::Day => "日期",
        GroupBy::Week => "周",
        GroupBy::Month => "月份",
        GroupBy::Queue => "队列",
        GroupBy::Agent => "话务员",
        GroupBy::Department => "承办单位",
        GroupBy::Township => "乡镇（街道）",
    }
}

const FIGURES: [&str; 12] = [
    "呼入量",
    "接通",
    "请求人工",
    "人工接听",
    "放弃",
    "受理量",
    "派单",
    "退单",
    "办结",
    "按时办结",
    "超期",
    "评价数",
];

fn row_cells(r: &ReportRow) -> Vec<Cell> {
    let (c, t) = (&r.calls, &r.tickets);
    let mut out = vec![
        Cell::text(r.label.clone()),
        Cell::Int(c.offered),
        Cell::Int(c.connected),
        Cell::Int(c.asked_person),
        Cell::Int(c.person_answered),
        Cell::Int(c.abandoned),
        Cell::Int(t.received),
        Cell::Int(t.dispatched),
        Cell::Int(t.returned),
        Cell::Int(t.resolved),
        Cell::Int(t.resolved_on_time),
        Cell::Int(t.overdue),
        Cell::Int(t.rated),
    ];
    out.extend(r.kpis.iter().map(|k| Cell::opt_number(k.value)));
    out
}

/// 考核指标: the report's rows, then 合计.
pub fn report_table(report: &Report) -> Table {
    let mut headers: Vec<String> = vec![group_header(report.group_by).to_string()];
    headers.extend(FIGURES.iter().map(|s| s.to_string()));
    headers.extend(report.total.kpis.iter().map(|k| match k.unit {
        crate::scorecard::Unit::Percent => format!("{}(%)", k.label),
        _ => k.label.clone(),
    }));
    let mut t = Table {
        title: format!("考核指标 {} 至 {}", report.from, report.to),
        headers,
        rows: Vec::new(),
    };
    if report.group_by != GroupBy::Total {
        for r in &report.rows {
            t.push(row_cells(r));
        }
    }
    t.push(row_cells(&report.total));
    t
}
