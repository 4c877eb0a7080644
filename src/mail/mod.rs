//! Mail to departments (lettre over SMTP): on dispatch, on a deadline warning and when
//! overdue, through a durable outbox with the same guarantees as the SMS outbox.
//!
//! Entry point: [`start`].
//!
//! - [`config`]: `[mail]` settings and subject templates.
//! - [`compose`]: subject and body of a department's mail.
//! - [`notices`]: the `mail` consumer of ticket events, which fills the outbox.
//! - [`service`]: the running tasks and the sender (outbox → SMTP).

pub mod compose;
pub mod config;
pub mod notices;
pub mod service;

pub use config::MailConfig;
pub use service::{start, start_with_desk, MailHandle};
