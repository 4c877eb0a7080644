//! Call records: one durable row per call in the `calls` table, written by the channel that
//! handled the call (today the voice menus). The KPIs of GB/T 33358 (接通率, abandoned calls,
//! call length) are computed from these rows and from tickets, never from running counters.
//!
//! This domain module owns the `calls` and `call_events` tables; channels go through
//! [`Calls`] and never write their SQL themselves. One source for each fact: the IVR path is
//! the record's `nodes` (written at the end with the prompts and keys); everything around
//! people (queues, agents, transfers, callbacks, recordings) is an event, and the summary
//! columns (`queue`, `agent`, `wait_ms`, `talk_ms`, `abandoned`, …) follow the events in the
//! same transaction (`events.rs`), so lists and reports read one row per call. Abandoned
//! calls and calling them back: `abandoned.rs`. What a record keeps about a resident, and
//! for how long: `retention.rs`.

mod abandoned;
mod events;
mod level;
mod read;
mod record;
mod retention;

pub use abandoned::{
    AbandonedCall, AbandonedFilter, CallBackRefused, CallBackStatus, CLAIM_STALE_MS,
};
pub use events::{CallEvent, RingResult};
pub use level::ServiceLevel;
pub use read::{CallDetail, CallEventAt, CallFilter, CallSummary, Page, MAX_PAGE_SIZE};
pub use record::{
    hangup_reason_zh, outcome_zh, CallEnd, CallRecordId, Calls, CallsError, HangupSide, NewCall,
};
pub use retention::{CallRetention, CallsConfig, CallsPurged};
