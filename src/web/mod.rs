//! The web (axum): the operator console, department portal, supervisor board, account
//! administration, public status page, JSON API (`/api/v1`, OpenAPI), Open311 GeoReport v2,
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! Everything is server-rendered (minijinja templates compiled in) with a little vanilla JS
//! for live updates (SSE) and keyboard shortcuts. Roles are enforced on the server for every
//! route with the one permission table of `tickets::permission` (`authz.rs` adapts it to
//! accounts); every change to a ticket is a `tickets::Command`, run by `act.rs` for the
//! pages (`pages/`) and the JSON API (`api.rs`) alike, and `tickets` writes the audit line.
//! The web's own tables (accounts, API tokens, Open311 tokens) are read and written in
//! `accounts.rs`, its sessions in `auth.rs`; errors become Chinese text in `error.rs`.
//! `softphone.rs` carries the agent desk's browser phone (WebRTC signalling on a WebSocket).

mod access_log;
pub mod accounts;
mod act;
pub(crate) mod api;
pub mod auth;
pub mod authz;
mod config;
mod desk;
mod error;
mod export;
mod live;
mod login_failures;
mod metrics;
mod notices;
pub(crate) mod open311;
mod pages;
mod softphone;
mod views;

pub use config::WebConfig;

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::acd::Acd;
use crate::calls::Calls;
use crate::scorecard::{Scorecard, ScorecardConfig};
use crate::store::Db;
use crate::tickets::Tickets;

/// What `/readyz` reports; each part is set by the component that owns it.
#[derive(Debug, Default)]
pub struct Readiness {
    pub sip_listening: AtomicBool,
    pub smsc_bound: AtomicBool,
    pub sms_enabled: AtomicBool,
    pub speech_model_loaded: AtomicBool,
    pub speech_enabled: AtomicBool,
}

#[derive(Clone)]
pub struct AppState {
    pub tickets: Tickets,
    pub readiness: Arc<Readiness>,
}

/// Calls in progress, as the SIP side knows them: lets the operator's "new ticket" form
/// fill in the caller's number. Implemented by whoever owns the calls (`server.rs` wires it).
pub trait ActiveCalls: Send + Sync {
    /// Caller numbers of calls now connected to an operator (most recent first).
    fn callers(&self) -> Vec<String>;
}

/// Any function returning the callers will do, e.g. `move || engine.bridged_callers()`.
impl<F: Fn() -> Vec<String> + Send + Sync> ActiveCalls for F {
    fn callers(&self) -> Vec<String> {
        self()
    }
}

