//! Calling a resident back, agent first, then the resident through a trunk, then the two
//! bridged — in two ways that share the placing ([`ring_resident`], [`talk`]):
//!
//! - virtual hold (虚拟排队): when a callback owed reaches the front of its queue, the
//!   queue's agents are rung and the resident is called through the queue's trunk
//!   (`callback_via`). A resident who does not answer is tried again later, up to
//!   [`ATTEMPTS`] times.
//! - an abandoned call (放弃来电回拨): an operator clicks 回拨 and [`Acd::call_back`] rings
//!   their own phone, then the resident through the queue's trunk or `[acd] callback_via`.
//!   The call's record gets a `called_back` event; one call-back at a time
//!   (`Calls::claim_call_back`).

use std::time::Duration;

use super::agent::{AgentState, CallStep};
use super::connect::{conversation, ring_agents, Resident};
use super::softphone::AgentLeg;
use super::waiting::{callable, Offer};
use super::{Acd, AcdEvent, Queue};
use crate::calls::{CallBackRefused, CallEvent, CallRecordId, CallsError};
use crate::sip::{Dialer, OutboundLeg};
use crate::store::now_ms;

/// Tries before a callback is given up (and left for an operator to see).
pub const ATTEMPTS: u32 = 3;
/// Time between tries.
const RETRY_AFTER_MS: i64 = 5 * 60 * 1000;

pub(super) async fn run(acd: Acd, offer: Offer) {
    let Some(queue) = acd.inner.queues.get(&offer.queue).cloned() else {
        return;
    };
    let (number, record) = {
        let st = acd.lock();
        match st.entries.get(&offer.entry) {
            Some(e) => (e.caller.clone(), e.call_record),
            None => return,
        }
    };
    let (Some(dialer), Some(via)) = (
        acd.dialer().cloned(),
        queue
            .callback_via
            .as_ref()
            .and_then(|v| acd.dialer().and_then(|d| d.destination(v))),
    ) else {
        tracing::warn!(queue = %queue.id, "callback owed but no trunk to call out through");
        acd.release(offer.entry, &offer.agents);
        return;
    };
    let (winner, _) = ring_agents(
        &acd,
        &queue,
        record,
        &offer,
        &number,
        std::future::pending::<()>(),
    )
    .await;
    let Some((agent, agent_leg)) = winner else {
        acd.ringing_over(offer.entry);
        return;
    };
    tracing::info!(%agent, entry = offer.entry, "calling the resident back");
    let resident = ring_resident(&dialer, &via, &number, &agent, &agent_leg).await;
    if let Some(r) = record {
        acd.record(
            r,
            CallEvent::CallbackPlaced {
                queue: queue.id.clone(),
                agent: agent.clone(),
                answered: resident.is_some(),
            },
        )
        .await;
    }
    let Some(resident) = resident else {
        // Not reached: the agent is free again after a short wrap-up, the resident is
        // tried again later.
        acd.step(&agent, CallStep::Ended, Some(&queue));
        agent_leg.hangup().await;
        let attempts = {
            let mut st = acd.lock();
            match st.entries.get_mut(&offer.entry) {
                Some(e) => {
                    e.ringing.clear();
                    e.attempts += 1;
                    e.next_try_at = now_ms() + RETRY_AFTER_MS;
                    (e.attempts, e.next_try_at)
                }
                None => return,
            }
        };
        if attempts.0 >= ATTEMPTS {
            tracing::warn!(
                entry = offer.entry,
                "callback given up after {ATTEMPTS} tries"
            );
            acd.remove(offer.entry, "lost").await;
        } else if let Err(e) = acd
            .inner
            .store
            .retry_entry(offer.entry, attempts.0, attempts.1)
            .await
        {
            tracing::warn!(error = %e, "callback retry not stored");
        }
        acd.emit(AcdEvent::Waiting);
        return;
    };
    acd.remove(offer.entry, "done").await;
    acd.emit(AcdEvent::Waiting);
    talk(&acd, &queue, record, agent, agent_leg, resident, &number).await;
}

/// Rings the resident at `number` through the trunk URI `via` while the agent, who has
/// answered on `agent_leg`, hears ringback; the agent hanging up meanwhile cancels it. The
/// resident's leg once they answer.
async fn ring_resident(
    dialer: &Dialer,
    via: &str,
    number: &str,
    agent: &str,
    agent_leg: &AgentLeg,
) -> Option<OutboundLeg> {
    let target = resident_uri(via, number);
    let cancel = tokio_util::sync::CancellationToken::new();
    agent_leg.media().start_ringback();
    let resident = tokio::select! {
        r = dialer.ring(&target, agent, Duration::from_secs(30), &cancel) => r.ok(),
        _ = agent_leg.ended() => { cancel.cancel(); None }
    };
    agent_leg.media().stop_audio();
    resident
}

