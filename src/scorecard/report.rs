//! A report: the rows of a grouping over a span, each with its figures and KPIs, and the
//! total row over the whole span.

use serde::Serialize;

use super::fold::{CallFigures, GroupBy, Tally, TicketFigures};
use super::kpi::{Kpi, KpiValue, Source};
use super::ScorecardConfig;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// First day, local (YYYY-MM-DD).
    pub from: String,
    /// Last day, local, included.
    pub to: String,
    pub group_by: GroupBy,
    pub rows: Vec<ReportRow>,
    /// The whole span in one row.
    pub total: ReportRow,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The group: a date key, queue, agent name, department id or township.
    pub key: String,
    /// What people read: the department's name, the township, the date.
    pub label: String,
    pub calls: CallFigures,
    pub tickets: TicketFigures,
    pub kpis: Vec<KpiValue>,
}

impl ReportRow {
    pub fn kpi(&self, k: Kpi) -> Option<&KpiValue> {
        self.kpis.iter().find(|v| v.kpi == k)
    }

    /// Works the KPIs out of a row's figures. A KPI that the grouping has no figures for
    /// (calls of a department, tickets of a queue, a queue's agent hours, an agent's
    /// abandons) is marked not applicable rather than shown as zero.
    pub(super) fn new(
        key: String,
        label: String,
        tally: Tally,
        group: GroupBy,
        cfg: &ScorecardConfig,
    ) -> Self {
        let (with_calls, with_tickets) = group.sources();
        let c = &tally.calls;
        let t = &tally.tickets;
        let label_of = |k: Kpi| k.label_zh(cfg.answer_target_secs);
        let kpis = Kpi::ALL
            .into_iter()
            .map(|k| {
                let target = cfg.targets.get(&k).copied();
                let applies = match k.source() {
                    Source::Calls => with_calls,
                    Source::Tickets => with_tickets,
                } && !matches!(
                    (group, k),
                    (
                        GroupBy::Agent,
                        Kpi::ConnectRate
                            | Kpi::AnsweredInTarget
                            | Kpi::ServiceLevel2
                            | Kpi::AbandonRate,
                    ) | (GroupBy::Queue, Kpi::CallsPerAgentHour)
                        | (GroupBy::Department, Kpi::FirstContactResolution)
                );
                if !applies {
                    return KpiValue::not_applicable(k, label_of(k), target);
                }
                let (n, d) = match k {
                    Kpi::ConnectRate => (c.connected as f64, c.offered as f64),
                    Kpi::AnsweredInTarget => (c.person_in_target as f64, c.asked_person as f64),
                    Kpi::ServiceLevel => (c.person_in_target as f64, c.person_answered as f64),
                    Kpi::ServiceLevel2 => (
                        (c.person_in_target + c.abandoned_in_target) as f64,
                        (c.person_answered + c.abandoned) as f64,
                    ),
                    Kpi::AbandonRate => (c.abandoned as f64, c.asked_person as f64),
                    Kpi::AverageWait => (c.wait_ms_total as f64, c.person_answered as f64),
                    Kpi::AverageTalk => (c.talk_ms_total as f64, c.talked as f64),
                    Kpi::CallsPerAgentHour => (c.person_answered as f64, c.agent_hours),
                    Kpi::FirstContactResolution => (t.answered_directly as f64, t.received as f64),
                    Kpi::OnTimeRate => (t.resolved_on_time as f64, t.resolved as f64),
                    Kpi::Overdue => (t.overdue as f64, 0.0),
                    Kpi::ReturnRate => (t.returned as f64, t.dispatched as f64),
                    Kpi::FollowUpRate => (t.followed_up as f64, t.resolved as f64),
                    Kpi::Satisfaction => (t.satisfied as f64, t.rated as f64),
                };
                KpiValue::new(k, label_of(k), n, d, target)
            })
            .collect();
        ReportRow {
            key,
            label,
            calls: tally.calls,
            tickets: tally.tickets,
            kpis,
        }
    }
}
