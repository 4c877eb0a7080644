//! The server: binds the transports, builds the endpoint, wires the dispatcher to the call
//! handle and the handler, and drains on shutdown.
//!
//! ```text
//! transport (UDP filter, TCP) ─▶ rsipstack endpoint (transactions, MessageCounter)
//!     ─▶ dispatch ─▶ dialog_uas_accept ─▶ NewCall ─▶ here: Call + handler task (call span)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::Method;
use rsipstack::EndpointBuilder;
use tokio_util::sync::CancellationToken;
use tracing::{info, Instrument};

use super::call::{Call, CallHandler};
use super::config::SipConfig;
use super::dialog_table::DialogTable;
use super::dialog_uas_accept::{NewCall, OnCall};
use super::dispatch::dispatch;
use super::endpoint::Shared;
use super::error::SipError;
use super::limits::{Connections, RateLimiter, Unconfirmed};
use super::location::Location;
use super::media_leg::MediaCtx;
use super::registrar_keepalive;
use super::registrar_uas::{Directory, RegistrarUas};
use super::telemetry::MessageCounter;
use super::transport;
use super::transport_tcp::{self, TcpLimits};
use crate::media::MediaConfig;
use crate::store::Db;

pub use super::endpoint::ServerStats;

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
        Server::start_with(cfg, media_cfg, handler, None, shutdown).await
    }

    /// [`Server::start`], and a registrar for operator phones when `accounts` is given:
    /// bindings in that database, credentials from that directory.
    pub async fn start_with(
        cfg: SipConfig,
        media_cfg: MediaConfig,
        handler: Arc<dyn CallHandler>,
        accounts: Option<(Db, Arc<dyn Directory>)>,
        shutdown: CancellationToken,
    ) -> Result<Server, SipError> {
        let registrar = accounts
            .filter(|_| cfg.registrar.enabled)
            .map(|(db, dir)| Arc::new(RegistrarUas::from_config(&cfg, Location::new(db), dir)));
        let stack_token = CancellationToken::new();
        let public_ip: Option<IpAddr> = cfg.public_addr.as_deref().and_then(|s| s.parse().ok());
        let listeners = transport::bind(&cfg, public_ip, &stack_token).await?;

        let endpoint = EndpointBuilder::new()
            .with_cancel_token(stack_token.clone())
            .with_transport_layer(listeners.layer)
            .with_user_agent(&cfg.user_agent)
            .with_allows(vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Info,
                Method::Register,
            ])
            .with_inspector(Box::new(MessageCounter))
            .build();
        let mut incoming = endpoint
            .incoming_transactions()
            .map_err(|e| SipError::Stack(e.to_string()))?;

        let media_ip = public_ip
            .or_else(|| {
                listeners
                    .udp_addr
                    .as_ref()
                    .or(listeners.tcp_addr.as_ref())
                    .and_then(|a| a.get_socketaddr().ok())
                    .map(|a| a.ip())
            })
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));

        let media =
            MediaCtx::new(media_cfg, media_ip).map_err(|e| SipError::Media(e.to_string()))?;

        let shared = Arc::new(Shared {
            limiter: RateLimiter::new(cfg.rate_limit_per_ip, cfg.rate_limit_burst),
            setup: Unconfirmed::new(cfg.max_unconfirmed, cfg.max_unconfirmed_per_ip),
            cfg,
            endpoint: endpoint.inner.clone(),
            dialogs: DialogTable::default(),
            stats: Arc::new(ServerStats::default()),
            draining: AtomicBool::new(false),
            hangup_all: CancellationToken::new(),
            media,
            udp_addr: listeners.udp_addr,
            tcp_addr: listeners.tcp_addr,
            media_ip,
            registrar,
        });

        let k = &shared.cfg;
        let tcp_limits = Arc::new(TcpLimits {
            connections: Connections::new(k.max_tcp_connections, k.max_tcp_per_ip),
            first_message: Duration::from_secs(k.tcp_first_message_secs.max(1)),
            trusted: k.trusted_sources.clone(),
            stats: shared.stats.clone(),
        });
        for (listener, name) in listeners.tcp {
            transport_tcp::serve(
                listener,
                name,
                endpoint.inner.clone(),
                tcp_limits.clone(),
                stack_token.clone(),
            );
        }

        let serve_token = stack_token.clone();
        tokio::spawn(async move {
            // The endpoint owns the transport layer; dropping it shuts transports down.
            let endpoint = endpoint;
            tokio::select! {
                _ = endpoint.serve() => {}
                _ = serve_token.cancelled() => {}
            }
        });

        if let Some(r) = shared.registrar.clone() {
            let k = &shared.cfg.registrar;
            if k.keepalive_secs > 0 {
                tokio::spawn(registrar_keepalive::run(
                    shared.clone(),
                    r,
                    Duration::from_secs(k.keepalive_secs),
                    k.keepalive_misses,
                    stack_token.clone(),
                ));
            }
        }

        let on_call = hand_to(handler, shared.clone());
        let sh = shared.clone();
        let dispatch_token = stack_token.clone();
        tokio::spawn(async move {
            loop {
                let tx = tokio::select! {
                    tx = incoming.recv() => tx,
                    _ = dispatch_token.cancelled() => None,
                };
                let Some(tx) = tx else { break };
                dispatch(&sh, tx, &on_call).await;
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

        info!(udp = ?listeners.udp_addrs, tcp = ?listeners.tcp_addrs, "SIP listening");
        Ok(Server {
            shared,
            udp_addrs: listeners.udp_addrs,
            tcp_addrs: listeners.tcp_addrs,
            done,
        })
    }

    /// Places outbound calls through this server (callbacks, agents' phones).
    pub fn dialer(&self) -> super::Dialer {
        super::Dialer::new(self.shared.clone())
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

/// How a new call reaches the handler: as a [`Call`], in a task of its own that carries
/// the call's span, so every line the dialplan logs names the call.
fn hand_to(handler: Arc<dyn CallHandler>, sh: Arc<Shared>) -> OnCall {
    Arc::new(move |new: NewCall| {
        let span = new.span.clone();
        let call = Call::new(new, sh.clone());
        let handler = handler.clone();
        tokio::spawn(async move { handler.handle(call).await }.instrument(span));
    })
}

async fn wait_idle(sh: &Shared) {
    while sh.stats.active.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
