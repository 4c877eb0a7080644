//! SMS channel: SMPP 3.4 ESME towards the carrier's SMSC, a durable outbox of notices to
//! residents, and incoming texts that become tickets, queries, ratings and opt-outs.
//!
//! Entry point: [`start`]. The path of a notice: a ticket event → [`notices`] (the `sms`
//! consumer of `notify`) → [`outbox`] → [`service`]'s sender → [`link`] → SMSC; receipts
//! and texts come back through [`link`] to [`replies`].
//!
//! - [`config`]: `[sms]` settings and the notice templates.
//! - `context.rs`: what the sender and the inbound handler share.
//! - [`notices`]: which ticket events text the resident, and the notice text.
//! - [`policy`]: template per event, essential notices, quiet hours, daily cap day.
//! - [`outbox`]: the `sms_outbox` table with parts, receipts, opt-outs and inbound log.
//! - [`encoding`]: GSM 7-bit / UCS-2 and concatenated parts.
//! - [`link`]: the SMPP session (bind, window, rate limit, reconnects).
//! - [`inbound`]: commands residents text (CX, ratings, TD).
//! - [`received`]: incoming texts and parts stored before they are acknowledged; redeliveries
//!   recognised.
//! - [`replies`]: receipts and residents' texts handled and answered.
//! - [`service`]: the running tasks (consumer, sender, inbound) and the sender.

pub mod config;
mod context;
pub mod encoding;
pub mod inbound;
pub mod link;
pub mod notices;
pub mod outbox;
pub mod policy;
pub mod received;
pub mod replies;
pub mod retention;
pub mod service;

pub use config::SmsConfig;
pub use link::{LinkState, SmsLink};
pub use service::{start, start_with_link, SmsHandle};
