//! Hot topics (热点诉求): the matters and places residents raise most in the last seven
//! days, each with the seven days before beside it and a burst flag, so a city sees a water
//! outage or a broken main while it happens.
//!
//! - A ticket's matter is the routing rule its text matches (供水, 路灯与市政设施, …: the
//!   same keywords that route it, `tickets::routing`), or its kind (咨询, 投诉, …) when no
//!   rule matches.
//! - Its place is its `area`, else the first place of the department directory (towns,
//!   streets, roads) named in its address or text, else the address's first words up to a
//!   road, street, village or estate (…路, …街, …小区). A ticket with none has no place.
//! - The rule for a burst: at least [`BURST_MIN`] tickets this week and at least
//!   [`BURST_FACTOR`] times last week's count (a topic new this week with five tickets is
//!   a burst).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::lists::collect_tickets;
use super::ReportsError;
use crate::tickets::{Ticket, TicketFilter, Tickets};

/// Fewest tickets this week for a burst: below it a doubling is chance.
pub const BURST_MIN: i64 = 5;
/// How many times last week's count this week's must reach for a burst.
pub const BURST_FACTOR: i64 = 2;
/// Topics listed per table.
pub const TOP: usize = 10;
/// The most tickets of two weeks read for the tally.
const MAX_TICKETS: usize = 100_000;

/// One matter or place and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Topic {
    pub name: String,
    /// Tickets in the last seven days.
    pub this_week: i64,
    /// Tickets in the seven days before.
    pub last_week: i64,
    /// this_week ≥ 5 and ≥ 2 × last_week.
    pub burst: bool,
}

/// The hot topics of the seven days ending at `to`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HotTopics {
    /// Start of the week counted (RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub from: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub to: DateTime<Utc>,
    /// Matters (诉求类别), most frequent this week first.
    pub matters: Vec<Topic>,
    /// Places (地点), most frequent this week first.
    pub places: Vec<Topic>,
}

pub fn is_burst(this_week: i64, last_week: i64) -> bool {
    this_week >= BURST_MIN && this_week >= BURST_FACTOR * last_week
}

/// The matter a ticket is about: its routing rule's name, or its kind.
pub fn matter(tk: &Tickets, t: &Ticket) -> String {
    let text = format!("{} {}", t.summary, t.text);
    let route = tk.route(&text, Some(t.kind), t.area.as_deref());
    match route.reason.strip_prefix("rule:") {
        Some(rest) => rest.split('+').next().unwrap_or(rest).to_string(),
        None => t.kind.label_zh().to_string(),
    }
}

/// Suffixes that end a place's name in an address.
const PLACE_ENDS: [&str; 8] = ["小区", "社区", "路", "街", "巷", "村", "镇", "大道"];

/// The first words of an address up to a road, street, village or estate (`解放路12号` →
/// `解放路`), or none.
pub fn address_place(address: &str) -> Option<String> {
    let a = address.trim();
    let end = PLACE_ENDS
        .iter()
        .filter_map(|s| a.find(s).map(|i| i + s.len()))
        .min()?;
    let name = &a[..end];
    let n = name.chars().count();
    (2..=12).contains(&n).then(|| name.to_string())
}

/// Where a ticket is: its area, a directory place in its address or text, or its address's
/// first words.
pub fn place(tk: &Tickets, t: &Ticket) -> Option<String> {
    if let Some(a) = t.area.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        return Some(a.to_string());
    }
    let address = t.address.as_deref().unwrap_or("");
    let dir = &tk.rules().directory;
    if let Some((_, p)) = dir.by_area_in(&format!("{address} {} {}", t.summary, t.text)) {
        return Some(p.to_string());
    }
    address_place(address)
}

/// Counts names over two weeks: (name, in this week?) pairs → topics, most frequent this
/// week first (then by name, so equal counts keep one order), at most `top`.
pub fn tally(items: impl IntoIterator<Item = (String, bool)>, top: usize) -> Vec<Topic> {
    let mut counts: std::collections::HashMap<String, (i64, i64)> = Default::default();
    for (name, this_week) in items {
        let e = counts.entry(name).or_default();
        if this_week {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let mut out: Vec<Topic> = counts
        .into_iter()
        .filter(|(_, (this, _))| *this > 0)
        .map(|(name, (this_week, last_week))| Topic {
            burst: is_burst(this_week, last_week),
            name,
            this_week,
            last_week,
        })
        .collect();
    out.sort_by(|a, b| b.this_week.cmp(&a.this_week).then(a.name.cmp(&b.name)));
    out.truncate(top);
    out
}

/// The hot topics of the seven days ending at `now`.
pub async fn hot_topics(tk: &Tickets, now: DateTime<Utc>) -> Result<HotTopics, ReportsError> {
    let week_start = now - Duration::days(7);
    let f = TicketFilter {
        created_from: Some(week_start - Duration::days(7)),
        created_to: Some(now),
        ..Default::default()
    };
    let tickets = collect_tickets(tk, &f, MAX_TICKETS).await?;
    let this = |t: &Ticket| t.created_at >= week_start;
    let matters = tally(tickets.iter().map(|t| (matter(tk, t), this(t))), TOP);
    let places = tally(
        tickets
            .iter()
            .filter_map(|t| place(tk, t).map(|p| (p, this(t)))),
        TOP,
    );
    Ok(HotTopics {
        from: week_start,
        to: now,
        matters,
        places,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_rule() {
        assert!(is_burst(5, 0), "new this week with five tickets");
        assert!(is_burst(10, 5));
        assert!(!is_burst(9, 5), "less than double");
        assert!(!is_burst(4, 0), "too few to tell");
    }

    #[test]
    fn tally_orders_by_this_week_and_drops_last_weeks_only() {
        let items = [
            ("供水", true),
            ("供水", true),
            ("供水", false),
            ("路灯", true),
            ("燃气", false),
        ]
        .map(|(n, w)| (n.to_string(), w));
        let t = tally(items, 10);
        assert_eq!(
            t,
            vec![
                Topic {
                    name: "供水".into(),
                    this_week: 2,
                    last_week: 1,
                    burst: false
                },
                Topic {
                    name: "路灯".into(),
                    this_week: 1,
                    last_week: 0,
                    burst: false
                },
            ]
        );
        assert_eq!(tally(std::iter::empty(), 10), vec![]);
    }

    #[test]
    fn address_words_up_to_the_road() {
        assert_eq!(address_place("解放路12号").as_deref(), Some("解放路"));
        assert_eq!(
            address_place("幸福花园小区3栋").as_deref(),
            Some("幸福花园小区")
        );
        assert_eq!(address_place("3栋2单元"), None);
        assert_eq!(address_place(""), None);
    }
}
