//! The call handle given to the layer above: the top of the SIP layer. A [`Call`] talks to
//! its UAS dialog by commands, to its media session directly, and places the outbound leg
//! of a bridge through the UAC dialog.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::dialer::Dialer;
use super::dialog_uas::Cmd;
use super::dialog_uas_accept::NewCall;
use super::endpoint::Shared;
use super::media_leg::MediaHandle;
use crate::media::{self, Heard, MediaSession, PlayOutcome, Prompt, RecordOptions, Recording};

pub use super::dialog_uac::BridgeOutcome;
pub use super::error::CallError;

/// The layer above (the dialplan engine) implements this; one call per invocation.
#[async_trait::async_trait]
pub trait CallHandler: Send + Sync + 'static {
    /// Run one call to its end. The call is not answered yet: call [`Call::answer`]
    /// (or reject it with [`Call::reject`]). Dropping the call hangs it up.
    async fn handle(&self, call: Call);
}

/// One incoming call, as the dialplan sees it. Dropping it hangs up.
pub struct Call {
    id: String,
    caller: String,
    asserted: Option<String>,
    called: String,
    authenticated: Option<String>,
    source: Option<std::net::IpAddr>,
    cmd: mpsc::UnboundedSender<Cmd>,
    ended: CancellationToken,
    media: Arc<MediaHandle>,
    sh: Arc<Shared>,
    bridge_stats: std::sync::Mutex<Option<media::MediaStats>>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.id)
            .field("caller", &self.caller)
            .field("called", &self.called)
            .finish()
    }
}

impl Call {
    /// The handle of a call the UAS dialog took; `sh` serves its bridges.
    pub(crate) fn new(new: NewCall, sh: Arc<Shared>) -> Self {
        Self {
            id: new.id,
            caller: new.caller,
            asserted: new.asserted,
            called: new.called,
            authenticated: new.authenticated,
            source: new.source,
            cmd: new.cmd,
            ended: new.ended,
            media: new.media,
            sh,
            bridge_stats: std::sync::Mutex::new(None),
        }
    }

    /// Media counters of the called leg of the last completed bridge.
    pub fn last_bridge_stats(&self) -> Option<media::MediaStats> {
        self.bridge_stats.lock().ok().and_then(|s| s.clone())
    }

