//! Trend charts from the scorecard: calls offered (呼入量), tickets received (受理量), 接通率
//! and 满意度, by day over the last 30 days and by month over the last 12 months (or over
//! any span, for the monthly report). Every bucket of the span is a point: counts are 0 on
//! a quiet day, rates are missing when there was nothing to divide.

use super::chart::{Chart, Kind};
use crate::scorecard::{GroupBy, Kpi, Report, ReportRow};

/// The x label of a bucket key: `12-02` for a day, `2026-12` for a month.
fn x_label(group: GroupBy, key: &str) -> String {
    match group {
        GroupBy::Day => key.get(5..).unwrap_or(key).to_string(),
        _ => key.to_string(),
    }
}

/// The four charts of a report cut by day or month; `when` names the span in the titles
/// (近30天, 近12个月, 2026年12月).
pub fn charts(report: &Report, when: &str) -> Vec<Chart> {
    let g = report.group_by;
    let rows: &[ReportRow] = &report.rows;
    let points = |f: &dyn Fn(&ReportRow) -> Option<f64>| {
        rows.iter()
            .map(|r| (x_label(g, &r.key), f(r)))
            .collect::<Vec<_>>()
    };
    let kpi = |k: Kpi| move |r: &ReportRow| r.kpi(k).and_then(|v| v.value);
    vec![
        Chart {
            title: format!("{when}呼入量"),
            unit: "通".into(),
            kind: Kind::Bar,
            percent: false,
            points: points(&|r| Some(r.calls.offered as f64)),
        },
        Chart {
            title: format!("{when}工单受理量"),
            unit: "件".into(),
            kind: Kind::Bar,
            percent: false,
            points: points(&|r| Some(r.tickets.received as f64)),
        },
        Chart {
            title: format!("{when}接通率"),
            unit: "%".into(),
            kind: Kind::Line,
            percent: true,
            points: points(&kpi(Kpi::ConnectRate)),
        },
        Chart {
            title: format!("{when}满意度"),
            unit: "%".into(),
            kind: Kind::Line,
            percent: true,
            points: points(&kpi(Kpi::Satisfaction)),
        },
    ]
}
