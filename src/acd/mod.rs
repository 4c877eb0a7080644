//! The call centre (ACD): queues of callers waiting for a person, agents and their states,
//! the strategies that pick who rings next, hold music and position announcements (played
//! by the dialplan's `queue` node), callbacks instead of waiting, and the bridge between a
//! caller and an agent's phone (through `sip`'s dialer and `media`). Every step is written
//! to the call's record (`calls`), and agents and owed callbacks survive a restart.
//!
//! The files: `config` (config/queues.toml), `agent` (states and their rules, pure),
//! `strategy` (whom to ring, pure), `store` (the tables), `feature` (service codes dialled
//! from desk phones), `distributor` (the one task that
//! matches waiting callers with free agents), `waiting` (a caller's place in a queue),
//! `connect` (ringing agents and the conversation: hold, transfer), `softphone` (an agent's
//! phone is a SIP phone or their console tab), `callback` (calling
//! residents back: callbacks owed, and operators calling back abandoned calls), `shared`
//! (one call centre across nodes on PostgreSQL: keeping each node's copy up to date,
//! freeing what a dead node held).
//!
//! Several nodes on one PostgreSQL form one call centre: an agent's state is the row in
//! `acd_agents`, every node sees every node's waiting callers in one queue order, a node
//! rings an agent (whichever node their phone registered at: the bindings are shared; a
//! console tab through the node it is attached to) only
//! after taking them with one conditional UPDATE, and what a node holds is leased, so a
//! node that dies leaves no agent busy for ever. SQLite is one node, all in memory.

mod agent;
mod callback;
mod config;
mod connect;
mod distributor;
mod feature;
mod shared;
mod softphone;
mod store;
mod strategy;
mod waiting;

/// How a supervisor joins a call (`Control::Monitor`), so the desk needs only `acd`.
pub use crate::media::MonitorMode;
pub use agent::{Agent, AgentState, CallStep, PauseReason, Request};
pub use callback::{resident_uri, CallBackError};
pub use config::{AcdConfig, Exit, Member, Queue, QueueProblem, Queues, Strategy};
pub use connect::{Connected, Control, TransferTarget};
pub use feature::FeatureCodes;
pub use softphone::{BrowserCallRefused, BrowserPhone, BrowserRing};
pub use store::{AcdStore, EntryKind};
pub use waiting::{JoinRefused, Offer, Waiting};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::calls::{CallEvent, CallRecordId, Calls};
use crate::sip::Dialer;
use crate::store::lease::record_surely;
use crate::store::{node_id, now_ms, Db};

/// Who the members of a role are: the console's accounts, given by the app.
#[async_trait::async_trait]
pub trait Roster: Send + Sync {
    /// Active accounts holding `role`.
    async fn with_role(&self, role: &str) -> Vec<String>;
    /// Whether `name` is an active account.
    async fn exists(&self, name: &str) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum AcdError {
    #[error("no such agent: {0}")]
    UnknownAgent(String),
    #[error("agent {0} is not in a call")]
    NotInCall(String),
    #[error("call centre storage: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("agent {0} keeps changing on other nodes; try again")]
    Contended(String),
}

/// What changed in the call centre, for live screens (agent desk, wallboard).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AcdEvent {
    /// An agent's state changed.
    Agent(Agent),
    /// An agent's phone rings for this caller (screen pop).
    Offered { agent: String, caller: CallerView },
    /// Callers waiting changed (joined, left, connected).
    Waiting,
}

/// A caller as live screens show them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallerView {
    pub entry: i64,
    pub queue: String,
    pub kind: EntryKind,
    pub caller: String,
    /// The call's record id (`/api/v1/calls/{id}`), when there is one.
    pub call: Option<i64>,
    /// Unix ms.
    pub joined_at: i64,
    /// Whom it rings now.
    pub ringing: Vec<String>,
    /// What the caller chose and said in the voice menus.
    #[schema(value_type = Object)]
    pub ivr: serde_json::Value,
}

/// Per queue figures for the wallboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueView {
    pub id: String,
    pub name: String,
    pub waiting: usize,
    pub callbacks_owed: usize,
    /// Seconds the longest-waiting live caller has waited.
    pub longest_wait_secs: u64,
    pub agents_ready: usize,
    pub agents_busy: usize,
    pub agents_logged_in: usize,
}

