//! `do = "ticket_status"`: look up a ticket by the number the caller keyed in, for its owner
//! only (the caller's number, or the last four digits of the registered phone); sets
//! `ticket_state`, `ticket_department`, `ticket_deadline` and `ticket_has_department`.

use serde::Deserialize;

use crate::tickets::TicketNumber;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketStatus {
    pub number: String,
    /// Variable with the last four digits of the ticket's phone, when the caller's
    /// number does not match it.
    #[serde(default)]
    pub last4: Option<String>,
    pub next: String,
    pub on_not_found: String,
    /// The caller's number does not match: ask for the last four digits.
    pub on_mismatch: String,
}

impl TicketStatus {
    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let entered = r.vars.get(&self.number).cloned().unwrap_or_default();
        let Ok(no) = entered.parse::<TicketNumber>() else {
            return Ok(Step::Goto(self.on_not_found));
        };
        let t = match r.eng.tickets.by_number(&no).await {
            Ok(t) => t,
            Err(_) => return Ok(Step::Goto(self.on_not_found)),
        };
        let caller = r.caller_digits();
        let given4 = self.last4.and_then(|v| r.vars.get(&v).cloned());
        let owner = caller == t.phone.as_str() || given4.as_deref() == Some(t.phone.last4());
        if !owner {
            tracing::info!(ticket = %t.number, "ticket status refused: caller does not match");
            return Ok(Step::Goto(self.on_mismatch));
        }
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
