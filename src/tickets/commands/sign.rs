//! 签收: the department takes the ticket on.

use super::{step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sign;

impl Sign {
    pub fn parse(_input: &Input) -> Result<Sign, Invalid> {
        Ok(Sign)
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        step(tickets, t, Action::Sign, caller).await
    }
}
