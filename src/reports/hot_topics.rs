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
//!   a burst). The monthly report applies the same rule to a month and the month-long
//!   period before it.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::lists::each_ticket;
use super::ReportsError;
use crate::tickets::{Ticket, TicketFilter, Tickets};

/// Fewest tickets this week for a burst: below it a doubling is chance.
pub const BURST_MIN: i64 = 5;
/// How many times last week's count this week's must reach for a burst.
pub const BURST_FACTOR: i64 = 2;
/// Topics listed per table.
pub const TOP: usize = 10;

/// One matter or place and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Topic {
    pub name: String,
    /// Tickets in the period (the last seven days on the board).
    pub count: i64,
    /// Tickets in as long a period just before it (the seven days before).
    pub previous: i64,
    /// count ≥ 5 and count ≥ 2 × previous.
    pub burst: bool,
}

/// The hot topics of a period (the seven days ending now, or a month).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HotTopics {
    /// Start of the period counted (RFC 3339); the period before it is as long.
    #[schema(value_type = String, format = DateTime)]
    pub from: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub to: DateTime<Utc>,
    /// Matters (诉求类别), most frequent this week first.
    pub matters: Vec<Topic>,
    /// Places (地点), most frequent this week first.
    pub places: Vec<Topic>,
}

pub fn is_burst(count: i64, previous: i64) -> bool {
    count >= BURST_MIN && count >= BURST_FACTOR * previous
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

/// Counts names over two periods: (name, in the period counted?) pairs → topics, most
/// frequent first (then by name, so equal counts keep one order), at most `top`; names seen
/// only in the period before are left out.
pub fn tally(items: impl IntoIterator<Item = (String, bool)>, top: usize) -> Vec<Topic> {
    let mut counts: std::collections::HashMap<String, (i64, i64)> = Default::default();
    for (name, current) in items {
        let e = counts.entry(name).or_default();
        if current {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let mut out: Vec<Topic> = counts
        .into_iter()
        .filter(|(_, (this, _))| *this > 0)
        .map(|(name, (count, previous))| Topic {
            burst: is_burst(count, previous),
            name,
            count,
            previous,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    out.truncate(top);
    out
}

/// The hot topics of the seven days ending at `now`, beside the seven days before.
pub async fn this_week(tk: &Tickets, now: DateTime<Utc>) -> Result<HotTopics, ReportsError> {
    between(tk, now - Duration::days(7), now).await
}

/// The hot topics of `[from, to)`, beside the period as long just before it.
pub async fn between(
    tk: &Tickets,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HotTopics, ReportsError> {
    let f = TicketFilter {
        created_from: Some(from - (to - from)),
        created_to: Some(to),
        ..Default::default()
    };
    // Names only, a page of tickets at a time: a busy fortnight is not held in memory.
    let mut matters = Vec::new();
    let mut places = Vec::new();
    each_ticket(tk, &f, |t| {
        let current = t.created_at >= from;
        matters.push((matter(tk, &t), current));
        if let Some(p) = place(tk, &t) {
            places.push((p, current));
        }
    })
    .await?;
    let matters = tally(matters, TOP);
    let places = tally(places, TOP);
    Ok(HotTopics {
        from,
        to,
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
                    count: 2,
                    previous: 1,
                    burst: false
                },
                Topic {
                    name: "路灯".into(),
                    count: 1,
                    previous: 0,
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
