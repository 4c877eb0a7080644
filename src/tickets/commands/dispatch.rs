//! 派单 / 改派: send a ticket to a department, correcting its kind on the way. The state is
//! checked first, so a refused dispatch corrects nothing; a correction is audited as
//! `reclassify` and reported back so the routing rules can learn from it.

use super::{field, required, Caller, Input, Outcome, Reroute};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::{DepartmentId, Kind, Ticket};
use crate::tickets::service::Tickets;
use crate::tickets::state::{next_state, Action};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    pub department: DepartmentId,
    /// A corrected kind; `None` keeps the ticket's.
    pub kind: Option<Kind>,
}

impl Dispatch {
    pub fn parse(input: &Input, tickets: &Tickets) -> Result<Dispatch, TicketsError> {
        let department = DepartmentId(required(&input.department, Invalid::NoDepartment)?);
        if tickets.department(&department).is_none() {
            return Err(TicketsError::UnknownDepartment(department.to_string()));
        }
        let kind = match field(&input.kind) {
            None => None,
            Some(k) => Some(k.parse().map_err(|_| Invalid::UnknownKind(k.to_string()))?),
        };
        Ok(Dispatch { department, kind })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::Dispatch {
            department: self.department.clone(),
        };
        next_state(t.state, &action, t.supervised)?;
        let kind_changed = self.kind.is_some_and(|k| k != t.kind);
        let rerouted =
            (kind_changed || t.department.as_ref() != Some(&self.department)).then(|| Reroute {
                kind: self.kind.unwrap_or(t.kind),
                department: self.department.clone(),
            });
        if rerouted.is_some() {
            tickets
                .reclassify(t.id, self.kind, Some(self.department), caller.actor())
                .await?;
        }
        let ticket = tickets.transition(t.id, action, caller.actor()).await?;
        Ok(Outcome { ticket, rerouted })
    }
}
