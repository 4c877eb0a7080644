//! `do = "play"`: play prompts, then go on. A key pressed during them is kept for the next
//! question (or, if it is the operator key, leads to the operator).

use serde::Deserialize;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Play {
    pub prompts: Vec<String>,
    #[serde(default = "super::yes")]
    pub barge_in: bool,
    pub next: String,
}

impl Play {
    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let key = match self.barge_in {
            true => r.play_keys(&self.prompts).await?,
            false => r.play(&self.prompts, false).await?,
        };
        if let Some(d) = key {
            if let Some(s) = r.operator(d) {
                r.trace.digits.push(d);
                return Ok(s);
            }
            r.pending.push_back(d);
        }
        Ok(Step::Goto(self.next))
    }
}
