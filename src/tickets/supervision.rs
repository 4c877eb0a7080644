//! The supervision clock (电子监察): watches every open ticket's deadline and, at the
//! configured points of its time (a warning at 75 % used, overdue at 100 %), emits a
//! `deadline_warning` or `overdue` event; overdue tickets are escalated (督办).
//!
//! Each (ticket, point, deadline) fires exactly once: the mark row's primary key decides,
//! inside the same transaction as the event, so several nodes and restarts cannot repeat it.
//! A granted extension moves the deadline and so arms new points.

use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::store::now_ms;

use super::error::TicketsError;
use super::events::{self, EventKind};
use super::model::{Actor, State, TicketId};
use super::service::Tickets;
use super::state::{is_open, Action};

/// One pass over open tickets; returns how many marks fired. `now` is unix ms (a parameter
/// so tests can move time).
pub async fn tick(tickets: &Tickets, warn_at: &[f64], now: i64) -> Result<usize, TicketsError> {
    let db = tickets.db();
    let earliest = warn_at
        .iter()
        .copied()
        .fold(1.0_f64, f64::min)
        .clamp(0.0, 1.0);
    let open: Vec<&str> = State::ALL
        .iter()
        .filter(|s| is_open(**s))
        .map(|s| s.code())
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT id, clock_start_at, deadline_at, state FROM tickets WHERE state IN ({}) ORDER BY deadline_at",
        open.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
    ))
    .fetch_all(db.pool())
    .await?;
    let mut fired = 0;
    for row in rows {
        let id = TicketId(row.try_get(0)?);
        let start: i64 = row.try_get(1)?;
        let deadline: i64 = row.try_get(2)?;
        let span = (deadline - start).max(1) as f64;
        if (now as f64) < start as f64 + span * earliest {
            continue;
        }
        let mut points: Vec<(String, EventKind)> = warn_at
            .iter()
            .filter(|p| (now as f64) >= start as f64 + span * *p && **p < 1.0)
            .map(|p| {
                (
                    format!("warn{:.0}@{deadline}", p * 100.0),
                    EventKind::DeadlineWarning,
                )
            })
            .collect();
        if now >= deadline {
            // Past the deadline a warning would only be noise.
            points.clear();
            points.push((format!("overdue@{deadline}"), EventKind::Overdue));
        }
        for (point, kind) in points {
            match fire(tickets, id, &point, kind, now).await {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(ticket = %id, point, error = %e, "supervision mark failed; will retry")
                }
            }
        }
    }
    Ok(fired)
}

#[tracing::instrument(skip(tickets, kind, now), fields(ticket = %id))]
async fn fire(
    tickets: &Tickets,
    id: TicketId,
    point: &str,
    kind: EventKind,
    now: i64,
) -> Result<bool, TicketsError> {
    let db = tickets.db();
    let mut tx = db.pool().begin().await?;
    if !claim_mark(&mut tx, id, point, now).await? {
        return Ok(false);
    }
    let ticket = tickets.get(id).await?;
    let mut written = Vec::new();
    let note = match kind {
        EventKind::Overdue => "已超过办理时限".to_string(),
        _ => "办理时限即将到期".to_string(),
    };
    let payload = tickets.payload(
        &ticket,
        Some(ticket.state),
        &Actor::System,
        Some(note.clone()),
    );
    written.push(events::write(&mut tx, kind, &payload).await?);
    if kind == EventKind::Overdue && ticket.state != State::Supervised {
        let (_, evs) = tickets
            .apply_in(
                &mut tx,
                id,
                &Action::Supervise {
                    note: format!("超期自动督办：{note}"),
                },
                &Actor::System,
                "",
            )
            .await?;
        written.extend(evs);
    }
    tx.commit().await?;
    tracing::info!(number = %ticket.number, "supervision mark");
    for e in written {
        let _ = tickets.live().send(e);
    }
    Ok(true)
}

/// Takes the mark `point` of ticket `id` inside the caller's transaction: true for the one
/// transaction (of any node, before or after a restart) that gets it. What the mark stands
/// for is written in the same transaction, so a rollback gives the mark back.
pub(super) async fn claim_mark(
    conn: &mut sqlx::AnyConnection,
    id: TicketId,
    point: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO deadline_marks (ticket_id, point, at) VALUES ($1, $2, $3) ON CONFLICT (ticket_id, point) DO NOTHING",
    )
    .bind(id.0)
    .bind(point)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Runs [`tick`] every `interval` until shutdown.
pub async fn run(
    tickets: Tickets,
    interval: Duration,
    warn_at: Vec<f64>,
    shutdown: CancellationToken,
) {
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = timer.tick() => {
                if let Err(e) = tick(&tickets, &warn_at, now_ms()).await {
                    tracing::warn!(error = %e, "supervision pass failed");
                }
            }
        }
    }
}
