//! Errors of the SIP layer, at the bottom so every file above can name them.

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

/// Why a call operation did not complete.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CallError {
    #[error("the call has ended")]
    Hungup,
    /// Our 2xx was never acknowledged: nobody proved to be at the caller's address (a
    /// spoofed INVITE, or a caller gone before the ACK), so there was never a call.
    #[error("the answer was never acknowledged")]
    Unconfirmed,
    #[error("media: {0}")]
    Media(String),
}
