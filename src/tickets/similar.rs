//! Similar open tickets (并单 suggestions): while a resident is on the line, the operator
//! sees open tickets that look like the same matter (same kind, shared words of place and
//! topic), so a duplicate is merged instead of dispatched twice. Chinese has no spaces, so
//! "words" are character bigrams; the score is pure and unit-tested, the query is a plain
//! list of open tickets.

use std::collections::HashSet;

use super::model::{Kind, State, Ticket};
use super::service::{TicketFilter, Tickets};
use super::state::is_open;
use super::TicketsError;

/// What the new matter is about, as far as known during the call.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub kind: Option<Kind>,
    /// What the resident said or typed (summary, transcript).
    pub text: String,
    pub address: Option<String>,
}

/// How many open tickets (newest first) are compared; older ones are rarely duplicates of
/// a call today.
const CANDIDATES: i64 = 500;
/// The least score shown as a suggestion.
const THRESHOLD: f64 = 0.35;

/// Character bigrams of the letters, digits and CJK characters of `s` (punctuation and
/// spaces break words).
fn bigrams(s: &str) -> HashSet<(char, char)> {
    let mut out = HashSet::new();
    let mut prev: Option<char> = None;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if let Some(p) = prev {
                out.insert((p, c));
            }
            prev = Some(c);
        } else {
            prev = None;
        }
    }
    out
}

/// Share of the smaller set found in the larger (0 when either is empty).
fn overlap(a: &HashSet<(char, char)>, b: &HashSet<(char, char)>) -> f64 {
    let small = a.len().min(b.len());
    if small == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / small as f64
}

/// How alike a ticket is to the probe, 0 to about 1.2: topic overlap, place overlap
/// (weighted more: the same place is the strongest sign of the same matter), and a small
/// bonus for the same kind.
pub fn score(p: &Probe, t: &Ticket) -> f64 {
    let topic = overlap(
        &bigrams(&p.text),
        &bigrams(&format!("{} {}", t.summary, t.text)),
    );
    let place = match (&p.address, &t.address) {
        (Some(a), Some(b)) => overlap(&bigrams(a), &bigrams(b)),
        _ => 0.0,
    };
    let kind = match p.kind {
        Some(k) if k == t.kind => 0.2,
        _ => 0.0,
    };
    0.6 * topic + 0.4 * place + kind
}

/// The open tickets most like `p`, best first, at most `limit`.
pub fn rank<'a>(p: &Probe, tickets: &'a [Ticket], limit: usize) -> Vec<&'a Ticket> {
    if p.text.trim().is_empty() && p.address.as_deref().is_none_or(|a| a.trim().is_empty()) {
        return Vec::new();
    }
    let mut scored: Vec<(f64, &Ticket)> = tickets
        .iter()
        .filter(|t| is_open(t.state) && t.merged_into.is_none())
        .map(|t| (score(p, t), t))
        .filter(|(s, _)| *s >= THRESHOLD)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.id.0.cmp(&a.1.id.0)));
    scored.into_iter().take(limit).map(|(_, t)| t).collect()
}

impl Tickets {
    /// Open tickets that look like the same matter as `p` (merge suggestions), best first.
    pub async fn similar_open(&self, p: &Probe, limit: usize) -> Result<Vec<Ticket>, TicketsError> {
        let open: Vec<State> = State::ALL.iter().copied().filter(|s| is_open(*s)).collect();
        let list = self
            .list(&TicketFilter {
                states: open,
                limit: CANDIDATES,
                ..Default::default()
            })
            .await?;
        Ok(rank(p, &list, limit).into_iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::model::{Channel, PhoneNumber, TicketId, TicketNumber};

    fn ticket(id: i64, kind: Kind, summary: &str, address: Option<&str>, state: State) -> Ticket {
        let now = chrono::Utc::now();
        Ticket {
            id: TicketId(id),
            number: format!("20260101{id:04}").parse::<TicketNumber>().unwrap(),
            channel: Channel::Call,
            kind,
            state,
            phone: "13800000000".parse::<PhoneNumber>().unwrap(),
            text: summary.into(),
            summary: summary.into(),
            address: address.map(str::to_string),
            area: None,
            department: None,
            routed_by: String::new(),
            needs_review: false,
            sla: String::new(),
            deadline: now,
            clock_start: now,
            supervised: false,
            satisfaction: None,
            answer: None,
            recording_path: None,
            merged_into: None,
            created_at: now,
            updated_at: now,
            resolved_at: None,
            closed_at: None,
            version: 1,
            extension_days: None,
        }
    }

    #[test]
    fn the_same_matter_nearby_ranks_first_and_closed_or_unrelated_are_left_out() {
        let list = vec![
            ticket(
                1,
                Kind::Complaint,
                "幸福小区停水三天",
                Some("幸福路12号幸福小区"),
                State::Dispatched,
            ),
            ticket(
                2,
                Kind::Complaint,
                "路灯不亮",
                Some("人民路"),
                State::Accepted,
            ),
            ticket(
                3,
                Kind::Complaint,
                "幸福小区停水",
                Some("幸福路12号"),
                State::Closed,
            ),
            ticket(4, Kind::Help, "小区停水怎么办", None, State::Accepted),
        ];
        let p = Probe {
            kind: Some(Kind::Complaint),
            text: "幸福小区又停水了".into(),
            address: Some("幸福路12号".into()),
        };
        let ids: Vec<i64> = rank(&p, &list, 5).iter().map(|t| t.id.0).collect();
        assert_eq!(ids.first(), Some(&1), "{ids:?}");
        assert!(!ids.contains(&2), "unrelated: {ids:?}");
        assert!(
            !ids.contains(&3),
            "closed tickets are not merge targets: {ids:?}"
        );
        assert!(score(&p, &list[0]) > score(&p, &list[3]));
    }

    #[test]
    fn nothing_known_suggests_nothing() {
        let list = vec![ticket(1, Kind::Complaint, "停水", None, State::Accepted)];
        assert!(rank(&Probe::default(), &list, 5).is_empty());
        assert!(bigrams("，。 ").is_empty());
        assert_eq!(bigrams("停水!停水").len(), 1);
    }
}
