//! What residents text us: reassembly of carrier-split parts and the small command language.
//!
//! Commands (full-width forms and lower case accepted):
//! `CX` / `查询` — status of my tickets; `CX 202611260001` — that ticket;
//! `1` `2` `3` — 满意 / 基本满意 / 不满意 to the last satisfaction question, optionally with
//! a reason after a space or a comma (`3 路灯还是不亮`);
//! `TD` / `退订` — no more non-essential notices; anything else of substance — a new ticket.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::encoding::Concat;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    QueryAll,
    Query(String),
    /// A rating, and the resident's reason when they gave one.
    Rate {
        score: u8,
        reason: Option<String>,
    },
    OptOut,
    NewTicket(String),
    /// Looks like a command but is malformed, or is empty: answer with help.
    Unknown,
}

/// Full-width ASCII → half-width, trim, collapse spaces.
pub fn normalize(text: &str) -> String {
    let t: String = text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect();
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn parse(text: &str) -> Command {
    let t = normalize(text);
    if t.is_empty() {
        return Command::Unknown;
    }
    let upper = t.to_uppercase();
    match upper.as_str() {
        "CX" | "查询" => return Command::QueryAll,
        "TD" | "退订" | "T" => return Command::OptOut,
        "1" | "2" | "3" => {
            return Command::Rate {
                score: upper.as_bytes()[0] - b'0',
                reason: None,
            }
        }
        _ => {}
    }
    if let Some(rated) = rating_with_reason(&t) {
        return rated;
    }
    for prefix in ["CX", "查询"] {
        if let Some(rest) = upper.strip_prefix(prefix) {
            let rest = rest.trim();
            if rest.len() == 12 && rest.chars().all(|c| c.is_ascii_digit()) {
                return Command::Query(rest.to_string());
            }
            if rest.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') {
                return Command::Unknown;
            }
        }
    }
    // A lone digit or a couple of Latin letters is not a request a department can act on.
    if upper.chars().count() < 2
        || (upper.len() <= 3 && upper.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Command::Unknown;
    }
    Command::NewTicket(t)
}

/// `3 路灯还是不亮`, `3，还是不亮`: a key, a separator, then words. Without the separator
/// (`3号楼漏水`) it is a request, not a rating.
fn rating_with_reason(t: &str) -> Option<Command> {
    let mut chars = t.chars();
    let score = chars.next().filter(|c| ('1'..='3').contains(c))?;
    let sep = chars.next()?;
    if !matches!(
        sep,
        ' ' | ',' | '.' | ':' | ';' | '，' | '。' | '、' | '：' | '；'
    ) {
        return None;
    }
    let reason = chars
        .as_str()
        .trim_start_matches([' ', ',', '.', ':', ';', '，', '。', '、', '：', '；'])
        .trim();
    if reason.is_empty() {
        return None;
    }
    Some(Command::Rate {
        score: score as u8 - b'0',
        reason: Some(reason.to_string()),
    })
}

/// Buffers UDH parts until a message is whole. Bounded in groups, parts and age so a
/// flood or a lost part cannot grow memory without end.
pub struct Reassembler {
    groups: HashMap<(String, u16, u8), Group>,
    max_groups: usize,
    ttl: Duration,
}

struct Group {
    parts: Vec<Option<String>>,
    first_seen: Instant,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Assembled {
    Complete(String),
    Pending,
    /// Part numbering makes no sense (seq 0, seq > total); the part is dropped.
    Invalid,
}

impl Reassembler {
    pub fn new(max_groups: usize, ttl: Duration) -> Self {
        Reassembler {
            groups: HashMap::new(),
            max_groups,
            ttl,
        }
    }

    pub fn push(&mut self, from: &str, c: Concat, text: String) -> Assembled {
        if c.total == 0 || c.seq == 0 || c.seq > c.total {
            return Assembled::Invalid;
        }
        if c.total == 1 {
            return Assembled::Complete(text);
        }
        let key = (from.to_string(), c.reference, c.total);
        if !self.groups.contains_key(&key) && self.groups.len() >= self.max_groups {
            // Evict the oldest group rather than refuse new residents.
            if let Some(old) = self
                .groups
                .iter()
                .min_by_key(|(_, g)| g.first_seen)
                .map(|(k, _)| k.clone())
            {
                tracing::warn!(from = %old.0, "sms reassembly: too many partial messages, dropping oldest");
                self.groups.remove(&old);
            }
        }
        let g = self.groups.entry(key.clone()).or_insert_with(|| Group {
            parts: vec![None; c.total as usize],
            first_seen: Instant::now(),
        });
        g.parts[(c.seq - 1) as usize] = Some(text);
        if g.parts.iter().all(|p| p.is_some()) {
            let g = self.groups.remove(&key).expect("present");
            Assembled::Complete(g.parts.into_iter().flatten().collect())
        } else {
            Assembled::Pending
        }
    }

