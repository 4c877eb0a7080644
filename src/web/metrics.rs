//! `/metrics`: the Prometheus text of the whole process (rendered by [`crate::telemetry`])
//! plus the web's own counters and a few database gauges, so every node reports the same
//! ticket figures. Those gauges cost a dozen queries: they are computed at most every
//! `[web] metrics_refresh_secs`, and only for a scraper with the bearer token or from an
//! allowed address.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Ctx;

/// The web's counters, recorded through the `metrics` crate.
#[derive(Debug, Default)]
pub struct WebStats;

/// Decrements the live-stream gauge when a stream ends.
pub struct SseGuard(());

impl Drop for SseGuard {
    fn drop(&mut self) {
        metrics::gauge!("hotline_live_streams").decrement(1.0);
    }
}

impl WebStats {
    /// A login attempt: `ok`, `failed`, `throttled` or `busy` (no password check free).
    pub fn login(&self, result: &'static str) {
        metrics::counter!("hotline_logins_total", "result" => result).increment(1);
    }
    /// A password checked (an argon2 hash computed) for a login.
    pub fn password_check(&self) {
        metrics::counter!("hotline_login_password_checks_total").increment(1);
    }
    /// A public status lookup: `found`, `not_found` or `throttled`.
    pub fn status(&self, result: &'static str) {
        metrics::counter!("hotline_status_lookups_total", "result" => result).increment(1);
    }
    pub fn sse_open(&self) -> SseGuard {
        metrics::gauge!("hotline_live_streams").increment(1.0);
        SseGuard(())
    }
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

pub async fn count_requests(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let class = (res.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    metrics::counter!("hotline_http_responses_total", "class" => CLASSES[class]).increment(1);
    res
}

/// `hotline_kpi{kpi, period}` for today and this month, and `hotline_kpi_target{kpi}`: the
/// scorecard's values (docs/kpis.md) read at scrape time. A KPI with nothing counted yet
/// reads NaN, not zero.
async fn kpi_gauges(ctx: &super::Ctx) {
    let sc = ctx.scorecard();
    for (period, span) in [
        ("today", sc.today()),
        ("month", sc.last(crate::scorecard::Grain::Month, 1)),
    ] {
        let Ok(r) = sc.report(&span, crate::scorecard::GroupBy::Total).await else {
            continue;
        };
        for v in &r.total.kpis {
            let g = metrics::gauge!("hotline_kpi", "kpi" => v.kpi.code(), "period" => period);
            match v.value {
                Some(x) => g.set(x),
                None => g.set(f64::NAN),
            }
        }
    }
    for (k, t) in &sc.config().targets {
        metrics::gauge!("hotline_kpi_target", "kpi" => k.code()).set(*t);
    }
}

/// When the database gauges were last computed; one refresh at a time.
#[derive(Debug, Default)]
pub struct GaugeCache {
    refreshed: tokio::sync::Mutex<Option<Instant>>,
}

/// Whether this scrape may read the metrics: the configured bearer token, or a TCP peer in
/// `[web] metrics_allow`.
fn may_scrape(ctx: &Ctx, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    if let Some(token) = ctx.cfg.metrics_token.as_deref().filter(|t| !t.is_empty()) {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if sent.is_some_and(|s| super::auth::constant_eq(s.as_bytes(), token.as_bytes())) {
            return true;
        }
    }
    peer.is_some_and(|ip| ctx.metrics_allow.iter().any(|n| n.contains(&ip)))
}

/// The database gauges, unless they were computed less than `metrics_refresh_secs` ago.
async fn refresh_gauges(ctx: &Ctx) {
    let mut last = ctx.gauges.refreshed.lock().await;
    let every = Duration::from_secs(ctx.cfg.metrics_refresh_secs);
    if last.is_some_and(|t| t.elapsed() < every) {
        return;
    }
    metrics::counter!("hotline_metrics_refreshes_total").increment(1);
    let up = ctx.db().ping().await;
    metrics::gauge!("hotline_database_up").set(up as u8 as f64);
    if up {
        if let Ok(states) = ctx.tickets().count_by_state().await {
            for (state, n) in states {
                metrics::gauge!("hotline_tickets", "state" => state.code()).set(n as f64);
            }
        }
        if let Ok(n) = ctx.tickets().overdue_now().await {
            metrics::gauge!("hotline_tickets_overdue").set(n as f64);
        }
        kpi_gauges(ctx).await;
    }
    *last = Some(Instant::now());
}

/// Prometheus text exposition (version 0.0.4).
pub async fn metrics(State(ctx): State<Ctx>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if !may_scrape(&ctx, peer, req.headers()) {
        tracing::warn!(
            ?peer,
            "/metrics refused: no valid token and not an allowed address"
        );
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "metrics need a bearer token\n",
        )
            .into_response();
    }
    let r = &ctx.app.readiness;
    for (name, v) in [
        ("sip", r.sip_listening.load(Ordering::Relaxed)),
        ("smsc", r.smsc_bound.load(Ordering::Relaxed)),
        (
            "speech_model",
            r.speech_model_loaded.load(Ordering::Relaxed),
        ),
    ] {
        metrics::gauge!("hotline_component_up", "component" => name).set(v as u8 as f64);
    }
    refresh_gauges(&ctx).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(),
    )
        .into_response()
}
