//! 并单: fold a duplicate into another ticket, named by its number. A target the caller
//! may not see is answered like one that does not exist.

use super::{field, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::{Ticket, TicketNumber};
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub into: TicketNumber,
}

impl Merge {
    pub fn parse(input: &Input) -> Result<Merge, Invalid> {
        let into = field(&input.into)
            .and_then(|n| n.parse().ok())
            .ok_or(Invalid::MergeTargetNumber)?;
        Ok(Merge { into })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let target = match tickets.by_number(&self.into).await {
            Ok(target) if caller.sees(&target) => target,
            Ok(_) | Err(TicketsError::NotFound(_)) => {
                return Err(Invalid::MergeTargetMissing.into())
            }
            Err(e) => return Err(e),
        };
        step(tickets, t, Action::Merge { into: target.id }, caller).await
    }
}
