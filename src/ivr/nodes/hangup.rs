//! `do = "hangup"`: play the last prompts (no barge-in) and end the call.

use serde::Deserialize;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hangup {
    #[serde(default)]
    pub prompts: Vec<String>,
}

impl Hangup {
    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        r.play(&self.prompts, false).await?;
        Ok(Step::End("completed"))
    }
}
