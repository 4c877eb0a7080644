//! The ticket service: creating, reading and changing tickets in the database, each change
//! with its audit line and domain event in one transaction. One file per job: `rules.rs`
//! (the loaded config), `create.rs`, `read.rs`, `transition.rs` (lifecycle steps and
//! corrections), `transcript.rs` (the speech step's result), `sql.rs` (rows and binds).

mod create;
mod read;
mod rules;
mod sql;
mod transcript;
mod transition;

use std::sync::Arc;

use chrono_tz::Tz;
use sqlx::AnyConnection;
use tokio::sync::broadcast;

use crate::store::objects::Recordings;
use crate::store::Db;

use super::config::{StatusLookupConfig, TicketsConfig};
use super::departments::Department;
use super::error::TicketsError;
use super::events::{EventPayload, TicketEvent};
use super::model::*;
use super::routing::Route;
use super::state::Action;

pub use create::NewTicket;
pub use rules::Rules;
pub use sql::TicketFilter;
pub use transcript::TranscriptUpdate;

/// The ticket service; cheap to clone.
#[derive(Clone)]
pub struct Tickets {
    db: Db,
    rules: Arc<Rules>,
    live: broadcast::Sender<TicketEvent>,
    /// Dispatch confidently routed tickets without waiting for an operator.
    auto_dispatch: bool,
    /// Limits on wrong status lookups (`lookup.rs`).
    status_lookup: Arc<StatusLookupConfig>,
    /// Where voice messages are kept; tickets point at them and the purge deletes them.
    recordings: Recordings,
}

impl Tickets {
    pub fn new(db: Db, rules: Rules, auto_dispatch: bool) -> Tickets {
        let (live, _) = broadcast::channel(1024);
        Tickets {
            db,
            rules: Arc::new(rules),
            live,
            auto_dispatch,
            status_lookup: Arc::new(StatusLookupConfig::default()),
            recordings: Recordings::local(),
        }
    }

    /// Loads the rules named in `cfg` and builds the service.
    pub fn from_config(db: Db, cfg: &TicketsConfig) -> Result<Tickets, TicketsError> {
        let mut t = Tickets::new(db, Rules::load(cfg)?, cfg.auto_dispatch);
        t.status_lookup = Arc::new(cfg.status_lookup.clone());
        Ok(t)
    }

    /// The same service keeping recordings in `recordings` (local folders by default).
    pub fn with_recordings(mut self, recordings: Recordings) -> Tickets {
        self.recordings = recordings;
        self
    }

    pub fn recordings(&self) -> &Recordings {
        &self.recordings
    }

    pub fn status_lookup(&self) -> &StatusLookupConfig {
        &self.status_lookup
    }

    /// The pool, for the modules that own tables of their own beside the tickets'.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn departments(&self) -> &[Department] {
        self.rules.directory.all()
    }

    pub fn department(&self, id: &DepartmentId) -> Option<&Department> {
        self.rules.directory.get(id)
    }

    pub fn tz(&self) -> Tz {
        self.rules.calendar.tz()
    }

    /// Events as they commit, for live screens. Durable consumers use `events::claim_batch`.
    pub fn subscribe(&self) -> broadcast::Receiver<TicketEvent> {
        self.live.subscribe()
    }

    /// Routes a text without storing anything (for previews and the speech step).
    pub fn route(&self, text: &str, kind: Option<Kind>, area: Option<&str>) -> Route {
        self.rules
            .routing
            .route(&self.rules.directory, text, kind, area)
    }

    /// Runs `action` as part of a clock's mark (see `supervision.rs`, `follow_up.rs`), in
    /// its transaction, with `note` added to the audit line.
    pub(crate) async fn apply_in(
        &self,
        conn: &mut AnyConnection,
        id: TicketId,
        action: &Action,
        actor: &Actor,
        note: &str,
    ) -> Result<(Ticket, Vec<TicketEvent>), TicketsError> {
        self.apply(conn, id, action, actor, note).await
    }

    pub(crate) fn payload(
        &self,
        t: &Ticket,
        from: Option<State>,
        actor: &Actor,
        note: Option<String>,
    ) -> EventPayload {
        let dept = t.department.as_ref().and_then(|d| self.department(d));
        EventPayload {
            ticket_id: t.id,
            number: t.number.to_string(),
            channel: t.channel,
            kind: t.kind,
            phone: t.phone.to_string(),
            department_id: t.department.as_ref().map(|d| d.to_string()),
            department_name: dept.map(|d| d.name.clone()),
            deadline: Some(t.deadline.with_timezone(&self.tz()).to_rfc3339()),
            answer: t.answer.clone(),
            note,
            from_state: from,
            to_state: t.state,
            actor: actor.to_string(),
            recording_path: t.recording_path.clone(),
            language: None,
        }
    }

    pub(crate) fn live(&self) -> &broadcast::Sender<TicketEvent> {
        &self.live
    }
}

/// First sentence, at most 40 characters: what an SMS or a list row shows.
pub fn summarize(text: &str) -> String {
    let first = text
        .split(['。', '！', '？', '\n', '!', '?'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let mut out: String = first.chars().take(40).collect();
    if first.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_take_the_first_sentence() {
        assert_eq!(
            summarize("解放路的路灯坏了三天了。晚上很黑"),
            "解放路的路灯坏了三天了"
        );
        let long = "很".repeat(50);
        assert_eq!(summarize(&long).chars().count(), 41);
    }
}
