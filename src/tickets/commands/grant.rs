//! 批准延期: a supervisor grants the requested days; the deadline moves by them.

use super::{step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant;

impl Grant {
    pub fn parse(_input: &Input) -> Result<Grant, Invalid> {
        Ok(Grant)
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        step(tickets, t, Action::GrantExtension, caller).await
    }
}
