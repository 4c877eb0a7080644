//! 退单: the department says the ticket is not theirs, and why; it goes back to an operator.

use super::{required, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub reason: String,
}

impl Return {
    pub fn parse(input: &Input) -> Result<Return, Invalid> {
        Ok(Return {
            reason: required(&input.reason, Invalid::ReturnNeedsReason)?,
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::Return {
            reason: self.reason,
        };
        step(tickets, t, action, caller).await
    }
}
