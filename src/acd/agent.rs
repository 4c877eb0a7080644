//! An agent's state (坐席状态) and the rules that move it: what people ask (ready, pause,
//! log out) and what calls do (offered, answered, missed, ended, wrap-up over). Pure: the
//! caller stores the result and records the change.

use serde::{Deserialize, Serialize};

/// Where an agent is. Only `Ready` agents are offered calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Ready,
    Paused,
    Ringing,
    Talking,
    WrapUp,
}

impl AgentState {
    /// Every state, for figures that list each one (also at zero).
    pub const ALL: [AgentState; 6] = [
        AgentState::LoggedOut,
        AgentState::Ready,
        AgentState::Paused,
        AgentState::Ringing,
        AgentState::Talking,
        AgentState::WrapUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::Paused => "paused",
            AgentState::Ringing => "ringing",
            AgentState::Talking => "talking",
            AgentState::WrapUp => "wrap_up",
        }
    }

    pub fn parse(s: &str) -> Option<AgentState> {
        Some(match s {
            "logged_out" => AgentState::LoggedOut,
            "ready" => AgentState::Ready,
            "paused" => AgentState::Paused,
            "ringing" => AgentState::Ringing,
            "talking" => AgentState::Talking,
            "wrap_up" => AgentState::WrapUp,
            _ => return None,
        })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "未签入",
            AgentState::Ready => "就绪",
            AgentState::Paused => "示忙",
            AgentState::Ringing => "振铃",
            AgentState::Talking => "通话",
            AgentState::WrapUp => "话后处理",
        }
    }

    /// Whether a call holds the agent (a person's request waits for its end).
    pub fn in_call(self) -> bool {
        match self {
            AgentState::Ringing | AgentState::Talking => true,
            AgentState::LoggedOut | AgentState::Ready | AgentState::Paused | AgentState::WrapUp => {
                false
            }
        }
    }
}

/// Why an agent is paused (示忙原因).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    Break,
    Meal,
    Meeting,
    Training,
    /// Ticket work away from the phone.
    Paperwork,
    /// Set by hotline after calls rang unanswered too often in a row.
    NoAnswer,
}

impl PauseReason {
    pub const CHOSEN: [PauseReason; 5] = [
        PauseReason::Break,
        PauseReason::Meal,
        PauseReason::Meeting,
        PauseReason::Training,
        PauseReason::Paperwork,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::Break => "break",
            PauseReason::Meal => "meal",
            PauseReason::Meeting => "meeting",
            PauseReason::Training => "training",
            PauseReason::Paperwork => "paperwork",
            PauseReason::NoAnswer => "no_answer",
        }
    }

    pub fn parse(s: &str) -> Option<PauseReason> {
        Some(match s {
            "break" => PauseReason::Break,
            "meal" => PauseReason::Meal,
            "meeting" => PauseReason::Meeting,
            "training" => PauseReason::Training,
            "paperwork" => PauseReason::Paperwork,
            "no_answer" => PauseReason::NoAnswer,
            _ => return None,
        })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            PauseReason::Break => "小休",
            PauseReason::Meal => "用餐",
            PauseReason::Meeting => "会议",
            PauseReason::Training => "培训",
            PauseReason::Paperwork => "处理工单",
            PauseReason::NoAnswer => "未接自动示忙",
        }
    }
}

/// What a person asks of an agent (console, feature code or CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Ready,
    Pause(PauseReason),
    Logout,
}

impl Request {
    /// The text form kept in the database (`hotline agent` requests, a request waiting for
    /// the end of a call held by another node).
    pub fn to_text(self) -> String {
        match self {
            Request::Ready => "ready".into(),
            Request::Logout => "logout".into(),
            Request::Pause(r) => format!("pause:{}", r.as_str()),
        }
    }

    pub fn parse(s: &str) -> Option<Request> {
        match s.split_once(':') {
            None if s == "ready" => Some(Request::Ready),
            None if s == "logout" => Some(Request::Logout),
            Some(("pause", why)) => PauseReason::parse(why).map(Request::Pause),
            _ => None,
        }
    }
}

/// What a call does to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStep {
    /// Their phone starts ringing for a caller.
    Offered,
    /// They answered.
    Answered,
    /// It rang out, was busy or failed: their fault, counted.
    Missed,
    /// Ringing stopped for a reason not theirs (another agent answered, the caller left).
    Released,
    /// The conversation ended.
    Ended,
    /// Wrap-up time is over.
    WrapUpOver,
}

