//! Mail to departments (lettre over SMTP): on dispatch, on a deadline warning and when
//! overdue, through a durable outbox with the same guarantees as the SMS outbox.
//!
//! Entry point: [`start`] (see /work/notes/sms-wiring.md).

pub mod config;
pub mod service;

pub use config::MailConfig;
pub use service::{start, start_with_desk, MailHandle};
