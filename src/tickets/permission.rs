//! Who may do what: the one permission table of the hotline. Every channel (pages, JSON API,
//! Open311) asks here; the pages only hide what this table would refuse anyway. Department
//! staff see and act on their own department's tickets only; to them the others do not
//! exist (the web answers 404, not 403).

use std::fmt;
use std::str::FromStr;

use super::commands::Verb;
use super::model::{DepartmentId, Ticket};

/// The role of a person who logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 话务员
    Operator,
    /// 承办单位
    Department,
    /// 督办
    Supervisor,
    /// 系统管理员
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected operator, department, supervisor or admin")]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Operator,
        Role::Department,
        Role::Supervisor,
        Role::Admin,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Department => "department",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Operator => "话务员",
            Role::Department => "承办单位",
            Role::Supervisor => "督办",
            Role::Admin => "系统管理员",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s.trim() || r.label_zh() == s.trim())
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

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

/// The permission a command needs; `None` for the steps only the hotline itself takes (the
/// follow-up survey, its rating and the close after it).
pub fn perm_for(verb: Verb) -> Option<Perm> {
    match verb {
        Verb::Dispatch => Some(Perm::Dispatch),
        Verb::Sign => Some(Perm::Sign),
        Verb::Return => Some(Perm::Return),
        Verb::Extend => Some(Perm::RequestExtension),
        Verb::Grant | Verb::Refuse => Some(Perm::DecideExtension),
        Verb::Resolve => Some(Perm::Resolve),
        Verb::Answer => Some(Perm::AnswerDirectly),
        Verb::Supervise => Some(Perm::Supervise),
        Verb::Merge => Some(Perm::Merge),
        Verb::Note => Some(Perm::Note),
        Verb::FollowUp | Verb::Rate | Verb::Close => None,
    }
}

/// May a person in `role` run `verb` at all (before looking at any ticket)?
pub fn may(role: Role, verb: Verb) -> bool {
    perm_for(verb).is_some_and(|p| allows(role, p))
}

/// May a person in `role` (of `department`, for department staff) see this ticket?
pub fn can_see(role: Role, department: Option<&DepartmentId>, t: &Ticket) -> bool {
    if !allows(role, Perm::ViewTickets) {
        return false;
    }
    match role {
        Role::Department => department.is_some() && t.department.as_ref() == department,
        Role::Operator | Role::Supervisor | Role::Admin => true,
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
        assert!(may(Role::Department, Verb::Sign));
        assert!(!may(Role::Operator, Verb::Sign));
        assert!(may(Role::Supervisor, Verb::Refuse));
        assert!(!may(Role::Department, Verb::Grant));
    }

    #[test]
    fn survey_steps_belong_to_nobody() {
        for r in Role::ALL {
            assert!(!may(r, Verb::Rate) && !may(r, Verb::FollowUp) && !may(r, Verb::Close));
        }
    }

    #[test]
    fn roles_parse_from_code_or_chinese() {
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert_eq!("督办".parse::<Role>().unwrap(), Role::Supervisor);
        assert!("boss".parse::<Role>().is_err());
    }
}
