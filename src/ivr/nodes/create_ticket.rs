//! `do = "create_ticket"`: turn what the caller gave (kind, voice message, text) into a
//! ticket from the caller's number; sets `ticket_number`.

use serde::Deserialize;

use crate::sip::CallError;
use crate::tickets::Kind;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// A fixed kind, or `$VAR` for a kind chosen earlier.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub recording: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    pub next: String,
    pub on_error: String,
}

impl CreateTicket {
    /// A fixed kind must be a ticket kind.
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        let Some(k) = &self.kind else { return };
        if !k.starts_with('$') && k.parse::<Kind>().is_err() {
            let node_key = format!("node.{name}");
            ck.problem(
                ck.at(&format!("{node_key}.kind")).or(ck.at(&node_key)),
                format!("node `{name}`: `{k}` is not a ticket kind (consultation, complaint, help, suggestion, report, praise) or a $variable"),
            );
        }
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let recording_path = self.recording.and_then(|v| r.vars.get(&v).cloned());
        let text = self
            .text
            .and_then(|v| r.vars.get(&v).cloned())
            .unwrap_or_default();
        match r
            .create_ticket(self.kind.as_deref(), recording_path, text)
            .await
        {
            Ok(_) => {
                if r.call.is_ended() {
                    return Err(CallError::Hungup.into());
                }
                Ok(Step::Goto(self.next))
            }
            Err(e) => {
                tracing::error!(error = %e, "could not create the ticket");
                Ok(Step::Goto(self.on_error))
            }
        }
    }
}