pub(crate) struct Entry {
    pub id: i64,
    pub queue: String,
    pub kind: EntryKind,
    pub caller: String,
    pub call_record: Option<CallRecordId>,
    pub joined_at: i64,
    pub info: serde_json::Value,
    /// The agents ringing for it now; empty while it waits.
    pub ringing: Vec<String>,
    /// Where offers for a live caller go.
    pub tx: Option<mpsc::UnboundedSender<Offer>>,
    pub attempts: u32,
    pub next_try_at: i64,
    /// The node holding it (`store::node_id`), when one does: a live caller's node, or the
    /// node ringing agents for a callback. Another node's live caller is served by that node.
    pub held_by: Option<String>,
}

impl Entry {
    /// An entry as stored, with no offer channel (not a live caller on this node's line).
    fn stored(e: store::StoredEntry) -> Entry {
        Entry {
            id: e.id,
            queue: e.queue,
            kind: e.kind,
            caller: e.caller,
            call_record: e.call_record.map(CallRecordId::from_raw),
            joined_at: e.joined_at,
            info: serde_json::from_str(&e.info).unwrap_or_default(),
            ringing: e.ringing,
            tx: None,
            attempts: e.attempts,
            next_try_at: e.next_try_at,
            held_by: e.claimed_by,
        }
    }

    fn view(&self) -> CallerView {
        CallerView {
            entry: self.id,
            queue: self.queue.clone(),
            kind: self.kind,
            caller: self.caller.clone(),
            call: self.call_record.map(|c| c.get()),
            joined_at: self.joined_at,
            ringing: self.ringing.clone(),
            ivr: self.info.clone(),
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub agents: BTreeMap<String, Agent>,
    /// When each agent in wrap-up becomes ready again (unix ms).
    pub wrapup_until: HashMap<String, i64>,
    pub entries: BTreeMap<i64, Entry>,
    /// Round-robin: the member of each queue offered a call last.
    pub rr_last: HashMap<String, String>,
    /// Queue → its members' account names (roles resolved).
    pub members: HashMap<String, Vec<String>>,
    /// Accounts with a phone registered now.
    pub registered: HashSet<String>,
    /// Agents whose console tab is attached to another node → that node's SIP address.
    pub remote_browsers: HashMap<String, String>,
    /// Recent talk time, for the expected wait announced to callers.
    pub talk_avg_ms: f64,
}

pub(crate) struct Inner {
    pub queues: Queues,
    pub store: AcdStore,
    pub calls: Calls,
    pub roster: Arc<dyn Roster>,
    pub dialer: OnceLock<Dialer>,
    /// Where other nodes reach this node's SIP (`ip:port`) to ring a browser attached here.
    pub sip_address: OnceLock<String>,
    /// Where finished conversation recordings are kept (a shared store when configured, so
    /// any node's console plays them); the node's own folder until set.
    pub recordings: OnceLock<crate::store::objects::Recordings>,
    pub st: Mutex<State>,
    pub wake: Notify,
    pub events: broadcast::Sender<AcdEvent>,
    persist: mpsc::UnboundedSender<Write>,
    /// Set when another node announced a change: the next round reads the tables again.
    pub stale: std::sync::atomic::AtomicBool,
    /// Agents in a conversation → where the desk's commands (hold, transfer) go.
    pub controls: Mutex<HashMap<String, mpsc::UnboundedSender<Control>>>,
    /// Agents whose console tab is their phone → (attachment number, where rings go).
    pub browsers: Mutex<HashMap<String, (u64, BrowserPhone)>>,
    pub recordings_dir: std::path::PathBuf,
    pub feature_codes: FeatureCodes,
    /// How conversations with agents are recorded; `None`: not at all.
    pub record_layout: Option<crate::media::RecordLayout>,
    /// Set when hotline is stopping: callers cut off by the stop are not abandoning, they
    /// stay in the table and are owed a callback at the next start.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Each queue's hold music, loaded once.
    music: HashMap<String, Vec<Arc<crate::media::Prompt>>>,
    /// `[acd] callback_via`: the trunk for call-backs of calls that waited in no queue.
    pub callback_via: Option<String>,
}

/// The call centre; cheap to clone.
#[derive(Clone)]
pub struct Acd {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Acd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acd").finish_non_exhaustive()
    }
}

impl Acd {
    /// Loads agents and owed callbacks from the database and starts the distributor.
    /// Callers who were waiting on the line when hotline stopped are owed a callback now
    /// (when their queue can call back), so nobody who waited is lost.
    pub async fn start(
        cfg: AcdConfig,
        record_layout: Option<crate::media::RecordLayout>,
        queues: Queues,
        db: Db,
        roster: Arc<dyn Roster>,
        data_dir: &std::path::Path,
        shutdown: CancellationToken,
    ) -> Result<Acd, AcdError> {
        let store = AcdStore::new(db.clone());
        let calls = Calls::new(db);
        let (persist, persist_rx) = mpsc::unbounded_channel();
        let recordings_dir = if cfg.recordings_dir.as_os_str().is_empty() {
            data_dir.join("recordings").join("calls")
        } else {
            cfg.recordings_dir.clone()
        };
        let mut music = HashMap::new();
        for q in queues.queues.values() {
            let mut loaded = Vec::new();
            for f in &q.hold_music {
                match crate::media::Prompt::load(f) {
                    Ok(p) => loaded.push(p),
                    Err(e) => {
                        tracing::warn!(queue = %q.id, error = %e, "hold music file not usable")
                    }
                }
            }
            music.insert(q.id.clone(), loaded);
        }
        let inner = Arc::new(Inner {
            feature_codes: cfg.feature_codes.clone(),
            callback_via: Some(cfg.callback_via.trim().to_string()).filter(|v| !v.is_empty()),
            record_layout,
            stopping: Default::default(),
            music,
            queues,
            store: store.clone(),
            calls,
            roster,
            dialer: OnceLock::new(),
            sip_address: OnceLock::new(),
            recordings: OnceLock::new(),
            st: Mutex::new(State {
                talk_avg_ms: 180_000.0,
                ..Default::default()
            }),
            wake: Notify::new(),
            events: broadcast::channel(1024).0,
            persist,
            stale: std::sync::atomic::AtomicBool::new(true),
            controls: Mutex::new(HashMap::new()),
            browsers: Mutex::new(HashMap::new()),
            recordings_dir,
        });
        let acd = Acd { inner };
        acd.restore().await?;
        tokio::spawn(persister(store, persist_rx));
        {
            let (acd, shutdown) = (acd.clone(), shutdown.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                acd.inner
                    .stopping
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            });
        }
        tokio::spawn(distributor::run(acd.clone(), shutdown));
        Ok(acd)
    }

