//! What comes back from the SMSC: delivery receipts (recorded against their parts) and
//! residents' texts, reassembled and answered — a new ticket, a status query (CX), a rating,
//! an opt-out (TD) or help. Every answer goes through the outbox like any notice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::notify::templates::render;
use crate::notify::{DeskError, TicketInfo};
use crate::privacy::mask;
use crate::store::{now_ms, StoreError};

use super::context::Ctx;
use super::encoding::{self, ESM_UDHI};
use super::inbound::{self, Command};
use super::link::{Incoming, IncomingItem};
use super::outbox::{self, Notice};
use super::policy::signed;
use super::received::{self, Arrival, PartArrival};

pub(super) async fn inbound_loop(
    ctx: Arc<Ctx>,
    mut rx: mpsc::Receiver<IncomingItem>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = use_incomplete(&ctx).await {
                    tracing::warn!("sms: incomplete messages not handled yet: {e}");
                }
            }
            item = rx.recv() => {
                let Some(IncomingItem { item, done }) = item else { break };
                let ok = match on_incoming(&ctx, item).await {
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

/// Split messages whose other parts never came are used as they arrived (from the table,
/// so also after a restart); what no redelivery can match any more is forgotten.
async fn use_incomplete(ctx: &Ctx) -> Result<(), InError> {
    let waiting = received::incomplete(
        &ctx.db,
        Duration::from_secs(ctx.cfg.reassembly_timeout_secs),
        ctx.cfg.reassembly_max_groups,
    )
    .await?;
    for g in waiting {
        tracing::warn!(phone = %mask(&g.phone), "sms reassembly: parts missing after timeout, using what arrived");
        let split = Some((g.reference as u16, g.total as u8));
        on_whole(ctx, &g.phone, g.text, split).await?;
        received::group_handled(&ctx.db, &g.phone, g.reference, g.total).await?;
    }
    received::forget_old(
        &ctx.db,
        ticket_window(&ctx.cfg).max(command_window(&ctx.cfg)),
    )
    .await?;
    Ok(())
}

/// How long the same text again counts as the same message, when it makes a ticket.
fn ticket_window(cfg: &super::config::SmsConfig) -> Duration {
    Duration::from_secs(cfg.inbound_dedupe_secs)
}

/// … and when it is a command (CX, a rating, TD), which a resident may well send again.
fn command_window(cfg: &super::config::SmsConfig) -> Duration {
    Duration::from_secs(cfg.inbound_command_dedupe_secs)
}

#[derive(Debug, thiserror::Error)]
enum InError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tickets: {0}")]
    Desk(#[from] DeskError),
}

async fn on_incoming(ctx: &Ctx, item: Incoming) -> Result<(), InError> {
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
                    let help = ctx.cfg.templates.help.clone();
                    return reply(ctx, &phone, &help, None).await;
                }
            };
            let Some(c) = concat.filter(|c| c.total != 1) else {
                return on_whole(ctx, &phone, text, None).await;
            };
            if c.total == 0 || c.seq == 0 || c.seq > c.total {
                tracing::warn!(phone = %mask(&phone), ?c, "sms part with impossible numbering ignored");
                return Ok(());
            }
            // Stored before the SMSC hears back: an acknowledged part survives a crash.
            match received::store_part(&ctx.db, &phone, c, &text, ticket_window(&ctx.cfg)).await? {
                PartArrival::Stored => Ok(()),
                PartArrival::Duplicate => {
                    metrics::counter!("hotline_sms_inbound_duplicates_total").increment(1);
                    tracing::info!(phone = %mask(&phone), ?c, "sms part handed over again; its message was handled");
                    Ok(())
                }
                PartArrival::Complete(whole) => {
                    on_whole(ctx, &phone, whole, Some((c.reference, c.total))).await?;
                    received::group_handled(&ctx.db, &phone, c.reference as i64, c.total as i64)
                        .await?;
                    Ok(())
                }
            }
        }
    }
}

/// A whole text (`split`: reference and parts of a concatenated one): acted on unless it is
/// the same message handed over again.
async fn on_whole(
    ctx: &Ctx,
    phone: &str,
    text: String,
    split: Option<(u16, u8)>,
) -> Result<(), InError> {
    let window = match inbound::parse(&text) {
        Command::NewTicket(_)
        | Command::Rate {
            reason: Some(_), ..
        } => ticket_window(&ctx.cfg),
        _ => command_window(&ctx.cfg),
    };
    let fp = received::fingerprint(phone, "", &text, split);
    let r = match received::arrive(&ctx.db, &fp, window).await? {
        Arrival::Duplicate => {
            metrics::counter!("hotline_sms_inbound_duplicates_total").increment(1);
            tracing::info!(phone = %mask(phone), "sms handed over again by the SMSC; already handled");
            return Ok(());
        }
        Arrival::Interrupted(r) => {
            tracing::info!(phone = %mask(phone), "sms whose handling was interrupted: handling it again");
            r
        }
        Arrival::New(r) => r,
    };
    on_text(ctx, phone, text, &r.key()).await?;
    received::handled(&ctx.db, &r).await?;
    Ok(())
}

