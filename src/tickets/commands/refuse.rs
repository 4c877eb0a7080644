//! 驳回延期: a supervisor refuses the requested days, and must say why (every channel: the
//! pages always asked for a reason, and now the API and the CLI do too).

use super::{required, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::Ticket;
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refuse {
    pub reason: String,
}

impl Refuse {
    pub fn parse(input: &Input) -> Result<Refuse, Invalid> {
        Ok(Refuse {
            reason: required(&input.reason, Invalid::RefusalNeedsReason)?,
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::RefuseExtension {
            reason: self.reason,
        };
        step(tickets, t, action, caller).await
    }
}
