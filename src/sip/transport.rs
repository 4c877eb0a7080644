//! Transport: the UDP and TCP listeners rsipstack's transport layer reads from.
//!
//! Every UDP socket goes through [`FilteringUdp`] so broken requests still get an answer;
//! TCP sockets are bound here and accepted by `transport_tcp` (connection limits).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TransportLayer};
use tokio_util::sync::CancellationToken;

use super::config::SipConfig;
use super::error::SipError;
use super::limits::RateLimiter;
use super::transport_udp_filter::FilteringUdp;

/// The bound listeners, inside one transport layer.
pub(crate) struct Listeners {
    pub layer: TransportLayer,
    /// Where UDP listens (port resolved when 0 was asked).
    pub udp_addrs: Vec<SocketAddr>,
    /// Where TCP listens.
    pub tcp_addrs: Vec<SocketAddr>,
    /// The TCP sockets, each with its name for Via and Contact; served by
    /// `transport_tcp::serve` once the endpoint runs.
    pub tcp: Vec<(tokio::net::TcpListener, SipAddr)>,
    /// The first UDP listener as the stack names it, for Via and Contact.
    pub udp_addr: Option<SipAddr>,
    /// The first TCP listener as the stack names it.
    pub tcp_addr: Option<SipAddr>,
}

/// Bind every listen address of `cfg`; the transports stop with `stack_token`.
pub(crate) async fn bind(
    cfg: &SipConfig,
    public_ip: Option<IpAddr>,
    stack_token: &CancellationToken,
) -> Result<Listeners, SipError> {
    let layer = TransportLayer::new(stack_token.clone());
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
            flood: RateLimiter::new(cfg.udp_requests_per_ip, cfg.udp_requests_burst),
            trusted: cfg.trusted_sources.clone(),
        };
        let conn =
            UdpConnection::from_socket(Arc::new(sock), external, Some(stack_token.child_token()))
                .await
                .map_err(|e| SipError::Stack(e.to_string()))?;
        if first_udp.is_none() {
            first_udp = Some(conn.get_addr().clone());
        }
        layer.add_transport(conn.into());
    }
    let mut tcp_addrs = vec![];
    let mut tcp = vec![];
    let mut first_tcp: Option<SipAddr> = None;
    for addr in &cfg.listen_tcp {
        let mut addr = *addr;
        if addr.port() == 0 {
            // Prefer the UDP port number so one port serves both.
            let want = udp_addrs.first().map(|u| u.port()).unwrap_or(0);
            if std::net::TcpListener::bind(SocketAddr::new(addr.ip(), want)).is_ok() {
                addr.set_port(want);
            }
        }
        let listener = tcp_listener(addr).map_err(|source| SipError::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SipError::Listen { addr, source })?;
        let named = SocketAddr::new(public_ip.unwrap_or(local.ip()), local.port());
        let sip_addr = SipAddr::new(rsipstack::sip::Transport::Tcp, named.into());
        tcp_addrs.push(local);
        if first_tcp.is_none() {
            first_tcp = Some(sip_addr.clone());
        }
        tcp.push((listener, sip_addr));
    }
    layer.set_stream_idle_timeout(Duration::from_secs(cfg.tcp_idle_secs));
    if udp_addrs.is_empty() && tcp_addrs.is_empty() {
        return Err(SipError::Stack("no listen address configured".into()));
    }
    Ok(Listeners {
        layer,
        udp_addrs,
        tcp_addrs,
        tcp,
        udp_addr: first_udp,
        tcp_addr: first_tcp,
    })
}

/// A listening TCP socket (SO_REUSEADDR, so a restart need not wait out TIME_WAIT).
fn tcp_listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()?
    } else {
        tokio::net::TcpSocket::new_v4()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
