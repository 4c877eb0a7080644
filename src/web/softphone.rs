//! The browser softphone's signalling: the agent desk opens `/console/desk/phone`, a
//! WebSocket on the console's own session (no SIP credentials in the browser), and for as
//! long as it is open the tab is the agent's phone. JSON text messages:
//!
//! - to the page: `{"type":"ring","caller":…}` (a queue call rings), `{"type":"stop"}` (the
//!   ringing ended unanswered), `{"type":"answer","sdp":…}` (our SDP answer), `{"type":
//!   "ended"}` (the call is over), `{"type":"error","message":…}`;
//! - from the page: `{"type":"offer","sdp":…}` (the person answered: the browser's offer),
//!   `{"type":"decline"}`, `{"type":"hangup"}`.
//!
//! A closed socket (tab closed, network gone) loses the call in progress at once, so the
//! caller goes back to the head of the queue. A browser whose network dies while its TCP
//! lingers is caught twice over: in a call its leg falls silent (no RTP, no consent checks)
//! and ends as lost, which also closes this socket so no new call rings the dead tab; idle
//! or ringing, it stops answering our pings. A live page reconnects on its own.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant, MissedTickBehavior};

use super::auth::Session;
use super::authz::Perm;
use super::error::WebError;
use super::Ctx;
use crate::acd::BrowserRing;
use crate::webrtc::LegHandle;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToPage<'a> {
    Ring { caller: &'a str },
    Stop,
    Answer { sdp: String },
    Ended,
    Error { message: String },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    Offer { sdp: String },
    Decline,
    Hangup,
}

/// How often the line pings the page; browsers answer pings without the page's help.
const PING_EVERY: Duration = Duration::from_secs(3);

/// A page heard from (message or pong) less recently than this is gone.
const SILENT_LIMIT: Duration = Duration::from_secs(9);

/// Opens the phone line of the signed-in agent's desk.
pub(super) async fn phone(
    State(ctx): State<Ctx>,
    s: Session,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, WebError> {
    s.require(Perm::Desk)?;
    // A WebSocket is not bound by the same-origin rule: another site's page must not
    // open this one with the agent's cookie.
    if !same_origin(&headers) {
        return Err(WebError::Forbidden);
    }
    if ctx.acd.is_none() || ctx.webrtc.is_none() {
        return Err(WebError::Conflict("浏览器软电话未启用。".into()));
    }
    let agent = s.account.name.clone();
    Ok(ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| line(ctx, agent, socket))
        .into_response())
}

fn same_origin(h: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (
        h.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        h.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

/// Where the line stands.
enum Line {
    Idle,
    Ringing(BrowserRing),
    InCall(LegHandle),
}

async fn line(ctx: Ctx, agent: String, mut ws: WebSocket) {
    let (Some(acd), Some(gateway)) = (ctx.acd.clone(), ctx.webrtc.clone()) else {
        return;
    };
    let (tx, mut rings) = mpsc::unbounded_channel();
    let id = acd.attach_browser(&agent, tx);
    let mut state = Line::Idle;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        let ring_over = async {
            match &state {
                Line::Ringing(r) => r.stop.cancelled().await,
                _ => std::future::pending().await,
            }
        };
        let call_over = async {
            match &state {
                Line::InCall(h) => h.ended().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            ring = rings.recv(), if matches!(state, Line::Idle) => {
                let Some(ring) = ring else { break };
                if send(&mut ws, &ToPage::Ring { caller: &ring.caller }).await.is_err() {
                    break;
                }
                state = Line::Ringing(ring);
            }
            _ = ring_over => {
                state = Line::Idle;
                if send(&mut ws, &ToPage::Stop).await.is_err() {
                    break;
                }
            }
            _ = call_over => {
                let lost = matches!(&state, Line::InCall(h) if h.was_lost());
                state = Line::Idle;
                if send(&mut ws, &ToPage::Ended).await.is_err() {
                    break;
                }
                if lost {
                    // The tab is likely gone: it rings again only once it reconnects.
                    tracing::info!(%agent, "softphone: browser lost mid-call, line closed");
                    break;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_LIMIT {
                    tracing::info!(%agent, "softphone: page stopped answering pings");
                    break;
                }
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            msg = ws.recv() => {
                last_heard = Instant::now();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                let Ok(m) = serde_json::from_str::<FromPage>(&text) else {
                    tracing::info!(%agent, "softphone: message not understood");
                    continue;
                };
                state = match (m, std::mem::replace(&mut state, Line::Idle)) {
                    (FromPage::Offer { sdp }, Line::Ringing(ring)) => {
                        match gateway.answer(&sdp) {
                            Ok((leg, answer)) => {
                                let handle = leg.handle();
                                if let Err(leg) = ring.answer.send(leg) {
                                    // Someone else answered first, or the caller left.
                                    leg.hangup();
                                    let _ = send(&mut ws, &ToPage::Ended).await;
                                    Line::Idle
                                } else {
                                    if send(&mut ws, &ToPage::Answer { sdp: answer }).await.is_err() {
                                        handle.lose();
                                        break;
                                    }
                                    Line::InCall(handle)
                                }
                            }
                            Err(e) => {
                                tracing::warn!(%agent, error = %e, "softphone: offer refused");
                                let _ = send(&mut ws, &ToPage::Error { message: e.to_string() }).await;
                                Line::Idle
                            }
                        }
                    }
                    (FromPage::Decline, Line::Ringing(_)) => Line::Idle,
                    (FromPage::Hangup, Line::InCall(h)) => {
                        h.hang_up();
                        // The page closes its peer connection only on this, so the
                        // closing connection is never taken for a lost browser.
                        if send(&mut ws, &ToPage::Ended).await.is_err() {
                            break;
                        }
                        Line::Idle
                    }
                    (_, other) => other,
                };
            }
        }
    }
    if let Line::InCall(h) = &state {
        h.lose();
    }
    acd.detach_browser(&agent, id);
}

async fn send(ws: &mut WebSocket, m: &ToPage<'_>) -> Result<(), axum::Error> {
    let text = serde_json::to_string(m).unwrap_or_default();
    ws.send(Message::Text(text.into())).await
}
