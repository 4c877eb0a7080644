//! 申请延期: the department asks for 1 to 60 more working days, and says why.

use super::{field, required, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extend {
    pub days: u32,
    pub reason: String,
}

impl Extend {
    pub fn parse(input: &Input) -> Result<Extend, Invalid> {
        let days: u32 = field(&input.days)
            .and_then(|d| d.parse().ok())
            .filter(|d| (1..=60).contains(d))
            .ok_or(Invalid::ExtensionDays)?;
        Ok(Extend {
            days,
            reason: required(&input.reason, Invalid::ExtensionNeedsReason)?,
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::RequestExtension {
            days: self.days,
            reason: self.reason,
        };
        step(tickets, t, action, caller).await
    }
}
