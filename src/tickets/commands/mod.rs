//! The one command layer under every channel: the web pages, the JSON API and the
//! `hotline ticket act` CLI all turn what a person typed into an [`Input`], parse it into a
//! [`Command`] and apply it. One file per command, its `parse` (the validation) beside its
//! `apply`, the way mini-redis keeps its commands; who may run which command is the one
//! table in `permission.rs`.

mod answer;
mod close;
mod dispatch;
mod extend;
mod follow_up;
mod grant;
mod merge;
mod note;
mod rate;
mod refuse;
mod resolve;
mod return_;
mod sign;
mod supervise;

use std::fmt;
use std::str::FromStr;

pub use answer::Answer;
pub use close::Close;
pub use dispatch::Dispatch;
pub use extend::Extend;
pub use follow_up::FollowUp;
pub use grant::Grant;
pub use merge::Merge;
pub use note::Note;
pub use rate::Rate;
pub use refuse::Refuse;
pub use resolve::Resolve;
pub use return_::Return;
pub use sign::Sign;
pub use supervise::Supervise;

use super::error::{Invalid, TicketsError};
use super::model::{Actor, DepartmentId, Kind, Ticket};
use super::permission::{self, allows, Perm, Role};
use super::service::Tickets;
use super::state::Action;

/// What a person sent with an action, whatever the channel (form fields, JSON body, CLI
/// flags). Every field is optional; each command's `parse` takes what it needs.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub department: Option<String>,
    pub kind: Option<String>,
    pub reason: Option<String>,
    pub answer: Option<String>,
    pub text: Option<String>,
    pub days: Option<String>,
    pub satisfaction: Option<String>,
    pub into: Option<String>,
}

/// A field with its whitespace trimmed; empty counts as absent.
fn field(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A text the command needs, or `missing`.
fn required(v: &Option<String>, missing: Invalid) -> Result<String, Invalid> {
    field(v).map(str::to_string).ok_or(missing)
}

/// The name of a command, as the channels spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Dispatch,
    Sign,
    Return,
    Extend,
    Grant,
    Refuse,
    Resolve,
    Answer,
    FollowUp,
    Rate,
    Close,
    Supervise,
    Merge,
    Note,
}

impl Verb {
    pub const ALL: [Verb; 14] = [
        Verb::Dispatch,
        Verb::Sign,
        Verb::Return,
        Verb::Extend,
        Verb::Grant,
        Verb::Refuse,
        Verb::Resolve,
        Verb::Answer,
        Verb::FollowUp,
        Verb::Rate,
        Verb::Close,
        Verb::Supervise,
        Verb::Merge,
        Verb::Note,
    ];

