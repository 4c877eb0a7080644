//! Which free agent (or agents) a queue's next caller rings. Pure: the distributor passes
//! the free members and gets back whom to ring.
//!
//! Skills are penalties, as in Asterisk: only the free members with the lowest penalty for
//! this queue are candidates, so a specialist queue rings its specialists first and the
//! generalists (higher penalty) only when every specialist is busy.

use super::agent::Agent;
use super::config::{Queue, Strategy};

/// Whom to ring for the queue's next caller: one agent, or every candidate for ring-all.
/// `last_offered` is the member offered a call most recently in this queue (round-robin).
pub fn choose<'a>(queue: &Queue, free: &[&'a Agent], last_offered: Option<&str>) -> Vec<&'a Agent> {
    let penalty = |a: &Agent| queue.penalty.get(&a.name).copied().unwrap_or(0);
    let Some(lowest) = free.iter().map(|a| penalty(a)).min() else {
        return Vec::new();
    };
    let mut tier: Vec<&'a Agent> = free
        .iter()
        .copied()
        .filter(|a| penalty(a) == lowest)
        .collect();
    // Names break every tie, so the choice does not depend on the order agents were loaded.
    tier.sort_by(|a, b| a.name.cmp(&b.name));
    match queue.strategy {
        Strategy::RingAll => tier,
        Strategy::LongestIdle => tier
            .into_iter()
            // Idle since their last call ended, or since they became ready if later (an agent
            // back from a meal has not been idle since the morning).
            .min_by_key(|a| (a.last_call_end.max(a.since), a.name.clone()))
            .into_iter()
            .collect(),
        Strategy::FewestCalls => tier
            .into_iter()
            .min_by_key(|a| (a.answered_today, a.last_call_end, a.name.clone()))
            .into_iter()
            .collect(),
        Strategy::RoundRobin => {
            let next = last_offered
                .and_then(|last| tier.iter().position(|a| a.name.as_str() > last))
                .unwrap_or(0);
            tier.get(next).copied().into_iter().collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::agent::{AgentState, Request};
    use crate::acd::config::Queues;
    use std::path::Path;

    fn queue(strategy: &str, penalty: &str) -> Queue {
        let t = format!("[queue.q]\nmembers = [\"a\", \"b\", \"c\"]\nstrategy = \"{strategy}\"\npenalty = {{ {penalty} }}\n");
        Queues::parse(&t, Path::new("q.toml"), &[])
            .unwrap()
            .get("q")
            .unwrap()
            .clone()
    }

    fn agent(name: &str, ready_at: i64, last_end: i64, answered: u32) -> Agent {
        let mut a = Agent::new(name, 0);
        a.request(Request::Ready, ready_at);
        a.last_call_end = last_end;
        a.answered_today = answered;
        assert_eq!(a.state, AgentState::Ready);
        a
    }

    fn names(v: Vec<&Agent>) -> Vec<&str> {
        v.into_iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn longest_idle_takes_the_agent_free_the_longest() {
        let (a, b, c) = (
            agent("a", 10, 50, 0),
            agent("b", 10, 20, 5),
            agent("c", 30, 0, 0),
        );
        let q = queue("longest-idle", "");
        assert_eq!(names(choose(&q, &[&a, &b, &c], None)), ["b"]);
    }

    #[test]
    fn fewest_calls_and_round_robin() {
        let (a, b, c) = (
            agent("a", 0, 0, 3),
            agent("b", 0, 0, 1),
            agent("c", 0, 0, 2),
        );
        assert_eq!(
            names(choose(&queue("fewest-calls", ""), &[&a, &b, &c], None)),
            ["b"]
        );
        let q = queue("round-robin", "");
        assert_eq!(names(choose(&q, &[&a, &b, &c], None)), ["a"]);
        assert_eq!(names(choose(&q, &[&a, &b, &c], Some("a"))), ["b"]);
        assert_eq!(names(choose(&q, &[&a, &c], Some("b"))), ["c"]);
        assert_eq!(names(choose(&q, &[&a, &b, &c], Some("c"))), ["a"]);
    }

    #[test]
    fn specialists_first_then_the_rest() {
        let (a, b, c) = (
            agent("a", 0, 0, 0),
            agent("b", 0, 0, 0),
            agent("c", 0, 0, 0),
        );
        let q = queue("ring-all", "a = 1, b = 1");
        assert_eq!(names(choose(&q, &[&a, &b, &c], None)), ["c"]);
        assert_eq!(names(choose(&q, &[&a, &b], None)), ["a", "b"]);
        assert!(choose(&q, &[], None).is_empty());
    }
}
