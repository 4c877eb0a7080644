//! Supervisor monitoring of a call between two sessions: silent listen, whisper to the
//! agent, barge-in.
//!
//! Each party's received audio (what it says) is also queued into a mix slot of the
//! sessions that should hear it; a session's sender adds its slots to its own source
//! (prompt, bridged peer, …) in linear PCM and encodes once, in its own codec. So the
//! supervisor hears caller and agent mixed, and whoever hears the supervisor gets them on
//! top of what they hear already. Works whether or not the two parties are bridged.

use std::collections::VecDeque;
use std::sync::{Arc, MutexGuard};

use super::state::{MonitorLink, Shared, State};
use super::{MediaError, MediaSession};

/// What a supervisor does on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorMode {
    /// The supervisor hears both parties; nobody hears the supervisor.
    Listen,
    /// The supervisor hears both; only the agent hears the supervisor (coaching).
    Whisper,
    /// Everyone hears everyone (the supervisor joins the call).
    Barge,
}

/// A running monitor; dropping it stops it (the parties keep talking to each other).
#[must_use = "dropping the monitor stops it"]
pub struct Monitor {
    caller: Arc<Shared>,
    agent: Arc<Shared>,
    supervisor: Arc<Shared>,
    mode: MonitorMode,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("caller", &self.caller.local)
            .field("agent", &self.agent.local)
            .field("supervisor", &self.supervisor.local)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Let `supervisor` monitor the call between `caller` and `agent` in `mode`. Each session
/// takes part in at most one monitor at a time.
pub fn monitor(
    caller: &MediaSession,
    agent: &MediaSession,
    supervisor: &MediaSession,
    mode: MonitorMode,
) -> Result<Monitor, MediaError> {
    if Arc::ptr_eq(&caller.sh, &agent.sh)
        || Arc::ptr_eq(&caller.sh, &supervisor.sh)
        || Arc::ptr_eq(&agent.sh, &supervisor.sh)
    {
        return Err(MediaError::SameSession);
    }
    let shs = [&*caller.sh, &*agent.sh, &*supervisor.sh];
    {
        let [mut c, mut a, mut s] = lock_all(shs);
        if c.monitor.is_some() || a.monitor.is_some() || s.monitor.is_some() {
            return Err(MediaError::AlreadyMonitored);
        }
        let sup = Arc::downgrade(&supervisor.sh);
        c.monitor = Some(Box::new(MonitorLink {
            forward: [Some((sup.clone(), 0)), None],
            ..MonitorLink::default()
        }));
        a.monitor = Some(Box::new(MonitorLink {
            forward: [Some((sup, 1)), None],
            ..MonitorLink::default()
        }));
        s.monitor = Some(Box::new(MonitorLink {
            mix: [Some(VecDeque::new()), Some(VecDeque::new())],
            ..MonitorLink::default()
        }));
        apply(mode, &caller.sh, &agent.sh, [&mut c, &mut a, &mut s]);
    }
    // Built only now: dropping a `Monitor` takes the links off, which a refused call must
    // not do to a monitor already running.
    let m = Monitor {
        caller: caller.sh.clone(),
        agent: agent.sh.clone(),
        supervisor: supervisor.sh.clone(),
        mode,
    };
    Ok(m)
}

impl Monitor {
    /// Switch between listen, whisper and barge-in without a gap in what the supervisor
    /// hears.
    pub fn set_mode(&mut self, mode: MonitorMode) {
        let [mut c, mut a, mut s] = lock_all([&self.caller, &self.agent, &self.supervisor]);
        apply(mode, &self.caller, &self.agent, [&mut c, &mut a, &mut s]);
        self.mode = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> MonitorMode {
        self.mode
    }
}

/// Who hears the supervisor in `mode`: the supervisor's forwards and the parties' mix slots.
fn apply(mode: MonitorMode, caller: &Arc<Shared>, agent: &Arc<Shared>, [c, a, s]: [&mut State; 3]) {
    let (to_agent, to_caller) = match mode {
        MonitorMode::Listen => (false, false),
        MonitorMode::Whisper => (true, false),
        MonitorMode::Barge => (true, true),
    };
    for (st, on) in [(a, to_agent), (c, to_caller)] {
        if let Some(link) = st.monitor.as_mut() {
            match (on, &link.mix[0]) {
                (true, None) => link.mix[0] = Some(VecDeque::new()),
                (false, Some(_)) => link.mix[0] = None,
                (true, Some(_)) | (false, None) => {}
            }
        }
    }
    if let Some(link) = s.monitor.as_mut() {
        link.forward = [
            to_agent.then(|| (Arc::downgrade(agent), 0)),
            to_caller.then(|| (Arc::downgrade(caller), 0)),
        ];
    }
}

/// The sessions' states locked in address order (no deadlock with another monitor, bridge
/// or recording being set up), returned in the order given.
fn lock_all(shs: [&Shared; 3]) -> [MutexGuard<'_, State>; 3] {
    let mut order = [0, 1, 2];
    order.sort_by_key(|&i| std::ptr::from_ref(shs[i]) as usize);
    let mut guards: [Option<MutexGuard<'_, State>>; 3] = [None, None, None];
    for i in order {
        guards[i] = Some(shs[i].lock());
    }
    guards.map(|g| g.unwrap_or_else(|| unreachable!("every index is locked once")))
}

impl Drop for Monitor {
    fn drop(&mut self) {
        for sh in [&self.caller, &self.agent, &self.supervisor] {
            sh.lock().monitor = None;
        }
    }
}
