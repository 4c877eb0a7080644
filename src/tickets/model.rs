//! The words of the hotline as types: what a ticket is, where it came from, what it asks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Database id of a ticket; internal, never shown to residents (they get [`TicketNumber`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub i64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A ticket number a resident can read out on the phone: the day in Asia/Shanghai
/// (`yyyymmdd`) and a sequence of at least four digits, e.g. `202611260001`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

impl TicketNumber {
    pub fn new(day: chrono::NaiveDate, seq: i64) -> TicketNumber {
        TicketNumber(format!("{}{:04}", day.format("%Y%m%d"), seq))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TicketNumber {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let ok = s.len() >= 12
            && s.len() <= 16
            && s.bytes().all(|b| b.is_ascii_digit())
            && chrono::NaiveDate::parse_from_str(&s[..8], "%Y%m%d").is_ok();
        if ok {
            Ok(TicketNumber(s.to_string()))
        } else {
            Err(ParseError::new(
                "ticket number",
                s,
                "yyyymmdd followed by a 4-digit sequence",
            ))
        }
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resident's phone number, normalised to digits (a leading `+86`/`0086` is dropped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The last four digits, what a resident types to prove a ticket is theirs.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }
    /// The number of a caller who sent none (anonymous or withheld).
    pub fn anonymous() -> PhoneNumber {
        PhoneNumber("0000".into())
    }
    /// A mainland mobile number (11 digits, 13x–19x): only these can receive an SMS.
    pub fn is_mobile(&self) -> bool {
        let b = self.0.as_bytes();
        b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
    }
    /// A number as stored: digits, or digits whose first part the retention purge
    /// replaced by `*` (*******5678); such a number keeps its last four for `/status`.
    pub fn from_stored(s: &str) -> Result<PhoneNumber, ParseError> {
        if s.contains('*') && s.chars().all(|c| c == '*' || c.is_ascii_digit()) {
            Ok(PhoneNumber(s.to_string()))
        } else {
            s.parse()
        }
    }
    /// The number with its middle hidden, for logs and department mail.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        if n <= 7 {
            return "*".repeat(n);
        }
        format!("{}****{}", &self.0[..3], &self.0[n - 4..])
    }
}

