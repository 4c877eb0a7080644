//! The hotline's scorecard (考核指标): the KPIs a city judges its hotline and departments by
//! (GB/T 33358 sets 15秒接通率 and 接通率; the rest are defined in docs/kpis.md), computed
//! exactly from the call records and the tickets' audit trail for any period in the
//! hotline's time zone, cut by day, week, month, queue, agent, department or township,
//! each against its configured target. Nothing here is a running average or a counter:
//! every node and every rerun gives the same figures for the same records.
//!
//! A service above the domain: it reads what `calls` and `tickets` wrote and changes nothing.

mod config;
mod facts;
mod fold;
mod kpi;
mod period;
mod report;

pub use config::ScorecardConfig;
pub use fold::{CallFigures, GroupBy, TicketFigures, UnknownGroup};
pub use kpi::{Direction, Kpi, KpiValue, Unit};
pub use period::{Grain, Span, SpanError};
pub use report::{Report, ReportRow};

use chrono::Duration;

use crate::store::{now_ms, StoreError};
use crate::tickets::{DepartmentId, Tickets};

use facts::Facts;
use fold::{fold, Rules};

/// Reads reports; cheap to clone.
#[derive(Clone)]
pub struct Scorecard {
    tickets: Tickets,
    cfg: std::sync::Arc<ScorecardConfig>,
}

impl Scorecard {
    pub fn new(tickets: Tickets, cfg: ScorecardConfig) -> Self {
        Scorecard {
            tickets,
            cfg: std::sync::Arc::new(cfg),
        }
    }

    pub fn config(&self) -> &ScorecardConfig {
        &self.cfg
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.tickets.tz()
    }

    /// Today, in the hotline's time zone.
    pub fn today(&self) -> Span {
        Span::of(self.tz(), Grain::Day, Span::today(self.tz()))
    }

    /// The last `n` days, weeks or months up to today.
    pub fn last(&self, grain: Grain, n: u32) -> Span {
        Span::last(self.tz(), grain, n, Span::today(self.tz()))
    }

    /// A period as people write it (`2026-12-02`, `2026-W49`, `2026-12`).
    pub fn parse_span(&self, s: &str) -> Result<Span, SpanError> {
        Span::parse(self.tz(), s)
    }

    /// The report of `span` cut by `group`.
    pub async fn report(&self, span: &Span, group: GroupBy) -> Result<Report, StoreError> {
        let (from, to) = span.bounds_ms();
        let facts = Facts::read(self.tickets.db(), from, to).await?;
        Ok(self.report_of(&facts, span, group, now_ms()))
    }

    fn report_of(&self, facts: &Facts, span: &Span, group: GroupBy, now: i64) -> Report {
        let rules = Rules {
            short_call_ms: self.cfg.short_call_secs as i64 * 1000,
            exclude_short_calls: self.cfg.exclude_short_calls,
            answer_target_ms: self.cfg.answer_target_secs as i64 * 1000,
            now_ms: now,
        };
        let mut rows = fold(facts, span, group, rules);
        if group == GroupBy::Department {
            // Every department has a row in a ranking, even one that received nothing.
            for d in self.tickets.departments() {
                rows.entry(d.id.to_string()).or_default();
            }
        }
        let total = fold(facts, span, GroupBy::Total, rules)
            .remove("all")
            .unwrap_or_default();
        let label = |key: &str| match group {
            GroupBy::Department => self
                .tickets
                .department(&DepartmentId(key.to_string()))
                .map(|d| d.name.clone())
                .unwrap_or_else(|| key.to_string()),
            _ => key.to_string(),
        };
        let rows = rows
            .into_iter()
            .map(|(k, t)| {
                let l = label(&k);
                ReportRow::new(k, l, t, group, &self.cfg)
            })
            .collect();
        let last = span.end - Duration::days(1);
        Report {
            from: span.first.to_string(),
            to: last.to_string(),
            group_by: group,
            rows,
            total: ReportRow::new(
                "all".into(),
                "合计".into(),
                total,
                GroupBy::Total,
                &self.cfg,
            ),
        }
    }
}
