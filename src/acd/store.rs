//! The call centre's tables: agents (`acd_agents`), their state changes (`acd_agent_log`),
//! callers waiting and callbacks owed (`acd_waiting`). Written at every change, read at
//! start, so a restart keeps agent states and owed callbacks (Asterisk loses its queue
//! counters on a reload).
//!
//! On PostgreSQL several nodes share these tables, and the rows are the truth: a node
//! takes a free agent with one conditional UPDATE ([`AcdStore::claim_agent`]), so two nodes
//! never ring the same agent; it holds that agent and its own waiting callers under a lease
//! it renews every few seconds ([`AcdStore::heartbeat`]); rows whose lease lapsed (their
//! node died) are freed by any node ([`AcdStore::lapsed_agents`], [`AcdStore::lapsed_entries`]).
//! Every change is announced on [`CHANNEL`] so the other nodes look again at once.

use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::agent::{Agent, AgentState, PauseReason, Request};
use crate::privacy::keep_last4;
use crate::store::lease::LeasedTable;
use crate::store::{node_id, now_ms, Db};

/// How long a node's hold on an agent or a waiting caller lasts unrenewed. A node renews
/// every few seconds (`distributor`); a node that died frees them this long after.
pub const LEASE: Duration = Duration::from_secs(15);

/// The PostgreSQL channel on which a node announces a change of the call centre's tables;
/// the payload is the node's id, so it skips its own.
pub const CHANNEL: &str = "hotline_acd";

/// The PostgreSQL channel that carries a desk command to the node holding the agent's call:
/// JSON of [`ForwardedControl`].
pub const CONTROL_CHANNEL: &str = "hotline_acd_control";

/// A desk command on its way to whichever node holds `agent`'s call.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ForwardedControl {
    pub agent: String,
    pub control: super::Control,
}

/// `acd_waiting` as a leased table: a node claims a callback owed before ringing an agent
/// for it, and holds its own live callers (their calls' media are on it).
const ENTRIES: LeasedTable = LeasedTable {
    table: "acd_waiting",
    state: "status",
    due: "next_try_at",
    claimable: &["waiting"],
    on_claim: "",
    claimed_by: true,
    returning: "id",
    order: "joined_at, id",
};

const AGENT_COLUMNS: &str = "name, state, reason, since, last_call_end, answered_today, answered_day, missed_in_row, pending, claimed_by";

/// What must hold for a conditional write of an agent to go through.
#[derive(Debug, Clone, Copy)]
pub enum AgentWas<'a> {
    /// No row yet (a first login).
    Absent,
    /// Unchanged since it was read.
    As(AgentState, i64),
    /// In one of these states (and held by no live node).
    In(&'a [AgentState]),
    /// Held by a node whose lease lapsed.
    Lapsed,
}

/// Whether a waiting entry is a caller on the line or a callback owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Live,
    Callback,
}

impl EntryKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EntryKind::Live => "live",
            EntryKind::Callback => "callback",
        }
    }
}

/// A row of `acd_waiting` still waiting.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub id: i64,
    pub queue: String,
    pub kind: EntryKind,
    pub caller: String,
    pub call_record: Option<i64>,
    pub joined_at: i64,
    pub attempts: u32,
    pub next_try_at: i64,
    pub info: String,
    /// The node holding it (a live caller's, or ringing for a callback), and until when.
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    /// Whom its offer rings now.
    pub ringing: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AcdStore {
    db: Db,
}

impl AcdStore {
    pub fn new(db: Db) -> AcdStore {
        AcdStore { db }
    }

    pub async fn agents(&self) -> Result<Vec<Agent>, sqlx::Error> {
        Ok(self
            .agents_held()
            .await?
            .into_iter()
            .map(|(a, _)| a)
            .collect())
    }

    /// Every agent with the node holding them (for a call), if any.
    pub async fn agents_held(&self) -> Result<Vec<(Agent, Option<String>)>, sqlx::Error> {
        let rows = sqlx::query(&format!("SELECT {AGENT_COLUMNS} FROM acd_agents"))
            .fetch_all(self.db.pool())
            .await?;
        let today = local_day(now_ms());
        let mut out = Vec::new();
        for r in rows {
            if let Some(a) = agent_row(&r, &today)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// One agent as stored, with the node holding them.
    pub async fn agent_held(
        &self,
        name: &str,
    ) -> Result<Option<(Agent, Option<String>)>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM acd_agents WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(r) => agent_row(&r, &local_day(now_ms())),
            None => Ok(None),
        }
    }

