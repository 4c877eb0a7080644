//! Counting the figures of each row of a report from the facts: one pass per kind of fact,
//! each fact added to the row its group names. The definitions here are the ones
//! docs/kpis.md states.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::facts::{Facts, Step};
use super::period::{Grain, Span};

/// How a report's rows are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One row for the whole period.
    Total,
    Day,
    Week,
    Month,
    /// Calls that reached each queue.
    Queue,
    /// Calls each agent answered.
    Agent,
    /// Tickets each department held.
    Department,
    /// Tickets by township (the ticket's area).
    Township,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown grouping `{0}`: use total, day, week, month, queue, agent, department or township"
)]
pub struct UnknownGroup(pub String);

impl std::str::FromStr for GroupBy {
    type Err = UnknownGroup;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "" | "total" => GroupBy::Total,
            "day" => GroupBy::Day,
            "week" => GroupBy::Week,
            "month" => GroupBy::Month,
            "queue" => GroupBy::Queue,
            "agent" => GroupBy::Agent,
            "department" => GroupBy::Department,
            "township" => GroupBy::Township,
            other => return Err(UnknownGroup(other.to_string())),
        })
    }
}

impl GroupBy {
    pub fn grain(self) -> Option<Grain> {
        match self {
            GroupBy::Day => Some(Grain::Day),
            GroupBy::Week => Some(Grain::Week),
            GroupBy::Month => Some(Grain::Month),
            GroupBy::Total
            | GroupBy::Queue
            | GroupBy::Agent
            | GroupBy::Department
            | GroupBy::Township => None,
        }
    }

    /// Whether the rows of this grouping carry call figures, ticket figures.
    pub fn sources(self) -> (bool, bool) {
        match self {
            GroupBy::Total | GroupBy::Day | GroupBy::Week | GroupBy::Month => (true, true),
            GroupBy::Queue | GroupBy::Agent => (true, false),
            GroupBy::Department | GroupBy::Township => (false, true),
        }
    }
}

/// What the calls of one row add up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallFigures {
    /// Every call that arrived.
    pub arrived: i64,
    /// 秒挂: ended within `short_call_secs` without reaching a person.
    pub short: i64,
    /// 呼入量: arrived, less the short calls when they are left out.
    pub offered: i64,
    /// 接通: answered by the voice menus or a person.
    pub connected: i64,
    /// 请求人工: reached a queue for a person.
    pub asked_person: i64,
    /// 人工接听: answered by a person.
    pub person_answered: i64,
    /// Answered by a person within the answer target.
    pub person_in_target: i64,
    /// 放弃: hung up waiting in a queue.
    pub abandoned: i64,
    /// Of those, within the answer target.
    pub abandoned_in_target: i64,
    /// Sum of the waits of the calls a person answered.
    pub wait_ms_total: i64,
    /// Calls with a measured talk time.
    pub talked: i64,
    pub talk_ms_total: i64,
    /// Hours agents were logged in (any state but logged out).
    pub agent_hours: f64,
}

/// What the tickets of one row add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TicketFigures {
    /// 受理量: tickets created (for a department: dispatches to it).
    pub received: i64,
    /// Of the tickets created, answered directly by the hotline (直接答复).
    pub answered_directly: i64,
    /// Dispatches (派单 and 改派).
    pub dispatched: i64,
    /// Returns (退单).
    pub returned: i64,
    /// Resolutions (办结 and 直接答复).
    pub resolved: i64,
    /// Of those, by the ticket's deadline.
    pub resolved_on_time: i64,
    /// 超期: deadlines that fell in the period (and have passed) without a resolution by then.
    pub overdue: i64,
    /// Of the resolutions, those the resident was asked about (回访) or rated.
    pub followed_up: i64,
    /// Ratings given.
    pub rated: i64,
    /// Ratings 满意 or 基本满意.
    pub satisfied: i64,
}

/// The figures of one row, before the KPIs are worked out.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub calls: CallFigures,
    pub tickets: TicketFigures,
}

/// Rules of counting that come from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub short_call_ms: i64,
    pub exclude_short_calls: bool,
    pub answer_target_ms: i64,
    /// Deadlines later than this have not passed yet.
    pub now_ms: i64,
}

const NO_AREA: &str = "未填写";
const NO_DEPARTMENT: &str = "未派单";