    async fn restore(&self) -> Result<(), AcdError> {
        let now = now_ms();
        let mut agents = self.inner.store.agents().await?;
        if self.inner.store.shared() {
            // Other nodes may be running: their agents, callers and calls are theirs. What
            // an earlier life of this node held lapses with its lease and is freed then
            // (`shared::sync`).
            let mut st = self.lock();
            for a in agents {
                st.agents.insert(a.name.clone(), a);
            }
            return Ok(());
        }
        for a in &mut agents {
            // Calls in progress died with the process that held them.
            if matches!(
                a.state,
                AgentState::Ringing | AgentState::Talking | AgentState::WrapUp
            ) {
                a.state = AgentState::Ready;
                a.since = now;
                self.inner.store.save_agent(a, Some("restart")).await?;
            }
        }
        let waiting = self.inner.store.waiting().await?;
        {
            let mut st = self.lock();
            for a in agents {
                st.agents.insert(a.name.clone(), a);
            }
        }
        for e in waiting {
            let kind = match e.kind {
                EntryKind::Callback => EntryKind::Callback,
                EntryKind::Live => match self.orphaned(&e).await? {
                    Some(k) => k,
                    None => continue,
                },
            };
            self.lock().entries.insert(
                e.id,
                Entry {
                    kind,
                    held_by: None,
                    ..Entry::stored(e)
                },
            );
        }
        Ok(())
    }