    /// Stores an agent; with `changed_by` the state change is also logged. A call's states
    /// (ringing, talking, wrap-up) are held by this node under a lease.
    pub async fn save_agent(&self, a: &Agent, changed_by: Option<&str>) -> Result<(), sqlx::Error> {
        self.write_agent(a, changed_by, None).await.map(|_| ())
    }

    /// Stores an agent only if the row is still as `was` says; false when another node
    /// changed it first (read again and retry).
    pub async fn save_agent_if(
        &self,
        a: &Agent,
        changed_by: Option<&str>,
        was: AgentWas<'_>,
    ) -> Result<bool, sqlx::Error> {
        self.write_agent(a, changed_by, Some(was)).await
    }

    /// Takes a free agent for a call: their row becomes `a` (ringing, held by this node) only
    /// if it is in one of `from` — one conditional UPDATE, so of two nodes offering the same
    /// agent at once exactly one gets them. Returns the row as stored, None when taken.
    pub async fn claim_agent(
        &self,
        a: &Agent,
        from: &[AgentState],
    ) -> Result<Option<Agent>, sqlx::Error> {
        if !self
            .write_agent(a, Some("call"), Some(AgentWas::In(from)))
            .await?
        {
            return Ok(None);
        }
        Ok(self.agent_held(&a.name).await?.map(|(a, _)| a))
    }

