//! Listeners, the request dispatcher, call limits and draining.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TransportLayer};
use rsipstack::EndpointBuilder;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::limits::RateLimiter;
use super::udp::FilteringUdp;
use super::{CallHandler, SipConfig, SipError};
use crate::media::MediaConfig;

/// Methods we answer; anything else gets 405 with this list in Allow.
pub(crate) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";

/// Key of the dialog table: Call-ID and our tag (the To tag of requests that reach us).
pub(crate) type DialogKey = (String, String);

/// Counters for tests, logs and /metrics.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub invites: AtomicU64,
    pub answered: AtomicU64,
    pub rejected_busy: AtomicU64,
    pub rejected_rate: AtomicU64,
    pub rejected_draining: AtomicU64,
    pub active: AtomicUsize,
}

/// State shared by the dispatcher and every call task.
pub(crate) struct Shared {
    pub cfg: SipConfig,
    pub endpoint: EndpointInnerRef,
    pub dialogs: Mutex<HashMap<DialogKey, mpsc::UnboundedSender<Transaction>>>,
    pub stats: Arc<ServerStats>,
    pub draining: AtomicBool,
    /// Cancelled when the drain timeout is over: every call hangs up.
    pub hangup_all: CancellationToken,
    pub limiter: RateLimiter,
    pub handler: Arc<dyn CallHandler>,
    pub media: super::call::MediaCtx,
    pub udp_addr: Option<SipAddr>,
    pub tcp_addr: Option<SipAddr>,
    /// IP written in SDP `c=`/`o=` lines.
    pub media_ip: IpAddr,
}

impl Shared {
    pub(crate) fn register(&self, key: DialogKey, tx: mpsc::UnboundedSender<Transaction>) {
        if let Ok(mut m) = self.dialogs.lock() {
            m.insert(key, tx);
        }
    }
    pub(crate) fn unregister(&self, key: &DialogKey) {
        if let Ok(mut m) = self.dialogs.lock() {
            m.remove(key);
        }
    }
    fn lookup(&self, key: &DialogKey) -> Option<mpsc::UnboundedSender<Transaction>> {
        self.dialogs.lock().ok()?.get(key).cloned()
    }
    /// Our address for a transport, for Via and Contact.
    pub(crate) fn local_addr(&self, reliable: bool) -> Option<SipAddr> {
        if reliable {
            self.tcp_addr.clone().or_else(|| self.udp_addr.clone())
        } else {
            self.udp_addr.clone().or_else(|| self.tcp_addr.clone())
        }
    }
}

