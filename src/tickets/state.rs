//! The ticket lifecycle (受理 → 派单 → 承办 → 办结 → 回访 → 结案, with 退单, 延期 and 督办) as
//! one exhaustive function. Every change of state goes through [`next_state`]; anything it
//! does not list is an error, never a silent no-op.
//!
//! ```text
//!  accepted ──dispatch──▶ dispatched ──sign──▶ in_progress ──resolve──▶ resolved ──follow_up──▶ follow_up
//!     │  ▲                  │  ▲ redispatch       │   ▲                     ▲                    │ rate
//!     │  └──dispatch── returned ◀──return─────────┤   └─grant/refuse─ extension_requested     ▼
//!     └─answer_directly──────────────────────────────────────────────────▶ resolved     closed / supervised
//!  supervise (clock or supervisor): accepted, returned, dispatched, in_progress, extension_requested ─▶ supervised
//! ```

use serde::{Deserialize, Serialize};

use super::model::{DepartmentId, Satisfaction, State, TicketId};

/// Something a person or the system does to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// 派单 / 改派: send to a department (again).
    Dispatch {
        department: DepartmentId,
    },
    /// 签收: the department takes it on.
    Sign,
    /// 退单: the department says it is not theirs.
    Return {
        reason: String,
    },
    /// 延期申请.
    RequestExtension {
        days: u32,
        reason: String,
    },
    /// 延期批准: the deadline moves by the requested working days.
    GrantExtension,
    RefuseExtension {
        reason: String,
    },
    /// 办结: the department answers the resident.
    Resolve {
        answer: String,
    },
    /// 直接答复: an operator answers a consultation on the spot.
    AnswerDirectly {
        answer: String,
    },
    /// 回访: the satisfaction question goes out.
    FollowUp,
    /// The resident's rating; 不满意 reopens the ticket as supervised.
    Rate {
        satisfaction: Satisfaction,
    },
    /// 结案 without a rating (no reply to the follow-up).
    Close,
    /// 督办: escalation by the deadline clock or a supervisor.
    Supervise {
        note: String,
    },
    /// 并单: a duplicate folded into another ticket.
    Merge {
        into: TicketId,
    },
    /// 进展: a progress note; the state stays.
    Note {
        text: String,
    },
}