    async fn write_agent(
        &self,
        a: &Agent,
        changed_by: Option<&str>,
        was: Option<AgentWas<'_>>,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let held = matches!(
            a.state,
            AgentState::Ringing | AgentState::Talking | AgentState::WrapUp
        );
        let (by, until) = if held {
            (Some(node_id()), Some(now + LEASE.as_millis() as i64))
        } else {
            (None, None)
        };
        const SET: &str = "state = $2, reason = $3, since = $4, last_call_end = $5, answered_today = $6, answered_day = $7, missed_in_row = $8, updated_at = $9, pending = $10, claimed_by = $11, claimed_until = $12";
        const INSERT: &str = "INSERT INTO acd_agents (name, state, reason, since, last_call_end, answered_today, answered_day, missed_in_row, updated_at, pending, claimed_by, claimed_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
        let sql: String = match was {
            None => format!(
                "{INSERT} ON CONFLICT (name) DO UPDATE SET state = excluded.state, reason = excluded.reason, since = excluded.since,
                   last_call_end = excluded.last_call_end, answered_today = excluded.answered_today,
                   answered_day = excluded.answered_day, missed_in_row = excluded.missed_in_row, updated_at = excluded.updated_at,
                   pending = excluded.pending, claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until"
            ),
            Some(AgentWas::Absent) => format!("{INSERT} ON CONFLICT (name) DO NOTHING"),
            Some(AgentWas::As(..)) => format!(
                "UPDATE acd_agents SET {SET} WHERE name = $1 AND state = $13 AND since = $14"
            ),
            Some(AgentWas::In(states)) => {
                let list: Vec<String> = states
                    .iter()
                    .map(|s| format!("'{}'", s.as_str()))
                    .collect();
                format!(
                    "UPDATE acd_agents SET {SET} WHERE name = $1 AND state IN ({}) AND (claimed_by IS NULL OR claimed_by = $11 OR claimed_until < $9)",
                    list.join(", ")
                )
            }
            Some(AgentWas::Lapsed) => format!(
                "UPDATE acd_agents SET {SET} WHERE name = $1 AND claimed_by IS NOT NULL AND claimed_until < $9"
            ),
        };
        let mut tx = self.db.pool().begin().await?;
        let mut q = sqlx::query(&sql)
            .bind(&a.name)
            .bind(a.state.as_str())
            .bind(a.reason.map(|r| r.as_str()))
            .bind(a.since)
            .bind(a.last_call_end)
            .bind(a.answered_today as i64)
            .bind(local_day(now))
            .bind(a.missed_in_row as i64)
            .bind(now)
            .bind(a.pending.map(Request::to_text))
            .bind(by)
            .bind(until);
        if let Some(AgentWas::As(state, since)) = was {
            q = q.bind(state.as_str()).bind(since);
        }
        let done = q.execute(&mut *tx).await?.rows_affected() > 0;
        if !done {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(by) = changed_by {
            sqlx::query("INSERT INTO acd_agent_log (agent, state, reason, by_whom, at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&a.name)
                .bind(a.state.as_str())
                .bind(a.reason.map(|r| r.as_str()))
                .bind(by)
                .bind(a.since)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.announce().await;
        Ok(true)
    }

    /// A request made while another node holds the agent in a call: that node applies it
    /// when the call ends (as a request made on it would be).
    pub async fn set_pending(&self, agent: &str, r: Request) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE acd_agents SET pending = $1, updated_at = $2 WHERE name = $3")
            .bind(r.to_text())
            .bind(now_ms())
            .bind(agent)
            .execute(self.db.pool())
            .await?;
        self.announce().await;
        Ok(())
    }

    /// Renews this node's lease on the agents in its calls and on its waiting callers.
    pub async fn heartbeat(&self) -> Result<(), sqlx::Error> {
        let until = now_ms() + LEASE.as_millis() as i64;
        sqlx::query("UPDATE acd_agents SET claimed_until = $1 WHERE claimed_by = $2")
            .bind(until)
            .bind(node_id())
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "UPDATE acd_waiting SET claimed_until = $1 WHERE claimed_by = $2 AND status = 'waiting'",
        )
        .bind(until)
        .bind(node_id())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Renews this node among the live nodes, with the SIP address other nodes ring its
    /// browsers at (empty: none they can reach), and marks `browsers` (the agents whose
    /// console tab is attached here now) as ringing here; unmarks those no longer attached.
    pub async fn renew_node(
        &self,
        sip_address: &str,
        browsers: &[String],
    ) -> Result<(), sqlx::Error> {
        let (me, now) = (node_id(), now_ms());
        sqlx::query(
            "INSERT INTO acd_nodes (node, sip_address, alive_until) VALUES ($1, $2, $3)
             ON CONFLICT (node) DO UPDATE SET sip_address = excluded.sip_address, alive_until = excluded.alive_until",
        )
        .bind(me)
        .bind(sip_address)
        .bind(now + LEASE.as_millis() as i64)
        .execute(self.db.pool())
        .await?;
        let mut changed = 0;
        for agent in browsers {
            changed += sqlx::query(
                "UPDATE acd_agents SET browser_node = $1 WHERE name = $2 AND (browser_node IS NULL OR browser_node <> $1)",
            )
            .bind(me)
            .bind(agent)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        }
        let marked: Vec<String> =
            sqlx::query_scalar("SELECT name FROM acd_agents WHERE browser_node = $1")
                .bind(me)
                .fetch_all(self.db.pool())
                .await?;
        for agent in marked.iter().filter(|a| !browsers.contains(a)) {
            changed += sqlx::query(
                "UPDATE acd_agents SET browser_node = NULL WHERE name = $1 AND browser_node = $2",
            )
            .bind(agent)
            .bind(me)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        }
        if changed > 0 {
            self.announce().await;
        }
        Ok(())
    }

    /// Forgets nodes whose lease lapsed, and the browsers that were attached to them.
    pub async fn forget_lapsed_nodes(&self) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "UPDATE acd_agents SET browser_node = NULL WHERE browser_node IS NOT NULL
             AND browser_node NOT IN (SELECT node FROM acd_nodes WHERE alive_until >= $1)",
        )
        .bind(now)
        .execute(self.db.pool())
        .await?;
        sqlx::query("DELETE FROM acd_nodes WHERE alive_until < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Agents whose console tab is attached to another live node: (agent, that node's SIP
    /// address).
    pub async fn remote_browsers(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT a.name, n.sip_address FROM acd_agents a JOIN acd_nodes n ON n.node = a.browser_node
             WHERE n.alive_until >= $1 AND n.node <> $2 AND n.sip_address <> ''",
        )
        .bind(now_ms())
        .bind(node_id())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The SIP addresses of the other live nodes.
    pub async fn other_nodes(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT sip_address FROM acd_nodes WHERE alive_until >= $1 AND node <> $2 AND sip_address <> ''",
        )
        .bind(now_ms())
        .bind(node_id())
        .fetch_all(self.db.pool())
        .await
    }