/// A running signalling server.
pub struct Server {
    shared: Arc<Shared>,
    /// Where UDP listens (port resolved when 0 was asked).
    pub udp_addrs: Vec<SocketAddr>,
    /// Where TCP listens.
    pub tcp_addrs: Vec<SocketAddr>,
    done: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Bind the listeners and start answering. `shutdown` starts the drain: new INVITEs get
    /// 503, calls in progress run to their end or `drain_timeout_secs`, then the stack stops.
    pub async fn start(
        cfg: SipConfig,
        media_cfg: MediaConfig,
        handler: Arc<dyn CallHandler>,
        shutdown: CancellationToken,
    ) -> Result<Server, SipError> {
        let stack_token = CancellationToken::new();
        let transport = TransportLayer::new(stack_token.clone());
        let public_ip: Option<IpAddr> = cfg.public_addr.as_deref().and_then(|s| s.parse().ok());

        let mut udp_addrs = vec![];
        let mut first_udp: Option<SipAddr> = None;
        for addr in &cfg.listen_udp {
            let socket =
                tokio::net::UdpSocket::bind(addr)
                    .await
                    .map_err(|source| SipError::Listen {
                        addr: *addr,
                        source,
                    })?;
            let local = socket.local_addr().map_err(|source| SipError::Listen {
                addr: *addr,
                source,
            })?;
            udp_addrs.push(local);
            let external = public_ip.map(|ip| SocketAddr::new(ip, local.port()));
            let sock = FilteringUdp {
                socket: Arc::new(socket),
                user_agent: cfg.user_agent.clone(),
            };
            let conn = UdpConnection::from_socket(
                Arc::new(sock),
                external,
                Some(stack_token.child_token()),
            )
            .await
            .map_err(|e| SipError::Stack(e.to_string()))?;
            if first_udp.is_none() {
                first_udp = Some(conn.get_addr().clone());
            }
            transport.add_transport(conn.into());
        }
        let mut tcp_addrs = vec![];
        let mut first_tcp: Option<SipAddr> = None;
        for addr in &cfg.listen_tcp {
            let mut addr = *addr;
            if addr.port() == 0 {
                // rsipstack binds later and cannot report a chosen port: choose one now,
                // preferring the UDP port number so one port serves both.
                let want = udp_addrs.first().map(|u| u.port()).unwrap_or(0);
                let probe = std::net::TcpListener::bind(SocketAddr::new(addr.ip(), want))
                    .or_else(|_| std::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0)))
                    .map_err(|source| SipError::Listen { addr, source })?;
                addr = probe
                    .local_addr()
                    .map_err(|source| SipError::Listen { addr, source })?;
            }
            let external = public_ip.map(|ip| SocketAddr::new(ip, addr.port()));
            let conn = TcpListenerConnection::new(addr, external)
                .await
                .map_err(|e| SipError::Stack(e.to_string()))?;
            tcp_addrs.push(addr);
            if first_tcp.is_none() {
                first_tcp = Some(conn.get_addr().clone());
            }
            transport.add_transport(conn.into());
        }
        if udp_addrs.is_empty() && tcp_addrs.is_empty() {
            return Err(SipError::Stack("no listen address configured".into()));
        }

        let endpoint = EndpointBuilder::new()
            .with_cancel_token(stack_token.clone())
            .with_transport_layer(transport)
            .with_user_agent(&cfg.user_agent)
            .with_allows(vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Info,
            ])
            .build();
        let mut incoming = endpoint
            .incoming_transactions()
            .map_err(|e| SipError::Stack(e.to_string()))?;

        let media_ip = public_ip
            .or_else(|| {
                first_udp
                    .as_ref()
                    .or(first_tcp.as_ref())
                    .and_then(|a| a.get_socketaddr().ok())
                    .map(|a| a.ip())
            })
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));

        let media = super::call::MediaCtx::new(media_cfg, media_ip)
            .map_err(|e| SipError::Media(e.to_string()))?;

        let shared = Arc::new(Shared {
            limiter: RateLimiter::new(cfg.rate_limit_per_ip, cfg.rate_limit_burst),
            cfg,
            endpoint: endpoint.inner.clone(),
            dialogs: Mutex::new(HashMap::new()),
            stats: Arc::new(ServerStats::default()),
            draining: AtomicBool::new(false),
            hangup_all: CancellationToken::new(),
            handler,
            media,
            udp_addr: first_udp,
            tcp_addr: first_tcp,
            media_ip,
        });

        let serve_token = stack_token.clone();
        tokio::spawn(async move {
            // The endpoint owns the transport layer; dropping it shuts transports down.
            let endpoint = endpoint;
            tokio::select! {
                _ = endpoint.serve() => {}
                _ = serve_token.cancelled() => {}
            }
        });

        let sh = shared.clone();
        let dispatch_token = stack_token.clone();
        tokio::spawn(async move {
            loop {
                let tx = tokio::select! {
                    tx = incoming.recv() => tx,
                    _ = dispatch_token.cancelled() => None,
                };
                let Some(tx) = tx else { break };
                dispatch(&sh, tx).await;
            }
        });

        let sh = shared.clone();
        let done = tokio::spawn(async move {
            shutdown.cancelled().await;
            info!("SIP drain started: new calls get 503");
            sh.draining.store(true, Ordering::SeqCst);
            let deadline = Duration::from_secs(sh.cfg.drain_timeout_secs);
            let _ = tokio::time::timeout(deadline, wait_idle(&sh)).await;
            if sh.stats.active.load(Ordering::SeqCst) > 0 {
                info!(
                    active = sh.stats.active.load(Ordering::SeqCst),
                    "drain timeout: hanging up calls in progress"
                );
            }
            sh.hangup_all.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), wait_idle(&sh)).await;
            // Let the last BYE/200 leave before the sockets close.
            tokio::time::sleep(Duration::from_millis(200)).await;
            stack_token.cancel();
            info!("SIP stopped");
        });

        info!(udp = ?udp_addrs, tcp = ?tcp_addrs, "SIP listening");
        Ok(Server {
            shared,
            udp_addrs,
            tcp_addrs,
            done,
        })
    }

    /// Counters of this server.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    /// Wait until the drain after `shutdown` is over.
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

