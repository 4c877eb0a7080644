//! SMS channel: SMPP 3.4 ESME towards the carrier's SMSC, a durable outbox of notices to
//! residents, and incoming texts that become tickets, queries, ratings and opt-outs.
//!
//! Entry point: [`start`] (see /work/notes/sms-wiring.md).

pub mod config;
pub mod desk;
pub mod encoding;
pub mod inbound;
pub mod link;
pub mod outbox;
pub mod policy;
pub mod service;

pub use config::SmsConfig;
pub use desk::{MailFacts, TicketDesk, TicketInfo};
pub use link::{LinkState, SmsLink};
pub use service::{start, start_with_link, SmsHandle};
