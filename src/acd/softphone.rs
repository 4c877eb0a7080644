//! An agent's phone is either the SIP phone their account registered or the console tab
//! they opened (a WebRTC leg over the desk's WebSocket). Ringing, answering and hanging up
//! look the same to the rest of the call centre: [`AgentLeg`] is either kind of leg.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Acd;
use crate::media::MediaSession;
use crate::sip::{BridgeOutcome, OutboundLeg};
use crate::webrtc::BrowserLeg;

/// A call ringing in an agent's browser. The page answers by handing back its leg through
/// `answer`; `stop` fires when the ringing is over unanswered (timeout, caller gone,
/// another agent was quicker).
#[derive(Debug)]
pub struct BrowserRing {
    /// The caller's number, as a desk phone shows it.
    pub caller: String,
    pub answer: oneshot::Sender<BrowserLeg>,
    pub stop: CancellationToken,
}

/// Where rings for an agent's browser go (the desk's WebSocket task).
pub type BrowserPhone = mpsc::UnboundedSender<BrowserRing>;

/// The agent's side of a conversation.
#[derive(Debug)]
pub(crate) enum AgentLeg {
    // Boxed: a SIP leg is several times the size of a browser's handle.
    Phone(Box<OutboundLeg>),
    Browser(BrowserLeg),
}

impl AgentLeg {
    pub fn media(&self) -> &MediaSession {
        match self {
            AgentLeg::Phone(l) => l.media(),
            AgentLeg::Browser(l) => l.media(),
        }
    }

    pub async fn ended(&self) {
        match self {
            AgentLeg::Phone(l) => l.ended().await,
            AgentLeg::Browser(l) => l.ended().await,
        }
    }

    /// The agent's browser went away mid-call (not a hang-up): the caller is owed another
    /// agent.
    pub fn was_lost(&self) -> bool {
        match self {
            AgentLeg::Phone(_) => false,
            AgentLeg::Browser(l) => l.was_lost(),
        }
    }

    pub async fn hangup(self) {
        match self {
            AgentLeg::Phone(l) => (*l).hangup().await,
            AgentLeg::Browser(l) => l.hangup(),
        }
    }
}

impl Acd {
    /// The agent's console tab is their phone from now on (until [`detach_browser`] with
    /// the same number, or its channel closes). Returns the attachment's number.
    ///
    /// [`detach_browser`]: Acd::detach_browser
    pub fn attach_browser(&self, agent: &str, phone: BrowserPhone) -> u64 {
        let id = rand::random();
        self.browsers().insert(agent.to_string(), (id, phone));
        tracing::info!(%agent, "browser softphone attached");
        self.inner.wake.notify_one();
        id
    }

    /// The tab that attached as `id` is gone (a newer tab of the same agent stays).
    pub fn detach_browser(&self, agent: &str, id: u64) {
        let mut b = self.browsers();
        if b.get(agent).is_some_and(|(i, _)| *i == id) {
            b.remove(agent);
            tracing::info!(%agent, "browser softphone detached");
        }
    }

    /// Agents whose browser can ring now.
    pub(crate) fn browser_agents(&self) -> Vec<String> {
        self.browsers()
            .iter()
            .filter(|(_, (_, tx))| !tx.is_closed())
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn browsers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (u64, BrowserPhone)>> {
        self.inner
            .browsers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Rings `agent`'s phone: their browser if one is attached, else the SIP phone their
    /// account registered. `rung` is called the moment it rings.
    pub(crate) async fn ring_agent(
        &self,
        agent: &str,
        from: &str,
        ring: Duration,
        stop: &CancellationToken,
        rung: impl FnOnce() + Send,
    ) -> Result<AgentLeg, BridgeOutcome> {
        let browser = self.browsers().get(agent).map(|(_, tx)| tx.clone());
        if let Some(phone) = browser.filter(|p| !p.is_closed()) {
            return ring_browser(&phone, from, ring, stop, rung).await;
        }
        let Some(dialer) = self.dialer() else {
            return Err(BridgeOutcome::Failed);
        };
        dialer
            .ring_noting(&format!("account:{agent}"), from, ring, stop, rung)
            .await
            .map(|l| AgentLeg::Phone(Box::new(l)))
    }
}

async fn ring_browser(
    phone: &BrowserPhone,
    from: &str,
    ring: Duration,
    stop: &CancellationToken,
    rung: impl FnOnce() + Send,
) -> Result<AgentLeg, BridgeOutcome> {
    let (tx, rx) = oneshot::channel();
    let ringing = stop.child_token();
    phone
        .send(BrowserRing {
            caller: from.to_string(),
            answer: tx,
            stop: ringing.clone(),
        })
        .map_err(|_| BridgeOutcome::Failed)?;
    rung();
    let r = tokio::select! {
        // The page declined, or the tab went away while it rang.
        r = rx => r.map(AgentLeg::Browser).map_err(|_| BridgeOutcome::NoAnswer),
        _ = tokio::time::sleep(ring) => Err(BridgeOutcome::NoAnswer),
        _ = stop.cancelled() => Err(BridgeOutcome::Failed),
    };
    if r.is_err() {
        ringing.cancel();
    }
    r
}
