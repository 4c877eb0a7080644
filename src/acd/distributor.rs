//! The one task that hands callers to agents. It wakes when something changed (an agent
//! became ready, a caller joined, ringing ended) and once a second (wrap-up timers, phones
//! registering, requests left by `hotline agent`), and offers the longest-waiting caller
//! of every queue to the agents the queue's strategy picks among its free members.
//!
//! On a shared database (several nodes) it sees every node's callers and agents (`shared`)
//! and walks them in the one queue order; another node's caller keeps the agents it would
//! get for that node to offer, and this node offers only its own callers (their media are
//! here) and callbacks owed, each agent taken with a conditional write (`store::claim_agent`).

use std::collections::HashSet;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::agent::{AgentState, CallStep, Request};
use super::{Acd, AcdEvent, EntryKind, Offer};
use crate::store::{node_id, now_ms};

pub(super) async fn run(acd: Acd, shutdown: CancellationToken) {
    let shared = acd.inner.store.shared();
    let mut last_sync: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = acd.inner.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => return,
        }
        // Accounts come and go and change roles in the console: members named by role are
        // looked up again each round (one small query per queue).
        refresh_members(&acd).await;
        apply_requests(&acd).await;
        if let Some(d) = acd.dialer() {
            let mut registered = d.registered_accounts().await;
            registered.extend(acd.browser_agents());
            acd.lock().registered = registered;
        }
        if shared
            && (acd
                .inner
                .stale
                .swap(false, std::sync::atomic::Ordering::SeqCst)
                || last_sync.is_none_or(|t| t.elapsed() >= super::shared::SYNC_EVERY))
        {
            super::shared::sync(&acd).await;
            last_sync = Some(tokio::time::Instant::now());
        }
        wrap_ups_over(&acd);
        distribute(&acd).await;
        publish_gauges(&acd);
    }
}

/// `hotline_acd_waiting` and `hotline_acd_agents{state}`, once per round (not per change:
/// a scrape needs the level, and a round is at most a second old). With several nodes they
/// are the one shared queue's levels, the same on every node.
fn publish_gauges(acd: &Acd) {
    let (waiting, by_state) = {
        let st = acd.lock();
        let waiting = st
            .entries
            .values()
            .filter(|e| e.kind == EntryKind::Live)
            .count();
        let mut by_state = [0usize; AgentState::ALL.len()];
        for a in st.agents.values() {
            if let Some(i) = AgentState::ALL.iter().position(|s| *s == a.state) {
                by_state[i] += 1;
            }
        }
        (waiting, by_state)
    };
    metrics::gauge!("hotline_acd_waiting").set(waiting as f64);
    for (state, n) in AgentState::ALL.iter().zip(by_state) {
        metrics::gauge!("hotline_acd_agents", "state" => state.as_str()).set(n as f64);
    }
}

async fn refresh_members(acd: &Acd) {
    let mut resolved = std::collections::HashMap::new();
    // Queues usually share a role (every operator): each role is looked up once a round.
    let mut by_role: std::collections::HashMap<String, Vec<String>> = Default::default();
    for q in acd.inner.queues.queues.values() {
        let mut names = Vec::new();
        for m in &q.members {
            match m {
                super::Member::Account(a) => names.push(a.clone()),
                super::Member::Role(r) => {
                    if !by_role.contains_key(r) {
                        let found = acd.inner.roster.with_role(r).await;
                        by_role.insert(r.clone(), found);
                    }
                    names.extend(by_role[r].iter().cloned());
                }
            }
        }
        names.sort();
        names.dedup();
        resolved.insert(q.id.clone(), names);
    }
    acd.lock().members = resolved;
}

/// Requests left in the database by `hotline agent ready|pause|logout NAME`.
async fn apply_requests(acd: &Acd) {
    let open = match acd.inner.store.open_requests().await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "reading agent requests failed");
            return;
        }
    };
    for r in open {
        let result = match Request::parse(&r.request) {
            None => format!("error: unknown request `{}`", r.request),
            Some(req) => match acd.request(&r.agent, req, &r.by).await {
                Ok(a) if a.pending.is_some() => {
                    format!("{} (after the current call)", a.state.as_str())
                }
                Ok(a) => a.state.as_str().to_string(),
                Err(e) => format!("error: {e}"),
            },
        };
        // An agent made ready rings now, not after the rest of the batch is written: a
        // supervisor readying a whole shift at once left the first ones idle for seconds.
        distribute(acd).await;
        if let Err(e) = acd.inner.store.close_request(r.id, &result).await {
            tracing::warn!(error = %e, "closing an agent request failed");
        }
    }
}