    /// A live caller whose node stopped or died while they waited: owed a callback when
    /// their queue can call back (Some(Callback)), else lost (None). On a shared database
    /// the change is made only if no other node made it first (None then too).
    pub(crate) async fn orphaned(
        &self,
        e: &store::StoredEntry,
    ) -> Result<Option<EntryKind>, AcdError> {
        let now = now_ms();
        let record = e.call_record.map(CallRecordId::from_raw);
        let can_call_back = self
            .inner
            .queues
            .get(&e.queue)
            .is_some_and(|q| q.callback_via.is_some())
            && waiting::callable(&e.caller);
        let store = &self.inner.store;
        if !can_call_back {
            let took = if store.shared() {
                store
                    .take_lapsed_entry(e.id, EntryKind::Live, "lost")
                    .await?
            } else {
                store.finish_entry(e.id, "lost").await?;
                true
            };
            if !took {
                return Ok(None);
            }
            tracing::warn!(entry = e.id, queue = %e.queue, "a caller waiting when their node stopped cannot be called back");
            if let Some(r) = record {
                self.record(
                    r,
                    CallEvent::QueueLeft {
                        queue: e.queue.clone(),
                        wait_ms: (now - e.joined_at).max(0) as u64,
                        reason: "restart".into(),
                        to: "lost".into(),
                    },
                )
                .await;
            }
            return Ok(None);
        }
        let took = if store.shared() {
            store
                .take_lapsed_entry(e.id, EntryKind::Callback, "waiting")
                .await?
        } else {
            store
                .update_entry(e.id, &e.queue, EntryKind::Callback)
                .await?;
            true
        };
        if !took {
            return Ok(None);
        }
        if let Some(r) = record {
            self.record(
                r,
                CallEvent::CallbackRequested {
                    queue: e.queue.clone(),
                    number: e.caller.clone(),
                },
            )
            .await;
        }
        tracing::info!(entry = e.id, queue = %e.queue, "a caller waiting when their node stopped will be called back");
        Ok(Some(EntryKind::Callback))
    }

    /// On a shared database: wakes this node's distributor whenever another node changes the
    /// call centre's tables (`url`: the PostgreSQL the node uses); runs until `shutdown`.
    pub async fn follow_other_nodes(self, url: String, shutdown: CancellationToken) {
        shared::listen(self, url, shutdown).await
    }

    /// Gives the call centre the SIP stack's dialer (it starts after the call handler).
    pub fn set_dialer(&self, dialer: Dialer) {
        let _ = self.inner.dialer.set(dialer);
        self.inner.wake.notify_one();
    }

    /// Where other nodes reach this node's SIP (`ip:port`), to ring the browser softphones
    /// attached here; on a shared database only.
    pub fn set_sip_address(&self, addr: String) {
        let _ = self.inner.sip_address.set(addr);
    }

    /// Keeps conversation recordings in `recordings` (`[recordings]`: local or shared).
    pub fn keep_recordings_in(&self, recordings: crate::store::objects::Recordings) {
        let _ = self.inner.recordings.set(recordings);
    }

    pub(crate) fn dialer(&self) -> Option<&Dialer> {
        self.inner.dialer.get()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A queue's hold music (empty: silence).
    pub fn hold_music(&self, queue: &str) -> Vec<Arc<crate::media::Prompt>> {
        self.inner.music.get(queue).cloned().unwrap_or_default()
    }

    pub fn queues(&self) -> &Queues {
        &self.inner.queues
    }

    pub fn store(&self) -> &AcdStore {
        &self.inner.store
    }

    /// Live updates for screens.
    pub fn subscribe(&self) -> broadcast::Receiver<AcdEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, ev: AcdEvent) {
        let _ = self.inner.events.send(ev);
    }

    /// Appends an event to a call's record; a failure is logged (the call goes on).
    pub(crate) async fn record(&self, call: CallRecordId, ev: CallEvent) {
        if let Err(e) = self.inner.calls.event(call, &ev).await {
            tracing::warn!(error = %e, kind = ev.kind(), "call event not stored");
        }
    }

    /// Stores an agent's new state in order with the others (changed by `by`).
    pub(crate) fn persist(&self, a: &Agent, by: &str) {
        let _ = self
            .inner
            .persist
            .send(Write::Agent(a.clone(), by.to_string()));
    }

    /// Every known agent (an account that never logged in is not listed).
    pub fn agents(&self) -> Vec<Agent> {
        self.lock().agents.values().cloned().collect()
    }

    pub fn agent(&self, name: &str) -> Option<Agent> {
        self.lock().agents.get(name).cloned()
    }

    /// Callers waiting and callbacks owed, longest waiting first.
    pub fn waiting(&self) -> Vec<CallerView> {
        let st = self.lock();
        let mut v: Vec<CallerView> = st.entries.values().map(Entry::view).collect();
        v.sort_by_key(|c| (c.joined_at, c.entry));
        v
    }

