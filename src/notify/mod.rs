//! Notifications, the service layer between the ticket domain and the channels that talk to
//! people: one event consumer, one retry policy and rate limit, notice templates, and the
//! port through which the channels ask tickets for facts.
//!
//! - [`consumer`]: the one loop from ticket events to outbox or job rows, per consumer.
//! - [`speech_jobs`]: the `speech` consumer, which queues a voice message's transcription.
//! - [`retry`]: the backoff every queue uses (`backon`) and rate limits (`governor`).
//! - [`templates`]: notice texts rendered with `minijinja`.
//! - [`desk`]: [`TicketDesk`], what SMS and mail ask of tickets, with its typed error.
//!
//! The channels own their outboxes (`sms`: `sms_outbox` with parts and receipts; `mail`:
//! `mail_outbox`) and write them from this layer's consumer; all of them lease rows through
//! [`crate::store::lease`].

pub mod consumer;
pub mod desk;
pub mod retry;
pub mod speech_jobs;
pub mod templates;

pub use consumer::{ConsumeError, EventHandler};
pub use desk::{DeskError, MailFacts, TicketDesk, TicketInfo};