/// Everything the web needs beyond [`AppState`]; `Default` is the working demo set-up.
#[derive(Clone, Default)]
pub struct WebExtras {
    pub config: WebConfig,
    pub calls: Option<Arc<dyn ActiveCalls>>,
    /// The call centre, for the agent desk and the wallboard (`None`: those pages and the
    /// agent routes say it is not running).
    pub acd: Option<Acd>,
    /// `[sip.destinations]` names an agent may transfer a caller to.
    pub destinations: Vec<String>,
    /// Browser legs for the desk's softphone (`None`: the desk has no phone of its own).
    pub webrtc: Option<crate::webrtc::Gateway>,
    /// `[scorecard]`: what the board, the reports and `/metrics` count and their targets.
    pub scorecard: ScorecardConfig,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

pub struct Inner {
    pub app: AppState,
    pub cfg: WebConfig,
    pub calls: Option<Arc<dyn ActiveCalls>>,
    pub acd: Option<Acd>,
    pub destinations: Vec<String>,
    pub webrtc: Option<crate::webrtc::Gateway>,
    /// The caller each agent was offered last (the desk's screen pop after a reload).
    pub offers: Arc<desk::Offers>,
    /// The call records (话单), on the tickets' database.
    pub records: Calls,
    pub scorecard: Scorecard,
    pub tpl: minijinja::Environment<'static>,
    pub login_failures: auth::Window,
    /// Password checks allowed at once (`[web] login_hash_concurrency`).
    pub login_hashes: tokio::sync::Semaphore,
    /// `[web] trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub status_hits: auth::Window,
    pub status_failures: auth::Window,
    /// Open311 reads per client address.
    pub open311_reads: auth::Window,
    /// `[web] open311_public_services`, parsed: what the public may read when it may.
    pub open311_public_kinds: Vec<crate::tickets::Kind>,
    pub stats: metrics::WebStats,
    /// `/metrics`' database gauges and when they were computed.
    pub gauges: metrics::GaugeCache,
    /// `[web] metrics_allow`, parsed.
    pub metrics_allow: Vec<ipnet::IpNet>,
}

impl Deref for Ctx {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Ctx {
    pub fn tickets(&self) -> &Tickets {
        &self.app.tickets
    }
    pub fn db(&self) -> &Db {
        self.app.tickets.db()
    }
    pub fn records(&self) -> &Calls {
        &self.records
    }
    pub fn scorecard(&self) -> &Scorecard {
        &self.scorecard
    }
}

/// The whole site with the demo defaults (see [`router_with`]).
pub fn router(state: AppState) -> Router {
    router_with(state, WebExtras::default())
}

/// The whole site: pages, APIs, Open311, metrics and health.
pub fn router_with(state: AppState, extras: WebExtras) -> Router {
    // The web's counters and gauges need the recorder before the first request.
    crate::telemetry::install();
    let records = Calls::new(state.tickets.db().clone());
    let scorecard = Scorecard::new(state.tickets.clone(), extras.scorecard);
    let offers = Arc::new(desk::Offers::default());
    if let Some(acd) = &extras.acd {
        offers.follow(acd);
    }
    let open311_public_kinds = open311::public_kinds(&extras.config.open311_public_services);
    let login_hashes = tokio::sync::Semaphore::new(extras.config.login_hash_concurrency.max(1));
    let trusted_proxies = auth::parse_networks("trusted_proxies", &extras.config.trusted_proxies);
    let metrics_allow = auth::parse_networks("metrics_allow", &extras.config.metrics_allow);
    let ctx = Ctx(Arc::new(Inner {
        app: state,
        cfg: extras.config,
        calls: extras.calls,
        acd: extras.acd,
        destinations: extras.destinations,
        webrtc: extras.webrtc,
        offers,
        records,
        scorecard,
        tpl: views::environment(),
        login_failures: auth::Window::default(),
        login_hashes,
        trusted_proxies,
        status_hits: auth::Window::default(),
        status_failures: auth::Window::default(),
        open311_reads: auth::Window::default(),
        open311_public_kinds,
        stats: metrics::WebStats,
        gauges: metrics::GaugeCache::default(),
        metrics_allow,
    }));
    let pages = pages::routes().layer(axum::middleware::from_fn_with_state(
        ctx.clone(),
        auth::session_layer,
    ));
    Router::new()
        .merge(pages)
        .nest("/api/v1", api::routes())
        .nest("/open311/v2", open311::routes())
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .layer(axum::middleware::from_fn(metrics::count_requests))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(ctx)
}

/// Headers every answer carries: no framing, no sniffing, no referrer leaks, scripts only
/// from this site.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages and API answers carry personal data: no shared or disk caches.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; media-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ));
    res
}

/// Ready when the database answers and every enabled part is up; the body says which part
/// is not.
async fn readyz(State(s): State<Ctx>) -> impl IntoResponse {
    let r = &s.app.readiness;
    let db = s.db().ping().await;
    let sip = r.sip_listening.load(Ordering::Relaxed);
    let sms_on = r.sms_enabled.load(Ordering::Relaxed);
    let smsc = r.smsc_bound.load(Ordering::Relaxed);
    let speech_on = r.speech_enabled.load(Ordering::Relaxed);
    let model = r.speech_model_loaded.load(Ordering::Relaxed);
    let ready = db && sip && (!sms_on || smsc);
    let body = json!({
        "ready": ready,
        "database": db,
        "sip_listening": sip,
        "smsc_bound": if sms_on { json!(smsc) } else { json!("disabled") },
        "speech_model_loaded": if speech_on { json!(model) } else { json!("disabled") },
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