    /// The wallboard's per-queue figures.
    pub fn board(&self) -> Vec<QueueView> {
        let now = now_ms();
        let st = self.lock();
        self.inner
            .queues
            .queues
            .values()
            .map(|q| {
                let members = st.members.get(&q.id).cloned().unwrap_or_default();
                let agents: Vec<&Agent> = members.iter().filter_map(|m| st.agents.get(m)).collect();
                let live = st
                    .entries
                    .values()
                    .filter(|e| e.queue == q.id && e.kind == EntryKind::Live);
                QueueView {
                    id: q.id.clone(),
                    name: q.name.clone(),
                    waiting: live.clone().count(),
                    callbacks_owed: st
                        .entries
                        .values()
                        .filter(|e| e.queue == q.id && e.kind == EntryKind::Callback)
                        .count(),
                    longest_wait_secs: live
                        .map(|e| ((now - e.joined_at).max(0) / 1000) as u64)
                        .max()
                        .unwrap_or(0),
                    agents_ready: agents
                        .iter()
                        .filter(|a| a.state == AgentState::Ready)
                        .count(),
                    agents_busy: agents
                        .iter()
                        .filter(|a| {
                            matches!(
                                a.state,
                                AgentState::Ringing | AgentState::Talking | AgentState::WrapUp
                            )
                        })
                        .count(),
                    agents_logged_in: agents
                        .iter()
                        .filter(|a| a.state != AgentState::LoggedOut)
                        .count(),
                }
            })
            .collect()
    }

    /// A person's request for an agent's state (console, feature code, CLI). `by` names who
    /// asked, for the state log. Unknown accounts are refused.
    pub async fn request(&self, agent: &str, r: Request, by: &str) -> Result<Agent, AcdError> {
        if self.inner.store.shared() {
            return self.request_shared(agent, r, by).await;
        }
        self.request_here(agent, r, by).await
    }

    /// A request on a shared database, where the row is the agent's truth: applied to the
    /// row as read and written only if nobody changed it meanwhile (else read again). An
    /// agent in a call that another node holds gets it when that call ends.
    async fn request_shared(&self, agent: &str, r: Request, by: &str) -> Result<Agent, AcdError> {
        let store = &self.inner.store;
        for _ in 0..5 {
            let (mut a, was) = match store.agent_held(agent).await? {
                Some((a, Some(holder))) if holder == node_id() => {
                    // In a call on this node: its memory is ahead of the row.
                    if self.lock().agents.contains_key(agent) {
                        return self.request_here(agent, r, by).await;
                    }
                    let was = store::AgentWas::As(a.state, a.since);
                    (a, was)
                }
                Some((mut a, Some(_))) if a.state.in_call() => {
                    store.set_pending(agent, r).await?;
                    a.pending = Some(r);
                    tracing::info!(agent, request = %r.to_text(), by, "agent request kept for the end of a call on another node");
                    return Ok(a);
                }
                Some((a, _)) => {
                    let was = store::AgentWas::As(a.state, a.since);
                    (a, was)
                }
                None => {
                    if !self.inner.roster.exists(agent).await {
                        return Err(AcdError::UnknownAgent(agent.to_string()));
                    }
                    (Agent::new(agent, now_ms()), store::AgentWas::Absent)
                }
            };
            let changed = a.request(r, now_ms());
            if !changed && !matches!(was, store::AgentWas::Absent) {
                return Ok(a);
            }
            if store.save_agent_if(&a, changed.then_some(by), was).await? {
                if matches!(was, store::AgentWas::Absent) && self.has_browser_here(agent) {
                    // Their first row: where their tab is can be written now (next round).
                    self.tell_other_nodes();
                }
                {
                    let mut st = self.lock();
                    st.wrapup_until.remove(agent);
                    st.agents.insert(agent.to_string(), a.clone());
                }
                if changed {
                    tracing::info!(agent, state = a.state.as_str(), reason = ?a.reason.map(|r| r.as_str()), by, "agent state");
                    self.emit(AcdEvent::Agent(a.clone()));
                    self.inner.wake.notify_one();
                }
                return Ok(a);
            }
        }
        Err(AcdError::Contended(agent.to_string()))
    }

