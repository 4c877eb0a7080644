//! The ticket service: creating, reading and changing tickets in the database, each change
//! with its audit line and domain event in one transaction.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokio::sync::broadcast;

use crate::store::{get_bool, now_ms, Db, StoreError};

use super::config::TicketsConfig;
use super::deadline::{Calendar, Span};
use super::departments::{Department, Directory};
use super::events::{self, EventKind, EventPayload, TicketEvent};
use super::model::*;
use super::routing::{Route, RoutingRules};
use super::state::{next_state, Action, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum TicketsError {
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error("no ticket {0}")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("ticket {0} was changed by someone else meanwhile; reload and try again")]
    Conflict(TicketNumber),
    #[error("unknown department `{0}`")]
    UnknownDepartment(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TicketsError {
    fn from(e: sqlx::Error) -> Self {
        TicketsError::Store(StoreError::Sql(e))
    }
}

/// A new ticket as a channel hands it in.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub channel: Channel,
    pub kind: Option<Kind>,
    pub phone: PhoneNumber,
    pub text: String,
    pub address: Option<String>,
    pub area: Option<String>,
    /// A voice message: the ticket gets a transcription job in the same transaction.
    pub recording_path: Option<String>,
}

/// What the speech step learned from a voice message.
#[derive(Debug, Clone)]
pub struct TranscriptUpdate {
    pub transcript: String,
    /// One line for SMS and lists; the first sentence when `None`.
    pub summary: Option<String>,
    /// Kind and department chosen from the transcript; no department means operator review.
    pub route: Route,
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub states: Vec<State>,
    pub kind: Option<Kind>,
    pub channel: Option<Channel>,
    pub department: Option<DepartmentId>,
    pub phone: Option<PhoneNumber>,
    pub overdue: bool,
    pub needs_review: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

/// The rules the service applies, loaded once from the config files.
#[derive(Debug)]
pub struct Rules {
    pub directory: Directory,
    pub routing: RoutingRules,
    pub calendar: Calendar,
    pub deadlines: BTreeMap<String, Span>,
    pub kind_sla: BTreeMap<Kind, String>,
}

impl Rules {
    /// Reads and checks departments, routing, calendar and deadline classes; every error
    /// names its file.
    pub fn load(cfg: &TicketsConfig) -> Result<Rules, TicketsError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| TicketsError::Config {
                file: p.display().to_string(),
                message: format!("cannot read: {e}"),
            })
        };
        let cfg_err = |p: &Path, m: String| TicketsError::Config {
            file: p.display().to_string(),
            message: m,
        };
        let tz: Tz = cfg.timezone.parse().map_err(|_| TicketsError::Config {
            file: "[tickets] timezone".into(),
            message: format!("unknown time zone `{}`", cfg.timezone),
        })?;
        let directory = Directory::parse(&read(&cfg.departments_file)?)
            .map_err(|e| cfg_err(&cfg.departments_file, e.to_string()))?;
        let routing = RoutingRules::parse(&read(&cfg.routing_file)?)
            .map_err(|e| cfg_err(&cfg.routing_file, e.to_string()))?;
        routing
            .validate(&directory)
            .map_err(|e| cfg_err(&cfg.routing_file, e.to_string()))?;
        let calendar = Calendar::parse(&read(&cfg.calendar_file)?, tz)
            .map_err(|e| cfg_err(&cfg.calendar_file, e.to_string()))?;
        Rules::new(directory, routing, calendar, &cfg.deadlines, &cfg.kind_sla)
    }

    pub fn new(
        directory: Directory,
        routing: RoutingRules,
        calendar: Calendar,
        deadlines: &BTreeMap<String, String>,
        kind_sla: &BTreeMap<Kind, String>,
    ) -> Result<Rules, TicketsError> {
        let bad = |key: String, message: String| TicketsError::Config { file: key, message };
        let mut spans = BTreeMap::new();
        for (name, spec) in deadlines {
            let span: Span = spec
                .parse()
                .map_err(|m| bad(format!("[tickets.deadlines] {name}"), m))?;
            spans.insert(name.clone(), span);
        }
        for kind in Kind::ALL {
            let class = kind_sla.get(kind).ok_or_else(|| {
                bad(
                    "[tickets.kind_sla]".into(),
                    format!("no deadline class for kind `{kind}`"),
                )
            })?;
            if !spans.contains_key(class) {
                return Err(bad(
                    format!("[tickets.kind_sla] {kind}"),
                    format!("deadline class `{class}` is not in [tickets.deadlines]"),
                ));
            }
        }
        let classes = routing
            .rules
            .iter()
            .filter_map(|r| r.sla.as_ref().map(|s| (format!("rule `{}`", r.name), s)))
            .chain(
                routing
                    .urgent
                    .as_ref()
                    .map(|u| ("[urgent]".to_string(), &u.sla)),
            );
        for (rule, class) in classes {
            if !spans.contains_key(class) {
                return Err(bad(
                    "routing.toml".into(),
                    format!("{rule} uses deadline class `{class}`, which [tickets.deadlines] does not define"),
                ));
            }
        }
        Ok(Rules {
            directory,
            routing,
            calendar,
            deadlines: spans,
            kind_sla: kind_sla.clone(),
        })
    }

    /// Deadline class and due time for a route, starting the clock at `start`.
    fn deadline_for(&self, route: &Route, start: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let class = route
            .sla
            .clone()
            .or_else(|| self.kind_sla.get(&route.kind).cloned())
            .unwrap_or_else(|| "general".into());
        let span = self
            .deadlines
            .get(&class)
            .copied()
            .unwrap_or(Span::WorkingDays(7));
        (class, self.calendar.deadline(start, span))
    }
}

