//! The web's side of who may do what: the table itself is `tickets::permission` (one for
//! every channel); here are the account-shaped helpers and where each role lands.

use super::accounts::{Account, Role};
use crate::calls::{CallDetail, CallEvent, CallSummary};
use crate::tickets::Ticket;

pub use crate::tickets::permission::{allows, Perm};

/// A department account sees only its own department's tickets; to anyone else the others
/// do not exist (404, not 403).
pub fn can_see(a: &Account, t: &Ticket) -> bool {
    crate::tickets::permission::can_see(a.role, a.department.as_ref(), t)
}

/// Whether a role sees callers' numbers in full: exactly the roles that read tickets, where
/// the console shows the resident's number. Everyone else gets 138****5678.
pub fn sees_caller_number(role: Role) -> bool {
    allows(role, Perm::ViewTickets)
}

/// How an export of a list shows callers' numbers to `role`: as the list shows them.
pub fn export_phones(role: Role) -> crate::reports::lists::Phones {
    if sees_caller_number(role) {
        crate::reports::lists::Phones::Whole
    } else {
        crate::reports::lists::Phones::Masked
    }
}

/// A call's summary as `role` may read it: the caller masked for roles that do not see
/// numbers elsewhere.
pub fn call_for(role: Role, mut c: CallSummary) -> CallSummary {
    if !sees_caller_number(role) {
        c.caller = crate::privacy::mask(&c.caller);
    }
    c
}

/// A call's record as `role` may read it: besides the caller, the keys pressed (a ticket
/// number, the last digits of a phone) and a callback number are personal too.
pub fn call_detail_for(role: Role, mut d: CallDetail) -> CallDetail {
    if !sees_caller_number(role) {
        d.call = call_for(role, d.call);
        d.digits = String::new();
        for e in &mut d.events {
            if let CallEvent::CallbackRequested { number, .. } = &mut e.event {
                *number = crate::privacy::mask(number);
            }
        }
    }
    d
}

/// Who may call a resident back from their own phone (回拨 of an abandoned call): the
/// roles that take calls on a phone of their own — operators at the desk and supervisors,
/// who listen in from theirs. Not department staff, not administrators.
pub fn may_call_back(role: Role) -> bool {
    allows(role, Perm::Desk) || allows(role, Perm::Monitor)
}

/// Where a person lands after login.
pub fn home(role: Role) -> &'static str {
    match role {
        Role::Operator | Role::Department => "/console",
        Role::Supervisor => "/board",
        Role::Admin => "/admin/accounts",
    }
}
