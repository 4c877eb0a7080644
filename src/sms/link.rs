//! The carrier link behind a small trait (SMPP today, CMPP later) and its SMPP 3.4 form on
//! rusmpp/rusmppc: bind_transceiver, enquire_link keep-alive, reconnect with backoff and
//! jitter, a window of submits in flight and a submits-per-second limit.
//!
//! A delivery receipt arrives as deliver_sm with esm_class 0x04 and a text like
//! `id:lk2x-17 sub:001 dlvrd:001 submit date:2611261430 done date:2611261430 stat:DELIVRD err:000 text:`

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use rusmpp::{
    pdus::{BindTransceiver, DeliverSmResp, SubmitSm},
    types::{COctetString, OctetString},
    values::{DataCoding, EsmClass, Npi, RegisteredDelivery, ServiceType, Ton},
    CommandId, CommandStatus, Pdu,
};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio_util::sync::CancellationToken;

use super::config::SmsConfig;
use crate::notify::retry::{Backoff, RateLimit};

/// One SMPP submit_sm worth of payload.
#[derive(Debug, Clone)]
pub struct OutPart {
    pub dest: String,
    pub data_coding: u8,
    pub esm_class: u8,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// Not bound, connection lost, timeout, throttled, queue full: try again later. When the
    /// request may have reached the SMSC (`maybe_sent`), a retry may duplicate it.
    #[error("temporary: {reason}")]
    Temporary { reason: String, maybe_sent: bool },
    /// The SMSC refused this message for good (bad number, bad length …).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What the SMSC sends us.
#[derive(Debug, Clone)]
pub enum Incoming {
    Message {
        from: String,
        to: String,
        data_coding: u8,
        esm_class: u8,
        bytes: Vec<u8>,
    },
    Receipt {
        message_id: String,
        stat: String,
        err: String,
    },
}

/// An incoming item plus the answer the handler gives once it is stored: true → ESME_ROK,
/// false → a temporary error so the SMSC redelivers.
pub struct IncomingItem {
    pub item: Incoming,
    pub done: oneshot::Sender<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Bound,
    /// The SMSC refused our credentials (wrong system_id/password); retried with backoff.
    BindRefused(String),
    Down(String),
    Stopped,
}

/// A carrier backend: SMPP here; CMPP 2.0/3.0 or SGIP would implement the same.
#[async_trait]
pub trait SmsLink: Send + Sync {
    /// Submit one part; Ok is the SMSC's message id.
    async fn submit(&self, part: &OutPart) -> Result<String, SubmitError>;
    fn state(&self) -> LinkState;
    /// Wait until bound or `timeout`; true when bound.
    async fn wait_bound(&self, timeout: Duration) -> bool;
}

/// SMPP 3.4 link. Cheap to share via `Arc`.
pub struct SmppLink {
    cfg: SmsConfig,
    client: watch::Receiver<Option<rusmppc::Client>>,
    state: watch::Receiver<LinkState>,
    window: Semaphore,
    rate: RateLimit,
}

impl SmppLink {
    /// Start the connection task; incoming messages and receipts go to `incoming`.
    pub fn start(
        cfg: SmsConfig,
        incoming: mpsc::Sender<IncomingItem>,
        shutdown: CancellationToken,
    ) -> Arc<SmppLink> {
        let (client_tx, client_rx) = watch::channel(None);
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let link = Arc::new(SmppLink {
            window: Semaphore::new(cfg.window.max(1)),
            rate: RateLimit::per_second(cfg.rate_per_sec),
            cfg: cfg.clone(),
            client: client_rx,
            state: state_rx,
        });
        tokio::spawn(run(cfg, client_tx, state_tx, incoming, shutdown));
        link
    }