    /// The SIP Call-ID.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// User part of the From URI (the caller's number).
    pub fn caller(&self) -> &str {
        &self.caller
    }
    /// The caller's number as a `[sip] trusted_peers` carrier asserted it
    /// (P-Asserted-Identity); `None` from anywhere else, whatever the headers say.
    pub fn asserted_caller(&self) -> Option<&str> {
        self.asserted.as_deref()
    }
    /// User part of the Request-URI (or To), e.g. `12345`.
    pub fn called(&self) -> &str {
        &self.called
    }
    /// The console account the caller proved to be with digest credentials; only calls to
    /// service codes (`*71` …) are asked for them.
    pub fn authenticated_user(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }
    /// The address the INVITE came from (the last hop: a balancer in front, if any).
    pub fn source_ip(&self) -> Option<std::net::IpAddr> {
        self.source
    }
    /// Whether the call is over (either side hung up).
    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }
    /// Resolves when the call is over.
    pub async fn ended(&self) {
        self.ended.cancelled().await
    }
    /// The media session, for what the helpers below do not cover.
    pub fn media(&self) -> &MediaSession {
        &self.media.session
    }

    /// Send 180 Ringing (before answering).
    pub fn ring(&self) {
        let _ = self.cmd.send(Cmd::Ring);
    }

    /// Answer with 200 OK; returns once the caller's ACK confirmed the call.
    pub async fn answer(&self) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Answer(tx))
            .map_err(|_| CallError::Hungup)?;
        rx.await.map_err(|_| CallError::Hungup)?
    }

    /// Refuse the call before answering with a final status (e.g. 486, 480, 603).
    pub fn reject(self, status: u16) {
        let _ = self.cmd.send(Cmd::Reject(status));
    }

    /// Hang up (BYE once answered, 480 before) and wait until the dialog is over.
    pub async fn hangup(self) {
        let _ = self.cmd.send(Cmd::Hangup);
        self.ended.cancelled().await;
    }

    /// [`hangup`](Self::hangup) with a `Reason` header on the BYE (RFC 3326), e.g.
    /// `SIP;cause=480;text="…"`, which tells the other side why.
    pub async fn hangup_because(&self, reason: &str) {
        let _ = self.cmd.send(Cmd::HangupBecause(reason.to_string()));
        self.ended.cancelled().await;
    }

    /// Play a prompt; with `barge_in` a key press stops it and is returned.
    pub async fn play(
        &self,
        prompt: &Arc<Prompt>,
        barge_in: bool,
    ) -> Result<Option<char>, CallError> {
        if self.is_ended() {
            return Err(CallError::Hungup);
        }
        tokio::select! {
            out = self.media.session.play(prompt, barge_in) => match out {
                PlayOutcome::Finished => Ok(None),
                PlayOutcome::Interrupted(d) => Ok(Some(d.as_char())),
                PlayOutcome::Speech => Ok(None),
                PlayOutcome::Ended => if self.is_ended() { Err(CallError::Hungup) } else { Ok(None) },
            },
            _ = self.ended.cancelled() => Err(CallError::Hungup),
        }
    }

    /// Play a prompt that yields to a key or to the caller starting to speak (the media
    /// session must be listening, see `MediaSession::listen`).
    pub async fn play_listening(&self, prompt: &Arc<Prompt>) -> Result<Option<Heard>, CallError> {
        if self.is_ended() {
            return Err(CallError::Hungup);
        }
        tokio::select! {
            out = self.media.session.play_listening(prompt) => match out {
                PlayOutcome::Finished => Ok(None),
                PlayOutcome::Interrupted(d) => Ok(Some(Heard::Key(d))),
                PlayOutcome::Speech => Ok(Some(Heard::Speech)),
                PlayOutcome::Ended => if self.is_ended() { Err(CallError::Hungup) } else { Ok(None) },
            },
            _ = self.ended.cancelled() => Err(CallError::Hungup),
        }
    }

    /// The next key press, or the caller starting to speak, within `timeout`.
    pub async fn next_key_or_speech(&self, timeout: Duration) -> Result<Option<Heard>, CallError> {
        tokio::select! {
            h = self.media.session.next_key_or_speech(timeout) => Ok(h),
            _ = self.ended.cancelled() => Err(CallError::Hungup),
        }
    }

    /// The next key press within `timeout` (RFC 4733, SIP INFO or in-band tone).
    pub async fn next_digit(&self, timeout: Duration) -> Result<Option<char>, CallError> {
        tokio::select! {
            d = self.media.session.next_digit(timeout) => Ok(d.map(|d| d.as_char())),
            _ = self.ended.cancelled() => Err(CallError::Hungup),
        }
    }

    /// Collect up to `max` digits: wait `first` for the first, `between` for each next;
    /// stop early at `terminator` (not included).
    pub async fn gather_digits(
        &self,
        max: usize,
        first: Duration,
        between: Duration,
        terminator: Option<char>,
    ) -> Result<String, CallError> {
        let mut out = String::new();
        while out.len() < max {
            let wait = if out.is_empty() { first } else { between };
            match self.next_digit(wait).await? {
                Some(d) if Some(d) == terminator => break,
                Some(d) => out.push(d),
                None => break,
            }
        }
        Ok(out)
    }

    /// Record what the caller says (ends on silence, `#`, max length or hang-up).
    pub async fn record(&self, opts: RecordOptions) -> Result<Recording, CallError> {
        self.media
            .session
            .record(opts)
            .await
            .map_err(|e| CallError::Media(e.to_string()))
    }

    /// Places outbound legs through the same SIP stack (queues, callbacks, transfers).
    pub fn dialer(&self) -> Dialer {
        Dialer::new(self.sh.clone())
    }

    /// Bridge the caller to a named destination from `[sip.destinations]` (B2BUA): ring
    /// it with ringback to the caller; once it answers, relay media both ways until either
    /// side hangs up (which ends both). No answer or busy hands the call back.
    pub async fn bridge_to(&self, destination: &str, ring_timeout: Duration) -> BridgeOutcome {
        let dialer = self.dialer();
        let Some(value) = dialer.destination(destination) else {
            warn!(%destination, "no such bridge destination");
            return BridgeOutcome::Failed;
        };
        if self.is_ended() {
            return BridgeOutcome::Failed;
        }
        self.media.session.start_ringback();
        let leg = match dialer
            .ring(&value, &self.caller, ring_timeout, &self.ended)
            .await
        {
            Ok(leg) => leg,
            Err(outcome) => {
                self.media.session.stop_audio();
                info!(%destination, ?outcome, "bridge not established");
                return outcome;
            }
        };
        info!(%destination, "bridged");
        tokio::select! {
            r = media::bridge(&self.media.session, leg.media()) => {
                info!(result = ?r.as_ref().map_err(|e| e.to_string()), "bridge media ended");
            }
            _ = self.ended.cancelled() => {}
            _ = leg.ended() => {}
        }
        if let Ok(mut s) = self.bridge_stats.lock() {
            *s = Some(leg.stats());
        }
        // Either side's BYE ends both.
        leg.hangup().await;
        if !self.is_ended() {
            let _ = self.cmd.send(Cmd::Hangup);
            self.ended.cancelled().await;
        }
        BridgeOutcome::Completed
    }
}
