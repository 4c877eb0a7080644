//! Who may do what. Every handler asks [`allows`] on the server; the pages only hide what
//! the server would refuse anyway.

use super::accounts::{Account, Role};
use crate::tickets::Ticket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Read tickets (a department account only its own department's).
    ViewTickets,
    /// 手工建单
    CreateTicket,
    /// 更正分类、派单、改派
    Dispatch,
    /// 并单
    Merge,
    /// 直接答复
    AnswerDirectly,
    /// 签收
    Sign,
    /// 办结
    Resolve,
    /// 退单
    Return,
    /// 申请延期
    RequestExtension,
    /// 批准或驳回延期
    DecideExtension,
    /// 督办
    Supervise,
    /// 进展备注
    Note,
    /// 督办看板与统计
    Board,
    /// 账号与接口令牌
    ManageAccounts,
}

pub fn allows(role: Role, perm: Perm) -> bool {
    use Perm::*;
    use Role::*;
    match perm {
        ViewTickets => matches!(role, Operator | Department | Supervisor),
        CreateTicket | Merge | AnswerDirectly => role == Operator,
        Dispatch => matches!(role, Operator | Supervisor),
        Sign | Resolve | Return | RequestExtension => role == Department,
        DecideExtension | Supervise | Board => role == Supervisor,
        Note => matches!(role, Operator | Department | Supervisor),
        ManageAccounts => role == Admin,
    }
}

/// A department account sees only its own department's tickets; to anyone else the others
/// do not exist (404, not 403).
pub fn can_see(a: &Account, t: &Ticket) -> bool {
    if !allows(a.role, Perm::ViewTickets) {
        return false;
    }
    match a.role {
        Role::Department => a.department.is_some() && t.department == a.department,
        _ => true,
    }
}

/// Where a person lands after login.
pub fn home(role: Role) -> &'static str {
    match role {
        Role::Operator | Role::Department => "/console",
        Role::Supervisor => "/board",
        Role::Admin => "/admin/accounts",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_manages_accounts_but_not_tickets() {
        assert!(allows(Role::Admin, Perm::ManageAccounts));
        assert!(!allows(Role::Admin, Perm::ViewTickets));
        assert!(!allows(Role::Operator, Perm::ManageAccounts));
    }

    #[test]
    fn departments_work_tickets_and_supervisors_decide() {
        assert!(allows(Role::Department, Perm::Sign));
        assert!(!allows(Role::Operator, Perm::Sign));
        assert!(allows(Role::Supervisor, Perm::DecideExtension));
        assert!(!allows(Role::Department, Perm::DecideExtension));
    }
}
