//! What the engine needs of a call: the call-control trait a dialplan runs against.
//!
//! The SIP layer's [`sip::Call`](crate::sip::Call) implements it for real calls; unit tests
//! implement it with a scripted caller, so a dialplan can be run without a network.

use std::sync::Arc;
use std::time::Duration;

use crate::media::{Heard, ListenOptions, Prompt, RecordOptions, Recording, Utterance};
use crate::sip::{self, BridgeOutcome, CallError};

/// What interrupted a prompt or a wait: a key, or the caller starting to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Key(char),
    Speech,
}

impl From<Heard> for Input {
    fn from(h: Heard) -> Input {
        match h {
            Heard::Key(d) => Input::Key(d.as_char()),
            Heard::Speech => Input::Speech,
        }
    }
}

/// One answered (or about to be answered) call, as the voice menus drive it.
#[async_trait::async_trait]
pub trait CallControl: Send + Sync {
    /// The SIP Call-ID (or any id that names the call in logs).
    fn id(&self) -> &str;
    /// The caller's number, as they present it (nothing proves it).
    fn caller(&self) -> &str;
    /// The caller's number as a trusted carrier asserted it; the only number that proves
    /// who is calling.
    fn asserted_caller(&self) -> Option<&str> {
        None
    }
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

    // Speak first: the caller's words are kept from the answer on (see `media`'s tape).

    /// Starts keeping what the caller says (no effect when already listening).
    fn listen(&self, _opts: ListenOptions) {}
    /// Stops listening and forgets what was kept (the caller now talks to a person).
    fn stop_listening(&self) {}
    /// Plays a prompt that yields to a key or to the caller speaking.
    async fn play_listening(&self, prompt: &Arc<Prompt>) -> Result<Option<Input>, CallError> {
        Ok(self.play(prompt, true).await?.map(Input::Key))
    }
    /// The next key, or the caller starting to speak, within `timeout`.
    async fn next_input(&self, timeout: Duration) -> Result<Option<Input>, CallError> {
        Ok(self.next_digit(timeout).await?.map(Input::Key))
    }
    /// The words since the caller started, up to a pause of `pause` or `max` of speaking.
    async fn utterance(&self, _pause: Duration, _max: Duration) -> Utterance {
        Utterance {
            pcm: Vec::new(),
            ended_by: crate::media::UtteranceEnd::Pause,
        }
    }
    /// Lets the caller finish; the whole message from its first syllable.
    async fn finish_speech(&self, _opts: RecordOptions) -> Option<Recording> {
        None
    }
    /// What the caller said and nobody acted on (kept when they hang up mid-sentence).
    fn take_speech(&self) -> Option<Recording> {
        None
    }
    /// Forgets what the caller said (it was a command, already acted on).
    fn discard_speech(&self) {}
}

#[async_trait::async_trait]
impl CallControl for sip::Call {
    fn id(&self) -> &str {
        sip::Call::id(self)
    }
    fn caller(&self) -> &str {
        sip::Call::caller(self)
    }
    fn asserted_caller(&self) -> Option<&str> {
        sip::Call::asserted_caller(self)
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
    fn listen(&self, opts: ListenOptions) {
        self.media().listen(opts)
    }
    fn stop_listening(&self) {
        self.media().stop_listening()
    }
    async fn play_listening(&self, prompt: &Arc<Prompt>) -> Result<Option<Input>, CallError> {
        Ok(sip::Call::play_listening(self, prompt)
            .await?
            .map(Input::from))
    }
    async fn next_input(&self, timeout: Duration) -> Result<Option<Input>, CallError> {
        Ok(sip::Call::next_key_or_speech(self, timeout)
            .await?
            .map(Input::from))
    }
    async fn utterance(&self, pause: Duration, max: Duration) -> Utterance {
        self.media().utterance(pause, max).await
    }
    async fn finish_speech(&self, opts: RecordOptions) -> Option<Recording> {
        self.media().finish_speech(opts).await
    }
    fn take_speech(&self) -> Option<Recording> {
        self.media().take_speech()
    }
    fn discard_speech(&self) {
        self.media().discard_speech()
    }
}