/// Folds `facts` into one tally per row key.
pub fn fold(facts: &Facts, span: &Span, group: GroupBy, rules: Rules) -> BTreeMap<String, Tally> {
    let mut rows: BTreeMap<String, Tally> = BTreeMap::new();
    if let Some(grain) = group.grain() {
        for (key, _) in span.buckets(grain) {
            rows.entry(key).or_default();
        }
    }
    let (from, to) = span.bounds_ms();
    let in_span = |ms: i64| ms >= from && ms < to;
    let time_key = |ms: i64| match group.grain() {
        Some(g) => g.key(span.local_date(ms)),
        None => "all".to_string(),
    };
    let (with_calls, with_tickets) = group.sources();

    if with_calls {
        for c in &facts.calls {
            let key = match group {
                GroupBy::Queue => match &c.queue {
                    Some(q) => q.clone(),
                    None => continue,
                },
                GroupBy::Agent => match (&c.agent, c.agent_answered) {
                    (Some(a), true) => a.clone(),
                    _ => continue,
                },
                _ => time_key(c.started_at),
            };
            let f = &mut rows.entry(key).or_default().calls;
            f.arrived += 1;
            let short = !c.agent_answered
                && c.ended_at
                    .is_some_and(|e| e - c.started_at < rules.short_call_ms);
            if short {
                f.short += 1;
                if rules.exclude_short_calls {
                    continue;
                }
            }
            f.offered += 1;
            if c.answered || c.agent_answered {
                f.connected += 1;
            }
            if c.queue.is_some() {
                f.asked_person += 1;
            }
            let wait = c.wait_ms.unwrap_or(0);
            if c.agent_answered {
                f.person_answered += 1;
                f.wait_ms_total += wait;
                if wait <= rules.answer_target_ms {
                    f.person_in_target += 1;
                }
                if let Some(t) = c.talk_ms {
                    f.talked += 1;
                    f.talk_ms_total += t;
                }
            } else if c.queue.is_some() && c.abandoned {
                f.abandoned += 1;
                if wait <= rules.answer_target_ms {
                    f.abandoned_in_target += 1;
                }
            }
        }
        add_agent_hours(facts, span, group, &mut rows);
    }

    if with_tickets {
        let tickets: HashMap<i64, &super::facts::TicketFact> =
            facts.tickets.iter().map(|t| (t.id, t)).collect();
        let area = |id: i64| {
            tickets
                .get(&id)
                .and_then(|t| t.area.clone())
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| NO_AREA.to_string())
        };
        let dept = |d: &Option<String>| d.clone().unwrap_or_else(|| NO_DEPARTMENT.to_string());
        let mut directly: HashMap<i64, bool> = HashMap::new();
        let mut first_resolution: HashMap<i64, i64> = HashMap::new();
        for s in &facts.steps {
            if s.step == Step::AnswerDirectly {
                directly.insert(s.ticket, true);
            }
            if s.step.resolves() {
                first_resolution.entry(s.ticket).or_insert(s.at);
            }
        }
        // 受理量 and 一次办结: tickets created in the period (a department's own intake is its dispatches).
        if group != GroupBy::Department {
            for t in facts.tickets.iter().filter(|t| in_span(t.created_at)) {
                let key = match group {
                    GroupBy::Township => area(t.id),
                    _ => time_key(t.created_at),
                };
                let f = &mut rows.entry(key).or_default().tickets;
                f.received += 1;
                if directly.contains_key(&t.id) {
                    f.answered_directly += 1;
                }
            }
        }
        // 超期: deadlines in the period that have passed with no resolution by then.
        for t in facts
            .tickets
            .iter()
            .filter(|t| in_span(t.deadline_at) && t.deadline_at <= rules.now_ms)
        {
            let late = first_resolution
                .get(&t.id)
                .is_none_or(|at| *at > t.deadline_at);
            if !late {
                continue;
            }
            let key = match group {
                GroupBy::Township => area(t.id),
                GroupBy::Department => dept(&t.department),
                _ => time_key(t.deadline_at),
            };
            rows.entry(key).or_default().tickets.overdue += 1;
        }
        // The steps in the period, each counted for the department that held the ticket.
        for (i, s) in facts.steps.iter().enumerate() {
            if !in_span(s.at) {
                continue;
            }
            let key = match group {
                GroupBy::Township => area(s.ticket),
                GroupBy::Department => dept(&s.department),
                _ => time_key(s.at),
            };
            let f = &mut rows.entry(key).or_default().tickets;
            match s.step {
                Step::Dispatch => {
                    f.dispatched += 1;
                    if group == GroupBy::Department {
                        f.received += 1;
                    }
                }
                Step::Return => f.returned += 1,
                Step::Resolve | Step::AnswerDirectly => {
                    f.resolved += 1;
                    if tickets
                        .get(&s.ticket)
                        .is_some_and(|t| s.at <= t.deadline_at)
                    {
                        f.resolved_on_time += 1;
                    }
                    // 回访: a follow-up or rating of this ticket after this resolution,
                    // before the next one.
                    let asked = facts.steps[i + 1..]
                        .iter()
                        .filter(|n| n.ticket == s.ticket)
                        .take_while(|n| !n.step.resolves())
                        .any(|n| matches!(n.step, Step::FollowUp | Step::Rate { .. }));
                    if asked {
                        f.followed_up += 1;
                    }
                }
                Step::FollowUp => {}
                Step::Rate { satisfied } => {
                    f.rated += 1;
                    if satisfied {
                        f.satisfied += 1;
                    }
                }
            }
        }
    }
    rows
}