    fn submit_pdu(&self, part: &OutPart) -> Result<SubmitSm, SubmitError> {
        let bad = |e: String| SubmitError::Permanent(e);
        Ok(SubmitSm::builder()
            .service_type(ServiceType::default())
            .source_addr_ton(Ton::Unknown)
            .source_addr_npi(Npi::Unknown)
            .source_addr(
                COctetString::from_str(&self.cfg.source_addr)
                    .map_err(|e| bad(format!("source_addr: {e}")))?,
            )
            .dest_addr_ton(Ton::Unknown)
            .dest_addr_npi(Npi::Unknown)
            .destination_addr(
                COctetString::from_str(&part.dest).map_err(|e| bad(format!("destination: {e}")))?,
            )
            .esm_class(EsmClass::from(part.esm_class))
            .registered_delivery(RegisteredDelivery::from(u8::from(
                self.cfg.request_receipts,
            )))
            .data_coding(DataCoding::from(part.data_coding))
            .short_message(
                OctetString::from_slice(&part.bytes)
                    .map_err(|e| bad(format!("short_message: {e}")))?,
            )
            .build())
    }
}

#[async_trait]
impl SmsLink for SmppLink {
    async fn submit(&self, part: &OutPart) -> Result<String, SubmitError> {
        let pdu = self.submit_pdu(part)?;
        let _permit = self
            .window
            .acquire()
            .await
            .map_err(|_| SubmitError::Temporary {
                reason: "link stopped".into(),
                maybe_sent: false,
            })?;
        let client = self.client.borrow().clone();
        let Some(client) = client else {
            return Err(SubmitError::Temporary {
                reason: "not bound".into(),
                maybe_sent: false,
            });
        };
        self.rate.wait().await;
        match client.submit_sm(pdu).await {
            Ok(resp) => Ok(resp.message_id().as_str().to_string()),
            Err(rusmppc::error::Error::UnexpectedResponse { response }) => {
                let status = response.status();
                let code = u32::from(status);
                let reason = format!("SMSC answered {status:?} (0x{code:08x})");
                if matches!(
                    status,
                    CommandStatus::EsmeRthrottled
                        | CommandStatus::EsmeRmsgqful
                        | CommandStatus::EsmeRsyserr
                        | CommandStatus::EsmeRxTAppn
                        | CommandStatus::EsmeRinvbndsts
                ) {
                    Err(SubmitError::Temporary {
                        reason,
                        maybe_sent: false,
                    })
                } else {
                    Err(SubmitError::Permanent(reason))
                }
            }
            Err(e) => {
                let maybe_sent = !matches!(e, rusmppc::error::Error::ConnectionClosed);
                Err(SubmitError::Temporary {
                    reason: e.to_string(),
                    maybe_sent,
                })
            }
        }
    }

    fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    async fn wait_bound(&self, timeout: Duration) -> bool {
        let mut rx = self.state.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s == LinkState::Bound))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }
}

/// Connect, bind, serve events until the line breaks, back off, repeat.
async fn run(
    cfg: SmsConfig,
    client_tx: watch::Sender<Option<rusmppc::Client>>,
    state_tx: watch::Sender<LinkState>,
    incoming: mpsc::Sender<IncomingItem>,
    shutdown: CancellationToken,
) {
    let url = format!(
        "{}://{}:{}",
        if cfg.tls { "smpps" } else { "smpp" },
        cfg.host,
        cfg.port
    );
    let mut failures: u32 = 0;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let _ = state_tx.send(LinkState::Connecting);
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            o = session(&cfg, &url, &client_tx, &state_tx, &incoming, &shutdown) => o,
        };
        let _ = client_tx.send(None);
        match outcome {
            Ok(()) => {
                failures = 0;
                if shutdown.is_cancelled() {
                    break;
                }
            }
            Err(SessionEnd::BindRefused(why)) => {
                tracing::error!(%url, system_id = %cfg.system_id, "SMSC refused bind: {why}; check sms.system_id and sms.password");
                let _ = state_tx.send(LinkState::BindRefused(why));
                failures += 1;
            }
            Err(SessionEnd::Failed(why)) => {
                tracing::warn!(%url, "SMPP link down: {why}");
                let _ = state_tx.send(LinkState::Down(why));
                failures += 1;
            }
        }
        let delay = Backoff::new(
            Duration::from_millis(cfg.reconnect_min_ms),
            Duration::from_millis(cfg.reconnect_max_ms),
        )
        .delay(failures);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    let _ = client_tx.send(None);
    let _ = state_tx.send(LinkState::Stopped);
}

/// rusmppc 0.4.0 takes at most 5 queued requests per poll of its connection and then may
/// wait for socket or timer activity without asking to be polled again: under a burst
/// (hundreds of deliver_sm_resp, a full window) a submit_sm sat queued until the next
/// enquire_link tick, seconds later. Polling the connection on a short tick as well bounds
/// that stall to `KICK`.
const KICK: Duration = Duration::from_millis(5);

struct Kicked<F> {
    inner: std::pin::Pin<Box<F>>,
    tick: tokio::time::Interval,
}

impl<F: std::future::Future<Output = ()>> std::future::Future for Kicked<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.inner.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(());
        }
        while self.tick.poll_tick(cx).is_ready() {}
        std::task::Poll::Pending
    }
}

enum SessionEnd {
    BindRefused(String),
    Failed(String),
}

