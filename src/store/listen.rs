//! Hearing other nodes: PostgreSQL `LISTEN` on a few channels, kept up across dropped
//! connections. Each user (the console's live fan-out, the shared call centre) reads what
//! is heard with [`Listener::next`] and decides what a gap means for it; the connecting,
//! the backoff and the logging live here once.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::lease::Backoff;

/// What a listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Listening (again, when `again`: announcements made while it was not are lost).
    Listening { again: bool },
    /// An announcement.
    Note { channel: String, payload: String },
    /// sqlx reconnected by itself: announcements in between are lost.
    Gap,
}

/// A `LISTEN` on `channels` of the PostgreSQL at `url`, connected on first use.
pub struct Listener {
    url: String,
    channels: Vec<&'static str>,
    /// What is listened for, for the log: "live updates from other nodes".
    what: &'static str,
    conn: Option<PgListener>,
    failures: u32,
    backoff: Backoff,
}

impl Listener {
    pub fn new(url: &str, channels: &[&'static str], what: &'static str) -> Listener {
        Listener {
            url: url.to_string(),
            channels: channels.to_vec(),
            what,
            conn: None,
            failures: 0,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }

    /// The next thing heard; `None` once `shutdown` is cancelled. A failed connection is
    /// retried with backoff and logged, never returned.
    pub async fn next(&mut self, shutdown: &CancellationToken) -> Option<Heard> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                let (url, channels) = (self.url.clone(), self.channels.clone());
                let connect = async move {
                    let mut l = PgListener::connect(&url).await?;
                    l.listen_all(channels).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                let connected = tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    r = connect => r,
                };
                match connected {
                    Ok(l) => {
                        self.conn = Some(l);
                        let again = self.failures > 0;
                        if again {
                            tracing::info!("{}: listening again", self.what);
                        }
                        self.failures = 0;
                        return Some(Heard::Listening { again });
                    }
                    Err(e) => {
                        self.failures += 1;
                        let failures = self.failures;
                        tracing::warn!(failures, "{}: cannot listen: {e}", self.what);
                        tokio::select! {
                            _ = shutdown.cancelled() => return None,
                            _ = tokio::time::sleep(self.backoff.delay(failures)) => continue,
                        }
                    }
                }
            };
            let n = tokio::select! {
                _ = shutdown.cancelled() => return None,
                n = conn.try_recv() => n,
            };
            match n {
                Ok(Some(n)) => {
                    return Some(Heard::Note {
                        channel: n.channel().to_string(),
                        payload: n.payload().to_string(),
                    })
                }
                Ok(None) => return Some(Heard::Gap),
                Err(e) => {
                    self.failures += 1;
                    tracing::warn!("{}: listening failed: {e}", self.what);
                    self.conn = None;
                }
            }
        }
    }
}
