//! The rules of the hotline: tickets (工单), their lifecycle, routing (派单), deadlines
//! (办理时限) and the supervision clock (电子监察). Pure rules plus `store` calls; this
//! module knows nothing of SIP, SMS or the web.

mod config;
pub mod deadline;
pub mod departments;
pub mod events;
mod model;
pub mod routing;
mod service;
pub mod state;
pub mod stats;
pub mod supervision;

pub use config::{SupervisionConfig, TicketsConfig};
pub use events::{EventKind, EventPayload, TicketEvent};
pub use model::*;
pub use service::{
    summarize, NewTicket, Rules, TicketFilter, Tickets, TicketsError, TranscriptUpdate,
};
pub use state::{Action, TransitionError};