    async fn request_here(&self, agent: &str, r: Request, by: &str) -> Result<Agent, AcdError> {
        let known = self.lock().agents.contains_key(agent);
        if !known && !self.inner.roster.exists(agent).await {
            return Err(AcdError::UnknownAgent(agent.to_string()));
        }
        let (a, changed) = {
            let mut st = self.lock();
            let a = st
                .agents
                .entry(agent.to_string())
                .or_insert_with(|| Agent::new(agent, now_ms()));
            let changed = a.request(r, now_ms());
            let a = a.clone();
            if changed {
                st.wrapup_until.remove(agent);
            }
            (a, changed)
        };
        self.inner
            .store
            .save_agent(&a, changed.then_some(by))
            .await?;
        if changed {
            tracing::info!(agent, state = a.state.as_str(), reason = ?a.reason.map(|r| r.as_str()), by, "agent state");
            self.emit(AcdEvent::Agent(a.clone()));
            self.inner.wake.notify_one();
        }
        Ok(a)
    }

    /// What a call did to an agent; stored in order by the persister.
    pub(crate) fn step(&self, agent: &str, s: CallStep, queue: Option<&Queue>) {
        let now = now_ms();
        let auto_pause = queue.map(|q| q.auto_pause_after).unwrap_or(0);
        let changed = {
            let mut st = self.lock();
            let Some(a) = st.agents.get_mut(agent) else {
                return;
            };
            let changed = a.step(s, auto_pause, now);
            let a = a.clone();
            if a.state == AgentState::WrapUp && s == CallStep::Ended {
                let secs = queue.map(|q| q.wrapup_secs).unwrap_or(0);
                st.wrapup_until
                    .insert(agent.to_string(), now + (secs as i64) * 1000);
            }
            changed.then_some(a)
        };
        if let Some(a) = changed {
            if a.reason == Some(PauseReason::NoAnswer) {
                tracing::warn!(
                    agent,
                    misses = a.missed_in_row,
                    "agent paused: calls rang unanswered"
                );
            }
            self.persist(&a, "call");
            self.emit(AcdEvent::Agent(a));
            self.inner.wake.notify_one();
        }
    }

    /// A desk command for the call an agent is in. On PostgreSQL the call may be on another
    /// node (the desk is wherever the browser is): an agent in a conversation this node does
    /// not hold gets the command through the node that does.
    pub fn control(&self, agent: &str, c: Control) -> Result<(), AcdError> {
        match self.control_here(agent, c.clone()) {
            Err(AcdError::NotInCall(_))
                if self.inner.store.shared()
                    && self.agent(agent).map(|a| a.state) == Some(AgentState::Talking) =>
            {
                let (store, agent) = (self.inner.store.clone(), agent.to_string());
                tokio::spawn(async move { store.forward_control(&agent, &c).await });
                Ok(())
            }
            r => r,
        }
    }

    /// A desk command for a call this node holds.
    pub(crate) fn control_here(&self, agent: &str, c: Control) -> Result<(), AcdError> {
        let controls = self
            .inner
            .controls
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let tx = controls
            .get(agent)
            .ok_or_else(|| AcdError::NotInCall(agent.to_string()))?;
        tx.send(c)
            .map_err(|_| AcdError::NotInCall(agent.to_string()))
    }
}

/// A write the persister makes, in the order things happened.
pub(crate) enum Write {
    /// An agent's new state, and who changed it.
    Agent(Agent, String),
    /// Nobody rings for this entry any more (shared database: other nodes see it waiting).
    RingingOver(i64),
}

/// Writes agents in the order their states changed. Each write is retried for a while: a
/// state lost here would leave the agent wrongly busy or free until the next change, and on a
/// shared database other nodes go by it (kept shorter than the lease, which it refreshes).
async fn persister(store: AcdStore, mut rx: mpsc::UnboundedReceiver<Write>) {
    let within = store::LEASE / 3;
    while let Some(w) = rx.recv().await {
        match w {
            Write::Agent(a, by) => {
                let (store, agent, by) = (&store, &a, by.as_str());
                let r = record_surely("agent state", within, || async move {
                    Ok(store.save_agent(agent, Some(by)).await?)
                })
                .await;
                if let Err(e) = r {
                    tracing::warn!(agent = %a.name, error = %e, "agent state not stored");
                }
            }
            Write::RingingOver(id) => {
                let store = &store;
                let r = record_surely("queue entry", within, || async move {
                    Ok(store.set_ringing(id, &[]).await?)
                })
                .await;
                if let Err(e) = r {
                    tracing::warn!(entry = id, error = %e, "queue entry not stored");
                }
            }
        }
    }
}