async fn wait_idle(sh: &Shared) {
    while sh.stats.active.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The remote tag of our dialogs is the To tag of requests that reach us.
fn to_tag(tx: &Transaction) -> Option<String> {
    tx.original
        .to_header()
        .ok()?
        .tag()
        .ok()
        .flatten()
        .map(|t| t.value().to_string())
}

/// Put `received=` on the top Via whenever `rport` got a value (RFC 3581 §4), which the
/// stack leaves out when the address matches the sent-by host.
pub(crate) fn fix_received(req: &mut rsipstack::sip::Request) {
    use rsipstack::sip::prelude::ToTypedHeader;
    use rsipstack::sip::Param;
    let Ok(via) = req.via_header_mut() else {
        return;
    };
    let _ = via.update_first_value(|v| {
        let mut typed = v.typed()?;
        let has_rport = typed
            .params
            .iter()
            .any(|p| matches!(p, Param::Rport(Some(_))));
        let has_received = typed.params.iter().any(|p| matches!(p, Param::Received(_)));
        if has_rport && !has_received {
            let host = typed.uri.host_with_port.host.to_string();
            typed
                .params
                .push(Param::Received(rsipstack::sip::param::Received::new(host)));
            return Ok(typed.into());
        }
        Ok(v)
    });
}

async fn dispatch(sh: &Arc<Shared>, mut tx: Transaction) {
    fix_received(&mut tx.original);
    let method = tx.original.method;
    let tag = to_tag(&tx);
    if !matches!(
        tx.original.uri.scheme,
        None | Some(rsipstack::sip::Scheme::Sip) | Some(rsipstack::sip::Scheme::Sips)
    ) && method != Method::Ack
    {
        // RFC 3261 §8.2.2.1.
        tx.reply(StatusCode::UnsupportedUriScheme).await.ok();
        return;
    }
    match (method, tag) {
        (Method::Invite, None) => {
            let sh = sh.clone();
            tokio::spawn(super::dialog::incoming_invite(sh, tx));
        }
        (Method::Options, _) => {
            let headers = vec![
                Header::Allow(ALLOW.into()),
                Header::Accept("application/sdp".into()),
            ];
            if let Err(e) = tx.reply_with(StatusCode::OK, headers, None).await {
                debug!(error = %e, "OPTIONS reply failed");
            }
        }
        (Method::Ack, _) => {}
        (
            Method::Invite
            | Method::Bye
            | Method::Info
            | Method::Update
            | Method::Refer
            | Method::Notify
            | Method::Message,
            Some(tag),
        ) => {
            let call_id = tx
                .original
                .call_id_header()
                .map(|c| c.value().to_string())
                .unwrap_or_default();
            match sh.lookup(&(call_id, tag)) {
                Some(dlg) => {
                    if let Err(mpsc::error::SendError(mut tx)) = dlg.send(tx) {
                        tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
                    }
                }
                None => {
                    tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
                }
            }
        }
        (Method::Bye | Method::Info | Method::Update, None) => {
            tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
        }
        (m, _) => {
            debug!(method = %m, "method not allowed");
            let headers = vec![Header::Allow(ALLOW.into())];
            if let Err(e) = tx
                .reply_with(StatusCode::MethodNotAllowed, headers, None)
                .await
            {
                warn!(error = %e, "405 reply failed");
            }
        }
    }
}
