//! The running SMS channel: ticket events → outbox (the `sms` consumer, [`super::notices`]),
//! outbox → SMSC (the sender, here), SMSC → tickets, replies and receipts
//! ([`super::replies`]).

use std::sync::Arc;
use std::time::Duration;

use std::collections::{HashMap, VecDeque};

use tokio::sync::{broadcast, mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::notify::consumer;
use crate::notify::TicketDesk;
use crate::store::lease::{record_surely, Held};
use crate::store::{now_ms, Db, StoreError};
use crate::tickets::events::TicketEvent;
use crate::tickets::Tickets;

use super::config::SmsConfig;
use super::context::Ctx;
use super::encoding::{self, ESM_UDHI};
use super::link::{IncomingItem, OutPart, SmppLink, SmsLink, SubmitError};
use super::notices::SmsNotices;
use super::outbox::{self, Claimed};
use super::replies;

pub use super::notices::{consume_once_for, CONSUMER};

/// What `start` hands back: the link (for health and tests) and the tasks to await.
pub struct SmsHandle {
    pub link: Arc<dyn SmsLink>,
    pub notify: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SmsHandle {
    /// Waits for every task after the shutdown token was cancelled.
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the SMPP link and the three tasks. Call once per process; several processes on
/// one PostgreSQL share the outbox safely.
pub fn start(cfg: SmsConfig, db: Db, tickets: Tickets, shutdown: CancellationToken) -> SmsHandle {
    let (in_tx, in_rx) = mpsc::channel(1024);
    let link: Arc<dyn SmsLink> = SmppLink::start(cfg.clone(), in_tx, shutdown.clone());
    let wake = tickets.subscribe();
    start_with_link(
        cfg,
        db,
        Arc::new(tickets),
        Some(wake),
        link,
        in_rx,
        shutdown,
    )
}

/// Same as [`start`] with any [`SmsLink`] (a CMPP backend later).
pub fn start_with_link(
    cfg: SmsConfig,
    db: Db,
    desk: Arc<dyn TicketDesk>,
    wake: Option<broadcast::Receiver<TicketEvent>>,
    link: Arc<dyn SmsLink>,
    incoming: mpsc::Receiver<IncomingItem>,
    shutdown: CancellationToken,
) -> SmsHandle {
    let notify = Arc::new(Notify::new());
    let window = cfg.window.max(1);
    let ctx = Arc::new(Ctx {
        cfg,
        db,
        desk,
        link: link.clone(),
        notify: notify.clone(),
        node: format!("{}-{}", hostname(), std::process::id()),
        unstored: Semaphore::new(window),
    });
    let notices = Arc::new(SmsNotices {
        cfg: ctx.cfg.clone(),
        sender: Some(notify.clone()),
    });
    let tasks = vec![
        tokio::spawn(consumer::run(
            ctx.db.clone(),
            notices,
            wake,
            shutdown.clone(),
        )),
        tokio::spawn(send_loop(ctx.clone(), shutdown.clone())),
        tokio::spawn(replies::inbound_loop(ctx, incoming, shutdown)),
    ];
    SmsHandle {
        link,
        notify,
        tasks,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "node".into())
}

/// Rows claimed but not finished, queued per phone so one resident's notices arrive in
/// the order their events happened (the answer before the satisfaction question).
type PhoneQueues =
    Arc<std::sync::Mutex<HashMap<String, VecDeque<(Claimed, OwnedSemaphorePermit)>>>>;

async fn send_loop(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    // Rows in flight at once; the link's window bounds submits in flight.
    let rows = Arc::new(Semaphore::new(ctx.cfg.window.max(1) * 4));
    let queues: PhoneQueues = Arc::default();
    // Rows claimed, queued or sending here: a row is never queued twice, and its lease is
    // renewed while it waits behind its phone's earlier notices or the rate limit.
    let held = Held::default();
    let beat = tokio::spawn(outbox::OUTBOX.heartbeat(
        ctx.db.clone(),
        held.clone(),
        Duration::from_secs(ctx.cfg.lease_secs.max(1)),
        ctx.node.clone(),
        shutdown.clone(),
    ));
    let mut set: JoinSet<()> = JoinSet::new();
    while !shutdown.is_cancelled() {
        if ctx.link.state() != super::link::LinkState::Bound {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ctx.link.wait_bound(Duration::from_secs(1)) => {}
            }
            continue;
        }
        while set.try_join_next().is_some() {}
        let free = rows.available_permits() as i64;
        let claimed = if free == 0 {
            Ok(vec![])
        } else {
            outbox::claim(&ctx.db, &ctx.cfg, &ctx.node, free.min(ctx.cfg.batch.max(1))).await
        };
        match claimed {
            Ok(list) if !list.is_empty() => {
                tracing::debug!(rows = list.len(), "sms: outbox rows claimed");
                for c in list {
                    if !held.insert(c.id) {
                        // Already queued here (its lease ended while it waited): once is enough.
                        continue;
                    }
                    let Ok(permit) = rows.clone().try_acquire_owned() else {
                        held.remove(c.id);
                        break;
                    };
                    let phone = c.phone.clone();
                    let start = {
                        let mut q = queues.lock().unwrap_or_else(|e| e.into_inner());
                        match q.get_mut(&phone) {
                            Some(waiting) => {
                                waiting.push_back((c, permit));
                                None
                            }
                            None => {
                                q.insert(phone.clone(), VecDeque::new());
                                Some((c, permit))
                            }
                        }
                    };
                    if let Some(first) = start {
                        let ctx = ctx.clone();
                        let queues = queues.clone();
                        let held = held.clone();
                        set.spawn(async move {
                            let mut next = Some(first);
                            while let Some((c, permit)) = next.take() {
                                let id = c.id;
                                send_one(&ctx, c).await;
                                held.remove(id);
                                drop(permit);
                                let mut q = queues.lock().unwrap_or_else(|e| e.into_inner());
                                next = q.get_mut(&phone).and_then(|w| w.pop_front());
                                if next.is_none() {
                                    q.remove(&phone);
                                }
                            }
                        });
                    }
                }
            }
            Ok(_) => {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ctx.notify.notified() => {}
                    _ = set.join_next(), if !set.is_empty() => {}
                    _ = tokio::time::sleep(Duration::from_millis(ctx.cfg.poll_ms.clamp(10, 5_000))) => {}
                }
            }
            Err(e) => {
                tracing::warn!("sms: claiming outbox rows failed: {e}");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    // Let submits in flight finish and record their acks; rows not finished keep their
    // lease and are taken again after it expires.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while set.join_next().await.is_some() {}
    })
    .await;
    beat.abort();
}

async fn send_one(ctx: &Ctx, c: Claimed) {
    if let Err(e) = try_send_one(ctx, &c).await {
        tracing::warn!(outbox_id = c.id, "sms: database error while sending: {e}");
    }
}

async fn try_send_one(ctx: &Ctx, c: &Claimed) -> Result<(), StoreError> {
    tracing::debug!(outbox_id = c.id, "sms: sending notice");
    let enc = encoding::encode(
        &c.body,
        ctx.cfg.max_parts,
        &ctx.cfg.truncation_suffix,
        (c.id % 256) as u8,
    );
    if enc.truncated {
        tracing::info!(
            outbox_id = c.id,
            parts = enc.parts.len(),
            "sms text cut at the part limit"
        );
    }
    if !outbox::still_ours(&ctx.db, &ctx.cfg, &ctx.node, c.id).await? {
        tracing::info!(
            outbox_id = c.id,
            "sms: notice already sent, expired or taken by another node; not sent again"
        );
        return Ok(());
    }
    let acked = outbox::acked_parts(&ctx.db, c.id).await?;
    let total = enc.parts.len() as i64;
    for (i, part) in enc.parts.iter().enumerate() {
        let part_no = i as i64 + 1;
        if acked.contains(&part_no) {
            continue;
        }
        let out = OutPart {
            dest: c.phone.clone(),
            data_coding: enc.data_coding,
            esm_class: if part.has_udh { ESM_UDHI } else { 0 },
            bytes: part.bytes.clone(),
        };
        // Held from the submit until its acknowledgement is stored (not only until the
        // SMSC answers), so a crash can repeat at most `window` parts.
        let Ok(_unstored) = ctx.unstored.acquire().await else {
            return Ok(());
        };
        let submitted_at = now_ms();
        match ctx.link.submit(&out).await {
            Ok(message_id) => {
                metrics::counter!("hotline_sms_submitted_total").increment(1);
                let within = Duration::from_secs(ctx.cfg.lease_secs) / 2;
                record_surely("sms part acknowledged", within, || {
                    outbox::part_acked(&ctx.db, c.id, part_no, &message_id, submitted_at)
                })
                .await?
            }
            Err(SubmitError::Temporary { reason, maybe_sent }) => {
                tracing::info!(
                    outbox_id = c.id,
                    part_no,
                    maybe_sent,
                    "sms submit will be retried: {reason}"
                );
                outbox::mark_retry(&ctx.db, &ctx.cfg, c, &reason).await?;
                return Ok(());
            }
            Err(SubmitError::Permanent(reason)) => {
                outbox::mark_failed(&ctx.db, c, &reason).await?;
                return Ok(());
            }
        }
    }
    outbox::mark_sent(&ctx.db, c.id, total).await?;
    tracing::debug!(outbox_id = c.id, parts = total, "sms notice sent");
    Ok(())
}
