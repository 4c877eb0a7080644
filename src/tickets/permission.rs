//! Who may do what: the one permission table of the hotline. Every channel (pages, JSON API,
//! Open311) asks here; the pages only hide what this table would refuse anyway. Department
//! staff see and act on their own department's tickets only; to them the others do not
//! exist (the web answers 404, not 403).

use std::fmt;
use std::str::FromStr;

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
    /// 回访、代市民评价、结案: the follow-up steps by hand (the hotline's own clock and
    /// survey call take them without a person).
    FollowUp,
    /// 督办看板与统计
    Board,
    /// 账号与接口令牌
    ManageAccounts,
    /// 通话记录 (话单): who called, the voice-menu path, queues and agents. Not department
    /// staff, whose work is their tickets.
    ViewCalls,
    /// 坐席: take calls, change one's own agent state, hold and transfer one's own call.
    Desk,
    /// See the call centre's agents, queues and callers waiting (transfer targets, the
    /// wallboard's figures).
    ViewAgents,
    /// 班长: change any agent's state and steer any agent's call (the wallboard).
    ManageAgents,
    /// 监听、耳语、强插 on an agent's call, from one's own phone.
    Monitor,
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
        FollowUp => matches!(role, Operator | Supervisor),
        ManageAccounts => role == Admin,
        ViewCalls => matches!(role, Operator | Supervisor | Admin),
        Desk => role == Operator,
        ViewAgents => matches!(role, Operator | Supervisor | Admin),
        ManageAgents => matches!(role, Supervisor | Admin),
        Monitor => role == Supervisor,
    }
}

/// May `me` (in `role`) change agent `agent`'s state or steer their call (hold, transfer,
/// hang up)? Operators only their own; supervisors and administrators anyone's.
pub fn may_steer_agent(role: Role, me: &str, agent: &str) -> bool {
    allows(role, Perm::ManageAgents) || (allows(role, Perm::Desk) && me == agent)
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
    fn operators_steer_only_themselves_and_only_supervisors_monitor() {
        assert!(may_steer_agent(Role::Operator, "ops1", "ops1"));
        assert!(!may_steer_agent(Role::Operator, "ops1", "ops2"));
        assert!(may_steer_agent(Role::Supervisor, "sup", "ops2"));
        assert!(may_steer_agent(Role::Admin, "root", "ops2"));
        assert!(!may_steer_agent(Role::Department, "ops1", "ops1"));
        assert!(allows(Role::Supervisor, Perm::Monitor));
        assert!(!allows(Role::Admin, Perm::Monitor));
        assert!(!allows(Role::Operator, Perm::Monitor));
        assert!(allows(Role::Operator, Perm::ViewAgents));
        assert!(!allows(Role::Department, Perm::ViewAgents));
    }

    #[test]
    fn roles_parse_from_code_or_chinese() {
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert_eq!("督办".parse::<Role>().unwrap(), Role::Supervisor);
        assert!("boss".parse::<Role>().is_err());
    }
}
