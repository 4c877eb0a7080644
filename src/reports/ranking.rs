//! The department ranking (考核排名) of a month: each department's tickets received, on
//! time, overdue, returned and its satisfaction, from the scorecard's report by department
//! (which counts each step for the department that held the ticket then). The rank is fixed
//! by one rule; sorting a column only changes the order rows are shown in.
//!
//! Rank rule: 按时办结率 high first, then 满意度 high first, then 超期 few first, then 退单
//! few first; a department with nothing resolved or rated (no rate) comes after those with
//! one; ties keep the department's name order.

use std::cmp::Ordering;
use std::str::FromStr;

use serde::Serialize;

use super::table::{Cell, Table};
use crate::scorecard::{Kpi, Report};

/// One department's line.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DepartmentRank {
    /// 1 for the best, by the rank rule.
    pub rank: usize,
    pub department: String,
    pub name: String,
    /// Dispatches the department received (受理量).
    pub received: i64,
    pub resolved: i64,
    pub resolved_on_time: i64,
    /// Tickets whose deadline fell in the month with no resolution by it.
    pub overdue: i64,
    pub returned: i64,
    pub rated: i64,
    pub satisfied: i64,
    /// resolved_on_time / resolved, percent; null with nothing resolved.
    pub on_time_rate: Option<f64>,
    /// returned / dispatched, percent.
    pub return_rate: Option<f64>,
    /// satisfied / rated, percent; null with nothing rated.
    pub satisfaction: Option<f64>,
}

/// A column the ranking can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Rank,
    Name,
    Received,
    OnTime,
    OnTimeRate,
    Overdue,
    Returned,
    ReturnRate,
    Satisfaction,
}

impl SortKey {
    pub const ALL: [SortKey; 9] = [
        SortKey::Rank,
        SortKey::Name,
        SortKey::Received,
        SortKey::OnTime,
        SortKey::OnTimeRate,
        SortKey::Overdue,
        SortKey::Returned,
        SortKey::ReturnRate,
        SortKey::Satisfaction,
    ];