    /// Agents held by a node whose lease lapsed (it died in a call).
    pub async fn lapsed_agents(&self) -> Result<Vec<Agent>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM acd_agents WHERE claimed_by IS NOT NULL AND claimed_until < $1"
        ))
        .bind(now_ms())
        .fetch_all(self.db.pool())
        .await?;
        let today = local_day(now_ms());
        let mut out = Vec::new();
        for r in rows {
            if let Some((a, _)) = agent_row(&r, &today)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Waiting entries held by a node whose lease lapsed: its live callers were cut off with
    /// it, and a callback it was ringing for is free again.
    pub async fn lapsed_entries(&self) -> Result<Vec<StoredEntry>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM acd_waiting WHERE status = 'waiting' AND claimed_by IS NOT NULL AND claimed_until < $1"
        ))
        .bind(now_ms())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(entry_row).collect()
    }

    /// Takes a lapsed entry over (`kind` is what it becomes, `status` `waiting` or `lost`);
    /// false when another node did first.
    pub async fn take_lapsed_entry(
        &self,
        id: i64,
        kind: EntryKind,
        status: &str,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let r = sqlx::query(
            "UPDATE acd_waiting SET kind = $1, status = $2, claimed_by = NULL, claimed_until = NULL, ringing = '', updated_at = $3
             WHERE id = $4 AND status = 'waiting' AND claimed_by IS NOT NULL AND claimed_until < $3",
        )
        .bind(kind.as_str())
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(self.db.pool())
        .await?;
        self.announce().await;
        Ok(r.rows_affected() > 0)
    }

    /// Takes a callback owed for this node to ring agents for; false when another node has it.
    pub async fn claim_entry(&self, id: i64) -> Result<bool, sqlx::Error> {
        ENTRIES
            .claim_one(&self.db, id, LEASE, node_id())
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Sql(e) => e,
                other => sqlx::Error::Protocol(other.to_string()),
            })
    }

    /// Whom an entry's offer rings now (empty: it waits); a callback's claim ends with its ringing.
    pub async fn set_ringing(&self, id: i64, agents: &[String]) -> Result<(), sqlx::Error> {
        let sql = if agents.is_empty() {
            "UPDATE acd_waiting SET ringing = $1, updated_at = $2,
               claimed_by = CASE WHEN kind = 'callback' THEN NULL ELSE claimed_by END,
               claimed_until = CASE WHEN kind = 'callback' THEN NULL ELSE claimed_until END
             WHERE id = $3"
        } else {
            "UPDATE acd_waiting SET ringing = $1, updated_at = $2 WHERE id = $3"
        };
        sqlx::query(sql)
            .bind(agents.join(","))
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        self.announce().await;
        Ok(())
    }

    /// Tells the other nodes that the call centre's tables changed (PostgreSQL only). A lost
    /// announcement costs only time: every node also looks by itself every few seconds.
    pub async fn announce(&self) {
        if !self.db.shared() {
            return;
        }
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(node_id())
            .execute(self.db.pool())
            .await
        {
            tracing::debug!(error = %e, "call centre change not announced");
        }
    }

    /// Sends a desk command to the other nodes; the one holding `agent`'s call applies it.
    pub async fn forward_control(&self, agent: &str, control: &super::Control) {
        let msg = ForwardedControl {
            agent: agent.to_string(),
            control: control.clone(),
        };
        let payload = match serde_json::to_string(&msg) {
            Ok(p) => p,
            Err(e) => return tracing::warn!(agent, error = %e, "desk command not forwarded"),
        };
        match sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CONTROL_CHANNEL)
            .bind(payload)
            .execute(self.db.pool())
            .await
        {
            Ok(_) => tracing::info!(agent, "desk command sent to the node holding the call"),
            Err(e) => tracing::warn!(agent, error = %e, "desk command not forwarded"),
        }
    }

    pub fn shared(&self) -> bool {
        self.db.shared()
    }

    /// An agent's state changes since `from` (unix ms): (at, state, reason, by whom).
    pub async fn agent_log(
        &self,
        agent: &str,
        from: i64,
    ) -> Result<Vec<(i64, AgentState, Option<PauseReason>, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT at, state, reason, by_whom FROM acd_agent_log WHERE agent = $1 AND at >= $2 ORDER BY id",
        )
        .bind(agent)
        .bind(from)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            if let Some(s) = AgentState::parse(&r.try_get::<String, _>(1)?) {
                out.push((
                    r.try_get(0)?,
                    s,
                    r.try_get::<Option<String>, _>(2)?
                        .as_deref()
                        .and_then(PauseReason::parse),
                    r.try_get(3)?,
                ));
            }
        }
        Ok(out)
    }

    pub async fn add_entry(
        &self,
        queue: &str,
        kind: EntryKind,
        caller: &str,
        call_record: Option<i64>,
        joined_at: i64,
        info: &str,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO acd_waiting (queue, kind, status, caller, call_record, joined_at, info, updated_at, claimed_by, claimed_until)
             VALUES ($1, $2, 'waiting', $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(queue)
        .bind(kind.as_str())
        .bind(caller)
        .bind(call_record)
        .bind(joined_at)
        .bind(info)
        .bind(now_ms())
        // A live caller is on this node's line: held here while they wait.
        .bind((kind == EntryKind::Live).then(node_id))
        .bind((kind == EntryKind::Live).then(|| now_ms() + LEASE.as_millis() as i64))
        .fetch_one(self.db.pool())
        .await?;
        self.announce().await;
        row.try_get(0)
    }

    /// A live caller becomes a callback owed (keeping their place), or moves queue.
    pub async fn update_entry(
        &self,
        id: i64,
        queue: &str,
        kind: EntryKind,
    ) -> Result<(), sqlx::Error> {
        // A callback owed is nobody's until a node claims it to ring an agent.
        sqlx::query(
            "UPDATE acd_waiting SET queue = $1, kind = $2, updated_at = $3,
               claimed_by = CASE WHEN $2 = 'callback' THEN NULL ELSE claimed_by END,
               claimed_until = CASE WHEN $2 = 'callback' THEN NULL ELSE claimed_until END
             WHERE id = $4",
        )
        .bind(queue)
        .bind(kind.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await?;
        self.announce().await;
        Ok(())
    }

    /// A callback attempt that did not reach the resident: try again at `next_try_at`.
    pub async fn retry_entry(
        &self,
        id: i64,
        attempts: u32,
        next_try_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE acd_waiting SET attempts = $1, next_try_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(attempts as i64)
        .bind(next_try_at)
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await?;
        self.announce().await;
        Ok(())
    }

    /// The entry left the queue (`done`: connected, left, given up; `lost`: nobody can
    /// reach them any more).
    pub async fn finish_entry(&self, id: i64, status: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE acd_waiting SET status = $1, updated_at = $2, ringing = '' WHERE id = $3",
        )
        .bind(status)
        .bind(now_ms())
        .bind(id)
        .execute(self.db.pool())
        .await?;
        self.announce().await;
        Ok(())
    }

    /// Retention (个人信息保护法, `[calls.retention] phone_days`): entries that left the queue
    /// by `before` (unix ms) keep only the last four digits of the caller's number and drop
    /// their voice-menu context (which may hold more numbers). Entries still waiting keep
    /// both: an owed callback needs the number. Returns how many entries changed.
    pub async fn purge_personal_data(&self, before: i64) -> Result<u64, sqlx::Error> {
        let pool = self.db.pool();
        let mut done = 0;
        for r in sqlx::query(
            "SELECT id, caller FROM acd_waiting WHERE status <> 'waiting' AND updated_at <= $1
             AND (LENGTH(caller) > 4 AND caller NOT LIKE '*%' OR info <> '{}')",
        )
        .bind(before)
        .fetch_all(pool)
        .await?
        {
            let caller: String = r.try_get(1)?;
            let masked = if caller.starts_with('*') {
                caller.clone()
            } else {
                keep_last4(&caller)
            };
            let changed = sqlx::query(
                "UPDATE acd_waiting SET caller = $1, info = '{}' WHERE id = $2 AND caller = $3",
            )
            .bind(masked)
            .bind(r.try_get::<i64, _>(0)?)
            .bind(&caller)
            .execute(pool)
            .await?;
            done += changed.rows_affected();
        }
        Ok(done)
    }

    pub async fn waiting(&self) -> Result<Vec<StoredEntry>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM acd_waiting WHERE status = 'waiting' ORDER BY joined_at, id"
        ))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(entry_row).collect()
    }
}