fn wrap_ups_over(acd: &Acd) {
    let now = now_ms();
    let due: Vec<String> = {
        let mut st = acd.lock();
        let due: Vec<String> = st
            .wrapup_until
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(a, _)| a.clone())
            .collect();
        for a in &due {
            st.wrapup_until.remove(a);
        }
        due
    };
    for a in due {
        acd.step(&a, CallStep::WrapUpOver, None);
    }
}

/// Offers waiting callers to free agents, longest waiting first.
pub(super) async fn distribute(acd: &Acd) {
    let shared = acd.inner.store.shared();
    let offers = plan(acd, shared);
    if offers.is_empty() {
        return;
    }
    let offers = if shared {
        claim(acd, offers).await
    } else {
        offers
    };
    send(acd, offers);
}

/// Matches callers with free agents in queue order. On one node the agents ring at once (in
/// memory; the persister stores it); on a shared database they are only picked here and
/// taken in the tables by [`claim`], and another node's callers keep theirs without offers.
fn plan(acd: &Acd, shared: bool) -> Vec<(i64, Offer)> {
    let now = now_ms();
    let me = node_id();
    let mut offers: Vec<(i64, Offer)> = Vec::new();
    let mut rung: Vec<(String, String)> = Vec::new();
    // Agents picked in this round (shared database: not yet taken in memory).
    let mut taken: HashSet<String> = HashSet::new();
    {
        let mut st = acd.lock();
        let mut order: Vec<(i64, i64)> = st
            .entries
            .values()
            .filter(|e| e.ringing.is_empty())
            .filter(|e| e.kind == EntryKind::Live || e.next_try_at <= now)
            .map(|e| (e.joined_at, e.id))
            .collect();
        order.sort();
        for (_, id) in order {
            let Some(entry) = st.entries.get(&id) else {
                continue;
            };
            let Some(queue) = acd.inner.queues.get(&entry.queue) else {
                continue;
            };
            // A callback needs the SIP stack to call out.
            if entry.kind == EntryKind::Callback && acd.dialer().is_none() {
                continue;
            }
            // Another node's caller (or a callback it rings for): that node offers it.
            let elsewhere = shared && entry.held_by.as_deref().is_some_and(|n| n != me);
            let members = st.members.get(&queue.id).cloned().unwrap_or_default();
            let free: Vec<&super::Agent> = members
                .iter()
                .filter_map(|m| st.agents.get(m))
                .filter(|a| a.state == AgentState::Ready && st.registered.contains(&a.name))
                .filter(|a| !taken.contains(&a.name))
                .collect();
            let picked = super::strategy::choose(
                queue,
                &free,
                st.rr_last.get(&queue.id).map(|s| s.as_str()),
            );
            // A callback could be offered once its retry time came, a live caller once joined.
            let ready_at = if entry.kind == EntryKind::Callback {
                entry.joined_at.max(entry.next_try_at)
            } else {
                entry.joined_at
            };
            let free_at: Vec<i64> = picked.iter().map(|a| a.since.max(ready_at)).collect();
            let chosen: Vec<String> = picked.into_iter().map(|a| a.name.clone()).collect();
            if chosen.is_empty() {
                continue;
            }
            if shared {
                taken.extend(chosen.iter().cloned());
                if elsewhere {
                    continue;
                }
            } else {
                for name in &chosen {
                    if let Some(a) = st.agents.get_mut(name) {
                        a.step(CallStep::Offered, queue.auto_pause_after, now);
                    }
                    rung.push((name.clone(), queue.id.clone()));
                }
                if let Some(last) = chosen.last() {
                    st.rr_last.insert(queue.id.clone(), last.clone());
                }
                let entry = st.entries.get_mut(&id).expect("entry looked up above");
                entry.ringing = chosen.clone();
            }
            offers.push((
                id,
                Offer {
                    entry: id,
                    queue: queue.id.clone(),
                    agents: chosen,
                    ring_secs: queue.ring_secs,
                    free_at,
                },
            ));
        }
    }
    for (name, _) in &rung {
        if let Some(a) = acd.agent(name) {
            acd.persist(&a, "call");
            acd.emit(AcdEvent::Agent(a));
        }
    }
    offers
}

