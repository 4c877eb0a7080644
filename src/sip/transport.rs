//! Transport: the UDP and TCP listeners rsipstack's transport layer reads from.
//!
//! Every UDP socket goes through [`FilteringUdp`] so broken requests still get an answer;
//! TCP is rsipstack's own listener.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, TransportLayer};
use tokio_util::sync::CancellationToken;

use super::config::SipConfig;
use super::error::SipError;
use super::transport_udp_filter::FilteringUdp;

/// The bound listeners, inside one transport layer.
pub(crate) struct Listeners {
    pub layer: TransportLayer,
    /// Where UDP listens (port resolved when 0 was asked).
    pub udp_addrs: Vec<SocketAddr>,
    /// Where TCP listens.
    pub tcp_addrs: Vec<SocketAddr>,
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
        layer.add_transport(conn.into());
    }
    if udp_addrs.is_empty() && tcp_addrs.is_empty() {
        return Err(SipError::Stack("no listen address configured".into()));
    }
    Ok(Listeners {
        layer,
        udp_addrs,
        tcp_addrs,
        udp_addr: first_udp,
        tcp_addr: first_tcp,
    })
}
