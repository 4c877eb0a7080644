//! An agent's phone is either the SIP phone their account registered or the console tab
//! they opened (a WebRTC leg over the desk's WebSocket). Ringing, answering and hanging up
//! look the same to the rest of the call centre: [`AgentLeg`] is either kind of leg.
//!
//! With several nodes a tab is attached to one node only (the one serving its page). The
//! others ring it the telephony way: an INVITE to `browser.<agent>` at that node's SIP
//! address, which that node takes only from another live node and answers from the tab
//! ([`Acd::serve_browser_call`]). To the node holding the caller it is a leg like a desk
//! phone's.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Acd;
use crate::media::{self, MediaSession};
use crate::sip::{self, BridgeOutcome, OutboundLeg};
use crate::webrtc::BrowserLeg;

/// The user part of the Request-URI another node rings an agent's browser at, before the
/// agent's name.
const BROWSER_USER: &str = "browser.";

/// The `Reason` of the BYE by which the node a browser is attached to tells the caller's
/// node that the tab was lost mid-call (not hung up).
const BROWSER_LOST: &str = "SIP;cause=480;text=\"browser lost\"";

/// The longest a browser rings for another node: that node gives up first (it CANCELs
/// after its queue's ring time); this only bounds a node that never does.
const REMOTE_RING_AT_MOST: Duration = Duration::from_secs(300);

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
    /// agent. A phone leg is a browser's on another node when that node says so.
    pub fn was_lost(&self) -> bool {
        match self {
            AgentLeg::Phone(l) => l.hangup_reason() == Some(BROWSER_LOST),
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
        self.tell_other_nodes();
        id
    }

    /// The tab that attached as `id` is gone (a newer tab of the same agent stays).
    pub fn detach_browser(&self, agent: &str, id: u64) {
        let mut b = self.browsers();
        if b.get(agent).is_some_and(|(i, _)| *i == id) {
            b.remove(agent);
            drop(b);
            tracing::info!(%agent, "browser softphone detached");
            self.tell_other_nodes();
        }
    }

    /// Whether `agent`'s console tab is attached to this node.
    pub(crate) fn has_browser_here(&self, agent: &str) -> bool {
        self.browsers().contains_key(agent)
    }

    /// Wakes the distributor; on a shared database its next round also writes where this
    /// node's browsers are, so the other nodes ring them here.
    pub(crate) fn tell_other_nodes(&self) {
        self.inner
            .stale
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.wake.notify_one();
    }

    /// Agents whose browser can ring now, here or attached to another node.
    pub(crate) fn browser_agents(&self) -> Vec<String> {
        let mut all = self.attached_browsers();
        all.extend(self.lock().remote_browsers.keys().cloned());
        all
    }

    /// Agents whose browser is attached to this node and can ring now.
    pub(crate) fn attached_browsers(&self) -> Vec<String> {
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

    /// Rings `agent`'s phone: their browser if one is attached (here, or through the node it
    /// is attached to), else the SIP phone their account registered. `rung` is called the
    /// moment it rings.
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
            return ring_browser(&phone, from, ring, stop, rung)
                .await
                .map(AgentLeg::Browser);
        }
        let Some(dialer) = self.dialer() else {
            return Err(BridgeOutcome::Failed);
        };
        let remote = self.lock().remote_browsers.get(agent).cloned();
        let target = match remote {
            Some(node) => format!("sip:{BROWSER_USER}{agent}@{node}"),
            None => format!("account:{agent}"),
        };
        dialer
            .ring_noting(&target, from, ring, stop, rung)
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
) -> Result<BrowserLeg, BridgeOutcome> {
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
        r = rx => r.map_err(|_| BridgeOutcome::NoAnswer),
        _ = tokio::time::sleep(ring) => Err(BridgeOutcome::NoAnswer),
        _ = stop.cancelled() => Err(BridgeOutcome::Failed),
    };
    if r.is_err() {
        ringing.cancel();
    }
    r
}

