//! One leased-queue mechanism for every durable job table (the SMS outbox, the mail outbox,
//! the transcription jobs): a worker claims due rows for a lease, and then marks each one
//! done, due again later (backoff) or failed for good. A worker that dies keeps its rows
//! only until the lease ends; the next claim takes them again.
//!
//! Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several nodes share a table without
//! taking the same row; on SQLite the write lock does the same. Each table keeps its own
//! extra columns (SMS parts, mail Message-IDs, transcripts); this file knows only the
//! columns every queue has: `id`, a state, a due time, `attempts`, `claimed_until`,
//! `last_error`, `updated_at`.
//!
//! A worker that holds rows longer than one lease (a batch sent one by one to a slow
//! relay, notices waiting their turn behind a rate limit) keeps them in [`Held`] and runs
//! [`LeasedTable::heartbeat`], which renews their leases until they are finished.
//!
//! It lives in `store` because the queues belong to layers on both sides of `notify` (the
//! transcription queue is speech's, below it); it knows nothing of what a row means.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use sqlx::any::AnyRow;
use tokio_util::sync::CancellationToken;

use super::{now_ms, Db, StoreError};

/// How one table plays the queue: its name and the columns that differ between tables.
#[derive(Debug, Clone, Copy)]
pub struct LeasedTable {
    pub table: &'static str,
    /// Column holding the row's state (`state` or `status`).
    pub state: &'static str,
    /// Column holding the unix ms before which the row is not due.
    pub due: &'static str,
    /// States a claim may take (with an ended or no lease).
    pub claimable: &'static [&'static str],
    /// Extra `SET` assignments of a claim (e.g. `status = 'running', attempts = attempts + 1`),
    /// empty for none.
    pub on_claim: &'static str,
    /// Whether the table records the claiming node in `claimed_by`.
    pub claimed_by: bool,
    /// The columns a claim returns.
    pub returning: &'static str,
    /// `ORDER BY` of a claim.
    pub order: &'static str,
}

