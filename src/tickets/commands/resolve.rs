//! 办结: the department answers the resident.

use super::{required, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub answer: String,
}

impl Resolve {
    pub fn parse(input: &Input) -> Result<Resolve, Invalid> {
        Ok(Resolve {
            answer: required(&input.answer, Invalid::NeedsAnswer)?,
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::Resolve {
            answer: self.answer,
        };
        step(tickets, t, action, caller).await
    }
}
