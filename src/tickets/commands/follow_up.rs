//! 回访: the satisfaction question goes out (the hotline's own step, not a person's).

use super::{step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp;

impl FollowUp {
    pub fn parse(_input: &Input) -> Result<FollowUp, Invalid> {
        Ok(FollowUp)
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        step(tickets, t, Action::FollowUp, caller).await
    }
}
