//! Changing tickets: one lifecycle step ([`Tickets::transition`]) with its columns, audit
//! line and events, and the operator's correction of kind and department.

use sqlx::AnyConnection;

use super::sql::{audit, fetch, lock_row, route_actor, Bind};
use super::Tickets;
use crate::store::now_ms;
use crate::tickets::deadline::Span;
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::events::{self, EventKind, EventPayload, TicketEvent};
use crate::tickets::model::*;
use crate::tickets::state::{next_state, Action};

impl Tickets {
    /// Applies one action of the lifecycle. Illegal actions fail with a [`TransitionError`];
    /// a concurrent change fails with [`TicketsError::Conflict`]; nothing is half-written.
    #[tracing::instrument(skip(self, action, actor), fields(ticket = %id, action = action.name()))]
    pub async fn transition(
        &self,
        id: TicketId,
        action: Action,
        actor: &Actor,
    ) -> Result<Ticket, TicketsError> {
        self.transition_noted(id, action, actor, "").await
    }

    /// [`transition`](Self::transition) with `note` added to the audit line and the
    /// event (a resident's reason for 不满意).
    pub async fn transition_noted(
        &self,
        id: TicketId,
        action: Action,
        actor: &Actor,
        note: &str,
    ) -> Result<Ticket, TicketsError> {
        let mut tx = self.db.pool().begin().await?;
        let (ticket, events) = self.apply(&mut tx, id, &action, actor, note).await?;
        tx.commit().await?;
        for e in events {
            let _ = self.live.send(e);
        }
        tracing::info!(number = %ticket.number, state = %ticket.state, actor = %actor, "ticket changed");
        Ok(ticket)
    }

    /// Dispatches `current` to `department` as the system (自动派单) inside the caller's
    /// transaction when `wanted` and a department is known; otherwise leaves it as it is.
    /// Its events are added to `written`.
    pub(super) async fn auto_dispatch(
        &self,
        conn: &mut AnyConnection,
        current: Ticket,
        department: Option<&DepartmentId>,
        wanted: bool,
        written: &mut Vec<TicketEvent>,
    ) -> Result<Ticket, TicketsError> {
        let (Some(d), true) = (department, wanted) else {
            return Ok(current);
        };
        let action = Action::Dispatch {
            department: d.clone(),
        };
        let (t, evs) = self
            .apply(conn, current.id, &action, &Actor::System, "自动派单")
            .await?;
        written.extend(evs);
        Ok(t)
    }

    /// The state change itself, inside the caller's transaction.
    pub(super) async fn apply(
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
                require(reason, Invalid::ReturnNeedsReason)?;
                note = reason.clone();
                kinds.push(EventKind::Returned);
            }
            Action::RequestExtension { days, reason } => {
                require(reason, Invalid::ExtensionNeedsReason)?;
                if *days == 0 || *days > 60 {
                    return Err(Invalid::ExtensionDays.into());
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
                require(a, Invalid::NeedsAnswer)?;
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
                    return Err(Invalid::MergeIntoItself.into());
                }
                let target = fetch(conn, *into).await?;
                set.push(("merged_into", Bind::Int(into.0)));
                set.push(("closed_at", Bind::Int(now)));
                note = format!("并入 {}", target.number);
                kinds.push(EventKind::Merged);
            }
            Action::Note { text } => {
                require(text, Invalid::NoteNeedsText)?;
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

    /// A line in the audit trail that changes nothing (a survey call's attempt), written
    /// the one way audit lines are.
    pub(crate) async fn audit_line(
        &self,
        id: TicketId,
        actor: &Actor,
        action: &str,
        note: &str,
    ) -> Result<(), TicketsError> {
        let mut conn = self.db.pool().acquire().await?;
        let t = fetch(&mut conn, id).await?;
        audit(&mut conn, id, actor, action, Some(t.state), t.state, note).await?;
        Ok(())
    }

    /// Corrects kind and/or department (operator review) without a change of state; the
    /// correction is kept in the audit trail so routing rules can be improved.
    #[tracing::instrument(skip(self, kind, department, actor), fields(ticket = %id))]
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
}

fn require(s: &str, missing: Invalid) -> Result<(), Invalid> {
    if s.trim().is_empty() {
        Err(missing)
    } else {
        Ok(())
    }
}
