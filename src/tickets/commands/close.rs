//! 结案 without a rating (no reply to the follow-up).

use super::{step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close;

impl Close {
    pub fn parse(_input: &Input) -> Result<Close, Invalid> {
        Ok(Close)
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        step(tickets, t, Action::Close, caller).await
    }
}
