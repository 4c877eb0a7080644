//! Signalling: the part that answers 12345 calls from a carrier trunk or a softphone.
//!
//! rsipstack carries transport (UDP, TCP), RFC 3261 §17 transactions and message types;
//! this module keeps its own small dialog table on top (UAS dialogs for callers, UAC dialogs
//! for bridged legs), does SDP offer/answer ([`sdp`]), limits and draining, and hands each
//! call to the layer above as a [`Call`] through [`CallHandler`]. It knows nothing of
//! tickets or dialplans.

pub mod auth_digest;
pub mod call;
pub mod config;
mod dialog;
mod limits;
pub mod location;
pub mod registrar;
pub mod registrar_uas;
pub mod sdp;
mod server;
mod uac;
mod udp;

pub use call::{BridgeOutcome, Call, CallError};
pub use config::SipConfig;
pub use server::{Server, ServerStats};

/// The layer above (the dialplan engine) implements this; one call per invocation.
#[async_trait::async_trait]
pub trait CallHandler: Send + Sync + 'static {
    /// Run one call to its end. The call is not answered yet: call [`Call::answer`]
    /// (or reject it with [`Call::reject`]). Dropping the call hangs it up.
    async fn handle(&self, call: Call);
}

/// Errors of starting the signalling server.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("SIP stack: {0}")]
    Stack(String),
    #[error("media: {0}")]
    Media(String),
}
