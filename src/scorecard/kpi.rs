//! The KPIs a 12345 hotline is judged by, each with its formula (docs/kpis.md says the
//! same in words), and the value of one KPI against its target.

use serde::{Deserialize, Serialize};

/// One KPI. The formulas name the figures of [`super::CallFigures`] and
/// [`super::TicketFigures`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kpi {
    /// 接通率: `connected / offered`.
    ConnectRate,
    /// 15秒接通率: `person_in_target / asked_person` (GB/T 33358: ≥ 90 %).
    AnsweredInTarget,
    /// Service level as Asterisk's ServicelevelPerf: `person_in_target / person_answered`.
    ServiceLevel,
    /// As Asterisk's ServicelevelPerf2, abandons within the target count as in time:
    /// `(person_in_target + abandoned_in_target) / (person_answered + abandoned)`.
    ServiceLevel2,
    /// 放弃率: `abandoned / asked_person`.
    AbandonRate,
    /// 平均等待时长 (s): `wait_ms_total / person_answered`.
    AverageWait,
    /// 平均通话时长 (s): `talk_ms_total / talked`.
    AverageTalk,
    /// 人均每小时接听量: `person_answered / agent_hours`.
    CallsPerAgentHour,
    /// 一次办结率: `answered_directly / received`.
    FirstContactResolution,
    /// 按时办结率: `resolved_on_time / resolved`.
    OnTimeRate,
    /// 超期数: `overdue`.
    Overdue,
    /// 退单率: `returned / dispatched`.
    ReturnRate,
    /// 回访率: `followed_up / resolved`.
    FollowUpRate,
    /// 满意度: `satisfied / rated`.
    Satisfaction,
}

/// How a KPI is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Percent,
    Seconds,
    PerHour,
    Count,
}

/// Which side of its target a KPI must stay on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AtLeast,
    AtMost,
}

/// What a KPI is computed from: calls, tickets, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Calls,
    Tickets,
}

impl Kpi {
    pub const ALL: [Kpi; 14] = [
        Kpi::ConnectRate,
        Kpi::AnsweredInTarget,
        Kpi::ServiceLevel,
        Kpi::ServiceLevel2,
        Kpi::AbandonRate,
        Kpi::AverageWait,
        Kpi::AverageTalk,
        Kpi::CallsPerAgentHour,
        Kpi::FirstContactResolution,
        Kpi::OnTimeRate,
        Kpi::Overdue,
        Kpi::ReturnRate,
        Kpi::FollowUpRate,
        Kpi::Satisfaction,
    ];

    /// The name in the API, the config and Prometheus labels.
    pub fn code(self) -> &'static str {
        match self {
            Kpi::ConnectRate => "connect_rate",
            Kpi::AnsweredInTarget => "answered_in_target",
            Kpi::ServiceLevel => "service_level",
            Kpi::ServiceLevel2 => "service_level2",
            Kpi::AbandonRate => "abandon_rate",
            Kpi::AverageWait => "average_wait",
            Kpi::AverageTalk => "average_talk",
            Kpi::CallsPerAgentHour => "calls_per_agent_hour",
            Kpi::FirstContactResolution => "first_contact_resolution",
            Kpi::OnTimeRate => "on_time_rate",
            Kpi::Overdue => "overdue",
            Kpi::ReturnRate => "return_rate",
            Kpi::FollowUpRate => "follow_up_rate",
            Kpi::Satisfaction => "satisfaction",
        }
    }

    /// The Chinese name a director reads; `target_secs` names the answer target.
    pub fn label_zh(self, target_secs: u64) -> String {
        match self {
            Kpi::ConnectRate => "接通率".into(),
            Kpi::AnsweredInTarget => format!("{target_secs}秒接通率"),
            Kpi::ServiceLevel => "服务水平(SL)".into(),
            Kpi::ServiceLevel2 => "服务水平(SL2)".into(),
            Kpi::AbandonRate => "放弃率".into(),
            Kpi::AverageWait => "平均等待时长(秒)".into(),
            Kpi::AverageTalk => "平均通话时长(秒)".into(),
            Kpi::CallsPerAgentHour => "人均每小时接听量".into(),
            Kpi::FirstContactResolution => "一次办结率".into(),
            Kpi::OnTimeRate => "按时办结率".into(),
            Kpi::Overdue => "超期数".into(),
            Kpi::ReturnRate => "退单率".into(),
            Kpi::FollowUpRate => "回访率".into(),
            Kpi::Satisfaction => "满意度".into(),
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Kpi::AverageWait | Kpi::AverageTalk => Unit::Seconds,
            Kpi::CallsPerAgentHour => Unit::PerHour,
            Kpi::Overdue => Unit::Count,
            Kpi::ConnectRate
            | Kpi::AnsweredInTarget
            | Kpi::ServiceLevel
            | Kpi::ServiceLevel2
            | Kpi::AbandonRate
            | Kpi::FirstContactResolution
            | Kpi::OnTimeRate
            | Kpi::ReturnRate
            | Kpi::FollowUpRate
            | Kpi::Satisfaction => Unit::Percent,
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            Kpi::AbandonRate | Kpi::AverageWait | Kpi::Overdue | Kpi::ReturnRate => {
                Direction::AtMost
            }
            Kpi::ConnectRate
            | Kpi::AnsweredInTarget
            | Kpi::ServiceLevel
            | Kpi::ServiceLevel2
            | Kpi::AverageTalk
            | Kpi::CallsPerAgentHour
            | Kpi::FirstContactResolution
            | Kpi::OnTimeRate
            | Kpi::FollowUpRate
            | Kpi::Satisfaction => Direction::AtLeast,
        }
    }

    pub fn source(self) -> Source {
        match self {
            Kpi::ConnectRate
            | Kpi::AnsweredInTarget
            | Kpi::ServiceLevel
            | Kpi::ServiceLevel2
            | Kpi::AbandonRate
            | Kpi::AverageWait
            | Kpi::AverageTalk
            | Kpi::CallsPerAgentHour => Source::Calls,
            Kpi::FirstContactResolution
            | Kpi::OnTimeRate
            | Kpi::Overdue
            | Kpi::ReturnRate
            | Kpi::FollowUpRate
            | Kpi::Satisfaction => Source::Tickets,
        }
    }
}

