//! The SIP-over-TCP listener: our own accept loop in front of rsipstack's connections, so
//! a source cannot hold sockets without end. A new connection is closed at once past
//! `max_tcp_connections` (or `max_tcp_per_ip` from its address), and when it sends nothing
//! within `tcp_first_message_secs`; one that spoke and then falls silent for `tcp_idle_secs`
//! is closed by the stack.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::endpoint::ServerStats;
use super::limits::{ConnectionSlot, Connections};

/// What the accept loop needs besides its socket.
pub(crate) struct TcpLimits {
    pub connections: Arc<Connections>,
    pub first_message: Duration,
    pub trusted: Vec<IpAddr>,
    pub stats: Arc<ServerStats>,
}

/// Accept connections on `listener` (named `local` in Via and Contact) into the endpoint's
/// transport layer until `stop` fires. (The layer is reached through the endpoint: a
/// `TransportLayer` value cancels the whole stack when dropped.)
pub(crate) fn serve(
    listener: TcpListener,
    local: SipAddr,
    endpoint: EndpointInnerRef,
    limits: Arc<TcpLimits>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                _ = stop.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, mostly: wait instead of spinning.
                        debug!(error = %e, "TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let trusted = limits.trusted.contains(&peer.ip());
            let Some(slot) = limits.connections.admit(peer.ip(), trusted) else {
                limits.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                debug!(%peer, "TCP connection over the limit: closed");
                drop(stream);
                continue;
            };
            tokio::spawn(admit(
                stream,
                peer,
                slot,
                local.clone(),
                endpoint.clone(),
                limits.first_message,
                stop.child_token(),
            ));
        }
        info!(local = %local, "SIP TCP listener stopped");
    });
}

/// Hand a connection to the stack once it has sent something; hold its place until the
/// stack is done with it.
async fn admit(
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    local: SipAddr,
    endpoint: EndpointInnerRef,
    first_message: Duration,
    token: CancellationToken,
) {
    // `peek` waits for a byte without taking it (readiness alone can be spurious).
    let mut first = [0u8; 1];
    match tokio::time::timeout(first_message, stream.peek(&mut first)).await {
        Ok(Ok(0)) => return,
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TCP connection failed before its first message");
            return;
        }
        Err(_) => {
            debug!(%peer, "TCP connection silent since it opened: closed");
            return;
        }
    }
    let conn = match TcpConnection::from_stream(stream, local, Some(token.clone())) {
        Ok(c) => c,
        Err(e) => {
            debug!(%peer, error = %e, "TCP connection not usable");
            return;
        }
    };
    endpoint
        .transport_layer
        .add_connection(SipConnection::Tcp(conn));
    // The stack cancels the connection's token when it retires it (closed, idle, error).
    token.cancelled().await;
    drop(slot);
}
