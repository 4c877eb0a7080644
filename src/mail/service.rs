//! Ticket events → mail outbox (one transaction with the consumer cursor) → SMTP.
//!
//! Guarantee, as for SMS: at least once, and a mail the relay accepted (250 after DATA) is
//! never sent again once that is stored. A crash between the relay's 250 and our commit
//! resends it with the same Message-ID (`<mail-{row}.{ticket}@hotline>`), so a mail system
//! that deduplicates on Message-ID shows it once.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::Row;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use crate::sms::desk::{MailFacts, TicketDesk};
use crate::sms::outbox::mask;
use crate::sms::policy::{backoff_ms, render};
use crate::store::{now_ms, Db, StoreError};
use crate::tickets::events::{claim_batch, TicketEvent};
use crate::tickets::Tickets;

use super::config::MailConfig;

pub const CONSUMER: &str = "mail";

pub struct MailHandle {
    pub notify: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl MailHandle {
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tickets: {0}")]
    Desk(String),
    #[error("bad address or message: {0}")]
    Build(String),
}

struct Ctx {
    cfg: MailConfig,
    db: Db,
    desk: Arc<dyn TicketDesk>,
    notify: Arc<Notify>,
    node: String,
}

pub fn start(cfg: MailConfig, db: Db, tickets: Tickets, shutdown: CancellationToken) -> MailHandle {
    let wake = tickets.subscribe();
    start_with_desk(cfg, db, Arc::new(tickets), Some(wake), shutdown)
}

pub fn start_with_desk(
    cfg: MailConfig,
    db: Db,
    desk: Arc<dyn TicketDesk>,
    wake: Option<broadcast::Receiver<TicketEvent>>,
    shutdown: CancellationToken,
) -> MailHandle {
    let notify = Arc::new(Notify::new());
    let ctx = Arc::new(Ctx {
        cfg,
        db,
        desk,
        notify: notify.clone(),
        node: format!("mail-{}", std::process::id()),
    });
    let tasks = vec![
        tokio::spawn(consume_loop(ctx.clone(), wake, shutdown.clone())),
        tokio::spawn(send_loop(ctx, shutdown)),
    ];
    MailHandle { notify, tasks }
}

fn subject_for<'a>(cfg: &'a MailConfig, kind: &str) -> Option<&'a str> {
    Some(match kind {
        "dispatched" => &cfg.subject_dispatched,
        "deadline_warning" => &cfg.subject_deadline_warning,
        "overdue" => &cfg.subject_overdue,
        _ => return None,
    })
}

/// The plain-text mail a department gets.
pub fn compose(cfg: &MailConfig, kind: &str, f: &MailFacts) -> (String, String) {
    let deadline = f.deadline.clone().unwrap_or_else(|| "未定".into());
    let subject = render(
        subject_for(cfg, kind).unwrap_or(&cfg.subject_dispatched),
        &[
            ("number", &f.number),
            ("deadline", &deadline),
            ("kind", &f.kind_label),
            ("department", &f.department_name),
        ],
    );
    let phone = if cfg.show_full_phone {
        f.phone.clone()
    } else {
        mask(&f.phone)
    };
    let lead = match kind {
        "deadline_warning" => "该工单即将到期，请抓紧办理并及时答复。\n\n",
        "overdue" => "该工单已超过办理时限，已列入督办，请立即办理并说明原因。\n\n",
        _ => "现将以下市民诉求转你单位办理，请按时限办结并答复。\n\n",
    };
    let body = format!(
        "{dept}：\n\n{lead}工单号：{number}\n诉求类型：{kind}\n办理时限：{deadline}\n来电人：{phone}\n所在区域：{area}\n地址：{address}\n\n诉求内容（含录音转写）：\n{text}\n\n办理入口：{portal}/tickets/{number}\n\n—— 12345政务服务便民热线\n",
        dept = f.department_name,
        number = f.number,
        kind = f.kind_label,
        area = f.area.as_deref().unwrap_or("未填写"),
        address = f.address.as_deref().unwrap_or("未填写"),
        text = f.text,
        portal = cfg.portal_url.trim_end_matches('/'),
    );
    (subject, body)
}

