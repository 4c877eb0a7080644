//! One call centre across nodes on one PostgreSQL database. The tables are the truth
//! (`store`); each node keeps a copy in memory for its distributor and its screens and
//! brings it up to date here: when another node announces a change (LISTEN on
//! `store::CHANNEL`) and every few seconds anyway, in case an announcement was lost.
//!
//! A node's own calls are ahead of the tables (their states are written in order by the
//! persister), so agents and callers this node holds keep their memory copy; everything
//! else is taken from the tables. Before reading, the node renews its lease on what it holds
//! and frees what a dead node held: agents go back to ready, its live callers are owed a
//! callback (or are lost, as at a restart), callbacks it was ringing for wait again.
//! Desk commands (hold, transfer, hang up, listen) for a call another node holds travel on
//! `store::CONTROL_CHANNEL` to that node. Each round the node also renews its SIP address
//! and marks the agents whose console tab is attached here, and reads where the other
//! nodes' tabs are, so it can ring them there (`softphone`). SQLite has one node and none
//! of this.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::agent::{AgentState, CallStep};
use super::store::{AgentWas, ForwardedControl, StoredEntry, CHANNEL, CONTROL_CHANNEL};
use super::{Acd, AcdEvent, Agent, Entry, EntryKind};
use crate::store::listen::{Heard, Listener};
use crate::store::{node_id, now_ms};

/// How often a node reads the tables with no announcement heard (the safety net), and so
/// how often it renews its leases (`store::LEASE` is five times longer).
pub(super) const SYNC_EVERY: Duration = Duration::from_secs(3);

/// Renews this node's leases, frees what dead nodes held, and reads the tables.
pub(super) async fn sync(acd: &Acd) {
    let store = &acd.inner.store;
    if let Err(e) = store.heartbeat().await {
        tracing::warn!(error = %e, "call centre: renewing this node's hold failed");
    }
    let address = acd.inner.sip_address.get().map_or("", String::as_str);
    if let Err(e) = store.renew_node(address, &acd.attached_browsers()).await {
        tracing::warn!(error = %e, "call centre: renewing this node's browsers failed");
    }
    free_lapsed(acd).await;
    match store.remote_browsers().await {
        Ok(list) => acd.lock().remote_browsers = list.into_iter().collect(),
        Err(e) => tracing::warn!(error = %e, "call centre: reading other nodes' browsers failed"),
    }
    let agents = match store.agents_held().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "call centre: reading agents failed");
            return;
        }
    };
    let entries = match store.waiting().await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "call centre: reading waiting callers failed");
            return;
        }
    };
    merge(acd, agents, entries);
}

