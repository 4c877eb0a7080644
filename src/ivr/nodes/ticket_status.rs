//! `do = "ticket_status"`: look up a ticket by the number the caller keyed in, for its owner
//! only; sets `ticket_state`, `ticket_department`, `ticket_deadline` and
//! `ticket_has_department`.
//!
//! The owner is proven by a number a trusted carrier asserted for the call, or by the last
//! four digits of the ticket's phone; the From header proves nothing. Wrong tries count
//! across calls (`tickets::Tickets::status_claim`), so the digits cannot be guessed.

use serde::Deserialize;

use crate::tickets::{Asker, PhoneNumber, Proof, StatusClaim};

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketStatus {
    pub number: String,
    /// Variable with the last four digits of the ticket's phone, when the caller's
    /// number is not asserted by a trusted carrier.
    #[serde(default)]
    pub last4: Option<String>,
    pub next: String,
    pub on_not_found: String,
    /// The caller is not proven to own the ticket: ask for the last four digits (or, once
    /// they were given, refuse).
    pub on_mismatch: String,
    /// Too many wrong tries on this ticket or from this number; `on_mismatch` when unset.
    #[serde(default)]
    pub on_locked: Option<String>,
}

impl TicketStatus {
    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let entered = r.vars.get(&self.number).cloned().unwrap_or_default();
        let asserted = r
            .call
            .asserted_caller()
            .and_then(|a| a.parse::<PhoneNumber>().ok());
        let asker = Asker::Phone(
            asserted
                .clone()
                .or_else(|| r.call.caller().parse::<PhoneNumber>().ok()),
        );
        let given4 = self.last4.as_ref().and_then(|v| r.vars.get(v).cloned());
        let proof = match (&asserted, &given4) {
            (Some(p), _) => Proof::Asserted(p),
            (None, Some(d)) => Proof::LastFour(d),
            (None, None) => Proof::Nothing,
        };
        let claim = match r.eng.tickets.status_claim(&entered, &asker, proof).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "ticket status lookup failed");
                return Ok(Step::Goto(self.on_not_found));
            }
        };
        let t = match claim {
            StatusClaim::Granted(t) => t,
            StatusClaim::NotFound => return Ok(Step::Goto(self.on_not_found)),
            StatusClaim::NeedsProof => return Ok(Step::Goto(self.on_mismatch)),
            StatusClaim::Refused => {
                tracing::info!(
                    "ticket status refused: the caller did not prove the ticket is theirs"
                );
                return Ok(Step::Goto(self.on_mismatch));
            }
            StatusClaim::Locked => {
                tracing::warn!("ticket status refused: too many wrong tries");
                return Ok(Step::Goto(self.on_locked.unwrap_or(self.on_mismatch)));
            }
        };
        let tz = r.eng.tickets.tz();
        r.trace.served = true;
        r.vars.insert("ticket_state".into(), t.state.code().into());
        r.vars.insert(
            "ticket_department".into(),
            t.department.map(|d| d.to_string()).unwrap_or_default(),
        );
        r.vars.insert(
            "ticket_deadline".into(),
            t.deadline.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        );
        r.vars.insert(
            "ticket_has_department".into(),
            (!r.vars["ticket_department"].is_empty()).to_string(),
        );
        Ok(Step::Goto(self.next))
    }
}