async fn consume_loop(
    ctx: Arc<Ctx>,
    mut wake: Option<broadcast::Receiver<TicketEvent>>,
    shutdown: CancellationToken,
) {
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let wait = match consume_once(&ctx).await {
            Ok(0) => {
                failures = 0;
                Duration::from_millis(ctx.cfg.poll_ms.clamp(10, 10_000))
            }
            Ok(_) => {
                failures = 0;
                ctx.notify.notify_one();
                continue;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!("mail: reading ticket events failed: {e}");
                Duration::from_millis(backoff_ms(200, 10_000, failures))
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
            _ = woken => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn consume_once(ctx: &Ctx) -> Result<usize, MailError> {
    let mut batch = claim_batch(&ctx.db, CONSUMER, ctx.cfg.batch.max(1)).await?;
    let events = batch.events.clone();
    if events.is_empty() {
        return Ok(0);
    }
    for ev in &events {
        let kind = ev.kind.code();
        if subject_for(&ctx.cfg, &kind).is_none() {
            continue;
        }
        let p = &ev.payload;
        let Some(f) = ctx
            .desk
            .mail_facts(p.ticket_id.0, p.department_id.as_deref())
            .await
            .map_err(MailError::Desk)?
        else {
            continue;
        };
        let Some(to) = f.department_email.clone().filter(|e| e.contains('@')) else {
            tracing::warn!(ticket = %f.number, department = %f.department_name, "mail: department has no email address; nothing sent");
            continue;
        };
        let (subject, body) = compose(&ctx.cfg, &kind, &f);
        let now = now_ms();
        sqlx::query(
            "INSERT INTO mail_outbox (dedup_key, ticket_id, event_id, kind, to_addr, subject, body, message_id,
                state, not_before, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $9)
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(format!("ev:{}", ev.id))
        .bind(p.ticket_id.0)
        .bind(ev.id)
        .bind(&kind)
        .bind(&to)
        .bind(&subject)
        .bind(&body)
        .bind(format!("<mail-ev{}.{}@hotline>", ev.id, f.number))
        .bind(now)
        .execute(batch.conn())
        .await
        .map_err(StoreError::from)?;
    }
    batch.commit().await?;
    Ok(events.len())
}

fn mailer(cfg: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let b = match cfg.security.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)
            .map_err(|e| MailError::Build(e.to_string()))?,
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
        _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
            .map_err(|e| MailError::Build(e.to_string()))?,
    };
    let mut b = b
        .port(cfg.port)
        .timeout(Some(Duration::from_secs(cfg.timeout_secs.max(1))));
    if !cfg.username.is_empty() {
        b = b.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
    }
    Ok(b.build())
}

struct Row_ {
    id: i64,
    to: String,
    subject: String,
    body: String,
    message_id: String,
    attempts: i64,
}

async fn claim(ctx: &Ctx) -> Result<Vec<Row_>, StoreError> {
    let now = now_ms();
    let sql = format!(
        "UPDATE mail_outbox SET claimed_until = $1, updated_at = $2
         WHERE id IN (SELECT id FROM mail_outbox WHERE state = 'pending' AND not_before <= $2
                        AND (claimed_until IS NULL OR claimed_until < $2)
                      ORDER BY id LIMIT $3{})
         RETURNING id, to_addr, subject, body, message_id, attempts",
        ctx.db.skip_locked()
    );
    let rows = sqlx::query(&sql)
        .bind(now + ctx.cfg.lease_secs as i64 * 1000)
        .bind(now)
        .bind(ctx.cfg.batch.max(1))
        .fetch_all(ctx.db.pool())
        .await?;
    let mut out = vec![];
    for r in rows {
        out.push(Row_ {
            id: r.try_get(0)?,
            to: r.try_get(1)?,
            subject: r.try_get(2)?,
            body: r.try_get(3)?,
            message_id: r.try_get(4)?,
            attempts: r.try_get(5)?,
        });
    }
    out.sort_by_key(|r| r.id);
    Ok(out)
}

async fn send_loop(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    let mailer = match mailer(&ctx.cfg) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(
                "mail: cannot set up SMTP transport: {e}; department mail stays queued"
            );
            return;
        }
    };
    let _ = &ctx.node;
    while !shutdown.is_cancelled() {
        let rows = match claim(&ctx).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("mail: claiming outbox rows failed: {e}");
                vec![]
            }
        };
        let idle = rows.is_empty();
        for r in rows {
            if let Err(e) = send_row(&ctx, &mailer, r).await {
                tracing::warn!("mail: database error while sending: {e}");
            }
        }
        if idle {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ctx.notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(ctx.cfg.poll_ms.clamp(10, 10_000))) => {}
            }
        }
    }
}

