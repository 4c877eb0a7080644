//! `do = "transfer"`: bridge the caller to a `[sip.destinations]` name; no answer, busy or a
//! failure hand the call back to the dialplan.

use std::time::Duration;

use serde::Deserialize;

use crate::calls::HangupSide;
use crate::sip::BridgeOutcome;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    #[serde(default)]
    pub prompts: Vec<String>,
    pub to: String,
    /// How long to ring; `[ivr] ring_secs` when absent.
    #[serde(default)]
    pub ring_secs: Option<u64>,
    /// After the bridged conversation ends.
    pub next: Option<String>,
    pub on_no_answer: String,
    pub on_busy: Option<String>,
    pub on_failed: Option<String>,
}

impl Transfer {
    /// The destination must be one `[sip.destinations]` defines (when it is known).
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        let to = &self.to;
        if !ck.ctx.destinations.is_empty() && !ck.ctx.destinations.contains(to) {
            let node_key = format!("node.{name}");
            ck.problem(
                ck.at(&format!("{node_key}.to")).or(ck.at(&node_key)),
                format!(
                    "node `{name}` transfers to `{to}`, which [sip.destinations] does not define"
                ),
            );
        }
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        r.play(&self.prompts, false).await?;
        let ring = Duration::from_secs(self.ring_secs.unwrap_or(r.eng.cfg.ring_secs));
        r.eng.set_bridged(r.call.id(), r.call.caller(), true);
        let outcome = r.call.bridge_to(&self.to, ring).await;
        r.eng.set_bridged(r.call.id(), r.call.caller(), false);
        tracing::info!(destination = %self.to, ?outcome, "transfer");
        Ok(match outcome {
            BridgeOutcome::Completed => match self.next {
                Some(n) => Step::Goto(n),
                None => {
                    // The bridge ends when either side hangs up; a caller still here means
                    // the person ended it and the dialplan only clears the line.
                    r.trace.hangup = Some(if r.call.is_ended() {
                        HangupSide::Caller
                    } else {
                        HangupSide::Agent
                    });
                    Step::End("transferred")
                }
            },
            BridgeOutcome::NoAnswer => Step::Goto(self.on_no_answer),
            BridgeOutcome::Busy => Step::Goto(self.on_busy.unwrap_or(self.on_no_answer)),
            BridgeOutcome::Failed => Step::Goto(self.on_failed.unwrap_or(self.on_no_answer)),
        })
    }
}