impl LeasedTable {
    fn claimable_list(&self) -> String {
        self.claimable
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Takes up to `limit` due rows (or rows whose lease ended) for `lease`.
    pub async fn claim(
        &self,
        db: &Db,
        lease: Duration,
        limit: i64,
        node: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let now = now_ms();
        let by = if self.claimed_by {
            ", claimed_by = $4"
        } else {
            ""
        };
        let extra = if self.on_claim.is_empty() {
            String::new()
        } else {
            format!(", {}", self.on_claim)
        };
        let sql = format!(
            "UPDATE {t} SET claimed_until = $1, updated_at = $2{by}{extra}
             WHERE id IN (SELECT id FROM {t}
                          WHERE {state} IN ({states}) AND {due} <= $2
                            AND (claimed_until IS NULL OR claimed_until < $2)
                          ORDER BY {order} LIMIT $3{skip})
             RETURNING {returning}",
            t = self.table,
            state = self.state,
            states = self.claimable_list(),
            due = self.due,
            order = self.order,
            skip = db.skip_locked(),
            returning = self.returning,
        );
        let mut q = sqlx::query(&sql)
            .bind(now + lease.as_millis() as i64)
            .bind(now)
            .bind(limit.max(1));
        if self.claimed_by {
            q = q.bind(node.to_string());
        }
        Ok(q.fetch_all(db.pool()).await?)
    }

    /// Takes the one row `id` for `lease` if it is claimable and nobody holds it (the caller
    /// chose it, e.g. the call centre's next caller); false when it is taken or gone.
    pub async fn claim_one(
        &self,
        db: &Db,
        id: i64,
        lease: Duration,
        node: &str,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let by = if self.claimed_by {
            ", claimed_by = $4"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE {t} SET claimed_until = $1, updated_at = $2{by}
             WHERE id = $3 AND {state} IN ({states}) AND (claimed_until IS NULL OR claimed_until < $2)",
            t = self.table,
            state = self.state,
            states = self.claimable_list(),
        );
        let mut q = sqlx::query(&sql)
            .bind(now + lease.as_millis() as i64)
            .bind(now)
            .bind(id);
        if self.claimed_by {
            q = q.bind(node.to_string());
        }
        Ok(q.execute(db.pool()).await?.rows_affected() > 0)
    }

    /// Extends the lease of a row still being worked (a heartbeat), so a slow job keeps its
    /// row however long it runs. Returns false when the row is no longer claimable (it ended)
    /// — the worker then no longer owns it.
    pub async fn renew(&self, db: &Db, id: i64, lease: Duration) -> Result<bool, StoreError> {
        let now = now_ms();
        let sql = format!(
            "UPDATE {t} SET claimed_until = $1, updated_at = $2 WHERE id = $3 AND {st} IN ({states})",
            t = self.table,
            st = self.state,
            states = self.claimable_list(),
        );
        let r = sqlx::query(&sql)
            .bind(now + lease.as_millis() as i64)
            .bind(now)
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Extends the leases of the rows `ids` a worker still holds (claimed by `node`, when
    /// the table records who claimed); a row already finished is left alone. Returns how
    /// many were renewed.
    pub async fn renew_held(
        &self,
        db: &Db,
        ids: &[i64],
        lease: Duration,
        node: &str,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let by = if self.claimed_by {
            " AND claimed_by = $2"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE {t} SET claimed_until = $1 WHERE {st} IN ({states}) AND id IN ({list}){by}",
            t = self.table,
            st = self.state,
            states = self.claimable_list(),
        );
        let mut q = sqlx::query(&sql).bind(now_ms() + lease.as_millis() as i64);
        if self.claimed_by {
            q = q.bind(node.to_string());
        }
        Ok(q.execute(db.pool()).await?.rows_affected())
    }

    /// The heartbeat of a worker: every third of `lease`, renews the lease of every row in
    /// `held`, so no other worker (or node) takes a row this one still means to finish,
    /// however long it waits or takes. Runs until `shutdown`.
    pub async fn heartbeat(
        self,
        db: Db,
        held: Held,
        lease: Duration,
        node: String,
        shutdown: CancellationToken,
    ) {
        let every = (lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let ids = held.ids();
            match self.renew_held(&db, &ids, lease, &node).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(table = self.table, rows = n, "leases renewed");
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        table = self.table,
                        "renewing the leases of held rows failed: {e}"
                    )
                }
            }
        }
    }

