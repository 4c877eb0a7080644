//! The web: health and readiness now; the operator console, department portal, public
//! status page, JSON API and Open311 are built here too (DESIGN.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

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

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Ready when the database answers and every enabled part is up; the body says which part
/// is not.
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let r = &s.readiness;
    let db = s.tickets.db().ping().await;
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
