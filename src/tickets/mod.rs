//! The rules of the hotline: tickets (工单), their lifecycle, routing (派单), deadlines
//! (办理时限) and the supervision clock (电子监察). Pure rules plus `store` calls; this
//! module knows nothing of SIP, SMS or the web.
//!
//! - `model.rs`: the words as types; `state.rs`: the lifecycle as one exhaustive function.
//! - `commands/`: one file per action a person or the CLI takes, parse beside apply;
//!   `permission.rs`: the one table of who may run which command on which ticket.
//! - `service/`: the database side (create, read, transition, transcript); `error.rs`.
//! - `routing.rs`, `departments.rs`, `deadline.rs`, `supervision.rs`, `follow_up.rs` (回访
//!   clock and survey-call schedule), `lookup.rs` (who may hear a ticket's state without
//!   logging in, and the count of wrong tries), `retention.rs` (personal data of closed
//!   tickets), `events.rs`,
//!   `config.rs`.

pub mod commands;
mod config;
pub mod deadline;
pub mod departments;
mod error;
pub mod events;
pub mod fanout;
pub mod follow_up;
mod lookup;
mod model;
pub mod permission;
pub mod retention;
pub mod routing;
mod service;
pub mod similar;
pub mod state;
pub mod stats;
pub mod supervision;

pub use commands::{Caller, Command, Input, Outcome, Verb};
pub use config::{
    FollowUpConfig, RetentionConfig, StatusLookupConfig, SupervisionConfig, SurveyCallConfig,
    TicketsConfig,
};
pub use error::{Invalid, TicketsError};
pub use events::{EventKind, EventPayload, TicketEvent};
pub use lookup::{Asker, Proof, StatusClaim};
pub use model::*;
pub use permission::{Perm, Role};
pub use service::{summarize, NewTicket, Rules, TicketFilter, Tickets, TranscriptUpdate};
pub use state::{Action, TransitionError};