    /// The row reached its end state `state`; `extra` are further `SET` assignments, where
    /// `$1` is now (e.g. `sent_at = $1, attempts = attempts + 1`). Only a row still in a
    /// claimable state changes; returns whether it did.
    pub async fn done(
        &self,
        db: &Db,
        id: i64,
        state: &str,
        extra: &str,
    ) -> Result<bool, StoreError> {
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        let sql = format!(
            "UPDATE {t} SET {st} = $2, updated_at = $1, claimed_until = NULL, last_error = NULL{extra}
             WHERE id = $3 AND {st} IN ({states})",
            t = self.table,
            st = self.state,
            states = self.claimable_list(),
        );
        let r = sqlx::query(&sql)
            .bind(now_ms())
            .bind(state)
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// A temporary failure: the row is due again after `delay`, in `state`, with `attempts`
    /// stored when the table counts them at failure (`None` when counted at claim).
    pub async fn retry(
        &self,
        db: &Db,
        id: i64,
        state: &str,
        attempts: Option<i64>,
        delay: Duration,
        error: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let count = if attempts.is_some() {
            ", attempts = $6"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE {t} SET {st} = $1, {due} = $2, last_error = $3, claimed_until = NULL, updated_at = $4{count}
             WHERE id = $5",
            t = self.table,
            st = self.state,
            due = self.due,
        );
        let mut q = sqlx::query(&sql)
            .bind(state)
            .bind(now + delay.as_millis() as i64)
            .bind(clip(error))
            .bind(now)
            .bind(id);
        if let Some(a) = attempts {
            q = q.bind(a);
        }
        q.execute(db.pool()).await?;
        Ok(())
    }

    /// Given up for good: state `failed`, visible with its last error.
    pub async fn fail(
        &self,
        db: &Db,
        id: i64,
        attempts: Option<i64>,
        error: &str,
    ) -> Result<(), StoreError> {
        let count = if attempts.is_some() {
            ", attempts = $4"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE {t} SET {st} = 'failed', last_error = $1, claimed_until = NULL, updated_at = $2{count}
             WHERE id = $3",
            t = self.table,
            st = self.state,
        );
        let mut q = sqlx::query(&sql).bind(clip(error)).bind(now_ms()).bind(id);
        if let Some(a) = attempts {
            q = q.bind(a);
        }
        q.execute(db.pool()).await?;
        Ok(())
    }
}

/// Writes the record of something a peer already took (a mail the relay accepted, a part
/// the SMSC acknowledged). Were that write lost to a passing error — SQLite busy past its
/// timeout, a pool timeout, a dropped PostgreSQL connection — the row would stay due and the
/// peer would get it twice; so it is tried again with the one backoff for up to `within`,
/// which callers keep shorter than their lease so that no other worker takes the row meanwhile.
pub async fn record_surely<T, F, Fut>(what: &str, within: Duration, f: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    let start = tokio::time::Instant::now();
    let mut failures = 0u32;
    loop {
        match f().await {
            Ok(v) => {
                if failures > 0 {
                    tracing::info!(failures, "{what}: recorded after retrying");
                }
                return Ok(v);
            }
            Err(e) => {
                failures += 1;
                let wait = backoff.delay(failures);
                if start.elapsed() + wait > within {
                    return Err(e);
                }
                tracing::warn!(failures, "{what}: recording failed, retrying: {e}");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The rows a worker holds: claimed and not yet finished, waiting their turn or in hand.
/// [`LeasedTable::heartbeat`] renews their leases.
#[derive(Debug, Clone, Default)]
pub struct Held(Arc<Mutex<HashSet<i64>>>);

impl Held {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `id`; false when it was held already (claimed again after its lease ended while
    /// it waited here): once is enough.
    pub fn insert(&self, id: i64) -> bool {
        self.set().insert(id)
    }

    /// The row is finished (or given back): its lease is no longer renewed.
    pub fn remove(&self, id: i64) {
        self.set().remove(&id);
    }

    fn ids(&self) -> Vec<i64> {
        self.set().iter().copied().collect()
    }
}

fn clip(error: &str) -> String {
    error.chars().take(2000).collect()
}

/// The one retry policy: exponential from `base`, doubling up to `max`, with jitter so many
/// rows (or nodes) failing together do not retry in lock-step (`backon`'s jitter adds up to
/// one more delay, so a wait lies between the exponential step and twice it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            jitter: true,
        }
    }

    /// The same steps without jitter (exact times, for queues whose tests plan by them).
    pub fn exact(self) -> Self {
        Backoff {
            jitter: false,
            ..self
        }
    }

    /// The wait after the `failures`-th failure in a row (1 = the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .without_max_times();
        let b = if self.jitter { b.with_jitter() } else { b };
        b.build()
            .nth(failures.clamp(1, 64) as usize - 1)
            .unwrap_or(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_record_is_retried_until_it_lands_and_given_up_after_its_window() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let busy = || StoreError::UnsupportedUrl("busy".into());
        let landed = record_surely("test", Duration::from_secs(30), || async {
            if tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 3 {
                Err(busy())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(landed.unwrap(), 7);
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 4);

        let start = tokio::time::Instant::now();
        let never: Result<(), _> =
            record_surely("test", Duration::from_secs(5), || async { Err(busy()) }).await;
        assert!(never.is_err());
        assert!(start.elapsed() <= Duration::from_secs(5));
        assert!(start.elapsed() >= Duration::from_secs(1));
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_bounded_jitter() {
        let b = Backoff::new(Duration::from_millis(1000), Duration::from_millis(60_000));
        for a in 0..30 {
            let d = b.delay(a).as_millis() as u64;
            assert!((1000..=120_000).contains(&d), "{d}");
        }
        let e = b.exact();
        assert_eq!(e.delay(1), Duration::from_secs(1));
        assert_eq!(e.delay(3), Duration::from_secs(4));
        assert_eq!(e.delay(30), Duration::from_secs(60));
        assert_eq!(
            Backoff::new(Duration::ZERO, Duration::ZERO).delay(5),
            Duration::ZERO
        );
    }
}