    /// The short name of the CLI (`hotline ticket act NUMBER extend`).
    pub fn name(self) -> &'static str {
        match self {
            Verb::Dispatch => "dispatch",
            Verb::Sign => "sign",
            Verb::Return => "return",
            Verb::Extend => "extend",
            Verb::Grant => "grant",
            Verb::Refuse => "refuse",
            Verb::Resolve => "resolve",
            Verb::Answer => "answer",
            Verb::FollowUp => "follow-up",
            Verb::Rate => "rate",
            Verb::Close => "close",
            Verb::Supervise => "supervise",
            Verb::Merge => "merge",
            Verb::Note => "note",
        }
    }

    /// The name in the audit trail (`Action::name`), also accepted as input.
    pub fn code(self) -> &'static str {
        match self {
            Verb::Dispatch => "dispatch",
            Verb::Sign => "sign",
            Verb::Return => "return",
            Verb::Extend => "request_extension",
            Verb::Grant => "grant_extension",
            Verb::Refuse => "refuse_extension",
            Verb::Resolve => "resolve",
            Verb::Answer => "answer_directly",
            Verb::FollowUp => "follow_up",
            Verb::Rate => "rate",
            Verb::Close => "close",
            Verb::Supervise => "supervise",
            Verb::Merge => "merge",
            Verb::Note => "note",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`; use dispatch, sign, return, extend, grant, refuse, resolve, answer, follow-up, rate, close, supervise, merge or note")]
pub struct UnknownVerb(pub String);

impl FromStr for Verb {
    type Err = UnknownVerb;
    /// The CLI name, the audit code, or the pages' `extension`.
    fn from_str(s: &str) -> Result<Verb, UnknownVerb> {
        let s = s.trim();
        if s == "extension" {
            return Ok(Verb::Extend);
        }
        Verb::ALL
            .into_iter()
            .find(|v| v.name() == s || v.code() == s)
            .ok_or_else(|| UnknownVerb(s.to_string()))
    }
}

/// Who runs a command: a person with a role (held to the permission table), or the hotline
/// itself and the terminal's operator, trusted as the machine they run on.
#[derive(Debug, Clone)]
pub enum Caller {
    Person {
        role: Role,
        department: Option<DepartmentId>,
        actor: Actor,
    },
    Trusted(Actor),
}

impl Caller {
    /// The name in the audit trail.
    pub fn actor(&self) -> &Actor {
        match self {
            Caller::Person { actor, .. } | Caller::Trusted(actor) => actor,
        }
    }

    /// May this caller run `verb` at all?
    pub fn may(&self, verb: Verb) -> bool {
        match self {
            Caller::Person { role, .. } => verb.allowed_for(*role),
            Caller::Trusted(_) => true,
        }
    }

    /// Does this ticket exist for the caller?
    pub fn sees(&self, t: &Ticket) -> bool {
        match self {
            Caller::Person {
                role, department, ..
            } => permission::can_see(*role, department.as_ref(), t),
            Caller::Trusted(_) => true,
        }
    }
}

/// A command that ran: the ticket as it is now, and a route a person corrected (for the
/// speech step's correction report).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ticket: Ticket,
    pub rerouted: Option<Reroute>,
}

/// Kind and department a dispatch corrected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reroute {
    pub kind: Kind,
    pub department: DepartmentId,
}

/// One action on one ticket, parsed and checked.
#[derive(Debug, Clone)]
pub enum Command {
    Dispatch(Dispatch),
    Sign(Sign),
    Return(Return),
    Extend(Extend),
    Grant(Grant),
    Refuse(Refuse),
    Resolve(Resolve),
    Answer(Answer),
    FollowUp(FollowUp),
    Rate(Rate),
    Close(Close),
    Supervise(Supervise),
    Merge(Merge),
    Note(Note),
}

impl Command {
    /// Reads `verb`'s fields from `input`; the departments come from `tickets`' rules.
    pub fn parse(verb: Verb, input: &Input, tickets: &Tickets) -> Result<Command, TicketsError> {
        Ok(match verb {
            Verb::Dispatch => Command::Dispatch(Dispatch::parse(input, tickets)?),
            Verb::Sign => Command::Sign(Sign::parse(input)?),
            Verb::Return => Command::Return(Return::parse(input)?),
            Verb::Extend => Command::Extend(Extend::parse(input)?),
            Verb::Grant => Command::Grant(Grant::parse(input)?),
            Verb::Refuse => Command::Refuse(Refuse::parse(input)?),
            Verb::Resolve => Command::Resolve(Resolve::parse(input)?),
            Verb::Answer => Command::Answer(Answer::parse(input)?),
            Verb::FollowUp => Command::FollowUp(FollowUp::parse(input)?),
            Verb::Rate => Command::Rate(Rate::parse(input)?),
            Verb::Close => Command::Close(Close::parse(input)?),
            Verb::Supervise => Command::Supervise(Supervise::parse(input)?),
            Verb::Merge => Command::Merge(Merge::parse(input)?),
            Verb::Note => Command::Note(Note::parse(input)?),
        })
    }

    pub fn verb(&self) -> Verb {
        match self {
            Command::Dispatch(_) => Verb::Dispatch,
            Command::Sign(_) => Verb::Sign,
            Command::Return(_) => Verb::Return,
            Command::Extend(_) => Verb::Extend,
            Command::Grant(_) => Verb::Grant,
            Command::Refuse(_) => Verb::Refuse,
            Command::Resolve(_) => Verb::Resolve,
            Command::Answer(_) => Verb::Answer,
            Command::FollowUp(_) => Verb::FollowUp,
            Command::Rate(_) => Verb::Rate,
            Command::Close(_) => Verb::Close,
            Command::Supervise(_) => Verb::Supervise,
            Command::Merge(_) => Verb::Merge,
            Command::Note(_) => Verb::Note,
        }
    }

    /// Runs the command on `t` as `caller`. The channel has already checked
    /// [`Caller::may`] and [`Caller::sees`] (each answers a refusal in its own way).
    #[tracing::instrument(skip(self, tickets, t, caller), fields(ticket = %t.id, command = %self.verb()))]
    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        match self {
            Command::Dispatch(c) => c.apply(tickets, t, caller).await,
            Command::Sign(c) => c.apply(tickets, t, caller).await,
            Command::Return(c) => c.apply(tickets, t, caller).await,
            Command::Extend(c) => c.apply(tickets, t, caller).await,
            Command::Grant(c) => c.apply(tickets, t, caller).await,
            Command::Refuse(c) => c.apply(tickets, t, caller).await,
            Command::Resolve(c) => c.apply(tickets, t, caller).await,
            Command::Answer(c) => c.apply(tickets, t, caller).await,
            Command::FollowUp(c) => c.apply(tickets, t, caller).await,
            Command::Rate(c) => c.apply(tickets, t, caller).await,
            Command::Close(c) => c.apply(tickets, t, caller).await,
            Command::Supervise(c) => c.apply(tickets, t, caller).await,
            Command::Merge(c) => c.apply(tickets, t, caller).await,
            Command::Note(c) => c.apply(tickets, t, caller).await,
        }
    }
}

/// The common end of most commands: one lifecycle step through the service.
async fn step(
    tickets: &Tickets,
    t: &Ticket,
    action: Action,
    caller: &Caller,
) -> Result<Outcome, TicketsError> {
    noted_step(tickets, t, action, caller, "").await
}

/// [`step`] with a note of the person's own in the audit line (a rating's reason).
async fn noted_step(
    tickets: &Tickets,
    t: &Ticket,
    action: Action,
    caller: &Caller,
    note: &str,
) -> Result<Outcome, TicketsError> {
    let ticket = tickets
        .transition_noted(t.id, action, caller.actor(), note)
        .await?;
    Ok(Outcome {
        ticket,
        rerouted: None,
    })
}

impl Verb {
    /// The permission this command needs, the one rule for the pages, the API and the
    /// CLI's people; `None` for a step no person may take (none today).
    pub fn perm(self) -> Option<Perm> {
        match self {
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
            Verb::FollowUp | Verb::Rate | Verb::Close => Some(Perm::FollowUp),
        }
    }

    /// May a person in `role` run this command at all (before looking at any ticket)?
    pub fn allowed_for(self, role: Role) -> bool {
        self.perm().is_some_and(|p| allows(role, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departments_work_tickets_and_supervisors_decide() {
        assert!(Verb::Sign.allowed_for(Role::Department));
        assert!(!Verb::Sign.allowed_for(Role::Operator));
        assert!(Verb::Refuse.allowed_for(Role::Supervisor));
        assert!(!Verb::Grant.allowed_for(Role::Department));
    }

    #[test]
    fn operators_and_supervisors_follow_up_by_hand_departments_do_not() {
        for v in [Verb::FollowUp, Verb::Rate, Verb::Close] {
            assert!(v.allowed_for(Role::Operator), "{v}");
            assert!(v.allowed_for(Role::Supervisor), "{v}");
            assert!(!v.allowed_for(Role::Department), "{v}");
            assert!(!v.allowed_for(Role::Admin), "{v}");
        }
    }

    #[test]
    fn every_verb_reads_back_from_its_names() {
        for v in Verb::ALL {
            assert_eq!(v.name().parse::<Verb>().unwrap(), v);
            assert_eq!(v.code().parse::<Verb>().unwrap(), v);
        }
        assert_eq!("extension".parse::<Verb>().unwrap(), Verb::Extend);
        assert!("fly".parse::<Verb>().is_err());
    }

    #[test]
    fn refusing_without_a_reason_is_invalid() {
        let e = Refuse::parse(&Input {
            reason: Some("  ".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e, Invalid::RefusalNeedsReason);
    }

    #[test]
    fn extension_days_are_checked_before_the_ticket() {
        for days in [None, Some("0"), Some("61"), Some("x")] {
            let e = Extend::parse(&Input {
                days: days.map(str::to_string),
                reason: Some("协调".into()),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(e, Invalid::ExtensionDays, "{days:?}");
        }
    }
}
