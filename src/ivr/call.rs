//! What the engine needs of a call: the call-control trait a dialplan runs against.
//!
//! The SIP layer's [`sip::Call`](crate::sip::Call) implements it for real calls; unit tests
//! implement it with a scripted caller, so a dialplan can be run without a network.

use std::sync::Arc;
use std::time::Duration;

use crate::media::{Prompt, RecordOptions, Recording};
use crate::sip::{self, BridgeOutcome, CallError};

/// One answered (or about to be answered) call, as the voice menus drive it.
#[async_trait::async_trait]
pub trait CallControl: Send + Sync {
    /// The SIP Call-ID (or any id that names the call in logs).
    fn id(&self) -> &str;
    /// The caller's number.
    fn caller(&self) -> &str;
    /// The number the caller dialled, which chooses the dialplan.
    fn called(&self) -> &str;
    /// Whether either side has hung up.
    fn is_ended(&self) -> bool;
    /// Answers; returns once the caller's side confirmed.
    async fn answer(&self) -> Result<(), CallError>;
    /// Refuses the call before answering with a final status.
    fn reject(self, status: u16)
    where
        Self: Sized;
    /// Hangs up and waits until the call is over.
    async fn hangup(self)
    where
        Self: Sized;
    /// Plays a prompt; with `barge_in` a key press stops it and is returned.
    async fn play(&self, prompt: &Arc<Prompt>, barge_in: bool) -> Result<Option<char>, CallError>;
    /// The next key press within `timeout`.
    async fn next_digit(&self, timeout: Duration) -> Result<Option<char>, CallError>;
    /// Records what the caller says.
    async fn record(&self, opts: RecordOptions) -> Result<Recording, CallError>;
    /// Bridges the caller to a named destination until either side hangs up.
    async fn bridge_to(&self, destination: &str, ring_timeout: Duration) -> BridgeOutcome;
    /// The SIP call itself, for what only a real call can do (wait in a call-centre
    /// queue); scripted test calls have none.
    fn sip_call(&self) -> Option<&sip::Call> {
        None
    }
}

#[async_trait::async_trait]
impl CallControl for sip::Call {
    fn id(&self) -> &str {
        sip::Call::id(self)
    }
    fn caller(&self) -> &str {
        sip::Call::caller(self)
    }
    fn called(&self) -> &str {
        sip::Call::called(self)
    }
    fn is_ended(&self) -> bool {
        sip::Call::is_ended(self)
    }
    async fn answer(&self) -> Result<(), CallError> {
        sip::Call::answer(self).await
    }
    fn reject(self, status: u16) {
        sip::Call::reject(self, status)
    }
    async fn hangup(self) {
        sip::Call::hangup(self).await
    }
    async fn play(&self, prompt: &Arc<Prompt>, barge_in: bool) -> Result<Option<char>, CallError> {
        sip::Call::play(self, prompt, barge_in).await
    }
    async fn next_digit(&self, timeout: Duration) -> Result<Option<char>, CallError> {
        sip::Call::next_digit(self, timeout).await
    }
    async fn record(&self, opts: RecordOptions) -> Result<Recording, CallError> {
        sip::Call::record(self, opts).await
    }
    async fn bridge_to(&self, destination: &str, ring_timeout: Duration) -> BridgeOutcome {
        sip::Call::bridge_to(self, destination, ring_timeout).await
    }
    fn sip_call(&self) -> Option<&sip::Call> {
        Some(self)
    }
}
