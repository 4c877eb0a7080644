//! 进展: a progress note; the state stays.

use super::{required, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
}

impl Note {
    pub fn parse(input: &Input) -> Result<Note, Invalid> {
        Ok(Note {
            text: required(&input.text, Invalid::NoteNeedsText)?,
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::Note { text: self.text };
        step(tickets, t, action, caller).await
    }
}
