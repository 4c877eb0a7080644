//! The running mail channel: the `mail` consumer (ticket events → mail outbox, see
//! [`super::notices`]) and the sender (mail outbox → SMTP relay).
//!
//! Guarantee, as for SMS: at least once, and a mail the relay accepted (250 after DATA) is
//! never sent again once that is stored. A crash between the relay's 250 and our commit
//! resends it with the same Message-ID (`<mail-ev{event}.{number}@hotline>`), so a mail system
//! that deduplicates on Message-ID shows it once.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::Row;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use crate::notify::consumer;
use crate::notify::retry::Backoff;
use crate::notify::{DeskError, TicketDesk};
use crate::store::lease::{record_surely, Held, LeasedTable};
use crate::store::{Db, StoreError};
use crate::tickets::events::TicketEvent;
use crate::tickets::Tickets;

use super::config::MailConfig;
use super::notices::MailNotices;

pub use super::notices::CONSUMER;

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
    Desk(#[from] DeskError),
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
    let notices = Arc::new(MailNotices {
        cfg: ctx.cfg.clone(),
        desk: ctx.desk.clone(),
        sender: notify.clone(),
    });
    let tasks = vec![
        tokio::spawn(consumer::run(
            ctx.db.clone(),
            notices,
            wake,
            shutdown.clone(),
        )),
        tokio::spawn(send_loop(ctx, shutdown)),
    ];
    MailHandle { notify, tasks }
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

/// How `mail_outbox` plays the leased queue: rows stay `pending` while leased, attempts
/// count every try.
const OUTBOX: LeasedTable = LeasedTable {
    table: "mail_outbox",
    state: "state",
    due: "not_before",
    claimable: &["pending"],
    on_claim: "",
    claimed_by: false,
    returning: "id, to_addr, subject, body, message_id, attempts",
    order: "id",
};

struct Row_ {
    id: i64,
    to: String,
    subject: String,
    body: String,
    message_id: String,
    attempts: i64,
}

async fn claim(ctx: &Ctx) -> Result<Vec<Row_>, StoreError> {
    let rows = OUTBOX
        .claim(
            &ctx.db,
            Duration::from_secs(ctx.cfg.lease_secs),
            ctx.cfg.batch.max(1),
            &ctx.node,
        )
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
    // A batch is sent one mail at a time, and a slow relay may take longer than a lease over
    // one mail: the rows of the batch keep their leases until each is finished, so no other
    // node sends them meanwhile.
    let held = Held::default();
    let beat = tokio::spawn(OUTBOX.heartbeat(
        ctx.db.clone(),
        held.clone(),
        Duration::from_secs(ctx.cfg.lease_secs.max(1)),
        ctx.node.clone(),
        shutdown.clone(),
    ));
    while !shutdown.is_cancelled() {
        let rows = match claim(&ctx).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("mail: claiming outbox rows failed: {e}");
                vec![]
            }
        };
        let idle = rows.is_empty();
        for r in &rows {
            held.insert(r.id);
        }
        for r in rows {
            let id = r.id;
            if let Err(e) = send_row(&ctx, &mailer, r).await {
                tracing::warn!("mail: database error while sending: {e}");
            }
            held.remove(id);
        }
        if idle {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ctx.notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(ctx.cfg.poll_ms.clamp(10, 10_000))) => {}
            }
        }
    }
    beat.abort();
}

/// Why a mail could not even be built (a permanent failure: retrying will not help).
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("from: {0}")]
    From(lettre::address::AddressError),
    #[error("to {0}: {1}")]
    To(String, lettre::address::AddressError),
    #[error(transparent)]
    Body(#[from] lettre::error::Error),
}

async fn send_row(
    ctx: &Ctx,
    mailer: &AsyncSmtpTransport<Tokio1Executor>,
    r: Row_,
) -> Result<(), StoreError> {
    let built = (|| -> Result<Message, BuildError> {
        Ok(Message::builder()
            .from(ctx.cfg.from.parse().map_err(BuildError::From)?)
            .to(r.to.parse().map_err(|e| BuildError::To(r.to.clone(), e))?)
            .subject(r.subject.clone())
            .message_id(Some(r.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(r.body.clone())?)
    })();
    let result = match built {
        Err(e) => Err((true, e.to_string())),
        Ok(m) => mailer
            .send(m)
            .await
            .map(|_| ())
            .map_err(|e| (e.is_permanent(), e.to_string())),
    };
    match result {
        Ok(()) => {
            let within = Duration::from_secs(ctx.cfg.lease_secs) / 2;
            record_surely("mail sent", within, || {
                OUTBOX.done(
                    &ctx.db,
                    r.id,
                    "sent",
                    "sent_at = $1, attempts = attempts + 1",
                )
            })
            .await?;
            metrics::counter!("hotline_mail_sent_total").increment(1);
            tracing::info!(to = %r.to, subject = %r.subject, "mail sent to department");
        }
        Err((permanent, e)) => {
            let attempts = r.attempts + 1;
            if permanent || attempts >= ctx.cfg.max_attempts {
                tracing::error!(to = %r.to, attempts, "mail to department given up: {e}");
                OUTBOX.fail(&ctx.db, r.id, Some(attempts), &e).await?;
                metrics::counter!("hotline_mail_failed_total").increment(1);
            } else {
                let delay = Backoff::new(
                    Duration::from_millis(ctx.cfg.retry_base_ms),
                    Duration::from_millis(ctx.cfg.retry_max_ms),
                )
                .delay(attempts as u32);
                tracing::warn!(to = %r.to, attempts, retry_in_ms = delay.as_millis() as u64, "mail not sent, will retry: {e}");
                OUTBOX
                    .retry(&ctx.db, r.id, "pending", Some(attempts), delay, &e)
                    .await?;
            }
        }
    }
    Ok(())
}