async fn send_row(
    ctx: &Ctx,
    mailer: &AsyncSmtpTransport<Tokio1Executor>,
    r: Row_,
) -> Result<(), StoreError> {
    let now = now_ms();
    let built = (|| -> Result<Message, String> {
        Message::builder()
            .from(ctx.cfg.from.parse().map_err(|e| format!("from: {e}"))?)
            .to(r.to.parse().map_err(|e| format!("to {}: {e}", r.to))?)
            .subject(r.subject.clone())
            .message_id(Some(r.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(r.body.clone())
            .map_err(|e| e.to_string())
    })();
    let result = match built {
        Err(e) => Err((true, e)),
        Ok(m) => mailer
            .send(m)
            .await
            .map(|_| ())
            .map_err(|e| (e.is_permanent(), e.to_string())),
    };
    match result {
        Ok(()) => {
            sqlx::query("UPDATE mail_outbox SET state = 'sent', sent_at = $1, updated_at = $1, claimed_until = NULL, last_error = NULL, attempts = attempts + 1 WHERE id = $2")
                .bind(now_ms())
                .bind(r.id)
                .execute(ctx.db.pool())
                .await?;
            tracing::info!(to = %r.to, subject = %r.subject, "mail sent to department");
        }
        Err((permanent, e)) => {
            let attempts = r.attempts + 1;
            if permanent || attempts >= ctx.cfg.max_attempts {
                tracing::error!(to = %r.to, attempts, "mail to department given up: {e}");
                sqlx::query("UPDATE mail_outbox SET state = 'failed', attempts = $1, last_error = $2, claimed_until = NULL, updated_at = $3 WHERE id = $4")
                    .bind(attempts)
                    .bind(&e)
                    .bind(now)
                    .bind(r.id)
                    .execute(ctx.db.pool())
                    .await?;
            } else {
                let delay = backoff_ms(
                    ctx.cfg.retry_base_ms,
                    ctx.cfg.retry_max_ms,
                    (attempts - 1) as u32,
                ) as i64;
                tracing::warn!(to = %r.to, attempts, retry_in_ms = delay, "mail not sent, will retry: {e}");
                sqlx::query("UPDATE mail_outbox SET attempts = $1, last_error = $2, not_before = $3, claimed_until = NULL, updated_at = $4 WHERE id = $5")
                    .bind(attempts)
                    .bind(&e)
                    .bind(now + delay)
                    .bind(now)
                    .bind(r.id)
                    .execute(ctx.db.pool())
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_hides_the_phone_unless_allowed() {
        let f = MailFacts {
            number: "202611260001".into(),
            kind_label: "投诉".into(),
            text: "路灯坏了".into(),
            area: Some("运河街道".into()),
            address: None,
            phone: "13812345678".into(),
            deadline: Some("2026-12-01 17:30".into()),
            department_name: "市城市管理局".into(),
            department_email: Some("cgj@pizhou.example".into()),
        };
        let mut cfg = MailConfig::default();
        let (s, b) = compose(&cfg, "dispatched", &f);
        assert_eq!(
            s,
            "【12345工单】202611260001 投诉，请于2026-12-01 17:30前办结"
        );
        assert!(b.contains("138****5678") && !b.contains("13812345678"));
        assert!(b.contains("运河街道") && b.contains("路灯坏了"));
        assert!(b.contains("/portal/tickets/202611260001"));
        cfg.show_full_phone = true;
        assert!(compose(&cfg, "overdue", &f).1.contains("13812345678"));
        assert!(compose(&cfg, "overdue", &f).0.contains("超期"));
    }
}