/// One agent as the distributor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Agent {
    pub name: String,
    pub state: AgentState,
    pub reason: Option<PauseReason>,
    /// When the current state began (unix ms).
    pub since: i64,
    /// When their last call ended (unix ms; 0 when never), for longest-idle.
    pub last_call_end: i64,
    /// Calls answered since local midnight, for fewest-calls.
    pub answered_today: u32,
    /// Calls that rang unanswered in a row.
    pub missed_in_row: u32,
    /// A request made during a call, applied when the call ends.
    #[serde(skip)]
    pub pending: Option<Request>,
}

impl Agent {
    pub fn new(name: &str, now: i64) -> Agent {
        Agent {
            name: name.to_string(),
            state: AgentState::LoggedOut,
            reason: None,
            since: now,
            last_call_end: 0,
            answered_today: 0,
            missed_in_row: 0,
            pending: None,
        }
    }

    fn go(&mut self, state: AgentState, reason: Option<PauseReason>, now: i64) {
        if self.state != state || self.reason != reason {
            self.since = now;
        }
        self.state = state;
        self.reason = reason;
    }

    /// Applies a person's request. During a call it is kept and applied at the call's end;
    /// asking for ready during wrap-up ends the wrap-up early. Returns whether the state
    /// changed now.
    pub fn request(&mut self, r: Request, now: i64) -> bool {
        let before = (self.state, self.reason);
        match self.state {
            AgentState::Ringing | AgentState::Talking => {
                self.pending = Some(r);
                return false;
            }
            AgentState::LoggedOut | AgentState::Ready | AgentState::Paused | AgentState::WrapUp => {
            }
        }
        self.pending = None;
        match r {
            Request::Ready => {
                self.missed_in_row = 0;
                self.go(AgentState::Ready, None, now)
            }
            Request::Pause(reason) => self.go(AgentState::Paused, Some(reason), now),
            Request::Logout => self.go(AgentState::LoggedOut, None, now),
        }
        before != (self.state, self.reason)
    }

    /// Applies what a call did. `auto_pause_after` is the queue's limit of misses in a row
    /// (0 = never). Returns whether the state changed.
    pub fn step(&mut self, s: CallStep, auto_pause_after: u32, now: i64) -> bool {
        let before = (self.state, self.reason);
        match (s, self.state) {
            (CallStep::Offered, AgentState::Ready) => self.go(AgentState::Ringing, None, now),
            (CallStep::Answered, AgentState::Ringing) => {
                self.missed_in_row = 0;
                self.answered_today += 1;
                self.go(AgentState::Talking, None, now)
            }
            (CallStep::Missed, AgentState::Ringing) => {
                self.missed_in_row += 1;
                if auto_pause_after > 0 && self.missed_in_row >= auto_pause_after {
                    self.pending = None;
                    self.go(AgentState::Paused, Some(PauseReason::NoAnswer), now)
                } else {
                    self.after_call(AgentState::Ready, now)
                }
            }
            (CallStep::Released, AgentState::Ringing) => self.after_call(AgentState::Ready, now),
            (CallStep::Ended, AgentState::Talking) => {
                self.last_call_end = now;
                self.after_call(AgentState::WrapUp, now)
            }
            (CallStep::WrapUpOver, AgentState::WrapUp) => self.go(AgentState::Ready, None, now),
            // A step that does not fit the state (a late timer, a person's change in
            // between) changes nothing.
            (
                CallStep::Offered
                | CallStep::Answered
                | CallStep::Missed
                | CallStep::Released
                | CallStep::Ended
                | CallStep::WrapUpOver,
                _,
            ) => {}
        }
        before != (self.state, self.reason)
    }

    /// The agent places a call themselves (calling a resident back): their phone rings now
    /// whatever they were doing between calls, and a pause or a sign-out is kept for after
    /// the call, as if asked during it. False while a call holds them already.
    pub fn own_call(&mut self, now: i64) -> bool {
        match self.state {
            AgentState::Ringing | AgentState::Talking => return false,
            AgentState::Paused => {
                if self.pending.is_none() {
                    self.pending = self.reason.map(Request::Pause);
                }
            }
            AgentState::LoggedOut => self.pending = Some(Request::Logout),
            AgentState::Ready | AgentState::WrapUp => {}
        }
        self.go(AgentState::Ringing, None, now);
        true
    }

