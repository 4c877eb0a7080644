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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorecard::{CallFigures, KpiValue, TicketFigures};

    fn day(key: &str, offered: i64, connected: i64, rated: i64, satisfied: i64) -> ReportRow {
        ReportRow {
            key: key.into(),
            label: key.into(),
            calls: CallFigures {
                offered,
                connected,
                ..Default::default()
            },
            tickets: TicketFigures {
                received: offered / 2,
                rated,
                satisfied,
                ..Default::default()
            },
            kpis: vec![
                KpiValue::new(
                    Kpi::ConnectRate,
                    "接通率".into(),
                    connected as f64,
                    offered as f64,
                    Some(95.0),
                ),
                KpiValue::new(
                    Kpi::Satisfaction,
                    "满意度".into(),
                    satisfied as f64,
                    rated as f64,
                    Some(90.0),
                ),
            ],
        }
    }

    #[test]
    fn a_point_per_bucket_counts_as_bars_rates_as_lines_with_gaps() {
        let rows = vec![
            day("2026-12-01", 10, 9, 2, 1),
            day("2026-12-02", 0, 0, 0, 0),
            day("2026-12-03", 4, 4, 1, 1),
        ];
        let report = Report {
            from: "2026-12-01".into(),
            to: "2026-12-03".into(),
            group_by: GroupBy::Day,
            total: rows[0].clone(),
            rows,
        };
        let c = charts(&report, "近3天");
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].title, "近3天呼入量");
        assert_eq!(c[0].kind, Kind::Bar);
        assert_eq!(
            c[0].points,
            vec![
                ("12-01".to_string(), Some(10.0)),
                ("12-02".to_string(), Some(0.0)),
                ("12-03".to_string(), Some(4.0))
            ],
            "a quiet day is a zero bar"
        );
        assert_eq!(c[1].points[0].1, Some(5.0), "tickets received");
        assert_eq!(c[2].kind, Kind::Line);
        assert_eq!(c[2].points[0].1, Some(90.0));
        assert_eq!(c[2].points[1].1, None, "no calls: no 接通率, not 0 %");
        assert_eq!(c[3].points[0].1, Some(50.0));
        assert!(c[3].percent);
    }
}
