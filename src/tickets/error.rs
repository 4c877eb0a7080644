//! What can go wrong in the ticket domain, as types: channels choose their own words (the
//! web its Chinese) by variant, never by reading the English message.

use crate::store::StoreError;

use super::model::{ParseError, TicketNumber};
use super::state::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum TicketsError {
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error("no ticket {0}")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("ticket {0} was changed by someone else meanwhile; reload and try again")]
    Conflict(TicketNumber),
    #[error("unknown department `{0}`")]
    UnknownDepartment(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A stored row no longer parses: a bug or a hand-edited database, never the user's fault.
    #[error("stored value: {0}")]
    Corrupt(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TicketsError {
    fn from(e: sqlx::Error) -> Self {
        TicketsError::Store(StoreError::Sql(e))
    }
}

/// Input a ticket or a command refuses; the person can fix it and send again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("a ticket needs a text or a recording")]
    NoText,
    #[error("text longer than 20 000 characters")]
    TooLong,
    #[error("a return needs a reason")]
    ReturnNeedsReason,
    #[error("an extension request needs a reason")]
    ExtensionNeedsReason,
    #[error("an extension is 1 to 60 working days")]
    ExtensionDays,
    #[error("refusing an extension needs a reason")]
    RefusalNeedsReason,
    #[error("resolving needs an answer for the resident")]
    NeedsAnswer,
    #[error("a supervision needs a note")]
    SupervisionNeedsNote,
    #[error("a progress note needs text")]
    NoteNeedsText,
    #[error("a ticket cannot be merged into itself")]
    MergeIntoItself,
    #[error("merge needs the number of the ticket to merge into")]
    MergeTargetNumber,
    #[error("no ticket to merge into with that number")]
    MergeTargetMissing,
    #[error("dispatch needs a department")]
    NoDepartment,
    #[error("unknown kind `{0}`")]
    UnknownKind(String),
    #[error("rating needs satisfied, basically_satisfied or unsatisfied")]
    NoSatisfaction,
}
