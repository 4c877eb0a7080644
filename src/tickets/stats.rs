//! The ticket figures a supervisor reads (received, on time, satisfied) for today and this
//! month, and ticket counts by state. Read from the database, so every node reports the
//! same figures; nothing here is a running counter.

use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::store::{Db, StoreError};

use super::{State, Tickets};

#[derive(Debug, Serialize, Default, Clone, utoipa::ToSchema)]
pub struct Period {
    /// Tickets taken in.
    pub received: i64,
    /// Tickets dispatched to a department (at least once).
    pub dispatched: i64,
    /// Tickets resolved.
    pub resolved: i64,
    /// Of those, resolved before their deadline.
    pub resolved_on_time: i64,
    /// Ratings given.
    pub rated: i64,
    /// Ratings "satisfied" or "basically satisfied".
    pub satisfied: i64,
    /// resolved_on_time / resolved, percent; null when nothing was resolved.
    pub on_time_rate: Option<f64>,
    /// satisfied / rated, percent; null when nothing was rated.
    pub satisfaction_rate: Option<f64>,
}

#[derive(Debug, Serialize, Default, Clone, utoipa::ToSchema)]
pub struct Kpis {
    pub today: Period,
    pub month: Period,
    /// Open tickets past their deadline now.
    pub overdue_now: i64,
}

async fn one(db: &Db, sql: &str, since: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query(sql)
        .bind(since)
        .fetch_one(db.pool())
        .await?
        .try_get(0)?)
}

async fn period(db: &Db, since: i64) -> Result<Period, StoreError> {
    let received = one(
        db,
        "SELECT COUNT(*) FROM tickets WHERE created_at >= $1",
        since,
    )
    .await?;
    let dispatched = one(
        db,
        "SELECT COUNT(DISTINCT ticket_id) FROM ticket_audit WHERE action = 'dispatch' AND at >= $1",
        since,
    )
    .await?;
    let resolved = one(
        db,
        "SELECT COUNT(*) FROM tickets WHERE resolved_at >= $1",
        since,
    )
    .await?;
    let resolved_on_time = one(
        db,
        "SELECT COUNT(*) FROM tickets WHERE resolved_at >= $1 AND resolved_at <= deadline_at",
        since,
    )
    .await?;
    let rated = one(
        db,
        "SELECT COUNT(*) FROM tickets WHERE closed_at >= $1 AND satisfaction IS NOT NULL",
        since,
    )
    .await?;
    let satisfied = one(
        db,
        "SELECT COUNT(*) FROM tickets WHERE closed_at >= $1 AND satisfaction IN ('satisfied', 'basically_satisfied')",
        since,
    )
    .await?;
    let pct = |a: i64, b: i64| (b > 0).then(|| (a as f64 * 1000.0 / b as f64).round() / 10.0);
    Ok(Period {
        received,
        dispatched,
        resolved,
        resolved_on_time,
        rated,
        satisfied,
        on_time_rate: pct(resolved_on_time, resolved),
        satisfaction_rate: pct(satisfied, rated),
    })
}

impl Tickets {
    /// Today and this month, in the hotline's time zone.
    pub async fn kpis(&self) -> Result<Kpis, StoreError> {
        let tz = self.tz();
        let now = Utc::now().with_timezone(&tz);
        let day = now.date_naive();
        let start = |d: chrono::NaiveDate| {
            tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
                .earliest()
                .map(|t| t.timestamp_millis())
                .unwrap_or(0)
        };
        let month_start = day.with_day(1).unwrap_or(day);
        let db = self.db();
        let overdue_now = one(
            db,
            "SELECT COUNT(*) FROM tickets WHERE deadline_at < $1 AND state NOT IN ('resolved', 'follow_up', 'closed')",
            Utc::now().timestamp_millis(),
        )
        .await?;
        Ok(Kpis {
            today: period(db, start(day)).await?,
            month: period(db, start(month_start)).await?,
            overdue_now,
        })
    }

    /// How many tickets are in each state now (every state, zero included).
    pub async fn count_by_state(&self) -> Result<Vec<(State, i64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM tickets GROUP BY state")
            .fetch_all(self.db().pool())
            .await?;
        let mut out: Vec<(State, i64)> = State::ALL.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let st: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            if let Some(slot) = out.iter_mut().find(|(s, _)| s.code() == st) {
                slot.1 = n;
            }
        }
        Ok(out)
    }
}