impl Action {
    /// Stable name for the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Dispatch { .. } => "dispatch",
            Action::Sign => "sign",
            Action::Return { .. } => "return",
            Action::RequestExtension { .. } => "request_extension",
            Action::GrantExtension => "grant_extension",
            Action::RefuseExtension { .. } => "refuse_extension",
            Action::Resolve { .. } => "resolve",
            Action::AnswerDirectly { .. } => "answer_directly",
            Action::FollowUp => "follow_up",
            Action::Rate { .. } => "rate",
            Action::Close => "close",
            Action::Supervise { .. } => "supervise",
            Action::Merge { .. } => "merge",
            Action::Note { .. } => "note",
        }
    }

    pub fn label_zh(&self) -> &'static str {
        match self {
            Action::Dispatch { .. } => "派单",
            Action::Sign => "签收",
            Action::Return { .. } => "退单",
            Action::RequestExtension { .. } => "申请延期",
            Action::GrantExtension => "批准延期",
            Action::RefuseExtension { .. } => "驳回延期",
            Action::Resolve { .. } => "办结",
            Action::AnswerDirectly { .. } => "直接答复",
            Action::FollowUp => "回访",
            Action::Rate { .. } => "评价",
            Action::Close => "结案",
            Action::Supervise { .. } => "督办",
            Action::Merge { .. } => "并单",
            Action::Note { .. } => "进展",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a ticket that is {from} ({from_zh}): not allowed")]
pub struct TransitionError {
    pub from: State,
    pub from_zh: &'static str,
    pub action: &'static str,
}

/// The state after `action`, or why it is not allowed. `supervised` is the ticket's
/// escalation flag: an escalated ticket whose extension is decided goes back to supervised.
pub fn next_state(
    from: State,
    action: &Action,
    supervised: bool,
) -> Result<State, TransitionError> {
    use State::*;
    let deny = || TransitionError {
        from,
        from_zh: from.label_zh(),
        action: action.name(),
    };
    let back_to_work = if supervised { Supervised } else { InProgress };
    let to = match (from, action) {
        (_, Action::Note { .. }) => match from {
            Closed => return Err(deny()),
            Accepted | Dispatched | Returned | InProgress | ExtensionRequested | Supervised
            | Resolved | FollowUp => from,
        },
        (Accepted | Returned | Dispatched | Supervised, Action::Dispatch { .. }) => Dispatched,
        (Dispatched, Action::Sign) => InProgress,
        (Dispatched | InProgress | Supervised, Action::Return { .. }) => Returned,
        (InProgress | Supervised, Action::RequestExtension { .. }) => ExtensionRequested,
        (ExtensionRequested, Action::GrantExtension) => back_to_work,
        (ExtensionRequested, Action::RefuseExtension { .. }) => back_to_work,
        (InProgress | Supervised, Action::Resolve { .. }) => Resolved,
        (Accepted | Returned, Action::AnswerDirectly { .. }) => Resolved,
        (Resolved, Action::FollowUp) => FollowUp,
        (Resolved | FollowUp, Action::Rate { satisfaction }) => match satisfaction {
            Satisfaction::Satisfied | Satisfaction::BasicallySatisfied => Closed,
            Satisfaction::Unsatisfied => Supervised,
        },
        (Resolved | FollowUp, Action::Close) => Closed,
        (
            Accepted | Returned | Dispatched | InProgress | ExtensionRequested,
            Action::Supervise { .. },
        ) => Supervised,
        (Accepted | Returned | Dispatched, Action::Merge { .. }) => Closed,
        (
            Accepted | Dispatched | Returned | InProgress | ExtensionRequested | Supervised
            | Resolved | FollowUp | Closed,
            Action::Dispatch { .. }
            | Action::Sign
            | Action::Return { .. }
            | Action::RequestExtension { .. }
            | Action::GrantExtension
            | Action::RefuseExtension { .. }
            | Action::Resolve { .. }
            | Action::AnswerDirectly { .. }
            | Action::FollowUp
            | Action::Rate { .. }
            | Action::Close
            | Action::Supervise { .. }
            | Action::Merge { .. },
        ) => return Err(deny()),
    };
    Ok(to)
}

/// States in which the deadline clock runs and the department (or hotline) still owes an answer.
pub fn is_open(state: State) -> bool {
    match state {
        State::Accepted
        | State::Dispatched
        | State::Returned
        | State::InProgress
        | State::ExtensionRequested
        | State::Supervised => true,
        State::Resolved | State::FollowUp | State::Closed => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use State::*;

    fn dept() -> DepartmentId {
        DepartmentId("urban_management".into())
    }

    #[test]
    fn the_happy_path_reaches_closed() {
        let mut s = Accepted;
        for a in [
            Action::Dispatch { department: dept() },
            Action::Sign,
            Action::Resolve {
                answer: "已修复".into(),
            },
            Action::FollowUp,
            Action::Rate {
                satisfaction: Satisfaction::Satisfied,
            },
        ] {
            s = next_state(s, &a, false).unwrap();
        }
        assert_eq!(s, Closed);
    }

    #[test]
    fn unsatisfied_reopens_as_supervised() {
        let a = Action::Rate {
            satisfaction: Satisfaction::Unsatisfied,
        };
        assert_eq!(next_state(FollowUp, &a, false).unwrap(), Supervised);
    }

    #[test]
    fn extension_returns_to_supervised_when_escalated() {
        assert_eq!(
            next_state(ExtensionRequested, &Action::GrantExtension, true).unwrap(),
            Supervised
        );
        assert_eq!(
            next_state(ExtensionRequested, &Action::GrantExtension, false).unwrap(),
            InProgress
        );
    }

    #[test]
    fn illegal_transitions_are_errors_that_say_why() {
        let e = next_state(Accepted, &Action::Resolve { answer: "x".into() }, false).unwrap_err();
        assert_eq!(e.from, Accepted);
        assert!(
            e.to_string()
                .contains("cannot resolve a ticket that is accepted"),
            "{e}"
        );
        assert!(next_state(Closed, &Action::Sign, false).is_err());
        assert!(next_state(Closed, &Action::Note { text: "x".into() }, false).is_err());
    }

    fn any_action() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Dispatch { department: dept() }),
            Just(Action::Sign),
            Just(Action::Return { reason: "r".into() }),
            Just(Action::RequestExtension {
                days: 3,
                reason: "r".into()
            }),
            Just(Action::GrantExtension),
            Just(Action::RefuseExtension { reason: "r".into() }),
            Just(Action::Resolve { answer: "a".into() }),
            Just(Action::AnswerDirectly { answer: "a".into() }),
            Just(Action::FollowUp),
            Just(Action::Rate {
                satisfaction: Satisfaction::Satisfied
            }),
            Just(Action::Rate {
                satisfaction: Satisfaction::Unsatisfied
            }),
            Just(Action::Close),
            Just(Action::Supervise { note: "n".into() }),
            Just(Action::Merge { into: TicketId(1) }),
            Just(Action::Note { text: "n".into() }),
        ]
    }

    proptest! {
        /// Whatever people click, a ticket never goes back to `accepted`, nothing leaves
        /// `closed`, a rejected action leaves the state unchanged, and only a department
        /// answer (or an operator's direct one) produces `resolved`.
        #[test]
        fn lifecycle_invariants(actions in proptest::collection::vec(any_action(), 1..60)) {
            let mut state = Accepted;
            let mut supervised = false;
            for a in &actions {
                match next_state(state, a, supervised) {
                    Ok(to) => {
                        if state != Accepted { prop_assert_ne!(to, Accepted); }
                        prop_assert_ne!(state, Closed);
                        if to == Resolved && state != Resolved {
                            let answering = matches!(a, Action::Resolve { .. } | Action::AnswerDirectly { .. });
                            prop_assert!(answering);
                        }
                        if to == Supervised { supervised = true; }
                        let is_note = matches!(a, Action::Note { .. });
                        if is_note { prop_assert_eq!(to, state); }
                        state = to;
                    }
                    Err(e) => prop_assert_eq!(e.from, state),
                }
            }
        }

        /// The table is total: every (state, action) pair gives an answer, never a panic,
        /// and open/closed agrees with the lifecycle.
        #[test]
        fn every_pair_is_decided(si in 0usize..9, a in any_action(), sup in any::<bool>()) {
            let s = State::ALL[si];
            let r = next_state(s, &a, sup);
            if let Ok(to) = r {
                prop_assert!(s != Closed, "left closed");
                let _ = is_open(to);
            }
        }
    }
}
