//! Section `[scorecard]`: what counts as a call (秒挂), the answer target, and the target of
//! each KPI the board marks red when missed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::kpi::Kpi;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScorecardConfig {
    /// A call that ends within this many seconds of arriving, never having reached a
    /// person, is a 秒挂 (misdial, line test): left out of calls offered when
    /// `exclude_short_calls` is on.
    pub short_call_secs: u64,
    pub exclude_short_calls: bool,
    /// The longest wait for a person that still counts as answered in time (GB/T 33358:
    /// 15 s); also the threshold of the service levels SL and SL2.
    pub answer_target_secs: u64,
    /// The target of each KPI (percent, seconds or a count, as the KPI is measured); the
    /// KPI's direction says whether the value must be at least or at most the target.
    pub targets: BTreeMap<Kpi, f64>,
}

impl Default for ScorecardConfig {
    fn default() -> Self {
        ScorecardConfig {
            short_call_secs: 3,
            exclude_short_calls: true,
            answer_target_secs: 15,
            targets: [
                (Kpi::ConnectRate, 95.0),
                (Kpi::AnsweredInTarget, 90.0),
                (Kpi::AbandonRate, 5.0),
                (Kpi::OnTimeRate, 98.0),
                (Kpi::ReturnRate, 5.0),
                (Kpi::FollowUpRate, 90.0),
                (Kpi::Satisfaction, 90.0),
            ]
            .into_iter()
            .collect(),
        }
    }
}