const ENTRY_COLUMNS: &str = "id, queue, kind, caller, call_record, joined_at, attempts, next_try_at, info, claimed_by, claimed_until, ringing";

fn entry_row(r: &AnyRow) -> Result<StoredEntry, sqlx::Error> {
    let ringing: String = r.try_get(11)?;
    Ok(StoredEntry {
        id: r.try_get(0)?,
        queue: r.try_get(1)?,
        kind: if r.try_get::<String, _>(2)? == "callback" {
            EntryKind::Callback
        } else {
            EntryKind::Live
        },
        caller: r.try_get(3)?,
        call_record: r.try_get(4)?,
        joined_at: r.try_get(5)?,
        attempts: r.try_get::<i64, _>(6)? as u32,
        next_try_at: r.try_get(7)?,
        info: r.try_get(8)?,
        claimed_by: r.try_get(9)?,
        claimed_until: r.try_get(10)?,
        ringing: ringing
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// An `acd_agents` row (`AGENT_COLUMNS`); None for a state this version does not know.
fn agent_row(r: &AnyRow, today: &str) -> Result<Option<(Agent, Option<String>)>, sqlx::Error> {
    let name: String = r.try_get(0)?;
    let Some(state) = AgentState::parse(&r.try_get::<String, _>(1)?) else {
        tracing::warn!(agent = %name, "unknown agent state in the database; taken as logged out");
        return Ok(None);
    };
    let day: String = r.try_get(6)?;
    let agent = Agent {
        name,
        state,
        reason: r
            .try_get::<Option<String>, _>(2)?
            .as_deref()
            .and_then(PauseReason::parse),
        since: r.try_get(3)?,
        last_call_end: r.try_get(4)?,
        answered_today: if day == today {
            r.try_get::<i64, _>(5)? as u32
        } else {
            0
        },
        missed_in_row: r.try_get::<i64, _>(7)? as u32,
        pending: r
            .try_get::<Option<String>, _>(8)?
            .as_deref()
            .and_then(Request::parse),
    };
    Ok(Some((agent, r.try_get(9)?)))
}

/// The calendar day (China time, where the hotline's day is counted) of a unix-ms time.
fn local_day(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    (t + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string()
}

/// A request from outside the running hotline (`hotline agent ...`).
#[derive(Debug, Clone)]
pub struct StoredRequest {
    pub id: i64,
    pub agent: String,
    pub request: String,
    pub by: String,
}

impl AcdStore {
    /// Leaves a request for the running hotline; returns its id.
    pub async fn add_request(
        &self,
        agent: &str,
        request: &str,
        by: &str,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO acd_requests (agent, request, by_whom, at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(agent)
        .bind(request)
        .bind(by)
        .bind(now_ms())
        .fetch_one(self.db.pool())
        .await?;
        row.try_get(0)
    }

    pub async fn open_requests(&self) -> Result<Vec<StoredRequest>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, agent, request, by_whom FROM acd_requests WHERE done_at IS NULL ORDER BY id LIMIT 100",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredRequest {
                    id: r.try_get(0)?,
                    agent: r.try_get(1)?,
                    request: r.try_get(2)?,
                    by: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn close_request(&self, id: i64, result: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE acd_requests SET done_at = $1, result = $2 WHERE id = $3")
            .bind(now_ms())
            .bind(result)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The result of a request, once the running hotline applied it.
    pub async fn request_result(&self, id: i64) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT result FROM acd_requests WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => None,
        })
    }
}
