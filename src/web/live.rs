//! Live streams (SSE) outlive the request that opened them, so the session that opened one
//! is checked again while it runs: every `[web] live_recheck_secs` and before an event
//! goes out. A logout, an expiry, a disabled account or a changed role ends the stream.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::response::sse::Event;
use futures::{Stream, StreamExt};
use sqlx::Row;

use super::accounts;
use super::auth::Session;
use super::Ctx;
use crate::store::now_ms;

/// Before an event, the session is read again unless it was this recently.
const EVENT_RECHECK: Duration = Duration::from_secs(1);

/// Whether `s` still stands as it did when the stream opened. A database error counts as
/// no: the browser reconnects and logs in again, rather than a stream running unchecked.
pub async fn still_signed_in(ctx: &Ctx, s: &Session) -> bool {
    let row =
        sqlx::query("SELECT expires_at, last_seen_at FROM web_sessions WHERE token_hash = $1")
            .bind(&s.token_hash)
            .fetch_optional(ctx.db().pool())
            .await;
    let (expires, seen): (i64, i64) = match row {
        Ok(Some(r)) => match (r.try_get(0), r.try_get(1)) {
            (Ok(e), Ok(l)) => (e, l),
            _ => return false,
        },
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "live stream: session check failed");
            return false;
        }
    };
    let now = now_ms();
    let idle_ms = (ctx.cfg.idle_minutes.max(1) as i64) * 60_000;
    if expires < now || seen + idle_ms < now {
        return false;
    }
    match accounts::get(ctx.db(), s.account.id).await {
        Ok(a) => a.active && a.role == s.account.role && a.department == s.account.department,
        Err(_) => false,
    }
}

/// `events` for as long as the session that opened them stands.
pub fn while_signed_in<S>(
    ctx: Ctx,
    s: Session,
    events: S,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let every = Duration::from_secs(ctx.cfg.live_recheck_secs.max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (Box::pin(events), tick, ctx, s, Instant::now());
    futures::stream::unfold(
        state,
        |(mut events, mut tick, ctx, s, mut checked)| async move {
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if !still_signed_in(&ctx, &s).await {
                            tracing::info!(account = %s.account.name, "live stream ended: session no longer valid");
                            return None;
                        }
                        checked = Instant::now();
                    }
                    item = events.next() => {
                        let item = item?;
                        if checked.elapsed() >= EVENT_RECHECK {
                            if !still_signed_in(&ctx, &s).await {
                                tracing::info!(account = %s.account.name, "live stream ended: session no longer valid");
                                return None;
                            }
                            checked = Instant::now();
                        }
                        return Some((item, (events, tick, ctx, s, checked)));
                    }
                }
            }
        },
    )
}
