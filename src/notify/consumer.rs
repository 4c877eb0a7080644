//! The one loop that turns ticket events into work: every consumer (SMS notices, department
//! mail, transcription jobs) runs it with its own cursor name and handler.
//!
//! Each round takes a batch with [`claim_batch`], hands every event to the handler inside
//! the batch's transaction (where the handler writes its outbox or job rows) and commits the
//! rows together with the delivery, so each event reaches each consumer exactly once, also
//! with several nodes on one PostgreSQL. A live event (same process) wakes the loop at once;
//! the tick catches events written by other nodes. A failed round rolls back and is retried
//! after a backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyConnection;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::{now_ms, Db, StoreError};
use crate::tickets::events::{claim_batch, TicketEvent};

use super::desk::DeskError;
use super::retry::loop_backoff;

/// Why a round failed (it rolled back; the events come again).
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tickets: {0}")]
    Desk(#[from] DeskError),
}

impl From<sqlx::Error> for ConsumeError {
    fn from(e: sqlx::Error) -> Self {
        ConsumeError::Store(StoreError::Sql(e))
    }
}

/// What one consumer does with each event.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// The consumer's cursor name (`sms`, `mail`, `speech`).
    fn name(&self) -> &'static str;
    /// Events per round.
    fn batch(&self) -> i64 {
        100
    }
    /// Longest wait between rounds when nothing wakes the loop.
    fn tick(&self) -> Duration {
        Duration::from_secs(2)
    }
    /// Writes this consumer's rows for `ev` on `conn` (the batch's transaction).
    async fn handle(&self, conn: &mut AnyConnection, ev: &TicketEvent) -> Result<(), ConsumeError>;
    /// Called after a round with events committed (e.g. to wake a sender).
    fn committed(&self, _events: usize) {}
}

/// One round: returns how many events were taken (and committed).
pub async fn consume_once(db: &Db, h: &dyn EventHandler) -> Result<usize, ConsumeError> {
    let mut batch = claim_batch(db, h.name(), h.batch().max(1)).await?;
    let events = std::mem::take(&mut batch.events);
    let lag = events
        .first()
        .map(|e| (now_ms() - e.created_at).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    metrics::gauge!("hotline_events_lag_seconds", "consumer" => h.name()).set(lag);
    if events.is_empty() {
        return Ok(0);
    }
    for ev in &events {
        h.handle(batch.conn(), ev).await?;
    }
    batch.events = events;
    let n = batch.events.len();
    batch.commit().await?;
    tracing::debug!(consumer = h.name(), events = n, "ticket events consumed");
    h.committed(n);
    Ok(n)
}

/// Runs `h` until `shutdown`.
pub async fn run(
    db: Db,
    h: Arc<dyn EventHandler>,
    mut wake: Option<broadcast::Receiver<TicketEvent>>,
    shutdown: CancellationToken,
) {
    let backoff = loop_backoff();
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let wait = match consume_once(&db, h.as_ref()).await {
            Ok(0) => {
                failures = 0;
                h.tick()
            }
            Ok(_) => {
                failures = 0;
                continue;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(consumer = h.name(), "reading ticket events failed: {e}");
                backoff.delay(failures)
            }
        };
        let woken = async {
            match wake.as_mut() {
                Some(w) => {
                    if let Err(broadcast::error::RecvError::Closed) = w.recv().await {
                        std::future::pending::<()>().await
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = woken, if failures == 0 => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
