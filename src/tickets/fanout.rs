//! Live screens across nodes: a console on node B shows a change made on node A. Every event
//! is announced on PostgreSQL's [`events::CHANNEL`] by the transaction that writes it
//! (`events::write`); each node listens, reads the events other nodes announced and hands
//! them to its own live channel, the one its screens already follow.
//!
//! `LISTEN` loses what is announced while its connection is down, so after a reconnect the
//! node reads every event since the last one it heard of. Those may include a few of its own
//! from the gap, which its screens then get twice; a screen treats an event as "show this
//! ticket as it now is", so a repeat shows nothing new. SQLite has one node and no fan-out.

use tokio_util::sync::CancellationToken;

use super::events::{self, TicketEvent};
use super::Tickets;
use crate::store::listen::{Heard, Listener};

/// At most this many gap events are replayed after a reconnect; older ones are history.
const CATCH_UP: i64 = 500;

/// An announcement `<origin>:<event id>`.
fn parse(payload: &str) -> Option<(&str, i64)> {
    let (origin, id) = payload.split_once(':')?;
    Some((origin, id.parse().ok()?))
}

/// Listens on `url` (the same PostgreSQL the node uses) until `shutdown`.
pub async fn run(tickets: Tickets, url: String, shutdown: CancellationToken) {
    let mut listener = Listener::new(&url, &[events::CHANNEL], "live updates from other nodes");
    // The newest event heard of (any node's); `None` until the first announcement.
    let mut last: Option<i64> = None;
    while let Some(heard) = listener.next(&shutdown).await {
        match heard {
            Heard::Listening { again: false } => {}
            // Announcements while not listening are gone: read what was written since.
            Heard::Listening { again: true } | Heard::Gap => catch_up(&tickets, &mut last).await,
            Heard::Note { payload, .. } => {
                let Some((origin, id)) = parse(&payload) else {
                    tracing::warn!(payload, "live updates: unreadable announcement");
                    continue;
                };
                last = Some(last.map_or(id, |l| l.max(id)));
                if origin != events::origin() {
                    forward_one(&tickets, id).await;
                }
            }
        }
    }
}

async fn forward_one(tickets: &Tickets, id: i64) {
    match events::by_id(tickets.db(), id).await {
        Ok(Some(e)) => send(tickets, e),
        Ok(None) => tracing::debug!(event_id = id, "announced event not readable here"),
        Err(e) => tracing::warn!(event_id = id, "live updates: reading an event failed: {e}"),
    }
}

async fn catch_up(tickets: &Tickets, last: &mut Option<i64>) {
    let Some(after) = *last else { return };
    match events::since(tickets.db(), after, CATCH_UP).await {
        Ok(list) => {
            if !list.is_empty() {
                tracing::info!(
                    events = list.len(),
                    "live updates: caught up after a reconnect"
                );
            }
            for e in list {
                *last = Some(e.id);
                send(tickets, e);
            }
        }
        Err(e) => tracing::warn!("live updates: catching up failed: {e}"),
    }
}

fn send(tickets: &Tickets, e: TicketEvent) {
    // No screen open is no error.
    let _ = tickets.live().send(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_parse_and_junk_does_not() {
        assert_eq!(parse("00ff:42"), Some(("00ff", 42)));
        assert_eq!(parse("00ff"), None);
        assert_eq!(parse("00ff:x"), None);
        assert_eq!(parse(""), None);
    }
}
