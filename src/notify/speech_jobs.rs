//! The `speech` consumer: a voice message's `accepted` event (written in the ticket's own
//! transaction, with the recording path) becomes its transcription job in this consumer's
//! transaction, so a crash at any point loses no job and makes no second one.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AnyConnection;

use crate::speech::{queue, SpeechService};
use crate::tickets::events::{EventKind, TicketEvent};

use super::consumer::{ConsumeError, EventHandler};

pub const CONSUMER: &str = "speech";

/// Queues a transcription job for each voice message.
#[derive(Default)]
pub struct SpeechJobs {
    /// Woken after new jobs are committed (the server's worker pool), if any.
    pub service: Option<Arc<SpeechService>>,
}

#[async_trait]
impl EventHandler for SpeechJobs {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    async fn handle(&self, conn: &mut AnyConnection, ev: &TicketEvent) -> Result<(), ConsumeError> {
        if ev.kind != EventKind::Accepted {
            return Ok(());
        }
        let Some(path) = ev.payload.recording_path.as_deref() else {
            return Ok(());
        };
        queue::enqueue(
            conn,
            ev.payload.ticket_id,
            path,
            ev.payload.language.as_deref(),
        )
        .await?;
        Ok(())
    }

    fn committed(&self, _events: usize) {
        if let Some(s) = &self.service {
            s.notify();
        }
    }
}

/// Catches up the job queue with every voice message accepted so far (tools and tests that
/// run no server).
pub async fn queue_jobs(db: &crate::store::Db) -> Result<usize, ConsumeError> {
    let h = SpeechJobs::default();
    let mut total = 0;
    loop {
        match super::consumer::consume_once(db, &h).await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}
