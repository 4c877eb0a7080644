//! The web's side of who may do what: the table itself is `tickets::permission` (one for
//! every channel); here are the account-shaped helpers and where each role lands.

use super::accounts::{Account, Role};
use crate::tickets::Ticket;

pub use crate::tickets::permission::{allows, Perm};

/// A department account sees only its own department's tickets; to anyone else the others
/// do not exist (404, not 403).
pub fn can_see(a: &Account, t: &Ticket) -> bool {
    crate::tickets::permission::can_see(a.role, a.department.as_ref(), t)
}

/// Where a person lands after login.
pub fn home(role: Role) -> &'static str {
    match role {
        Role::Operator | Role::Department => "/console",
        Role::Supervisor => "/board",
        Role::Admin => "/admin/accounts",
    }
}
