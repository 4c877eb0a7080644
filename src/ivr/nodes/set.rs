//! `do = "set"`: give a variable a value (a literal or `$OTHER`), then go on.

use serde::Deserialize;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Set {
    pub variable: String,
    pub value: String,
    pub next: String,
}

impl Set {
    pub(super) fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let v = r.expand(&self.value);
        if self.variable == "language" && r.plan.def.dialplan.languages.contains(&v) {
            // A menu choice ("For English, press 9") tells the caller's language.
            r.caller_language = Some(v.clone());
        }
        r.vars.insert(self.variable, v);
        Ok(Step::Goto(self.next))
    }
}