/// The ticket service; cheap to clone.
#[derive(Clone)]
pub struct Tickets {
    db: Db,
    rules: Arc<Rules>,
    live: broadcast::Sender<TicketEvent>,
    /// Dispatch confidently routed tickets without waiting for an operator.
    auto_dispatch: bool,
}

const COLUMNS: &str = "id, number, channel, kind, state, phone, text, summary, address, area, department_id, \
    routed_by, needs_review, sla, deadline_at, clock_start_at, supervised, satisfaction, answer, recording_path, \
    merged_into, created_at, updated_at, resolved_at, closed_at, version, extension_days";

impl Tickets {
    pub fn new(db: Db, rules: Rules, auto_dispatch: bool) -> Tickets {
        let (live, _) = broadcast::channel(1024);
        Tickets {
            db,
            rules: Arc::new(rules),
            live,
            auto_dispatch,
        }
    }

    /// Loads the rules named in `cfg` and builds the service.
    pub fn from_config(db: Db, cfg: &TicketsConfig) -> Result<Tickets, TicketsError> {
        Ok(Tickets::new(db, Rules::load(cfg)?, cfg.auto_dispatch))
    }

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

    /// Takes a ticket in: numbers it, routes it, sets its deadline, and writes the ticket, its
    /// audit line, its `accepted` event and (for a recording) a transcription job in one
    /// transaction.
    pub async fn create(&self, new: NewTicket, actor: &Actor) -> Result<Ticket, TicketsError> {
        let text = new.text.trim().to_string();
        if text.is_empty() && new.recording_path.is_none() {
            return Err(TicketsError::Invalid(
                "a ticket needs a text or a recording".into(),
            ));
        }
        if text.chars().count() > 20_000 {
            return Err(TicketsError::Invalid(
                "text longer than 20 000 characters".into(),
            ));
        }
        let route = self.route(
            &text,
            new.kind,
            new.area.as_deref().or(new.address.as_deref()),
        );
        let now = Utc::now();
        let (sla, deadline) = self.rules.deadline_for(&route, now);
        let day = now.with_timezone(&self.tz()).date_naive();
        let summary = summarize(&text);

        let mut tx = self.db.pool().begin().await?;
        let seq: i64 = sqlx::query(
            "INSERT INTO ticket_counters (day, n) VALUES ($1, 1)
             ON CONFLICT (day) DO UPDATE SET n = ticket_counters.n + 1 RETURNING n",
        )
        .bind(day.format("%Y%m%d").to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let number = TicketNumber::new(day, seq);
        let ms = now.timestamp_millis();
        let id: i64 = sqlx::query(
            "INSERT INTO tickets (number, channel, kind, state, phone, text, summary, address, area, department_id,
                routed_by, needs_review, sla, deadline_at, clock_start_at, supervised, recording_path, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, FALSE, $16, $17, $17) RETURNING id",
        )
        .bind(number.as_str())
        .bind(new.channel.code())
        .bind(route.kind.code())
        .bind(State::Accepted.code())
        .bind(new.phone.as_str())
        .bind(&text)
        .bind(&summary)
        .bind(new.address.as_deref())
        .bind(new.area.as_deref())
        .bind(route.department.as_ref().map(|d| d.as_str()))
        .bind(&route.reason)
        .bind(route.needs_review())
        .bind(&sla)
        .bind(deadline.timestamp_millis())
        .bind(ms)
        .bind(new.recording_path.as_deref())
        .bind(ms)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let id = TicketId(id);
        audit(
            &mut tx,
            id,
            actor,
            "create",
            None,
            State::Accepted,
            &route.reason,
        )
        .await?;
        let ticket = fetch(&mut tx, id).await?;
        let mut written = vec![
            events::write(
                &mut tx,
                EventKind::Accepted,
                &self.payload(&ticket, None, actor, None),
            )
            .await?,
        ];
        // A voice message waits for its transcript before anyone routes it for real.
        let ticket = match (
            &route.department,
            self.auto_dispatch && new.recording_path.is_none(),
        ) {
            (Some(d), true) => {
                let (t, evs) = self
                    .apply(
                        &mut tx,
                        id,
                        &Action::Dispatch {
                            department: d.clone(),
                        },
                        &Actor::System,
                        "自动派单",
                    )
                    .await?;
                written.extend(evs);
                t
            }
            _ => ticket,
        };
        tx.commit().await?;
        for e in written {
            let _ = self.live.send(e);
        }
        tracing::info!(ticket = %ticket.number, channel = %ticket.channel, kind = %ticket.kind,
            department = ?ticket.department, "ticket accepted");
        Ok(ticket)
    }

