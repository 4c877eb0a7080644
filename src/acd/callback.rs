//! Calling a resident back (virtual hold, 虚拟排队): when a callback owed reaches the front of
//! its queue, hotline rings the agent first, then the resident through the queue's trunk
//! (`callback_via`), and bridges the two. A resident who does not answer is tried again
//! later, up to [`ATTEMPTS`] times.

use std::time::Duration;

use super::agent::CallStep;
use super::connect::{conversation, ring_agents, Resident};
use super::waiting::Offer;
use super::{Acd, AcdEvent};
use crate::calls::CallEvent;
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
        &dialer,
        &offer,
        &number,
        std::future::pending::<()>(),
    )
    .await;
    let Some((agent, agent_leg)) = winner else {
        acd.ringing_over(offer.entry);
        return;
    };
    let target = resident_uri(&via, &number);
    tracing::info!(%agent, entry = offer.entry, "calling the resident back");
    let cancel = tokio_util::sync::CancellationToken::new();
    agent_leg.media().start_ringback();
    let resident = tokio::select! {
        r = dialer.ring(&target, &agent, Duration::from_secs(30), &cancel) => r.ok(),
        _ = agent_leg.ended() => { cancel.cancel(); None }
    };
    agent_leg.media().stop_audio();
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
    let party = Resident {
        leg: &resident,
        number: &number,
    };
    // The agent's leg plays the part of "the agent" in the conversation; the resident's
    // leg that of the caller.
    let _ = conversation(&acd, &queue, record, &party, agent, agent_leg).await;
    resident.hangup().await;
}

/// The URI that reaches `number` through a trunk destination: `{number}` replaced, or the
/// number put as the URI's user part.
fn resident_uri(via: &str, number: &str) -> String {
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
