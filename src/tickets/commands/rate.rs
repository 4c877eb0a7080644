//! 评价: the resident's rating; 不满意 reopens the ticket as supervised.

use super::{field, step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::{Satisfaction, Ticket};
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub satisfaction: Satisfaction,
}

impl Rate {
    pub fn parse(input: &Input) -> Result<Rate, Invalid> {
        let satisfaction = field(&input.satisfaction)
            .and_then(|s| s.parse().ok())
            .ok_or(Invalid::NoSatisfaction)?;
        Ok(Rate { satisfaction })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::Rate {
            satisfaction: self.satisfaction,
        };
        step(tickets, t, action, caller).await
    }
}
