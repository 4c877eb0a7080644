//! What the notice channels (SMS, mail) ask of the ticket domain, as a narrow port: it keeps
//! the channels testable against a real database, keeps `tickets` unaware of them, and
//! keeps one channel from reaching into another for ticket facts.

use async_trait::async_trait;

use crate::store::StoreError;
use crate::tickets::TicketsError;

/// Why the desk could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("not a phone number: {0}")]
    Phone(String),
    #[error(transparent)]
    Tickets(#[from] TicketsError),
}

impl DeskError {
    /// SQLite answered "database is locked" (a writer committed meanwhile): the whole call
    /// rolled back and is safe to repeat.
    pub fn is_busy(&self) -> bool {
        match self {
            DeskError::Tickets(TicketsError::Store(StoreError::Sql(e))) => {
                let m = e.to_string();
                m.contains("database is locked") || m.contains("busy")
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketInfo {
    pub id: i64,
    pub number: String,
    pub phone: String,
    /// 受理 / 承办 / 办结 … for residents.
    pub state_label: String,
    /// Local deadline text for residents, e.g. "11月27日18:00".
    pub deadline: Option<String>,
    /// The ticket waits for the resident's satisfaction rating.
    pub awaiting_rating: bool,
    pub open: bool,
}

/// Facts a department's mail needs.
#[derive(Debug, Clone)]
pub struct MailFacts {
    pub number: String,
    pub kind_label: String,
    pub text: String,
    pub area: Option<String>,
    pub address: Option<String>,
    pub phone: String,
    pub deadline: Option<String>,
    pub department_name: String,
    pub department_email: Option<String>,
}

#[async_trait]
pub trait TicketDesk: Send + Sync {
    /// A new ticket from a text (channel sms; kind and department by the usual routing), at
    /// most one per `key` (the text's idempotency key: the same key again returns the ticket
    /// made before).
    async fn create_from_sms(
        &self,
        phone: &str,
        text: &str,
        key: &str,
    ) -> Result<TicketInfo, DeskError>;
    async fn by_number(&self, number: &str) -> Result<Option<TicketInfo>, DeskError>;
    async fn list_by_phone(&self, phone: &str, limit: usize) -> Result<Vec<TicketInfo>, DeskError>;
    /// score 1 满意, 2 基本满意, 3 不满意 (which reopens it as supervised); `reason` is the
    /// resident's words, kept in the audit trail.
    async fn rate(
        &self,
        ticket_id: i64,
        score: u8,
        phone: &str,
        reason: Option<&str>,
    ) -> Result<TicketInfo, DeskError>;
    async fn get(&self, ticket_id: i64) -> Result<Option<TicketInfo>, DeskError>;
    /// Read on `conn`, the consumer's own connection: its transaction holds SQLite's write
    /// lock, and a second connection from a pool that the lock's waiters have used up would
    /// stall them all until their busy timeout.
    async fn mail_facts(
        &self,
        conn: &mut sqlx::AnyConnection,
        ticket_id: i64,
        department_id: Option<&str>,
    ) -> Result<Option<MailFacts>, DeskError>;
}

mod for_tickets {
    //! The desk on the real ticket service.
    use super::*;
    use crate::tickets::{
        Actor, Caller, Channel, Command, Input, NewTicket, PhoneNumber, State, Ticket, TicketId,
        TicketNumber, Tickets, Verb,
    };

    fn info(t: &Tickets, k: &Ticket) -> TicketInfo {
        let open = crate::tickets::state::is_open(k.state);
        TicketInfo {
            id: k.id.0,
            number: k.number.to_string(),
            phone: k.phone.to_string(),
            state_label: k.state.label_zh().to_string(),
            deadline: Some(
                k.deadline
                    .with_timezone(&t.tz())
                    .format("%-m月%-d日%H:%M")
                    .to_string(),
            ),
            awaiting_rating: matches!(k.state, State::FollowUp | State::Resolved),
            open,
        }
    }

    fn phone(p: &str) -> Result<PhoneNumber, DeskError> {
        p.parse()
            .map_err(|e: crate::tickets::ParseError| DeskError::Phone(e.to_string()))
    }

    #[async_trait]
    impl TicketDesk for Tickets {
        async fn create_from_sms(
            &self,
            phone_no: &str,
            text: &str,
            key: &str,
        ) -> Result<TicketInfo, DeskError> {
            let p = phone(phone_no)?;
            let new = NewTicket {
                channel: Channel::Sms,
                kind: None,
                phone: p.clone(),
                text: text.to_string(),
                address: None,
                area: None,
                recording_path: None,
                language: None,
            };
            let k = self.create_once(new, &Actor::Resident(p), key).await?;
            Ok(info(self, &k))
        }

        async fn by_number(&self, number: &str) -> Result<Option<TicketInfo>, DeskError> {
            let Ok(n) = number.parse::<TicketNumber>() else {
                return Ok(None);
            };
            match Tickets::by_number(self, &n).await {
                Ok(k) => Ok(Some(info(self, &k))),
                Err(TicketsError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }

        async fn list_by_phone(
            &self,
            phone_no: &str,
            limit: usize,
        ) -> Result<Vec<TicketInfo>, DeskError> {
            let p = phone(phone_no)?;
            let list = Tickets::list_by_phone(self, &p, limit as i64).await?;
            Ok(list.iter().map(|k| info(self, k)).collect())
        }

        async fn rate(
            &self,
            ticket_id: i64,
            score: u8,
            phone_no: &str,
            reason: Option<&str>,
        ) -> Result<TicketInfo, DeskError> {
            // The resident's own step, through the command layer every channel uses.
            let input = Input {
                satisfaction: Some(score.clamp(1, 3).to_string()),
                reason: reason.map(str::to_string),
                ..Default::default()
            };
            let cmd = Command::parse(Verb::Rate, &input, self)?;
            let t = Tickets::get(self, TicketId(ticket_id)).await?;
            let caller = Caller::Trusted(Actor::Resident(phone(phone_no)?));
            let k = cmd.apply(self, &t, &caller).await?.ticket;
            Ok(info(self, &k))
        }

        async fn get(&self, ticket_id: i64) -> Result<Option<TicketInfo>, DeskError> {
            match Tickets::get(self, TicketId(ticket_id)).await {
                Ok(k) => Ok(Some(info(self, &k))),
                Err(TicketsError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }

        async fn mail_facts(
            &self,
            conn: &mut sqlx::AnyConnection,
            ticket_id: i64,
            department_id: Option<&str>,
        ) -> Result<Option<MailFacts>, DeskError> {
            let k = match Tickets::get_on(conn, TicketId(ticket_id)).await {
                Ok(k) => k,
                Err(TicketsError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let dep_id = department_id
                .map(|d| crate::tickets::DepartmentId(d.to_string()))
                .or(k.department.clone());
            let dep = dep_id.as_ref().and_then(|d| self.department(d));
            Ok(Some(MailFacts {
                number: k.number.to_string(),
                kind_label: k.kind.label_zh().to_string(),
                text: k.text.clone(),
                area: k.area.clone(),
                address: k.address.clone(),
                phone: k.phone.to_string(),
                deadline: Some(
                    k.deadline
                        .with_timezone(&self.tz())
                        .format("%Y-%m-%d %H:%M")
                        .to_string(),
                ),
                department_name: dep.map(|d| d.name.clone()).unwrap_or_default(),
                department_email: dep.and_then(|d| d.email.clone()),
            }))
        }
    }
}