    pub fn code(self) -> &'static str {
        match self {
            SortKey::Rank => "rank",
            SortKey::Name => "name",
            SortKey::Received => "received",
            SortKey::OnTime => "on_time",
            SortKey::OnTimeRate => "on_time_rate",
            SortKey::Overdue => "overdue",
            SortKey::Returned => "returned",
            SortKey::ReturnRate => "return_rate",
            SortKey::Satisfaction => "satisfaction",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            SortKey::Rank => "排名",
            SortKey::Name => "承办单位",
            SortKey::Received => "受理",
            SortKey::OnTime => "按时办结",
            SortKey::OnTimeRate => "按时办结率",
            SortKey::Overdue => "超期",
            SortKey::Returned => "退单",
            SortKey::ReturnRate => "退单率",
            SortKey::Satisfaction => "满意度",
        }
    }

    /// The order a first click on the column shows: best first (high rates, few overdue).
    pub fn descending_first(self) -> bool {
        matches!(
            self,
            SortKey::Received | SortKey::OnTime | SortKey::OnTimeRate | SortKey::Satisfaction
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sort column `{0}`: use rank, name, received, on_time, on_time_rate, overdue, returned, return_rate or satisfaction")]
pub struct UnknownSort(pub String);

impl FromStr for SortKey {
    type Err = UnknownSort;
    fn from_str(s: &str) -> Result<SortKey, UnknownSort> {
        SortKey::ALL
            .into_iter()
            .find(|k| k.code() == s.trim())
            .ok_or_else(|| UnknownSort(s.to_string()))
    }
}

/// Rates compare with "no rate" last.
fn by_rate_desc(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn rank_order(a: &DepartmentRank, b: &DepartmentRank) -> Ordering {
    by_rate_desc(a.on_time_rate, b.on_time_rate)
        .then(by_rate_desc(a.satisfaction, b.satisfaction))
        .then(a.overdue.cmp(&b.overdue))
        .then(a.returned.cmp(&b.returned))
        .then(a.name.cmp(&b.name))
}

/// The ranking of a report by department, in rank order.
pub fn ranking(report: &Report) -> Vec<DepartmentRank> {
    let mut rows: Vec<DepartmentRank> = report
        .rows
        .iter()
        .map(|r| {
            let t = &r.tickets;
            let kpi = |k| r.kpi(k).and_then(|v| v.value);
            DepartmentRank {
                rank: 0,
                department: r.key.clone(),
                name: r.label.clone(),
                received: t.received,
                resolved: t.resolved,
                resolved_on_time: t.resolved_on_time,
                overdue: t.overdue,
                returned: t.returned,
                rated: t.rated,
                satisfied: t.satisfied,
                on_time_rate: kpi(Kpi::OnTimeRate),
                return_rate: kpi(Kpi::ReturnRate),
                satisfaction: kpi(Kpi::Satisfaction),
            }
        })
        .collect();
    rows.sort_by(rank_order);
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    rows
}

/// Orders rows by a column; rows equal in it keep their rank order. Missing rates go last
/// either way.
pub fn sort(rows: &mut [DepartmentRank], key: SortKey, descending: bool) {
    let rate = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => {
            let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
            if descending {
                o.reverse()
            } else {
                o
            }
        }
        _ => by_rate_desc(a, b),
    };
    let dir = |o: Ordering| if descending { o.reverse() } else { o };
    rows.sort_by(|a, b| {
        let o = match key {
            SortKey::Rank => dir(a.rank.cmp(&b.rank)),
            SortKey::Name => dir(a.name.cmp(&b.name)),
            SortKey::Received => dir(a.received.cmp(&b.received)),
            SortKey::OnTime => dir(a.resolved_on_time.cmp(&b.resolved_on_time)),
            SortKey::Overdue => dir(a.overdue.cmp(&b.overdue)),
            SortKey::Returned => dir(a.returned.cmp(&b.returned)),
            SortKey::OnTimeRate => rate(a.on_time_rate, b.on_time_rate),
            SortKey::ReturnRate => rate(a.return_rate, b.return_rate),
            SortKey::Satisfaction => rate(a.satisfaction, b.satisfaction),
        };
        o.then(a.rank.cmp(&b.rank))
    });
}

pub const RANKING_HEADERS: [&str; 11] = [
    "排名",
    "承办单位",
    "受理",
    "办结",
    "按时办结",
    "按时办结率(%)",
    "超期",
    "退单",
    "退单率(%)",
    "评价数",
    "满意度(%)",
];

/// 考核排名 of `month`, rows in the order given.
pub fn ranking_table(month: &str, rows: &[DepartmentRank]) -> Table {
    let mut t = Table::new(&format!("考核排名 {month}"), &RANKING_HEADERS);
    for r in rows {
        t.push(vec![
            Cell::Int(r.rank as i64),
            Cell::text(r.name.clone()),
            Cell::Int(r.received),
            Cell::Int(r.resolved),
            Cell::Int(r.resolved_on_time),
            Cell::opt_number(r.on_time_rate),
            Cell::Int(r.overdue),
            Cell::Int(r.returned),
            Cell::opt_number(r.return_rate),
            Cell::Int(r.rated),
            Cell::opt_number(r.satisfaction),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, on_time: Option<f64>, sat: Option<f64>, overdue: i64) -> DepartmentRank {
        DepartmentRank {
            rank: 0,
            department: name.into(),
            name: name.into(),
            received: 0,
            resolved: 0,
            resolved_on_time: 0,
            overdue,
            returned: 0,
            rated: 0,
            satisfied: 0,
            on_time_rate: on_time,
            return_rate: None,
            satisfaction: sat,
        }
    }

    #[test]
    fn rank_rule_then_sorting_by_a_column() {
        let mut rows = vec![
            row("甲", Some(90.0), Some(80.0), 1),
            row("乙", None, None, 0),
            row("丙", Some(100.0), None, 3),
            row("丁", Some(90.0), Some(95.0), 0),
        ];
        rows.sort_by(rank_order);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["丙", "丁", "甲", "乙"]);
        for (i, r) in rows.iter_mut().enumerate() {
            r.rank = i + 1;
        }
        sort(&mut rows, SortKey::Overdue, false);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["丁", "乙", "甲", "丙"],
            "fewest overdue first, ties by rank"
        );
        sort(&mut rows, SortKey::Satisfaction, false);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["甲", "丁", "丙", "乙"], "no rate last either way");
        assert_eq!("on_time_rate".parse::<SortKey>(), Ok(SortKey::OnTimeRate));
        assert!("drop table".parse::<SortKey>().is_err());
    }
}