    /// Where an agent goes after ringing or talking: what they asked meanwhile, else `next`.
    fn after_call(&mut self, next: AgentState, now: i64) {
        match self.pending.take() {
            Some(Request::Pause(r)) => self.go(AgentState::Paused, Some(r), now),
            Some(Request::Logout) => self.go(AgentState::LoggedOut, None, now),
            Some(Request::Ready) | None => self.go(next, None, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_from_ready_to_wrap_up_and_back() {
        let mut a = Agent::new("ops1", 0);
        assert!(a.request(Request::Ready, 1));
        assert!(a.step(CallStep::Offered, 3, 2));
        assert_eq!(a.state, AgentState::Ringing);
        assert!(a.step(CallStep::Answered, 3, 3));
        assert!(a.step(CallStep::Ended, 3, 10));
        assert_eq!(
            (a.state, a.last_call_end, a.answered_today),
            (AgentState::WrapUp, 10, 1)
        );
        assert!(a.step(CallStep::WrapUpOver, 3, 20));
        assert_eq!((a.state, a.since), (AgentState::Ready, 20));
    }

    #[test]
    fn misses_in_a_row_pause_the_agent() {
        let mut a = Agent::new("ops1", 0);
        a.request(Request::Ready, 0);
        for i in 0..2 {
            a.step(CallStep::Offered, 3, i);
            a.step(CallStep::Missed, 3, i);
            assert_eq!(a.state, AgentState::Ready);
        }
        a.step(CallStep::Offered, 3, 5);
        a.step(CallStep::Missed, 3, 6);
        assert_eq!(
            (a.state, a.reason),
            (AgentState::Paused, Some(PauseReason::NoAnswer))
        );
        // Ringing that stopped for another reason is not a miss.
        a.request(Request::Ready, 7);
        a.step(CallStep::Offered, 3, 8);
        a.step(CallStep::Released, 3, 9);
        assert_eq!((a.state, a.missed_in_row), (AgentState::Ready, 0));
    }

    #[test]
    fn a_pause_asked_during_a_call_waits_for_its_end() {
        let mut a = Agent::new("ops1", 0);
        a.request(Request::Ready, 0);
        a.step(CallStep::Offered, 3, 1);
        a.step(CallStep::Answered, 3, 2);
        assert!(!a.request(Request::Pause(PauseReason::Meal), 3));
        assert_eq!(a.state, AgentState::Talking);
        a.step(CallStep::Ended, 3, 4);
        assert_eq!(
            (a.state, a.reason),
            (AgentState::Paused, Some(PauseReason::Meal))
        );
        // A stale wrap-up timer does not make a paused agent ready.
        assert!(!a.step(CallStep::WrapUpOver, 3, 5));
        assert_eq!(a.state, AgentState::Paused);
    }

    #[test]
    fn a_paused_agent_calling_back_is_busy_during_the_call_and_paused_after() {
        let mut a = Agent::new("ops1", 0);
        a.request(Request::Pause(PauseReason::Paperwork), 0);
        assert!(a.own_call(1));
        assert_eq!(a.state, AgentState::Ringing);
        assert!(!a.own_call(2), "one call at a time");
        a.step(CallStep::Answered, 3, 3);
        assert_eq!(a.state, AgentState::Talking);
        a.step(CallStep::Ended, 3, 4);
        assert_eq!(
            (a.state, a.reason),
            (AgentState::Paused, Some(PauseReason::Paperwork))
        );
        // A ready agent whose own phone did not answer is ready again, not penalised.
        a.request(Request::Ready, 5);
        assert!(a.own_call(6));
        a.step(CallStep::Released, 3, 7);
        assert_eq!((a.state, a.missed_in_row), (AgentState::Ready, 0));
    }

    #[test]
    fn ready_during_wrap_up_ends_it_early() {
        let mut a = Agent::new("ops1", 0);
        a.request(Request::Ready, 0);
        a.step(CallStep::Offered, 0, 1);
        a.step(CallStep::Answered, 0, 2);
        a.step(CallStep::Ended, 0, 3);
        assert!(a.request(Request::Ready, 4));
        assert_eq!(a.state, AgentState::Ready);
    }
}