/// The agent and the resident they reached talk until one hangs up (the agent's leg plays
/// "the agent" in the conversation, the resident's that of the caller); then both legs
/// are hung up.
async fn talk(
    acd: &Acd,
    queue: &Queue,
    record: Option<CallRecordId>,
    agent: String,
    agent_leg: AgentLeg,
    resident: OutboundLeg,
    number: &str,
) {
    let party = Resident {
        leg: &resident,
        number,
    };
    let _ = conversation(acd, queue, record, &party, agent, agent_leg).await;
    resident.hangup().await;
}

/// Why an operator's call-back of an abandoned call was not started.
#[derive(Debug, thiserror::Error)]
pub enum CallBackError {
    #[error(transparent)]
    Refused(#[from] CallBackRefused),
    #[error("the SIP stack is not running")]
    NoDialer,
    #[error("the call centre has no queue")]
    NoQueue,
    #[error(
        "no trunk to call residents through: set the queue's callback_via or [acd] callback_via"
    )]
    NoTrunk,
    #[error("the number `{0}` cannot be called back")]
    NotCallable(String),
    #[error("{0} has no phone registered")]
    NoPhone(String),
    #[error("{0} is in a call")]
    Busy(String),
}

impl From<CallsError> for CallBackError {
    fn from(e: CallsError) -> Self {
        CallBackError::Refused(e.into())
    }
}

impl Acd {
    /// `by` calls back the resident of the abandoned call `record` (回拨): their own phone
    /// rings first, then, once they answer, the resident through the trunk of the queue the
    /// call waited in, else `[acd] callback_via`; the two are bridged like any call with an
    /// agent (hold, transfer, recording). Returns once the call-back has started; it ends
    /// with a `called_back` event on the record. Refused while another call-back of it runs,
    /// once the resident was reached or called again, and while `by` is in a call.
    pub async fn call_back(&self, record: CallRecordId, by: &str) -> Result<(), CallBackError> {
        let call = self
            .inner
            .calls
            .get(record)
            .await?
            .ok_or(CallBackRefused::NotFound)?
            .call;
        if !call.abandoned || call.ticket_number.is_some() {
            return Err(CallBackRefused::NotAbandoned.into());
        }
        if !callable(&call.caller) {
            return Err(CallBackError::NotCallable(call.caller));
        }
        let dialer = self.dialer().cloned().ok_or(CallBackError::NoDialer)?;
        let waited_in = call.queue.as_deref().and_then(|q| self.inner.queues.get(q));
        let via = waited_in
            .and_then(|q| q.callback_via.clone())
            .or_else(|| self.inner.callback_via.clone())
            .and_then(|v| dialer.destination(&v))
            .ok_or(CallBackError::NoTrunk)?;
        let queue = match waited_in {
            Some(q) => q.clone(),
            None => self.queue_of(by).ok_or(CallBackError::NoQueue)?,
        };
        if !dialer.is_registered(by).await && !self.browser_agents().iter().any(|a| a == by) {
            return Err(CallBackError::NoPhone(by.to_string()));
        }
        if !self.take_for_own_call(by).await {
            return Err(CallBackError::Busy(by.to_string()));
        }
        if let Err(e) = self.inner.calls.claim_call_back(record, by).await {
            self.step(by, CallStep::Released, Some(&queue));
            return Err(e.into());
        }
        tracing::info!(
            agent = by,
            call = record.get(),
            "calling an abandoned call back"
        );
        let (acd, by) = (self.clone(), by.to_string());
        tokio::spawn(async move {
            acd.place_call_back(record, by, call.caller, queue, via, dialer)
                .await
        });
        Ok(())
    }

    /// The queue whose rules (wrap-up, hold music) a call-back by `agent` follows when the
    /// call waited in none: the first they are a member of, else the first.
    fn queue_of(&self, agent: &str) -> Option<Queue> {
        let st = self.lock();
        let queues = &self.inner.queues.queues;
        queues
            .values()
            .find(|q| {
                st.members
                    .get(&q.id)
                    .is_some_and(|m| m.iter().any(|a| a == agent))
            })
            .or_else(|| queues.values().next())
            .cloned()
    }