    pub async fn get(&self, id: TicketId) -> Result<Ticket, TicketsError> {
        let mut conn = self.db.pool().acquire().await?;
        fetch(&mut conn, id).await
    }

    pub async fn by_number(&self, number: &TicketNumber) -> Result<Ticket, TicketsError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE number = $1"))
            .bind(number.as_str())
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| TicketsError::NotFound(number.to_string()))?;
        from_row(&row)
    }

    pub async fn list_by_phone(
        &self,
        phone: &PhoneNumber,
        limit: i64,
    ) -> Result<Vec<Ticket>, TicketsError> {
        self.list(&TicketFilter {
            phone: Some(phone.clone()),
            limit,
            ..Default::default()
        })
        .await
    }

    /// Newest first.
    pub async fn list(&self, f: &TicketFilter) -> Result<Vec<Ticket>, TicketsError> {
        let (sql, binds) = filter_sql(f, &format!("SELECT {COLUMNS} FROM tickets"));
        let sql = format!(
            "{sql} ORDER BY id DESC LIMIT {} OFFSET {}",
            f.limit.clamp(1, 1000),
            f.offset.max(0)
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = b.bind_to(q);
        }
        q.fetch_all(self.db.pool())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn count(&self, f: &TicketFilter) -> Result<i64, TicketsError> {
        let (sql, binds) = filter_sql(f, "SELECT COUNT(*) FROM tickets");
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = b.bind_to(q);
        }
        Ok(q.fetch_one(self.db.pool()).await?.try_get(0)?)
    }

    pub async fn audit_trail(&self, id: TicketId) -> Result<Vec<AuditEntry>, TicketsError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, from_state, to_state, note FROM ticket_audit WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let from: Option<String> = r.try_get(3)?;
                let to: String = r.try_get(4)?;
                Ok(AuditEntry {
                    at: ms_to_utc(r.try_get(0)?),
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    from: from.and_then(|s| s.parse().ok()),
                    to: parse_word(&to)?,
                    note: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Applies one action of the lifecycle. Illegal actions fail with a [`TransitionError`];
    /// a concurrent change fails with [`TicketsError::Conflict`]; nothing is half-written.
    pub async fn transition(
        &self,
        id: TicketId,
        action: Action,
        actor: &Actor,
    ) -> Result<Ticket, TicketsError> {
        let mut tx = self.db.pool().begin().await?;
        let (ticket, events) = self.apply(&mut tx, id, &action, actor, "").await?;
        tx.commit().await?;
        for e in events {
            let _ = self.live.send(e);
        }
        tracing::info!(ticket = %ticket.number, action = action.name(), state = %ticket.state, actor = %actor, "ticket changed");
        Ok(ticket)
    }

    /// The state change itself, inside the caller's transaction.
    async fn apply(
        &self,
        conn: &mut AnyConnection,
        id: TicketId,
        action: &Action,
        actor: &Actor,
        extra_note: &str,
    ) -> Result<(Ticket, Vec<TicketEvent>), TicketsError> {
        lock_row(conn, id).await?;
        let t = fetch(conn, id).await?;
        let to = next_state(t.state, action, t.supervised)?;
        let now = now_ms();
        let mut set: Vec<(&str, Bind)> = vec![("state", Bind::Text(to.code().into()))];
        let mut note = String::new();
        let mut answer = None;
        let mut kinds = Vec::new();
        match action {
            Action::Dispatch { department } => {
                let d = self
                    .department(department)
                    .ok_or_else(|| TicketsError::UnknownDepartment(department.to_string()))?;
                set.push(("department_id", Bind::Text(d.id.to_string())));
                set.push(("needs_review", Bind::Bool(false)));
                if t.department.as_ref() != Some(department) {
                    set.push(("routed_by", Bind::Text(route_actor(actor))));
                }
                note = d.name.clone();
                kinds.push(EventKind::Dispatched);
            }
            Action::Sign => kinds.push(EventKind::InProgress),
            Action::Return { reason } => {
                require(reason, "a return needs a reason")?;
                note = reason.clone();
                kinds.push(EventKind::Returned);
            }
            Action::RequestExtension { days, reason } => {
                require(reason, "an extension request needs a reason")?;
                if *days == 0 || *days > 60 {
                    return Err(TicketsError::Invalid(
                        "an extension is 1 to 60 working days".into(),
                    ));
                }
                set.push(("extension_days", Bind::Int(*days as i64)));
                note = format!("{days}个工作日：{reason}");
                kinds.push(EventKind::ExtensionRequested);
            }
            Action::GrantExtension => {
                let days = t.extension_days.unwrap_or(0).max(1) as u32;
                let new_deadline = self
                    .rules
                    .calendar
                    .deadline(t.deadline, Span::WorkingDays(days));
                set.push(("deadline_at", Bind::Int(new_deadline.timestamp_millis())));
                set.push(("extension_days", Bind::Null));
                note = format!("延期{days}个工作日");
                kinds.push(EventKind::ExtensionGranted);
            }
            Action::RefuseExtension { reason } => {
                set.push(("extension_days", Bind::Null));
                note = reason.clone();
                kinds.push(EventKind::ExtensionRefused);
            }
            Action::Resolve { answer: a } | Action::AnswerDirectly { answer: a } => {
                require(a, "resolving needs an answer for the resident")?;
                set.push(("answer", Bind::Text(a.clone())));
                set.push(("resolved_at", Bind::Int(now)));
                answer = Some(a.clone());
                kinds.push(EventKind::Resolved);
            }
            Action::FollowUp => kinds.push(EventKind::FollowUp),
            Action::Rate { satisfaction } => {
                set.push(("satisfaction", Bind::Text(satisfaction.code().into())));
                note = satisfaction.label_zh().to_string();
                if to == State::Closed {
                    set.push(("closed_at", Bind::Int(now)));
                    kinds.push(EventKind::Closed);
                } else {
                    set.push(("supervised", Bind::Bool(true)));
                    kinds.push(EventKind::Reopened);
                    kinds.push(EventKind::Supervised);
                }
            }
            Action::Close => {
                set.push(("closed_at", Bind::Int(now)));
                kinds.push(EventKind::Closed);
            }
            Action::Supervise { note: n } => {
                set.push(("supervised", Bind::Bool(true)));
                note = n.clone();
                kinds.push(EventKind::Supervised);
            }
            Action::Merge { into } => {
                if *into == id {
                    return Err(TicketsError::Invalid(
                        "a ticket cannot be merged into itself".into(),
                    ));
                }
                let target = fetch(conn, *into).await?;
                set.push(("merged_into", Bind::Int(into.0)));
                set.push(("closed_at", Bind::Int(now)));
                note = format!("并入 {}", target.number);
                kinds.push(EventKind::Merged);
            }
            Action::Note { text } => {
                require(text, "a progress note needs text")?;
                note = text.clone();
                kinds.push(EventKind::Note);
            }
        }
        if !extra_note.is_empty() {
            note = if note.is_empty() {
                extra_note.to_string()
            } else {
                format!("{note}；{extra_note}")
            };
        }
        set.push(("updated_at", Bind::Int(now)));
        let assignments: Vec<String> = set
            .iter()
            .enumerate()
            .map(|(i, (col, _))| format!("{col} = ${}", i + 1))
            .collect();
        let sql = format!(
            "UPDATE tickets SET {}, version = version + 1 WHERE id = ${} AND version = ${}",
            assignments.join(", "),
            set.len() + 1,
            set.len() + 2
        );
        let mut q = sqlx::query(&sql);
        for (_, b) in &set {
            q = b.bind_to(q);
        }
        let changed = q
            .bind(id.0)
            .bind(t.version)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if changed != 1 {
            return Err(TicketsError::Conflict(t.number));
        }
        audit(conn, id, actor, action.name(), Some(t.state), to, &note).await?;
        let updated = fetch(conn, id).await?;
        let note = (!note.is_empty()).then_some(note);
        let mut written = Vec::new();
        for kind in kinds {
            let payload = self.payload(&updated, Some(t.state), actor, note.clone());
            let payload = EventPayload {
                answer: answer.clone().or(payload.answer),
                ..payload
            };
            written.push(events::write(conn, kind, &payload).await?);
        }
        Ok((updated, written))
    }

    /// Corrects kind and/or department (operator review) without a change of state; the
    /// correction is kept in the audit trail so routing rules can be improved.
    pub async fn reclassify(
        &self,
        id: TicketId,
        kind: Option<Kind>,
        department: Option<DepartmentId>,
        actor: &Actor,
    ) -> Result<Ticket, TicketsError> {
        if let Some(d) = &department {
            if self.department(d).is_none() {
                return Err(TicketsError::UnknownDepartment(d.to_string()));
            }
        }
        let mut tx = self.db.pool().begin().await?;
        lock_row(&mut tx, id).await?;
        let t = fetch(&mut tx, id).await?;
        let new_kind = kind.unwrap_or(t.kind);
        let new_dept = department.clone().or(t.department.clone());
        let note = format!(
            "更正：类型 {} → {}，部门 {} → {}（原因：{}）",
            t.kind.label_zh(),
            new_kind.label_zh(),
            t.department.as_ref().map(|d| d.as_str()).unwrap_or("-"),
            new_dept.as_ref().map(|d| d.as_str()).unwrap_or("-"),
            t.routed_by
        );
        let changed = sqlx::query(
            "UPDATE tickets SET kind = $1, department_id = $2, needs_review = $3, routed_by = $4, updated_at = $5,
             version = version + 1 WHERE id = $6 AND version = $7",
        )
        .bind(new_kind.code())
        .bind(new_dept.as_ref().map(|d| d.as_str()))
        .bind(new_dept.is_none())
        .bind(route_actor(actor))
        .bind(now_ms())
        .bind(id.0)
        .bind(t.version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(TicketsError::Conflict(t.number));
        }
        audit(
            &mut tx,
            id,
            actor,
            "reclassify",
            Some(t.state),
            t.state,
            &note,
        )
        .await?;
        let updated = fetch(&mut tx, id).await?;
        let e = events::write(
            &mut tx,
            EventKind::Updated,
            &self.payload(&updated, Some(t.state), actor, Some(note)),
        )
        .await?;
        tx.commit().await?;
        let _ = self.live.send(e);
        Ok(updated)
    }

    /// A transcript of the ticket's voice message arrived: it becomes part of the ticket's
    /// text, and — unless a person already routed the ticket — the route the speech step
    /// chose replaces the first one (a route without a department means operator review).
    /// A confident route is dispatched at once when `auto_dispatch` is on.
    pub async fn apply_transcript(
        &self,
        id: TicketId,
        update: TranscriptUpdate,
    ) -> Result<Ticket, TicketsError> {
        let mut tx = self.db.pool().begin().await?;
        lock_row(&mut tx, id).await?;
        let t = fetch(&mut tx, id).await?;
        let routed_by_person = t.routed_by.starts_with("operator");
        let transcript = update.transcript.trim();
        let text = if t.text.trim().is_empty() {
            transcript.to_string()
        } else {
            format!("{}\n【录音转写】{transcript}", t.text)
        };
        let summary = update
            .summary
            .clone()
            .unwrap_or_else(|| summarize(transcript));
        let reroute = !routed_by_person && t.state == State::Accepted;
        let (kind, department, reason, sla, deadline) = if reroute {
            let r = &update.route;
            let (class, due) = self.rules.deadline_for(r, t.clock_start);
            (
                r.kind,
                r.department.clone(),
                format!("transcript:{}", r.reason),
                class,
                due,
            )
        } else {
            (
                t.kind,
                t.department.clone(),
                t.routed_by.clone(),
                t.sla.clone(),
                t.deadline,
            )
        };
        if let Some(d) = &department {
            if self.department(d).is_none() {
                return Err(TicketsError::UnknownDepartment(d.to_string()));
            }
        }
        sqlx::query(
            "UPDATE tickets SET text = $1, summary = $2, kind = $3, department_id = $4, routed_by = $5, needs_review = $6,
             sla = $7, deadline_at = $8, updated_at = $9, version = version + 1 WHERE id = $10",
        )
        .bind(&text)
        .bind(&summary)
        .bind(kind.code())
        .bind(department.as_ref().map(|d| d.as_str()))
        .bind(&reason)
        .bind(department.is_none())
        .bind(&sla)
        .bind(deadline.timestamp_millis())
        .bind(now_ms())
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            id,
            &Actor::System,
            "transcribed",
            Some(t.state),
            t.state,
            &reason,
        )
        .await?;
        let updated = fetch(&mut tx, id).await?;
        let mut written = vec![
            events::write(
                &mut tx,
                EventKind::Updated,
                &self.payload(&updated, Some(t.state), &Actor::System, None),
            )
            .await?,
        ];
        let updated = match (&department, reroute && self.auto_dispatch) {
            (Some(d), true) => {
                let (u, evs) = self
                    .apply(
                        &mut tx,
                        id,
                        &Action::Dispatch {
                            department: d.clone(),
                        },
                        &Actor::System,
                        "自动派单",
                    )
                    .await?;
                written.extend(evs);
                u
            }
            _ => updated,
        };
        tx.commit().await?;
        for e in written {
            let _ = self.live.send(e);
        }
        Ok(updated)
    }

    /// Runs `action` as part of a supervision mark (see `supervision.rs`), in its transaction.
    pub(crate) async fn apply_in(
        &self,
        conn: &mut AnyConnection,
        id: TicketId,
        action: &Action,
        actor: &Actor,
    ) -> Result<(Ticket, Vec<TicketEvent>), TicketsError> {
        self.apply(conn, id, action, actor, "").await
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
        }
    }

    pub(crate) fn live(&self) -> &broadcast::Sender<TicketEvent> {
        &self.live
    }
}

