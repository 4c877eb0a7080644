//! A caller's place in a queue. The dialplan's `queue` node holds a [`Waiting`] while the
//! caller hears hold music; offers arrive on it when agents are free. Dropping it without
//! leaving means the caller hung up: the abandonment is recorded (呼损).

use tokio::sync::mpsc;

use super::agent::AgentState;
use super::{Acd, AcdEvent, Entry, EntryKind, Exit, Queue};
use crate::calls::{CallEvent, CallRecordId};
use crate::store::now_ms;

/// Agents chosen to ring for one caller.
#[derive(Debug, Clone)]
pub struct Offer {
    pub entry: i64,
    pub queue: String,
    pub agents: Vec<String>,
    pub ring_secs: u64,
    /// For each of `agents`, when this caller could first have been offered to them (unix
    /// ms): the later of the caller joining and the agent becoming free. The offer latency
    /// histogram runs from here to the INVITE leaving.
    pub free_at: Vec<i64>,
}

/// Why a caller could not join a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinRefused {
    NoSuchQueue,
    /// Nobody is logged in to take calls.
    NoAgents,
    /// `max_callers` are waiting already.
    Full,
    Storage,
}

impl JoinRefused {
    pub fn as_str(&self) -> &'static str {
        match self {
            JoinRefused::NoSuchQueue => "no_queue",
            JoinRefused::NoAgents => "no_agents",
            JoinRefused::Full => "full",
            JoinRefused::Storage => "storage",
        }
    }
}

/// A live caller's place in a queue.
pub struct Waiting {
    acd: Acd,
    pub(crate) id: i64,
    queue: Queue,
    joined_at: i64,
    call_record: Option<CallRecordId>,
    offers: mpsc::UnboundedReceiver<Offer>,
    left: bool,
}

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting")
            .field("id", &self.id)
            .field("queue", &self.queue.id)
            .finish()
    }
}

/// Whether a caller's number can be called back (digits, optionally a leading +).
pub(crate) fn callable(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    digits.len() >= 3 && digits.chars().all(|c| c.is_ascii_digit())
}

impl Acd {
    /// Puts a caller on the line into `queue`. `joined_at` is when they started waiting
    /// (earlier than now when they come from another queue and keep their time); `info`
    /// is what they chose and said in the voice menus, for the agent's screen.
    pub async fn join(
        &self,
        queue: &str,
        caller: &str,
        call_record: Option<CallRecordId>,
        joined_at: Option<i64>,
        info: serde_json::Value,
    ) -> Result<Waiting, JoinRefused> {
        let q = self
            .inner
            .queues
            .get(queue)
            .cloned()
            .ok_or(JoinRefused::NoSuchQueue)?;
        {
            let st = self.lock();
            let members = st.members.get(queue).cloned().unwrap_or_default();
            let logged_in = members.iter().any(|m| {
                st.agents
                    .get(m)
                    .is_some_and(|a| a.state != AgentState::LoggedOut)
            });
            if !logged_in {
                return Err(JoinRefused::NoAgents);
            }
            let waiting = st
                .entries
                .values()
                .filter(|e| e.queue == queue && e.kind == EntryKind::Live)
                .count();
            if waiting >= q.max_callers {
                return Err(JoinRefused::Full);
            }
        }
        let joined_at = joined_at.unwrap_or_else(now_ms);
        let id = self
            .inner
            .store
            .add_entry(
                queue,
                EntryKind::Live,
                caller,
                call_record.map(|c| c.get()),
                joined_at,
                &info.to_string(),
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "queue entry not stored");
                JoinRefused::Storage
            })?;
        let (tx, offers) = mpsc::unbounded_channel();
        self.lock().entries.insert(
            id,
            Entry {
                id,
                queue: queue.to_string(),
                kind: EntryKind::Live,
                caller: caller.to_string(),
                call_record,
                joined_at,
                info,
                ringing: vec![],
                tx: Some(tx),
                attempts: 0,
                next_try_at: 0,
                held_by: Some(crate::store::node_id().to_string()),
            },
        );
        if let Some(r) = call_record {
            self.record(
                r,
                CallEvent::QueueEntered {
                    queue: queue.to_string(),
                },
            )
            .await;
        }
        tracing::info!(queue, entry = id, "caller joined the queue");
        self.emit(AcdEvent::Waiting);
        self.inner.wake.notify_one();
        Ok(Waiting {
            acd: self.clone(),
            id,
            queue: q,
            joined_at,
            call_record,
            offers,
            left: false,
        })
    }

    /// A callback owed to a caller who could not join (nobody logged in, queue full): kept
    /// in the queue for the first agent who becomes free. False when the number cannot be
    /// called back or the queue has no trunk for it.
    pub async fn owe_callback(
        &self,
        queue: &str,
        number: &str,
        call_record: Option<CallRecordId>,
        info: serde_json::Value,
    ) -> bool {
        let can = self
            .inner
            .queues
            .get(queue)
            .is_some_and(|q| q.callback_via.is_some());
        if !can || !callable(number) {
            return false;
        }
        let now = now_ms();
        let id = match self
            .inner
            .store
            .add_entry(
                queue,
                EntryKind::Callback,
                number,
                call_record.map(|c| c.get()),
                now,
                &info.to_string(),
            )
            .await
        {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "callback not stored");
                return false;
            }
        };
        self.lock().entries.insert(
            id,
            Entry {
                id,
                queue: queue.to_string(),
                kind: EntryKind::Callback,
                caller: number.to_string(),
                call_record,
                joined_at: now,
                info,
                ringing: vec![],
                tx: None,
                attempts: 0,
                next_try_at: 0,
                held_by: None,
            },
        );
        if let Some(r) = call_record {
            self.record(
                r,
                CallEvent::CallbackRequested {
                    queue: queue.to_string(),
                    number: number.to_string(),
                },
            )
            .await;
        }
        self.emit(AcdEvent::Waiting);
        self.inner.wake.notify_one();
        true
    }

    /// Callers ahead of an entry in its queue, and the expected wait in seconds.
    pub(crate) fn position(&self, entry: i64) -> (usize, u64) {
        let st = self.lock();
        let Some(me) = st.entries.get(&entry) else {
            return (0, 0);
        };
        let ahead = st
            .entries
            .values()
            .filter(|e| e.queue == me.queue && (e.joined_at, e.id) < (me.joined_at, me.id))
            .count();
        let members = st.members.get(&me.queue).cloned().unwrap_or_default();
        let working = members
            .iter()
            .filter(|m| {
                st.agents
                    .get(*m)
                    .is_some_and(|a| !matches!(a.state, AgentState::LoggedOut | AgentState::Paused))
            })
            .count()
            .max(1);
        let secs = ((ahead + 1) as f64 * st.talk_avg_ms / 1000.0 / working as f64).ceil() as u64;
        (ahead, secs)
    }
}

