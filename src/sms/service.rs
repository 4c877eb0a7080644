//! The running SMS channel: ticket events → outbox (one transaction with the cursor),
//! outbox → SMSC (sender), SMSC → tickets, replies and receipts (inbound).

use std::sync::Arc;
use std::time::Duration;

use std::collections::{HashMap, VecDeque};

use tokio::sync::{broadcast, mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::notify::consumer;
use crate::notify::templates::render;
use crate::notify::{mask, DeskError, TicketDesk, TicketInfo};
use crate::store::{now_ms, Db, StoreError};
use crate::tickets::events::TicketEvent;
use crate::tickets::Tickets;

use super::config::SmsConfig;
use super::encoding::{self, ESM_UDHI};
use super::inbound::{self, Assembled, Command, Reassembler};
use super::link::{Incoming, IncomingItem, OutPart, SmppLink, SmsLink, SubmitError};
use super::notices::SmsNotices;
use super::outbox::{self, Claimed, Notice};
use super::policy::signed;

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

struct Ctx {
    cfg: SmsConfig,
    db: Db,
    desk: Arc<dyn TicketDesk>,
    link: Arc<dyn SmsLink>,
    notify: Arc<Notify>,
    node: String,
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
    let ctx = Arc::new(Ctx {
        cfg,
        db,
        desk,
        link: link.clone(),
        notify: notify.clone(),
        node: format!("{}-{}", hostname(), std::process::id()),
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
        tokio::spawn(inbound_loop(ctx, incoming, shutdown)),
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
                    let Ok(permit) = rows.clone().try_acquire_owned() else {
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
                        set.spawn(async move {
                            let mut next = Some(first);
                            while let Some((c, permit)) = next.take() {
                                send_one(&ctx, c).await;
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
        let submitted_at = now_ms();
        match ctx.link.submit(&out).await {
            Ok(message_id) => {
                metrics::counter!("hotline_sms_submitted_total").increment(1);
                outbox::part_acked(&ctx.db, c.id, part_no, &message_id, submitted_at).await?
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

async fn inbound_loop(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<IncomingItem>,
    shutdown: CancellationToken,
) {
    let mut reasm = Reassembler::new(
        ctx.cfg.reassembly_max_groups,
        Duration::from_secs(ctx.cfg.reassembly_timeout_secs),
    );
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                for (phone, text) in reasm.expire() {
                    if let Err(e) = on_text(&ctx, &phone, text).await {
                        tracing::warn!("sms: incomplete message from {} not handled: {e}", mask(&phone));
                    }
                }
            }
            item = rx.recv() => {
                let Some(IncomingItem { item, done }) = item else { break };
                let ok = match on_incoming(&ctx, &mut reasm, item).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!("sms: incoming message not stored, the SMSC will redeliver: {e}");
                        false
                    }
                };
                let _ = done.send(ok);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum InError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tickets: {0}")]
    Desk(#[from] DeskError),
}

async fn on_incoming(ctx: &Ctx, reasm: &mut Reassembler, item: Incoming) -> Result<(), InError> {
    match item {
        Incoming::Receipt {
            message_id,
            stat,
            err,
        } => {
            if message_id.is_empty() {
                tracing::warn!("sms: delivery receipt without a message id ignored");
                return Ok(());
            }
            outbox::record_receipt(&ctx.db, &message_id, &stat, &err).await?;
            Ok(())
        }
        Incoming::Message {
            from,
            data_coding,
            esm_class,
            bytes,
            ..
        } => {
            let phone: String = from.trim().trim_start_matches("+86").to_string();
            if !(3..=20).contains(&phone.len()) || !phone.bytes().all(|b| b.is_ascii_digit()) {
                tracing::warn!(from = %from.escape_debug(), "sms from an unusable sender address ignored");
                return Ok(());
            }
            let (concat, ud) = if esm_class & ESM_UDHI != 0 {
                match encoding::split_udh(&bytes) {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(phone = %mask(&phone), "sms with a broken UDH ignored: {e}");
                        return Ok(());
                    }
                }
            } else {
                (None, &bytes[..])
            };
            let text = match encoding::decode(data_coding, ud) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(phone = %mask(&phone), "sms text cannot be decoded: {e}; answering with help");
                    return reply(ctx, &phone, &ctx.cfg.templates.help.clone()).await;
                }
            };
            let text = match concat {
                None => text,
                Some(c) => match reasm.push(&phone, c, text) {
                    Assembled::Complete(t) => t,
                    Assembled::Pending => return Ok(()),
                    Assembled::Invalid => {
                        tracing::warn!(phone = %mask(&phone), ?c, "sms part with impossible numbering ignored");
                        return Ok(());
                    }
                },
            };
            on_text(ctx, &phone, text).await
        }
    }
}

async fn on_text(ctx: &Ctx, phone: &str, text: String) -> Result<(), InError> {
    let mut text = text;
    if text.chars().count() > ctx.cfg.max_incoming_chars {
        tracing::warn!(phone = %mask(phone), chars = text.chars().count(), "long sms cut to {} characters", ctx.cfg.max_incoming_chars);
        text = text.chars().take(ctx.cfg.max_incoming_chars).collect();
    }
    let cmd = inbound::parse(&text);
    let t = &ctx.cfg.templates;
    let label = match &cmd {
        Command::QueryAll | Command::Query(_) => "query",
        Command::Rate(_) => "rate",
        Command::OptOut => "opt_out",
        Command::NewTicket(_) => "new_ticket",
        Command::Unknown => "unknown",
    };
    match cmd {
        Command::NewTicket(body) => {
            let ticket = retry_busy(|| ctx.desk.create_from_sms(phone, &body))
                .await
                .map_err(InError::Desk)?;
            outbox::log_inbound(&ctx.db, phone, &text, label, Some(ticket.id)).await?;
            tracing::info!(phone = %mask(phone), number = %ticket.number, "sms became a ticket");
            // The `accepted` event answers with the ticket number.
            Ok(())
        }
        Command::QueryAll => {
            let list = ctx
                .desk
                .list_by_phone(phone, 5)
                .await
                .map_err(InError::Desk)?;
            outbox::log_inbound(&ctx.db, phone, &text, label, None).await?;
            let body = if list.is_empty() {
                t.status_none.clone()
            } else {
                list.iter()
                    .map(|i| status_line(ctx, i))
                    .collect::<Vec<_>>()
                    .join("；")
            };
            reply(ctx, phone, &body).await
        }
        Command::Query(number) => {
            let found = ctx.desk.by_number(&number).await.map_err(InError::Desk)?;
            outbox::log_inbound(&ctx.db, phone, &text, label, found.as_ref().map(|i| i.id)).await?;
            // Another resident's ticket is answered like an unknown one.
            let body = match found {
                Some(i) if i.phone == phone => status_line(ctx, &i),
                _ => t.status_none.clone(),
            };
            reply(ctx, phone, &body).await
        }
        Command::Rate(score) => {
            let target = match outbox::last_follow_up(&ctx.db, phone).await? {
                Some(id) => ctx
                    .desk
                    .get(id)
                    .await
                    .map_err(InError::Desk)?
                    .filter(|i| i.awaiting_rating),
                None => None,
            };
            let Some(target) = target else {
                outbox::log_inbound(&ctx.db, phone, &text, label, None).await?;
                return reply(ctx, phone, &t.rate_none.clone()).await;
            };
            let rated = retry_busy(|| ctx.desk.rate(target.id, score, phone))
                .await
                .map_err(InError::Desk)?;
            outbox::log_inbound(&ctx.db, phone, &text, label, Some(target.id)).await?;
            let word = ["满意", "基本满意", "不满意"][(score.clamp(1, 3) - 1) as usize];
            let body = render(&t.rated, &[("number", &rated.number), ("state", word)]);
            reply(ctx, phone, &body).await
        }
        Command::OptOut => {
            outbox::opt_out(&ctx.db, phone).await?;
            outbox::log_inbound(&ctx.db, phone, &text, label, None).await?;
            reply(ctx, phone, &t.opted_out.clone()).await
        }
        Command::Unknown => {
            outbox::log_inbound(&ctx.db, phone, &text, label, None).await?;
            if text.trim().is_empty() {
                tracing::info!(phone = %mask(phone), "empty sms answered with help");
            }
            reply(ctx, phone, &t.help.clone()).await
        }
    }
}

/// SQLite answers "database is locked" at once when a transaction that read first must
/// write while another connection commits; the whole call is safe to repeat (it rolled back).
async fn retry_busy<T, F, Fut>(f: F) -> Result<T, DeskError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, DeskError>>,
{
    let mut delay = Duration::from_millis(20);
    for _ in 0..10 {
        match f().await {
            Err(e) if e.is_busy() => {
                tracing::debug!("tickets busy, retrying: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            r => return r,
        }
    }
    f().await
}

fn status_line(ctx: &Ctx, i: &TicketInfo) -> String {
    let deadline = match (&i.deadline, i.open) {
        (Some(d), true) => format!("，时限{d}"),
        _ => String::new(),
    };
    render(
        &ctx.cfg.templates.status_line,
        &[
            ("number", &i.number),
            ("state", &i.state_label),
            ("deadline", &deadline),
        ],
    )
}

static REPLY_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A direct answer to a resident, through the outbox like every notice.
async fn reply(ctx: &Ctx, phone: &str, body: &str) -> Result<(), InError> {
    let key = format!(
        "reply:{}:{}:{}:{}",
        ctx.node,
        phone,
        now_ms(),
        REPLY_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let n = Notice {
        dedup_key: key,
        ticket_id: None,
        event_id: None,
        phone: phone.to_string(),
        kind: "reply".into(),
        body: signed(&ctx.cfg.templates, body),
        event_at: Some(now_ms()),
    };
    let mut conn = ctx.db.pool().acquire().await.map_err(StoreError::from)?;
    outbox::enqueue(&mut conn, &ctx.cfg, &n).await?;
    ctx.notify.notify_one();
    Ok(())
}
