//! Call records: one durable row per call in the `calls` table, written by the channel that
//! handled the call (today the voice menus). The KPIs of GB/T 33358 (接通率, abandoned calls,
//! call length) are computed from these rows and from tickets, never from running counters.
//!
//! This domain module owns the `calls` table; channels go through [`Calls`] and never write
//! its SQL themselves.

mod events;
mod record;

pub use events::{CallEvent, HangupSide, RingResult};
pub use record::{CallEnd, CallRecordId, Calls, CallsError, NewCall};
