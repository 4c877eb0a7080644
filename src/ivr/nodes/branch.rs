//! `do = "branch"`: choose a way by time, calendar, variable or caller list.

use serde::Deserialize;

use super::super::call::CallControl;
use super::super::format::Condition;
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    pub when: Condition,
    pub then: String,
    #[serde(rename = "else")]
    pub otherwise: String,
}

impl Branch {
    /// Times must read like 08:30 and a caller list must exist.
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        let line = ck.at(&format!("node.{name}"));
        match &self.when {
            Condition::Time { from, to } => {
                for t in [from, to] {
                    if chrono::NaiveTime::parse_from_str(t, "%H:%M").is_err() {
                        ck.problem(
                            line,
                            format!("node `{name}`: `{t}` is not a time like 08:30"),
                        );
                    }
                }
            }
            Condition::CallerIn { list } if !ck.plan.lists.contains_key(list) => {
                ck.problem(
                    line,
                    format!("node `{name}` checks list `{list}`, which [lists] does not define"),
                );
            }
            Condition::CallerIn { .. }
            | Condition::WorkingTime
            | Condition::WorkingDay
            | Condition::Variable { .. } => {}
        }
    }

    pub(super) fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let yes = r.test(&self.when);
        Ok(Step::Goto(if yes { self.then } else { self.otherwise }))
    }
}