/// Takes the picked agents in the tables, each with one conditional write: an agent another
/// node took first is dropped from the offer (that node's read of the tables was newer), and
/// an offer left with nobody waits for the next round. A callback owed is claimed first, so
/// two nodes never call the same resident back.
async fn claim(acd: &Acd, offers: Vec<(i64, Offer)>) -> Vec<(i64, Offer)> {
    let store = &acd.inner.store;
    let mut out = Vec::new();
    for (id, mut offer) in offers {
        let Some(kind) = acd.lock().entries.get(&id).map(|e| e.kind) else {
            continue;
        };
        let auto_pause = acd
            .inner
            .queues
            .get(&offer.queue)
            .map(|q| q.auto_pause_after)
            .unwrap_or(0);
        if kind == EntryKind::Callback {
            match store.claim_entry(id).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(entry = id, error = %e, "claiming a callback failed");
                    continue;
                }
            }
        }
        let mut won = Vec::new();
        let mut free_at = Vec::new();
        for (name, at) in offer.agents.iter().zip(&offer.free_at) {
            let Some(mut want) = acd.agent(name) else {
                continue;
            };
            if !want.step(CallStep::Offered, auto_pause, now_ms()) {
                // No longer ready here (a change read meanwhile).
                continue;
            }
            match store.claim_agent(&want, &[AgentState::Ready]).await {
                Ok(Some(a)) => {
                    acd.lock().agents.insert(name.clone(), a.clone());
                    acd.emit(AcdEvent::Agent(a));
                    won.push(name.clone());
                    free_at.push(*at);
                }
                Ok(None) => {
                    tracing::debug!(agent = %name, entry = id, "agent taken by another node first");
                    acd.inner
                        .stale
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Err(e) => tracing::warn!(agent = %name, error = %e, "taking an agent failed"),
            }
        }
        if won.is_empty() {
            if kind == EntryKind::Callback {
                if let Err(e) = store.set_ringing(id, &[]).await {
                    tracing::warn!(entry = id, error = %e, "releasing a callback failed");
                }
            }
            continue;
        }
        let still_there = {
            let mut st = acd.lock();
            if let Some(last) = won.last() {
                st.rr_last.insert(offer.queue.clone(), last.clone());
            }
            match st.entries.get_mut(&id) {
                Some(e) => {
                    e.ringing = won.clone();
                    e.held_by = Some(node_id().to_string());
                    true
                }
                None => false,
            }
        };
        if let Err(e) = store.set_ringing(id, &won).await {
            tracing::warn!(entry = id, error = %e, "queue entry not stored");
        }
        offer.agents = won;
        offer.free_at = free_at;
        if !still_there {
            // The caller left while their agents were being taken.
            acd.release(id, &offer.agents);
            continue;
        }
        out.push((id, offer));
    }
    out
}

/// Hands each offer to its caller (or starts the call-back), with the screen pops.
fn send(acd: &Acd, offers: Vec<(i64, Offer)>) {
    if offers.is_empty() {
        return;
    }
    for (id, offer) in offers {
        let (tx, view) = {
            let st = acd.lock();
            match st.entries.get(&id) {
                Some(e) => (e.tx.clone(), e.view()),
                None => continue,
            }
        };
        for agent in &offer.agents {
            acd.emit(AcdEvent::Offered {
                agent: agent.clone(),
                caller: view.clone(),
            });
        }
        match (view.kind, tx) {
            (EntryKind::Live, Some(tx)) => {
                if tx.send(offer.clone()).is_err() {
                    // The caller left between the match and the offer.
                    acd.release(id, &offer.agents);
                }
            }
            (EntryKind::Live, None) => acd.release(id, &offer.agents),
            (EntryKind::Callback, _) => {
                tokio::spawn(super::callback::run(acd.clone(), offer));
            }
        }
    }
    acd.emit(AcdEvent::Waiting);
}

impl Acd {
    /// Ringing for an entry stopped without anyone's fault: its agents are free again and
    /// it waits at its old place.
    pub(crate) fn release(&self, entry: i64, agents: &[String]) {
        self.ringing_over(entry);
        let queue = self
            .lock()
            .entries
            .get(&entry)
            .and_then(|e| self.inner.queues.get(&e.queue).cloned());
        for a in agents {
            self.step(a, CallStep::Released, queue.as_ref());
        }
    }

    /// Nobody rings for an entry any more: it waits at its old place for the next offer.
    pub(crate) fn ringing_over(&self, entry: i64) {
        if let Some(e) = self.lock().entries.get_mut(&entry) {
            e.ringing.clear();
            if e.kind == EntryKind::Callback {
                e.held_by = None;
            }
        }
        if self.inner.store.shared() {
            let _ = self.inner.persist.send(super::Write::RingingOver(entry));
        }
        self.inner.wake.notify_one();
    }
}
