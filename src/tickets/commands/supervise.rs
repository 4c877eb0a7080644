//! 督办: a supervisor escalates a ticket, with a note saying what to hurry.

use super::{required, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervise {
    pub note: String,
}

impl Supervise {
    pub fn parse(input: &Input) -> Result<Supervise, Invalid> {
        Ok(Supervise {
            note: required(&input.text, Invalid::SupervisionNeedsNote)?,
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::Supervise { note: self.note };
        step(tickets, t, action, caller).await
    }
}