impl FromStr for PhoneNumber {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut t: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if let Some(rest) = t.strip_prefix("+86").or_else(|| t.strip_prefix("0086")) {
            t = rest.to_string();
        }
        if (3..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
            Ok(PhoneNumber(t))
        } else {
            Err(ParseError::new("phone number", s, "3 to 20 digits"))
        }
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of a department in `config/departments.toml`, e.g. `urban_management`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DepartmentId(pub String);

impl DepartmentId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DepartmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {what} `{value}`: expected {expected}")]
pub struct ParseError {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}

impl ParseError {
    pub fn new(what: &'static str, value: &str, expected: &str) -> ParseError {
        ParseError {
            what,
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// Declares a closed set of words stored as snake_case text, with a Chinese label for people.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $code:literal / $zh:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($code | $zh => Ok($name::$variant),)+
                    other => Err(ParseError::new(
                        $what,
                        other,
                        &[$($code),+].join(", "),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

word_enum!(
    /// 来源渠道: where a ticket came from.
    Channel, "channel" {
        Call = "call" / "电话",
        Sms = "sms" / "短信",
        Web = "web" / "网站",
        Open311 = "open311" / "开放接口",
    }
);

word_enum!(
    /// 诉求类型: what the resident asks for.
    Kind, "kind" {
        Consultation = "consultation" / "咨询",
        Complaint = "complaint" / "投诉",
        Help = "help" / "求助",
        Suggestion = "suggestion" / "建议",
        Report = "report" / "举报",
        Praise = "praise" / "表扬",
    }
);

word_enum!(
    /// Where a ticket is in its life; see `state.rs` for the transitions.
    State, "state" {
        Accepted = "accepted" / "已受理",
        Dispatched = "dispatched" / "已派单",
        Returned = "returned" / "已退单",
        InProgress = "in_progress" / "办理中",
        ExtensionRequested = "extension_requested" / "申请延期",
        Supervised = "supervised" / "督办中",
        Resolved = "resolved" / "已办结",
        FollowUp = "follow_up" / "回访中",
        Closed = "closed" / "已结案",
    }
);

word_enum!(
    /// 满意度: the resident's rating at follow-up.
    Satisfaction, "satisfaction" {
        Satisfied = "satisfied" / "满意",
        BasicallySatisfied = "basically_satisfied" / "基本满意",
        Unsatisfied = "unsatisfied" / "不满意",
    }
);

/// Who did something to a ticket, as written in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Actor {
    /// The hotline itself: the supervision clock, the dialplan, routing.
    System,
    Operator(String),
    Department(DepartmentId, String),
    Supervisor(String),
    Resident(PhoneNumber),
    /// A machine client of the JSON API or Open311.
    Client(String),
    /// The automated survey call (回访电话): the resident's key rated the ticket.
    SurveyCall,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::System => f.write_str("system"),
            Actor::Operator(n) => write!(f, "operator:{n}"),
            Actor::Department(d, n) => write!(f, "department:{d}:{n}"),
            Actor::Supervisor(n) => write!(f, "supervisor:{n}"),
            Actor::Resident(p) => write!(f, "resident:{}", p.masked()),
            Actor::Client(n) => write!(f, "client:{n}"),
            Actor::SurveyCall => f.write_str("survey-call"),
        }
    }
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub number: TicketNumber,
    pub channel: Channel,
    pub kind: Kind,
    pub state: State,
    pub phone: PhoneNumber,
    pub text: String,
    pub summary: String,
    pub address: Option<String>,
    pub area: Option<String>,
    pub department: Option<DepartmentId>,
    /// Which rule routed it (`rule:<name>`, `area:<town>`, `operator`, or `review`).
    pub routed_by: String,
    /// Routing found no confident owner: an operator must look at it.
    pub needs_review: bool,
    pub sla: String,
    pub deadline: chrono::DateTime<chrono::Utc>,
    /// When the deadline clock started (acceptance, or the last re-dispatch).
    pub clock_start: chrono::DateTime<chrono::Utc>,
    pub supervised: bool,
    pub satisfaction: Option<Satisfaction>,
    pub answer: Option<String>,
    pub recording_path: Option<String>,
    pub merged_into: Option<TicketId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub version: i64,
    /// Working days asked for in a pending extension request.
    pub extension_days: Option<i64>,
}

/// One line of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub from: Option<State>,
    pub to: State,
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_normalise() {
        let p: PhoneNumber = "+86 138-0000-1234".parse().unwrap();
        assert_eq!(p.as_str(), "13800001234");
        assert_eq!(p.last4(), "1234");
        assert_eq!(p.masked(), "138****1234");
        assert!("12a".parse::<PhoneNumber>().is_err());
    }

    #[test]
    fn ticket_numbers_are_date_plus_sequence() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(TicketNumber::new(d, 7).as_str(), "202611260007");
        assert_eq!(TicketNumber::new(d, 12345).as_str(), "2026112612345");
        assert!("202611260007".parse::<TicketNumber>().is_ok());
        assert!("202613260007".parse::<TicketNumber>().is_err());
        assert!("2026".parse::<TicketNumber>().is_err());
    }

    #[test]
    fn words_parse_from_code_and_chinese() {
        assert_eq!("complaint".parse::<Kind>().unwrap(), Kind::Complaint);
        assert_eq!("投诉".parse::<Kind>().unwrap(), Kind::Complaint);
        assert_eq!(State::InProgress.code(), "in_progress");
        let e = "grumble".parse::<Kind>().unwrap_err();
        assert!(e.to_string().contains("consultation"), "{e}");
    }
}
