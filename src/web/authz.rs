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

/// Whether `role` reads the access log of personal data: supervisors, who answer for the
/// operators, and administrators, who answer for the accounts; never those it watches.
pub fn reads_access_log(role: Role) -> bool {
    matches!(role, Role::Supervisor | Role::Admin)
}

/// Whether `role` sees residents' numbers whole on tickets (pages, API, exports): the
/// roles above, but department staff see 138****5678 unless `[web] department_sees_phone`
/// — they answer the matter; the hotline, not they, phones the resident.
pub fn sees_ticket_phone(cfg: &super::WebConfig, role: Role) -> bool {
    sees_caller_number(role) && (role != Role::Department || cfg.department_sees_phone)
}

/// A ticket's number as `role` may read it.
pub fn ticket_phone(cfg: &super::WebConfig, role: Role, phone: &str) -> String {
    if sees_ticket_phone(cfg, role) {
        phone.to_string()
    } else {
        crate::privacy::mask(phone)
    }
}

/// How an export of a list shows callers' numbers to `role`: as the list shows them.
pub fn export_phones(cfg: &super::WebConfig, role: Role) -> crate::reports::lists::Phones {
    if sees_ticket_phone(cfg, role) {
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