    /// Takes `agent` for a call they place themselves; false while a call holds them. Their
    /// state rings now (so no queue call is offered meanwhile, and the wallboard shows them
    /// busy); a pause comes back after the call (`Agent::own_call`).
    pub(super) async fn take_for_own_call(&self, agent: &str) -> bool {
        if self.inner.store.shared() {
            return self.take_for_own_call_shared(agent).await;
        }
        let taken = {
            let mut st = self.lock();
            let Some(a) = st.agents.get_mut(agent) else {
                // Not an agent (a supervisor): nothing to keep apart.
                return true;
            };
            if !a.own_call(now_ms()) {
                return false;
            }
            let a = a.clone();
            st.wrapup_until.remove(agent);
            a
        };
        self.persist(&taken, "call");
        self.emit(AcdEvent::Agent(taken));
        true
    }

    /// [`Self::take_for_own_call`] on a shared database: the row is taken with one
    /// conditional write, so no node offers the agent a queue call meanwhile.
    async fn take_for_own_call_shared(&self, agent: &str) -> bool {
        let Ok(Some((mut a, _))) = self.inner.store.agent_held(agent).await else {
            // Not an agent (a supervisor), or unreadable: nothing to keep apart.
            return true;
        };
        if !a.own_call(now_ms()) {
            return false;
        }
        let from = [
            AgentState::LoggedOut,
            AgentState::Ready,
            AgentState::Paused,
            AgentState::WrapUp,
        ];
        match self.inner.store.claim_agent(&a, &from).await {
            Ok(Some(mut taken)) => {
                taken.pending = a.pending;
                {
                    let mut st = self.lock();
                    st.wrapup_until.remove(agent);
                    st.agents.insert(agent.to_string(), taken.clone());
                }
                self.emit(AcdEvent::Agent(taken));
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(agent, error = %e, "taking an agent for a call-back failed");
                false
            }
        }
    }

    /// Rings `by`'s phone showing the resident's number; when they answer, the resident.
    async fn place_call_back(
        &self,
        record: CallRecordId,
        by: String,
        number: String,
        queue: Queue,
        via: String,
        dialer: Dialer,
    ) {
        let cancel = tokio_util::sync::CancellationToken::new();
        let ring = Duration::from_secs(queue.ring_secs.max(20));
        let agent_leg = match self.ring_agent(&by, &number, ring, &cancel, || {}).await {
            Ok(leg) => leg,
            Err(outcome) => {
                // Their own phone did not answer: nothing happened to the resident, and
                // anyone may try again at once.
                tracing::info!(agent = %by, ?outcome, "the operator's phone did not answer the call-back");
                self.step(&by, CallStep::Released, Some(&queue));
                if let Err(e) = self.inner.calls.release_call_back(record, &by).await {
                    tracing::warn!(error = %e, "call-back claim not released");
                }
                return;
            }
        };
        self.step(&by, CallStep::Answered, Some(&queue));
        let resident = ring_resident(&dialer, &via, &number, &by, &agent_leg).await;
        self.record(
            record,
            CallEvent::CalledBack {
                by: by.clone(),
                answered: resident.is_some(),
            },
        )
        .await;
        match resident {
            Some(resident) => {
                tracing::info!(agent = %by, call = record.get(), "the resident answered the call-back");
                talk(self, &queue, Some(record), by, agent_leg, resident, &number).await;
            }
            None => {
                tracing::info!(agent = %by, call = record.get(), "the resident did not answer the call-back");
                self.step(&by, CallStep::Ended, Some(&queue));
                agent_leg.hangup().await;
            }
        }
    }
}

/// The URI that reaches `number` through a trunk destination: `{number}` replaced, or the
/// number put as the URI's user part. Also the survey call's (`ivr::survey`).
pub fn resident_uri(via: &str, number: &str) -> String {
    if via.contains("{number}") {
        return via.replace("{number}", number);
    }
    let (scheme, rest) = via.split_once(':').unwrap_or(("sip", via));
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("{scheme}:{number}@{host}")
}

#[cfg(test)]
mod tests {
    use super::resident_uri;

    #[test]
    fn the_number_goes_into_the_trunk_uri() {
        assert_eq!(
            resident_uri("sip:trunk@10.0.0.1:5060", "13800000000"),
            "sip:13800000000@10.0.0.1:5060"
        );
        assert_eq!(resident_uri("sip:10.0.0.1", "95000"), "sip:95000@10.0.0.1");
        assert_eq!(
            resident_uri("sip:9{number}@gw;transport=tcp", "1"),
            "sip:91@gw;transport=tcp"
        );
    }
}
