//! 直接答复: an operator answers a consultation on the spot. On the pages the call is then
//! over, so the ticket closes at once (`then_close`); the API and the CLI leave it resolved
//! for the follow-up.

use super::{required, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub answer: String,
    pub then_close: bool,
}

impl Answer {
    pub fn parse(input: &Input) -> Result<Answer, Invalid> {
        Ok(Answer {
            answer: required(&input.answer, Invalid::NeedsAnswer)?,
            then_close: false,
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::AnswerDirectly {
            answer: self.answer,
        };
        let answered = step(tickets, t, action, caller).await?;
        if !self.then_close {
            return Ok(answered);
        }
        step(tickets, &answered.ticket, Action::Close, caller).await
    }
}