/// Why a call from another node for a browser attached here was not answered: the SIP
/// status to refuse it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserCallRefused {
    /// Not from a live node of this call centre (403).
    NotANode,
    /// No tab of the agent is attached here now (404).
    NotAttached,
    /// The page declined or did not answer (480, the caller's node tries someone else).
    NoAnswer,
    /// The calling node gave up (CANCEL) while the page rang (487).
    Cancelled,
}

impl BrowserCallRefused {
    pub fn sip_status(self) -> u16 {
        match self {
            BrowserCallRefused::NotANode => 403,
            BrowserCallRefused::NotAttached => 404,
            BrowserCallRefused::NoAnswer => 480,
            BrowserCallRefused::Cancelled => 487,
        }
    }
}

impl Acd {
    /// The agent a call to `called` rings the browser of, when it is another node's ring
    /// (`browser.<agent>`).
    pub fn browser_call_for(called: &str) -> Option<&str> {
        called.strip_prefix(BROWSER_USER).filter(|a| !a.is_empty())
    }

    /// Another node rings `agent`'s tab attached here for a caller it holds: the page rings
    /// (180), the call is answered once the page answers and their audio is joined until
    /// either side hangs up; a tab lost mid-call is said so in the BYE's `Reason`, so that
    /// node puts its caller back in the queue. Taken only from a live node of this call
    /// centre.
    pub async fn serve_browser_call(
        &self,
        call: &sip::Call,
        agent: &str,
    ) -> Result<(), BrowserCallRefused> {
        if !self.comes_from_a_node(call).await {
            tracing::warn!(%agent, source = ?call.source_ip(), "browser call from outside the call centre refused");
            return Err(BrowserCallRefused::NotANode);
        }
        let phone = self.browsers().get(agent).map(|(_, tx)| tx.clone());
        let Some(phone) = phone.filter(|p| !p.is_closed()) else {
            tracing::info!(%agent, "browser call from another node: no tab attached here");
            return Err(BrowserCallRefused::NotAttached);
        };
        let stop = CancellationToken::new();
        let leg = tokio::select! {
            r = ring_browser(&phone, call.caller(), REMOTE_RING_AT_MOST, &stop, || call.ring()) => r,
            _ = call.ended() => {
                stop.cancel();
                return Err(BrowserCallRefused::Cancelled);
            }
        };
        let Ok(leg) = leg else {
            return Err(BrowserCallRefused::NoAnswer);
        };
        if call.answer().await.is_err() {
            tracing::info!(%agent, "browser answered after the calling node gave up");
            leg.hangup();
            return Err(BrowserCallRefused::Cancelled);
        }
        tracing::info!(%agent, "browser answered a call held on another node");
        tokio::select! {
            r = media::bridge(call.media(), leg.media()) => {
                tracing::debug!(result = ?r.as_ref().map_err(|e| e.to_string()), "browser bridge ended");
            }
            _ = call.ended() => {}
            _ = leg.ended() => {}
        }
        let lost = leg.was_lost();
        leg.hangup();
        if lost && !call.is_ended() {
            tracing::info!(%agent, "browser lost mid-call: the caller's node is told");
            call.hangup_because(BROWSER_LOST).await;
        }
        Ok(())
    }

    /// Whether `call` comes from another live node (its source is a node's SIP address).
    async fn comes_from_a_node(&self, call: &sip::Call) -> bool {
        let Some(ip) = call.source_ip() else {
            return false;
        };
        if !self.inner.store.shared() {
            return false;
        }
        match self.inner.store.other_nodes().await {
            Ok(nodes) => nodes.iter().any(|n| {
                n.parse::<std::net::SocketAddr>()
                    .is_ok_and(|a| a.ip() == ip)
            }),
            Err(e) => {
                tracing::warn!(error = %e, "reading the live nodes failed");
                false
            }
        }
    }
}