/// What nodes whose lease lapsed held: their calls died with them.
async fn free_lapsed(acd: &Acd) {
    let store = &acd.inner.store;
    if let Err(e) = store.forget_lapsed_nodes().await {
        tracing::warn!(error = %e, "call centre: forgetting stopped nodes failed");
    }
    let now = now_ms();
    match store.lapsed_agents().await {
        Ok(list) => {
            for mut a in list {
                let was = a.state;
                // The call ended with its node; a request made during it applies now.
                match a.state {
                    AgentState::Ringing => {
                        a.step(CallStep::Released, 0, now);
                    }
                    AgentState::Talking => {
                        a.step(CallStep::Ended, 0, now);
                        a.step(CallStep::WrapUpOver, 0, now);
                    }
                    AgentState::WrapUp => {
                        a.step(CallStep::WrapUpOver, 0, now);
                    }
                    AgentState::LoggedOut | AgentState::Ready | AgentState::Paused => {}
                }
                match store
                    .save_agent_if(&a, Some("node lost"), AgentWas::Lapsed)
                    .await
                {
                    Ok(true) => {
                        tracing::warn!(agent = %a.name, was = was.as_str(), now = a.state.as_str(), "agent freed: the node holding their call stopped");
                        acd.lock().agents.insert(a.name.clone(), a.clone());
                        acd.emit(AcdEvent::Agent(a));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(agent = %a.name, error = %e, "freeing an agent failed")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "call centre: reading lapsed agents failed"),
    }
    match store.lapsed_entries().await {
        Ok(list) => {
            for e in list {
                let r = match e.kind {
                    EntryKind::Live => acd.orphaned(&e).await.map(|_| ()),
                    EntryKind::Callback => store
                        .take_lapsed_entry(e.id, EntryKind::Callback, "waiting")
                        .await
                        .map(|_| ())
                        .map_err(Into::into),
                };
                if let Err(err) = r {
                    tracing::warn!(entry = e.id, error = %err, "taking over a waiting caller failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "call centre: reading lapsed callers failed"),
    }
}

/// Brings the memory copy up to what the tables say, keeping this node's own calls.
fn merge(acd: &Acd, agents: Vec<(Agent, Option<String>)>, entries: Vec<StoredEntry>) {
    let me = node_id();
    let now = now_ms();
    let mut changed_agents = Vec::new();
    let mut to_store = Vec::new();
    let mut to_store_again = Vec::new();
    let mut offered = Vec::new();
    let mut waiting_changed = false;
    {
        let mut guard = acd.lock();
        let st = &mut *guard;
        for (db, holder) in agents {
            let name = db.name.clone();
            let mine = holder.as_deref() == Some(me);
            match st.agents.get_mut(&name) {
                // A call on this node: memory is ahead of the row. A request another node
                // left for its end is taken over.
                Some(mem) if mine => {
                    if !matches!(
                        mem.state,
                        AgentState::Ringing | AgentState::Talking | AgentState::WrapUp
                    ) && mem.state != db.state
                    {
                        // The call is over here but the row still says this node holds
                        // them: the write is on its way, or it was lost. Written again only
                        // if the row is still as read, so it never undoes a newer claim.
                        to_store_again.push((mem.clone(), db.state, db.since));
                    }
                    if let (None, Some(r)) = (mem.pending, db.pending) {
                        if mem.state.in_call() {
                            mem.pending = Some(r);
                        } else if mem.request(r, now) {
                            st.wrapup_until.remove(&name);
                            changed_agents.push(mem.clone());
                            to_store.push(mem.clone());
                        }
                    }
                }
                Some(mem) => {
                    if *mem != db {
                        *mem = db.clone();
                        changed_agents.push(db);
                    }
                    st.wrapup_until.remove(&name);
                }
                None => {
                    st.agents.insert(name, db.clone());
                    changed_agents.push(db);
                }
            }
        }

        let ours = |e: &Entry| e.tx.is_some() || (e.held_by.as_deref() == Some(me));
        let stored: HashSet<i64> = entries.iter().map(|e| e.id).collect();
        st.entries.retain(|id, e| {
            let keep = stored.contains(id) || ours(e);
            waiting_changed |= !keep;
            keep
        });
        for se in entries {
            match st.entries.get_mut(&se.id) {
                Some(e) if ours(e) => {}
                Some(e) => {
                    let fresh = Entry::stored(se);
                    if e.ringing != fresh.ringing
                        || e.kind != fresh.kind
                        || e.queue != fresh.queue
                        || e.held_by != fresh.held_by
                        || e.next_try_at != fresh.next_try_at
                    {
                        if e.ringing.is_empty() && !fresh.ringing.is_empty() {
                            offered.push(fresh.view());
                        }
                        *e = fresh;
                        waiting_changed = true;
                    }
                }
                // This node's own, not in memory: leaving now (the row is being closed).
                None if se.claimed_by.as_deref() == Some(me) => {}
                None => {
                    let fresh = Entry::stored(se);
                    if !fresh.ringing.is_empty() {
                        offered.push(fresh.view());
                    }
                    st.entries.insert(fresh.id, fresh);
                    waiting_changed = true;
                }
            }
        }
    }
    for a in to_store {
        acd.persist(&a, "console");
    }
    for (a, state, since) in to_store_again {
        let store = acd.inner.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store
                .save_agent_if(&a, None, AgentWas::As(state, since))
                .await
            {
                tracing::warn!(agent = %a.name, error = %e, "agent state not stored");
            }
        });
    }
    for a in changed_agents {
        acd.emit(AcdEvent::Agent(a));
    }
    // The screen pop on this node's desks for a call another node rings them for.
    for caller in offered {
        for agent in &caller.ringing {
            acd.emit(AcdEvent::Offered {
                agent: agent.clone(),
                caller: caller.clone(),
            });
        }
    }
    if waiting_changed {
        acd.emit(AcdEvent::Waiting);
    }
}

/// Wakes this node's distributor when another node announces a change, and applies desk
/// commands forwarded to it; runs until `shutdown`. `url` is the PostgreSQL the node uses.
pub async fn listen(acd: Acd, url: String, shutdown: CancellationToken) {
    let wake = |acd: &Acd| {
        acd.inner.stale.store(true, Ordering::SeqCst);
        acd.inner.wake.notify_one();
    };
    let mut listener = Listener::new(
        &url,
        &[CHANNEL, CONTROL_CHANNEL],
        "call centre changes from other nodes",
    );
    while let Some(heard) = listener.next(&shutdown).await {
        match heard {
            Heard::Note { channel, payload } if channel == CONTROL_CHANNEL => {
                apply_forwarded(&acd, &payload)
            }
            Heard::Note { payload, .. } if payload == node_id() => {}
            // Whatever was announced while not listening is read now.
            Heard::Note { .. } | Heard::Listening { .. } | Heard::Gap => wake(&acd),
        }
    }
}

/// A desk command another node forwarded: applied when this node holds the agent's call;
/// every other node (and a command that arrives after the call ended) lets it pass.
fn apply_forwarded(acd: &Acd, payload: &str) {
    let f: ForwardedControl = match serde_json::from_str(payload) {
        Ok(f) => f,
        Err(e) => return tracing::warn!(error = %e, "unreadable desk command from another node"),
    };
    match acd.control_here(&f.agent, f.control) {
        Ok(()) => tracing::info!(agent = %f.agent, "desk command from another node applied"),
        Err(e) => tracing::debug!(agent = %f.agent, "desk command from another node: {e}"),
    }
}