    /// Groups whose parts never all came; returned so the caller can use what arrived.
    pub fn expire(&mut self) -> Vec<(String, String)> {
        let ttl = self.ttl;
        let old: Vec<_> = self
            .groups
            .iter()
            .filter(|(_, g)| g.first_seen.elapsed() > ttl)
            .map(|(k, _)| k.clone())
            .collect();
        old.into_iter()
            .filter_map(|k| {
                self.groups.remove(&k).map(|g| {
                    tracing::warn!(from = %k.0, "sms reassembly: parts missing after timeout, using what arrived");
                    (k.0, g.parts.into_iter().flatten().collect())
                })
            })
            .collect()
    }

    pub fn pending(&self) -> usize {
        self.groups.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("CX"), Command::QueryAll);
        assert_eq!(parse(" cx "), Command::QueryAll);
        assert_eq!(parse("ＣＸ"), Command::QueryAll);
        assert_eq!(parse("查询"), Command::QueryAll);
        assert_eq!(
            parse("CX 202611260001"),
            Command::Query("202611260001".into())
        );
        assert_eq!(
            parse("cx202611260001"),
            Command::Query("202611260001".into())
        );
        assert_eq!(parse("CX 123"), Command::Unknown);
        let rate = |score, reason: Option<&str>| Command::Rate {
            score,
            reason: reason.map(str::to_string),
        };
        assert_eq!(parse("1"), rate(1, None));
        assert_eq!(parse("３"), rate(3, None));
        assert_eq!(parse("3 路灯还是不亮"), rate(3, Some("路灯还是不亮")));
        assert_eq!(parse("３，路灯还是不亮"), rate(3, Some("路灯还是不亮")));
        assert_eq!(parse("2。 还行"), rate(2, Some("还行")));
        assert_eq!(
            parse("3号楼楼道漏水"),
            Command::NewTicket("3号楼楼道漏水".into())
        );
        assert_eq!(parse("5"), Command::Unknown);
        assert_eq!(parse("td"), Command::OptOut);
        assert_eq!(parse("退订"), Command::OptOut);
        assert_eq!(parse(""), Command::Unknown);
        assert_eq!(parse("   "), Command::Unknown);
        assert_eq!(parse("abc"), Command::Unknown);
        assert_eq!(
            parse("运河街道路灯坏了三天了"),
            Command::NewTicket("运河街道路灯坏了三天了".into())
        );
    }

    #[test]
    fn reassembles_out_of_order() {
        let mut r = Reassembler::new(10, Duration::from_secs(60));
        let c = |seq| Concat {
            reference: 7,
            total: 3,
            seq,
        };
        assert_eq!(r.push("138", c(2), "b".into()), Assembled::Pending);
        assert_eq!(r.push("138", c(3), "c".into()), Assembled::Pending);
        assert_eq!(r.push("139", c(1), "x".into()), Assembled::Pending);
        assert_eq!(
            r.push("138", c(1), "a".into()),
            Assembled::Complete("abc".into())
        );
        assert_eq!(r.pending(), 1);
        assert_eq!(
            r.push(
                "138",
                Concat {
                    reference: 1,
                    total: 2,
                    seq: 3
                },
                "z".into()
            ),
            Assembled::Invalid
        );
    }

    #[test]
    fn bounded_groups_and_expiry() {
        let mut r = Reassembler::new(2, Duration::from_millis(0));
        for i in 0..5u16 {
            r.push(
                "1",
                Concat {
                    reference: i,
                    total: 2,
                    seq: 1,
                },
                "a".into(),
            );
        }
        assert!(r.pending() <= 2);
        std::thread::sleep(Duration::from_millis(5));
        let expired = r.expire();
        assert!(!expired.is_empty());
        assert_eq!(r.pending(), 0);
    }
}