impl Waiting {
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// When the caller started waiting (unix ms).
    pub fn joined_at(&self) -> i64 {
        self.joined_at
    }

    pub fn waited_ms(&self) -> u64 {
        (now_ms() - self.joined_at).max(0) as u64
    }

    /// Callers ahead and the expected wait in seconds.
    pub fn position(&self) -> (usize, u64) {
        self.acd.position(self.id)
    }

    /// The next offer of agents; pending forever if the call centre is gone.
    pub async fn offer(&mut self) -> Offer {
        match self.offers.recv().await {
            Some(o) => o,
            None => std::future::pending().await,
        }
    }

    pub(crate) fn acd(&self) -> &Acd {
        &self.acd
    }

    pub(crate) fn call_record(&self) -> Option<CallRecordId> {
        self.call_record
    }

    /// The caller leaves the queue for `to` (`reason`: a key, `max_wait`, …). A callback
    /// keeps their place: the entry stays, owed a call back to `number`.
    pub async fn leave(mut self, reason: &str, to: &Exit, number: &str) {
        self.left = true;
        let wait_ms = self.waited_ms();
        let acd = self.acd.clone();
        if let Some(r) = self.call_record {
            acd.record(
                r,
                CallEvent::QueueLeft {
                    queue: self.queue.id.clone(),
                    wait_ms,
                    reason: reason.to_string(),
                    to: to.label(),
                },
            )
            .await;
        }
        match to {
            Exit::Callback if callable(number) => {
                if let Err(e) = acd
                    .inner
                    .store
                    .update_entry(self.id, &self.queue.id, EntryKind::Callback)
                    .await
                {
                    tracing::warn!(error = %e, "callback not stored");
                }
                if let Some(e) = acd.lock().entries.get_mut(&self.id) {
                    e.kind = EntryKind::Callback;
                    e.tx = None;
                    e.held_by = None;
                    e.caller = number.to_string();
                }
                if let Some(r) = self.call_record {
                    acd.record(
                        r,
                        CallEvent::CallbackRequested {
                            queue: self.queue.id.clone(),
                            number: number.to_string(),
                        },
                    )
                    .await;
                }
                tracing::info!(queue = %self.queue.id, entry = self.id, "callback owed");
            }
            Exit::Callback | Exit::Voicemail | Exit::Queue(_) => {
                acd.remove(self.id, "done").await;
            }
        }
        acd.emit(AcdEvent::Waiting);
        acd.inner.wake.notify_one();
    }

    /// The caller was connected to an agent: the entry is done.
    pub(crate) async fn connected(&mut self) {
        self.left = true;
        self.acd.remove(self.id, "done").await;
        self.acd.emit(AcdEvent::Waiting);
    }
}

impl Acd {
    pub(crate) async fn remove(&self, entry: i64, status: &str) {
        self.lock().entries.remove(&entry);
        if let Err(e) = self.inner.store.finish_entry(entry, status).await {
            tracing::warn!(error = %e, "queue entry not closed");
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        let acd = self.acd.clone();
        if acd.inner.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!(
                entry = self.id,
                "hotline stops: the waiting caller is owed a callback at the next start"
            );
            return;
        }
        let (id, queue, record, wait_ms) = (
            self.id,
            self.queue.id.clone(),
            self.call_record,
            self.waited_ms(),
        );
        let ringing = acd
            .lock()
            .entries
            .get(&id)
            .map(|e| e.ringing.clone())
            .unwrap_or_default();
        tokio::spawn(async move {
            tracing::info!(queue = %queue, entry = id, wait_ms, "caller hung up while waiting");
            if let Some(r) = record {
                acd.record(r, CallEvent::Abandoned { queue, wait_ms }).await;
            }
            acd.remove(id, "done").await;
            if !ringing.is_empty() {
                acd.release(id, &ringing);
            }
            acd.emit(AcdEvent::Waiting);
        });
    }
}
