//! Outbound legs for the layers above: the queues ring agents' phones with it, callbacks
//! ring residents through a trunk, and [`Call::bridge_to`](super::Call::bridge_to) rings a
//! `[sip.destinations]` entry. A leg is a SIP dialog (UAC) with its own media session;
//! what the leg's audio is joined to is the caller's business (`media::bridge`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use super::dialog_uac::{place_call, resolve, BridgeOutcome, Leg, Ringing};
use super::endpoint::Shared;
use super::media_leg::MediaHandle;
use crate::media::{MediaSession, MediaStats};

/// Places outbound calls; cheap to clone.
#[derive(Clone)]
pub struct Dialer {
    sh: Arc<Shared>,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer").finish_non_exhaustive()
    }
}

impl Dialer {
    pub(crate) fn new(sh: Arc<Shared>) -> Dialer {
        Dialer { sh }
    }

    /// What a `[sip.destinations]` name stands for (a SIP URI or `account:NAME`).
    pub fn destination(&self, name: &str) -> Option<String> {
        self.sh.cfg.destinations.get(name).cloned()
    }

    /// Whether `account` has a phone registered now.
    pub async fn is_registered(&self, account: &str) -> bool {
        resolve(&self.sh, &format!("account:{account}"))
            .await
            .is_some()
    }

    /// Every account with a phone registered now.
    pub async fn registered_accounts(&self) -> std::collections::HashSet<String> {
        let Some(registrar) = self.sh.registrar.as_ref() else {
            return Default::default();
        };
        match registrar.location().all().await {
            Ok(all) => all.into_iter().map(|(aor, _)| aor).collect(),
            Err(e) => {
                warn!(error = %e, "reading bindings failed");
                Default::default()
            }
        }
    }

    /// Rings `target` (a SIP URI or `account:NAME`, the phone that account registered),
    /// showing `from_user` as the caller, for at most `ring_timeout`; `cancel` stops the
    /// ringing (CANCEL) when the caller leaves or someone else answered first.
    pub async fn ring(
        &self,
        target: &str,
        from_user: &str,
        ring_timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<OutboundLeg, BridgeOutcome> {
        self.ring_noting(target, from_user, ring_timeout, cancel, || {})
            .await
    }

    /// [`ring`](Self::ring), calling `invite_sent` the moment the INVITE has left: the
    /// call centre measures from a free agent to their phone ringing.
    pub async fn ring_noting(
        &self,
        target: &str,
        from_user: &str,
        ring_timeout: Duration,
        cancel: &CancellationToken,
        invite_sent: impl FnOnce() + Send,
    ) -> Result<OutboundLeg, BridgeOutcome> {
        let Some(to) = resolve(&self.sh, target).await else {
            info!(%target, "no registered phone to ring");
            return Err(BridgeOutcome::Failed);
        };
        if cancel.is_cancelled() {
            return Err(BridgeOutcome::Failed);
        }
        let media = match self.sh.media.open(to.peer).await {
            Ok(m) => Arc::new(m),
            Err(e) => {
                warn!(error = %e, "no media for the outbound leg");
                return Err(BridgeOutcome::Failed);
            }
        };
        match place_call(
            &self.sh,
            &to,
            from_user,
            media.clone(),
            Ringing {
                timeout: ring_timeout,
                stop: cancel,
                invite_sent,
            },
        )
        .await
        {
            Ok(leg) => Ok(OutboundLeg {
                media,
                leg: Some(leg),
            }),
            Err(outcome) => {
                media.close();
                Err(outcome)
            }
        }
    }
}

/// An answered outbound call. Dropping it hangs up (BYE) and closes its media.
pub struct OutboundLeg {
    media: Arc<MediaHandle>,
    leg: Option<Leg>,
}

impl std::fmt::Debug for OutboundLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundLeg")
            .field("media", &self.media.session)
            .finish()
    }
}

impl OutboundLeg {
    /// The leg's RTP session (what the called phone hears and says).
    pub fn media(&self) -> &MediaSession {
        &self.media.session
    }

    /// Whether the called side hung up (or we did).
    pub fn is_ended(&self) -> bool {
        self.leg.as_ref().is_none_or(|l| l.ended.is_cancelled())
    }

    /// Resolves when the called side hangs up.
    pub async fn ended(&self) {
        if let Some(l) = &self.leg {
            l.ended.cancelled().await
        }
    }

    /// The `Reason` header (RFC 3326) of the called side's BYE, when it hung up with one.
    pub fn hangup_reason(&self) -> Option<&str> {
        self.leg.as_ref()?.bye_reason.get().map(String::as_str)
    }

    /// Media counters so far.
    pub fn stats(&self) -> MediaStats {
        self.media.session.stats()
    }

    /// Sends BYE (unless the called side hung up first) and closes the media.
    pub async fn hangup(mut self) {
        if let Some(leg) = self.leg.take() {
            leg.hangup().await;
        }
        self.media.close();
    }
}

impl Drop for OutboundLeg {
    fn drop(&mut self) {
        if let Some(leg) = self.leg.take() {
            let media = self.media.clone();
            tokio::spawn(
                async move {
                    leg.hangup().await;
                    media.close();
                }
                .in_current_span(),
            );
        } else {
            self.media.close();
        }
    }
}