async fn session(
    cfg: &SmsConfig,
    url: &str,
    client_tx: &watch::Sender<Option<rusmppc::Client>>,
    state_tx: &watch::Sender<LinkState>,
    incoming: &mpsc::Sender<IncomingItem>,
    shutdown: &CancellationToken,
) -> Result<(), SessionEnd> {
    let failed = |e: String| SessionEnd::Failed(e);
    let (client, mut events, connection) = rusmppc::ConnectionBuilder::new()
        .enquire_link_interval(Duration::from_secs(cfg.enquire_link_secs.max(1)))
        .response_timeout(Duration::from_secs(cfg.response_timeout_secs.max(1)))
        .disable_interface_version_check()
        .no_spawn()
        .connect(url)
        .await
        .map_err(|e| failed(format!("connect: {e}")))?;
    tokio::spawn(Kicked {
        inner: Box::pin(connection),
        tick: tokio::time::interval(KICK),
    });
    let bind = BindTransceiver::builder()
        .system_id(
            COctetString::from_str(&cfg.system_id)
                .map_err(|e| SessionEnd::BindRefused(format!("system_id: {e}")))?,
        )
        .password(
            COctetString::from_str(&cfg.password)
                .map_err(|e| SessionEnd::BindRefused(format!("password: {e}")))?,
        )
        .system_type(
            COctetString::from_str(&cfg.system_type).unwrap_or_else(|_| COctetString::empty()),
        )
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build();
    match client.bind_transceiver(bind).await {
        Ok(_) => {}
        Err(rusmppc::error::Error::UnexpectedResponse { response }) => {
            let _ = client.close().await;
            return Err(SessionEnd::BindRefused(format!("{:?}", response.status())));
        }
        Err(e) => {
            let _ = client.close().await;
            return Err(failed(format!("bind: {e}")));
        }
    }
    tracing::info!(%url, system_id = %cfg.system_id, "SMPP bound as transceiver");
    let _ = client_tx.send(Some(client.clone()));
    let _ = state_tx.send(LinkState::Bound);
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = client_tx.send(None);
                // After unbind the SMSC may close first; that is a normal end.
                let _ = tokio::time::timeout(Duration::from_secs(2), client.unbind()).await;
                let _ = client.close().await;
                return Ok(());
            }
            e = events.next() => e,
        };
        match event {
            None => return Err(failed("connection closed".into())),
            Some(rusmppc::Event::Error(e)) => {
                tracing::warn!("SMPP event error: {e}");
                if client.is_closed() {
                    return Err(failed(e.to_string()));
                }
            }
            Some(rusmppc::Event::Incoming(command)) => {
                let seq = command.sequence_number();
                match (command.id(), command.pdu()) {
                    (CommandId::DeliverSm, Some(Pdu::DeliverSm(d))) => {
                        let item = to_incoming(d);
                        let (done_tx, done_rx) = oneshot::channel();
                        let client = client.clone();
                        if incoming
                            .send(IncomingItem {
                                item,
                                done: done_tx,
                            })
                            .await
                            .is_err()
                        {
                            return Ok(());
                        }
                        // Answer after the handler stored it, without holding up the reader.
                        tokio::spawn(async move {
                            let ok = done_rx.await.unwrap_or(false);
                            let r = if ok {
                                client.deliver_sm_resp(seq, DeliverSmResp::default()).await
                            } else {
                                client
                                    .status(CommandStatus::EsmeRxTAppn)
                                    .deliver_sm_resp(seq, DeliverSmResp::default())
                                    .await
                            };
                            if let Err(e) = r {
                                tracing::debug!("deliver_sm_resp not sent: {e}");
                            }
                        });
                    }
                    (CommandId::Unbind, _) => {
                        let _ = client.unbind_resp(seq).await;
                        let _ = client.close().await;
                        return Err(failed("SMSC unbound".into()));
                    }
                    (id, _) if !id.is_response() => {
                        tracing::warn!(
                            ?id,
                            seq,
                            "unexpected PDU from SMSC, answering generic_nack"
                        );
                        let _ = client.generic_nack(seq).await;
                    }
                    (id, _) => tracing::debug!(?id, seq, "late or unmatched response from SMSC"),
                }
            }
        }
    }
}

pub(crate) fn to_incoming(d: &rusmpp::pdus::DeliverSm) -> Incoming {
    let esm = u8::from(d.esm_class);
    let bytes: Vec<u8> = d.short_message().as_ref().to_vec();
    // Message type bits 2-5: 0x04 = SMSC delivery receipt.
    if esm & 0x3C == 0x04 {
        let text = String::from_utf8_lossy(&bytes).to_string();
        let field = |name: &str| {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or("")
                .to_string()
        };
        let mut message_id = field("id:");
        for tlv in d.tlvs() {
            if let Some(rusmpp::tlvs::TlvValue::ReceiptedMessageId(id)) = tlv.value() {
                message_id = id.as_str().to_string();
            }
        }
        return Incoming::Receipt {
            message_id,
            stat: field("stat:"),
            err: field("err:"),
        };
    }
    Incoming::Message {
        from: d.source_addr.as_str().to_string(),
        to: d.destination_addr.as_str().to_string(),
        data_coding: u8::from(d.data_coding),
        esm_class: esm,
        bytes,
    }
}
