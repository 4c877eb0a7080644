//! `/metrics` in the Prometheus text format, and the KPIs of the supervisor board (read
//! from the database, so every node reports the same figures).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use sqlx::Row;

use super::error::WebError;
use super::Ctx;

#[derive(Debug, Default)]
pub struct WebStats {
    http: [AtomicU64; 5],
    logins: [AtomicU64; 3],
    status: [AtomicU64; 3],
    sse: Arc<AtomicI64>,
}

/// Decrements the live-stream gauge when a stream ends.
pub struct SseGuard(Arc<AtomicI64>);

impl Drop for SseGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WebStats {
    pub fn login(&self, result: &str) {
        let i = match result {
            "ok" => 0,
            "failed" => 1,
            _ => 2,
        };
        self.logins[i].fetch_add(1, Ordering::Relaxed);
    }
    pub fn status(&self, result: &str) {
        let i = match result {
            "found" => 0,
            "not_found" => 1,
            _ => 2,
        };
        self.status[i].fetch_add(1, Ordering::Relaxed);
    }
    pub fn sse_open(&self) -> SseGuard {
        self.sse.fetch_add(1, Ordering::Relaxed);
        SseGuard(self.sse.clone())
    }
}

pub async fn count_requests(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let class = (res.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    ctx.stats.http[class].fetch_add(1, Ordering::Relaxed);
    res
}

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

async fn one(ctx: &Ctx, sql: &str, since: i64) -> Result<i64, WebError> {
    Ok(sqlx::query(sql)
        .bind(since)
        .fetch_one(ctx.db().pool())
        .await?
        .try_get(0)?)
}

async fn period(ctx: &Ctx, since: i64) -> Result<Period, WebError> {
    let received = one(
        ctx,
        "SELECT COUNT(*) FROM tickets WHERE created_at >= $1",
        since,
    )
    .await?;
    let dispatched = one(
        ctx,
        "SELECT COUNT(DISTINCT ticket_id) FROM ticket_audit WHERE action = 'dispatch' AND at >= $1",
        since,
    )
    .await?;
    let resolved = one(
        ctx,
        "SELECT COUNT(*) FROM tickets WHERE resolved_at >= $1",
        since,
    )
    .await?;
    let resolved_on_time = one(
        ctx,
        "SELECT COUNT(*) FROM tickets WHERE resolved_at >= $1 AND resolved_at <= deadline_at",
        since,
    )
    .await?;
    let rated = one(
        ctx,
        "SELECT COUNT(*) FROM tickets WHERE closed_at >= $1 AND satisfaction IS NOT NULL",
        since,
    )
    .await?;
    let satisfied = one(
        ctx,
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

/// Today and this month, in the hotline's time zone.
pub async fn kpis(ctx: &Ctx) -> Result<Kpis, WebError> {
    let tz = ctx.tickets().tz();
    let now = Utc::now().with_timezone(&tz);
    let day = now.date_naive();
    let start = |d: chrono::NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| t.timestamp_millis())
            .unwrap_or(0)
    };
    let month_start = day.with_day(1).unwrap_or(day);
    let overdue_now = one(
        ctx,
        "SELECT COUNT(*) FROM tickets WHERE deadline_at < $1 AND state NOT IN ('resolved', 'follow_up', 'closed')",
        Utc::now().timestamp_millis(),
    )
    .await?;
    Ok(Kpis {
        today: period(ctx, start(day)).await?,
        month: period(ctx, start(month_start)).await?,
        overdue_now,
    })
}

/// Prometheus text exposition (version 0.0.4).
pub async fn metrics(State(ctx): State<Ctx>) -> Response {
    let mut out = String::new();
    let s = &ctx.stats;
    out.push_str("# HELP hotline_http_responses_total HTTP responses by status class.\n# TYPE hotline_http_responses_total counter\n");
    for (i, c) in s.http.iter().enumerate() {
        out.push_str(&format!(
            "hotline_http_responses_total{{class=\"{}xx\"}} {}\n",
            i + 1,
            c.load(Ordering::Relaxed)
        ));
    }
    out.push_str("# HELP hotline_logins_total Login attempts by result.\n# TYPE hotline_logins_total counter\n");
    for (i, r) in ["ok", "failed", "throttled"].iter().enumerate() {
        out.push_str(&format!(
            "hotline_logins_total{{result=\"{r}\"}} {}\n",
            s.logins[i].load(Ordering::Relaxed)
        ));
    }
    out.push_str("# HELP hotline_status_lookups_total Public status-page lookups by result.\n# TYPE hotline_status_lookups_total counter\n");
    for (i, r) in ["found", "not_found", "throttled"].iter().enumerate() {
        out.push_str(&format!(
            "hotline_status_lookups_total{{result=\"{r}\"}} {}\n",
            s.status[i].load(Ordering::Relaxed)
        ));
    }
    out.push_str(&format!(
        "# HELP hotline_live_streams Console live-update streams open.\n# TYPE hotline_live_streams gauge\nhotline_live_streams {}\n",
        s.sse.load(Ordering::Relaxed)
    ));
    let up = ctx.db().ping().await;
    out.push_str(&format!(
        "# HELP hotline_database_up Whether the database answers.\n# TYPE hotline_database_up gauge\nhotline_database_up {}\n",
        up as u8
    ));
    let r = &ctx.app.readiness;
    out.push_str("# HELP hotline_component_up Readiness of each part (1 up, 0 down).\n# TYPE hotline_component_up gauge\n");
    for (name, v) in [
        ("sip", r.sip_listening.load(Ordering::Relaxed)),
        ("smsc", r.smsc_bound.load(Ordering::Relaxed)),
        (
            "speech_model",
            r.speech_model_loaded.load(Ordering::Relaxed),
        ),
    ] {
        out.push_str(&format!(
            "hotline_component_up{{component=\"{name}\"}} {}\n",
            v as u8
        ));
    }
    if up {
        if let Ok(rows) = sqlx::query("SELECT state, COUNT(*) FROM tickets GROUP BY state")
            .fetch_all(ctx.db().pool())
            .await
        {
            out.push_str(
                "# HELP hotline_tickets Tickets by state.\n# TYPE hotline_tickets gauge\n",
            );
            for row in rows {
                let st: String = row.try_get(0).unwrap_or_default();
                let n: i64 = row.try_get(1).unwrap_or(0);
                if st.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    out.push_str(&format!("hotline_tickets{{state=\"{st}\"}} {n}\n"));
                }
            }
        }
        if let Ok(k) = kpis(&ctx).await {
            out.push_str(&format!(
                "# HELP hotline_tickets_overdue Open tickets past their deadline.\n# TYPE hotline_tickets_overdue gauge\nhotline_tickets_overdue {}\n",
                k.overdue_now
            ));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
