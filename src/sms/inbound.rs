//! What residents text us: the small command language (carrier-split parts are stored and
//! reassembled by [`super::received`]).
//!
//! Commands (full-width forms and lower case accepted):
//! `CX` / `查询` — status of my tickets; `CX 202611260001` — that ticket;
//! `1` `2` `3` — 满意 / 基本满意 / 不满意 to the last satisfaction question, optionally with
//! a reason after a space or a comma (`3 路灯还是不亮`);
//! `TD` / `退订` — no more non-essential notices; anything else of substance — a new ticket.

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
}