fn route_actor(actor: &Actor) -> String {
    match actor {
        Actor::System => "system".into(),
        other => format!("operator:{other}"),
    }
}

fn require(s: &str, msg: &str) -> Result<(), TicketsError> {
    if s.trim().is_empty() {
        Err(TicketsError::Invalid(msg.into()))
    } else {
        Ok(())
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

enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
    Null,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl Bind {
    fn bind_to<'q>(&self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            Bind::Text(s) => q.bind(s.clone()),
            Bind::Int(i) => q.bind(*i),
            Bind::Bool(b) => q.bind(*b),
            Bind::Null => q.bind(None::<i64>),
        }
    }
}

fn filter_sql(f: &TicketFilter, head: &str) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let push = |clause: &str, b: Bind, binds: &mut Vec<Bind>, clauses: &mut Vec<String>| {
        binds.push(b);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if !f.states.is_empty() {
        let mut ors = Vec::new();
        for s in &f.states {
            binds.push(Bind::Text(s.code().into()));
            ors.push(format!("state = ${}", binds.len()));
        }
        clauses.push(format!("({})", ors.join(" OR ")));
    }
    if let Some(k) = f.kind {
        push(
            "kind = ?",
            Bind::Text(k.code().into()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(c) = f.channel {
        push(
            "channel = ?",
            Bind::Text(c.code().into()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(d) = &f.department {
        push(
            "department_id = ?",
            Bind::Text(d.to_string()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(p) = &f.phone {
        push(
            "phone = ?",
            Bind::Text(p.to_string()),
            &mut binds,
            &mut clauses,
        );
    }
    if let Some(r) = f.needs_review {
        push("needs_review = ?", Bind::Bool(r), &mut binds, &mut clauses);
    }
    if f.overdue {
        push(
            "deadline_at < ?",
            Bind::Int(now_ms()),
            &mut binds,
            &mut clauses,
        );
        clauses.push("state NOT IN ('resolved', 'follow_up', 'closed')".into());
    }
    let sql = if clauses.is_empty() {
        head.to_string()
    } else {
        format!("{head} WHERE {}", clauses.join(" AND "))
    };
    (sql, binds)
}

async fn audit(
    conn: &mut AnyConnection,
    id: TicketId,
    actor: &Actor,
    action: &str,
    from: Option<State>,
    to: State,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_audit (ticket_id, at, actor, action, from_state, to_state, note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.0)
    .bind(now_ms())
    .bind(actor.to_string())
    .bind(action)
    .bind(from.map(|s| s.code()))
    .bind(to.code())
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the ticket's write lock before reading it: the row lock on PostgreSQL, the write
/// lock on SQLite. A transaction that reads first and writes later would get "database is
/// locked" at once on SQLite when another connection commits in between.
async fn lock_row(conn: &mut AnyConnection, id: TicketId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET version = version WHERE id = $1")
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

async fn fetch(conn: &mut AnyConnection, id: TicketId) -> Result<Ticket, TicketsError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| TicketsError::NotFound(id.to_string()))?;
    from_row(&row)
}

fn ms_to_utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn parse_word<T: std::str::FromStr<Err = ParseError>>(s: &str) -> Result<T, TicketsError> {
    s.parse()
        .map_err(|e: ParseError| TicketsError::Invalid(format!("stored value: {e}")))
}

fn from_row(r: &AnyRow) -> Result<Ticket, TicketsError> {
    let opt_ms = |c: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(r.try_get::<Option<i64>, _>(c)?.map(ms_to_utc))
    };
    let number: String = r.try_get("number")?;
    let phone: String = r.try_get("phone")?;
    let satisfaction: Option<String> = r.try_get("satisfaction")?;
    Ok(Ticket {
        id: TicketId(r.try_get("id")?),
        number: parse_word(&number)?,
        channel: parse_word(&r.try_get::<String, _>("channel")?)?,
        kind: parse_word(&r.try_get::<String, _>("kind")?)?,
        state: parse_word(&r.try_get::<String, _>("state")?)?,
        phone: parse_word(&phone)?,
        text: r.try_get("text")?,
        summary: r.try_get("summary")?,
        address: r.try_get("address")?,
        area: r.try_get("area")?,
        department: r
            .try_get::<Option<String>, _>("department_id")?
            .map(DepartmentId),
        routed_by: r.try_get("routed_by")?,
        needs_review: get_bool(r, "needs_review")?,
        sla: r.try_get("sla")?,
        deadline: ms_to_utc(r.try_get("deadline_at")?),
        clock_start: ms_to_utc(r.try_get("clock_start_at")?),
        supervised: get_bool(r, "supervised")?,
        satisfaction: satisfaction.map(|s| parse_word(&s)).transpose()?,
        answer: r.try_get("answer")?,
        recording_path: r.try_get("recording_path")?,
        merged_into: r.try_get::<Option<i64>, _>("merged_into")?.map(TicketId),
        created_at: ms_to_utc(r.try_get("created_at")?),
        updated_at: ms_to_utc(r.try_get("updated_at")?),
        resolved_at: opt_ms("resolved_at")?,
        closed_at: opt_ms("closed_at")?,
        version: r.try_get("version")?,
        extension_days: r.try_get("extension_days")?,
    })
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
