//! SMS channel: SMPP 3.4 ESME towards the carrier's SMSC, a durable outbox of notices to
//! residents, and incoming texts that become tickets, queries, ratings and opt-outs.

pub mod config;
pub mod encoding;
pub mod inbound;
pub mod policy;

pub use config::SmsConfig;
pub mod link;