/// A KPI's value in one row of a report, with its target.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiValue {
    pub kpi: Kpi,
    pub label: String,
    pub unit: Unit,
    /// Rounded to one decimal; null when nothing was counted (no calls offered, nothing
    /// resolved, …) or the KPI does not apply to the row (a department has no calls).
    pub value: Option<f64>,
    pub numerator: f64,
    pub denominator: f64,
    pub target: Option<f64>,
    pub direction: Direction,
    /// False when a target is set and the value misses it; null without a value or target.
    pub met: Option<bool>,
}

impl KpiValue {
    /// `numerator / denominator` as the KPI's unit (percent for rates), `None` over zero.
    pub fn new(
        kpi: Kpi,
        label: String,
        numerator: f64,
        denominator: f64,
        target: Option<f64>,
    ) -> Self {
        let value = match kpi.unit() {
            Unit::Count => Some(numerator),
            Unit::Percent => ratio(numerator * 100.0, denominator),
            Unit::Seconds => ratio(numerator / 1000.0, denominator),
            Unit::PerHour => ratio(numerator, denominator),
        };
        let direction = kpi.direction();
        let met = match (value, target) {
            (Some(v), Some(t)) => Some(match direction {
                Direction::AtLeast => v >= t,
                Direction::AtMost => v <= t,
            }),
            _ => None,
        };
        KpiValue {
            kpi,
            label,
            unit: kpi.unit(),
            value,
            numerator,
            denominator,
            target,
            direction,
            met,
        }
    }

    /// A KPI that does not apply to the row.
    pub fn not_applicable(kpi: Kpi, label: String, target: Option<f64>) -> Self {
        KpiValue {
            value: None,
            met: None,
            ..KpiValue::new(kpi, label, 0.0, 0.0, target)
        }
    }
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| (n / d * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percent_rounded_to_one_decimal_and_checked_against_the_target() {
        let v = KpiValue::new(Kpi::ConnectRate, "接通率".into(), 19.0, 20.0, Some(95.0));
        assert_eq!(v.value, Some(95.0));
        assert_eq!(v.met, Some(true));
        let v = KpiValue::new(Kpi::ConnectRate, "接通率".into(), 2.0, 3.0, Some(95.0));
        assert_eq!(v.value, Some(66.7));
        assert_eq!(v.met, Some(false));
        let v = KpiValue::new(Kpi::AbandonRate, "放弃率".into(), 1.0, 10.0, Some(5.0));
        assert_eq!(v.met, Some(false), "at most 5 %, 10 % misses");
    }

    #[test]
    fn nothing_counted_is_no_value_not_zero() {
        let v = KpiValue::new(Kpi::Satisfaction, "满意度".into(), 0.0, 0.0, Some(90.0));
        assert_eq!(v.value, None);
        assert_eq!(v.met, None);
        let v = KpiValue::new(Kpi::Overdue, "超期数".into(), 0.0, 0.0, None);
        assert_eq!(v.value, Some(0.0), "a count of nothing is zero");
    }

    #[test]
    fn averages_are_seconds_from_milliseconds() {
        let v = KpiValue::new(Kpi::AverageWait, "平均等待".into(), 30_000.0, 4.0, None);
        assert_eq!(v.value, Some(7.5));
    }

    #[test]
    fn every_kpi_reads_back_from_its_code() {
        for k in Kpi::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.code()));
            assert_eq!(serde_json::from_str::<Kpi>(&json).unwrap(), k);
        }
    }
}