/// Acts on a text; `key` is its idempotency key (its ticket and its reply are made once).
async fn on_text(ctx: &Ctx, phone: &str, text: String, key: &str) -> Result<(), InError> {
    let mut text = text;
    if text.chars().count() > ctx.cfg.max_incoming_chars {
        tracing::warn!(phone = %mask(phone), chars = text.chars().count(), "long sms cut to {} characters", ctx.cfg.max_incoming_chars);
        text = text.chars().take(ctx.cfg.max_incoming_chars).collect();
    }
    let cmd = inbound::parse(&text);
    let t = &ctx.cfg.templates;
    let label = match &cmd {
        Command::QueryAll | Command::Query(_) => "query",
        Command::Rate { .. } => "rate",
        Command::OptOut => "opt_out",
        Command::NewTicket(_) => "new_ticket",
        Command::Unknown => "unknown",
    };
    match cmd {
        Command::NewTicket(_) => on_new_ticket(ctx, phone, &text, key).await,
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
            reply(ctx, phone, &body, Some(key)).await
        }
        Command::Query(number) => {
            let found = ctx.desk.by_number(&number).await.map_err(InError::Desk)?;
            outbox::log_inbound(&ctx.db, phone, &text, label, found.as_ref().map(|i| i.id)).await?;
            // Another resident's ticket is answered like an unknown one.
            let body = match found {
                Some(i) if i.phone == phone => status_line(ctx, &i),
                _ => t.status_none.clone(),
            };
            reply(ctx, phone, &body, Some(key)).await
        }
        Command::Rate { score, reason } => {
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
                if reason.is_some() {
                    // "3 号楼漏水" from someone with nothing to rate is a request.
                    return on_new_ticket(ctx, phone, &text, key).await;
                }
                outbox::log_inbound(&ctx.db, phone, &text, label, None).await?;
                return reply(ctx, phone, &t.rate_none.clone(), Some(key)).await;
            };
            let rated = retry_busy(|| ctx.desk.rate(target.id, score, phone, reason.as_deref()))
                .await
                .map_err(InError::Desk)?;
            outbox::log_inbound(&ctx.db, phone, &text, label, Some(target.id)).await?;
            let word = ["满意", "基本满意", "不满意"][(score.clamp(1, 3) - 1) as usize];
            let body = render(&t.rated, &[("number", &rated.number), ("state", word)]);
            reply(ctx, phone, &body, Some(key)).await
        }
        Command::OptOut => {
            outbox::opt_out(&ctx.db, phone).await?;
            outbox::log_inbound(&ctx.db, phone, &text, label, None).await?;
            reply(ctx, phone, &t.opted_out.clone(), Some(key)).await
        }
        Command::Unknown => {
            outbox::log_inbound(&ctx.db, phone, &text, label, None).await?;
            if text.trim().is_empty() {
                tracing::info!(phone = %mask(phone), "empty sms answered with help");
            }
            reply(ctx, phone, &t.help.clone(), Some(key)).await
        }
    }
}

/// A text that is a request: a new ticket; the `accepted` event answers with its number.
async fn on_new_ticket(ctx: &Ctx, phone: &str, text: &str, key: &str) -> Result<(), InError> {
    let body = inbound::normalize(text);
    let ticket = retry_busy(|| ctx.desk.create_from_sms(phone, &body, key))
        .await
        .map_err(InError::Desk)?;
    outbox::log_inbound(&ctx.db, phone, text, "new_ticket", Some(ticket.id)).await?;
    tracing::info!(phone = %mask(phone), number = %ticket.number, "sms became a ticket");
    Ok(())
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

/// A direct answer to a resident, through the outbox like every notice; `key` is the
/// answered text's idempotency key (one answer per text, however often it is handled).
async fn reply(ctx: &Ctx, phone: &str, body: &str, key: Option<&str>) -> Result<(), InError> {
    let key = match key {
        Some(k) => format!("reply:{k}"),
        None => format!(
            "reply:{}:{}:{}:{}",
            ctx.node,
            phone,
            now_ms(),
            REPLY_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
    };
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