/// Agents' logged-in time, cut at the span and at each bucket.
fn add_agent_hours(facts: &Facts, span: &Span, group: GroupBy, rows: &mut BTreeMap<String, Tally>) {
    if group == GroupBy::Queue {
        // An agent serves several queues; their hours belong to none of them alone.
        return;
    }
    let (from, to) = span.bounds_ms();
    let now = crate::store::now_ms().min(to);
    let mut since: HashMap<&str, i64> = HashMap::new();
    let mut intervals: Vec<(&str, i64, i64)> = Vec::new();
    for a in &facts.agents {
        let at = a.at.max(from);
        if let Some(start) = since.remove(a.agent.as_str()) {
            intervals.push((&a.agent, start, at));
        }
        if a.logged_in {
            since.insert(&a.agent, at);
        }
    }
    for (agent, start) in since {
        intervals.push((agent, start, now));
    }
    let hours = |ms: i64| ms.max(0) as f64 / 3_600_000.0;
    match group.grain() {
        Some(grain) => {
            for (key, first) in span.buckets(grain) {
                let b_from = super::period::midnight_ms(span.tz, first).max(from);
                let b_to = super::period::midnight_ms(span.tz, grain.next(first)).min(to);
                let h: f64 = intervals
                    .iter()
                    .map(|(_, s, e)| hours((*e).min(b_to) - (*s).max(b_from)))
                    .sum();
                rows.entry(key).or_default().calls.agent_hours += h;
            }
        }
        None => {
            for (agent, s, e) in intervals {
                let key = match group {
                    GroupBy::Agent => agent.to_string(),
                    _ => "all".to_string(),
                };
                if group == GroupBy::Agent && !rows.contains_key(&key) {
                    // An agent logged in who answered nothing still has a row.
                    rows.entry(key.clone()).or_default();
                }
                rows.entry(key).or_default().calls.agent_hours += hours(e - s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::facts::{AgentFact, CallFact, StepFact, TicketFact};
    use super::*;
    use chrono::NaiveDate;

    const H: i64 = 3_600_000;

    fn span() -> Span {
        let tz = "Asia/Shanghai".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        Span::of(tz, Grain::Day, d)
    }

    fn rules(now: i64) -> Rules {
        Rules {
            short_call_ms: 3_000,
            exclude_short_calls: true,
            answer_target_ms: 15_000,
            now_ms: now,
        }
    }

    fn call(at: i64, secs: i64) -> CallFact {
        CallFact {
            started_at: at,
            ended_at: Some(at + secs * 1000),
            answered: true,
            ..Default::default()
        }
    }

    fn queued(at: i64, agent: Option<&str>, wait_ms: i64) -> CallFact {
        CallFact {
            queue: Some("operators".into()),
            agent: agent.map(str::to_string),
            agent_answered: agent.is_some(),
            wait_ms: Some(wait_ms),
            talk_ms: agent.map(|_| 60_000),
            abandoned: agent.is_none(),
            ..call(at, 90)
        }
    }

    fn step(ticket: i64, at: i64, step: Step, dept: &str) -> StepFact {
        StepFact {
            ticket,
            at,
            step,
            department: Some(dept.into()),
        }
    }

    #[test]
    fn calls_count_short_ones_apart_and_both_service_levels() {
        let (from, _) = span().bounds_ms();
        let facts = Facts {
            calls: vec![
                call(from + H, 2),                          // 秒挂
                call(from + H, 40),                         // menus only
                queued(from + 2 * H, Some("ops1"), 5_000),  // in target
                queued(from + 2 * H, Some("ops1"), 20_000), // late
                queued(from + 3 * H, None, 10_000),         // gave up within the target
                queued(from + 3 * H, None, 30_000),         // gave up after it
                CallFact {
                    answered: false,
                    ..call(from + 4 * H, 20)
                }, // rang out unanswered
            ],
            agents: vec![
                AgentFact {
                    agent: "ops1".into(),
                    at: from - H,
                    logged_in: true,
                },
                AgentFact {
                    agent: "ops1".into(),
                    at: from + 4 * H,
                    logged_in: false,
                },
            ],
            ..Default::default()
        };
        let rows = fold(&facts, &span(), GroupBy::Total, rules(from + 10 * H));
        let c = &rows["all"].calls;
        assert_eq!((c.arrived, c.short, c.offered, c.connected), (7, 1, 6, 5));
        assert_eq!(
            (c.asked_person, c.person_answered, c.person_in_target),
            (4, 2, 1)
        );
        assert_eq!((c.abandoned, c.abandoned_in_target), (2, 1));
        assert_eq!(
            (c.wait_ms_total, c.talked, c.talk_ms_total),
            (25_000, 2, 120_000)
        );
        // Logged in before the day began: only the four hours inside it count.
        assert!((c.agent_hours - 4.0).abs() < 1e-9, "{}", c.agent_hours);
        let by_agent = fold(&facts, &span(), GroupBy::Agent, rules(from + 10 * H));
        assert_eq!(by_agent["ops1"].calls.person_answered, 2);
        let by_hour = fold(&facts, &span(), GroupBy::Day, rules(from + 10 * H));
        assert_eq!(by_hour.len(), 1);
    }

    #[test]
    fn each_step_counts_for_the_department_that_held_the_ticket() {
        let (from, _) = span().bounds_ms();
        let t = |id, deadline| TicketFact {
            id,
            created_at: from + H,
            deadline_at: deadline,
            department: Some("water".into()),
            area: Some("运河街道".into()),
        };
        let facts = Facts {
            tickets: vec![t(1, from + 8 * H), t(2, from + 5 * H), t(3, from + 20 * H)],
            steps: vec![
                step(1, from + H, Step::Dispatch, "roads"),
                step(1, from + 2 * H, Step::Return, "roads"),
                step(1, from + 3 * H, Step::Dispatch, "water"),
                step(1, from + 4 * H, Step::Resolve, "water"), // on time
                step(1, from + 5 * H, Step::FollowUp, "water"),
                step(1, from + 6 * H, Step::Rate { satisfied: false }, "water"),
                step(1, from + 9 * H, Step::Resolve, "water"), // late, never asked
                step(2, from + 2 * H, Step::Dispatch, "water"),
                // ticket 2 is never resolved: overdue at from + 5 h.
                step(3, from + 2 * H, Step::AnswerDirectly, "water"),
                step(3, from + 3 * H, Step::Rate { satisfied: true }, "water"),
            ],
            ..Default::default()
        };
        let now = from + 12 * H;
        let rows = fold(&facts, &span(), GroupBy::Department, rules(now));
        let roads = &rows["roads"].tickets;
        assert_eq!(
            (roads.received, roads.dispatched, roads.returned),
            (1, 1, 1)
        );
        let water = &rows["water"].tickets;
        assert_eq!(
            (water.received, water.dispatched, water.returned),
            (2, 2, 0)
        );
        assert_eq!((water.resolved, water.resolved_on_time), (3, 2));
        assert_eq!(
            water.followed_up, 2,
            "the first resolution of 1 and the direct answer of 3"
        );
        assert_eq!((water.rated, water.satisfied), (2, 1));
        assert_eq!(
            water.overdue, 1,
            "ticket 2; ticket 1 was resolved once before its deadline"
        );
        let total = fold(&facts, &span(), GroupBy::Total, rules(now));
        let all = &total["all"].tickets;
        assert_eq!((all.received, all.answered_directly), (3, 1));
        // A deadline still ahead is not overdue yet.
        let early = fold(&facts, &span(), GroupBy::Total, rules(from + 4 * H));
        assert_eq!(early["all"].tickets.overdue, 0);
        let towns = fold(&facts, &span(), GroupBy::Township, rules(now));
        assert_eq!(towns["运河街道"].tickets.received, 3);
    }
}
