//! The call handle given to the layer above, and the glue to the media layer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::dialog::Cmd;
use super::sdp::{Direction, Negotiated};
use super::server::Shared;

/// Media settings handed to the media layer (placeholder until src/media lands).
pub type MediaConfig = ();

/// Why a call operation did not complete.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CallError {
    #[error("the call has ended")]
    Hungup,
    #[error("media: {0}")]
    Media(String),
}

/// How a bridge attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeOutcome {
    /// The called side answered and the bridged call is over (one side hung up).
    Completed,
    /// Nobody answered in time (or 408/480/487).
    NoAnswer,
    /// The called side was busy (486/600/603).
    Busy,
    /// Unknown destination, network error or any other failure.
    Failed,
}

/// Shared media context: port pool and settings.
pub(crate) struct MediaCtx {
    ip: IpAddr,
}

impl MediaCtx {
    pub(crate) fn new(_cfg: MediaConfig, ip: IpAddr) -> Result<Self, CallError> {
        Ok(Self { ip })
    }
    pub(crate) async fn open(&self) -> Result<MediaHandle, CallError> {
        let sock = tokio::net::UdpSocket::bind(SocketAddr::new(self.ip, 0))
            .await
            .map_err(|e| CallError::Media(e.to_string()))?;
        Ok(MediaHandle {
            addr: sock
                .local_addr()
                .map_err(|e| CallError::Media(e.to_string()))?,
            _sock: sock,
            digits: std::sync::Mutex::new(vec![]),
        })
    }
}

/// One call leg's media session.
pub(crate) struct MediaHandle {
    addr: SocketAddr,
    _sock: tokio::net::UdpSocket,
    digits: std::sync::Mutex<Vec<char>>,
}

impl MediaHandle {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    pub(crate) fn start(&self, _neg: &Negotiated, _dir: Direction) {}
    pub(crate) fn update(&self, _neg: &Negotiated, _dir: Direction) {}
    pub(crate) fn push_digit(&self, d: char) {
        if let Ok(mut v) = self.digits.lock() {
            v.push(d);
        }
    }
    pub(crate) fn close(&self) {}
}

/// One incoming call, as the dialplan sees it. Dropping it hangs up.
pub struct Call {
    id: String,
    caller: String,
    called: String,
    cmd: mpsc::UnboundedSender<Cmd>,
    ended: CancellationToken,
    media: Arc<MediaHandle>,
    #[allow(dead_code)]
    sh: Arc<Shared>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.id)
            .field("caller", &self.caller)
            .field("called", &self.called)
            .finish()
    }
}

impl Call {
    pub(crate) fn new(
        id: String,
        caller: String,
        called: String,
        cmd: mpsc::UnboundedSender<Cmd>,
        ended: CancellationToken,
        media: Arc<MediaHandle>,
        sh: Arc<Shared>,
    ) -> Self {
        Self {
            id,
            caller,
            called,
            cmd,
            ended,
            media,
            sh,
        }
    }

    /// The SIP Call-ID.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// User part of the From URI (the caller's number).
    pub fn caller(&self) -> &str {
        &self.caller
    }
    /// User part of the Request-URI (or To), e.g. `12345`.
    pub fn called(&self) -> &str {
        &self.called
    }
    /// Whether the call is over (either side hung up).
    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }
    /// Resolves when the call is over.
    pub async fn ended(&self) {
        self.ended.cancelled().await
    }

    /// Send 180 Ringing (before answering).
    pub fn ring(&self) {
        let _ = self.cmd.send(Cmd::Ring);
    }

    /// Answer with 200 OK; returns once the caller's ACK confirmed the call.
    pub async fn answer(&self) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Answer(tx))
            .map_err(|_| CallError::Hungup)?;
        rx.await.map_err(|_| CallError::Hungup)?
    }

    /// Refuse the call before answering with a final status (e.g. 486, 480, 603).
    pub fn reject(self, status: u16) {
        let _ = self.cmd.send(Cmd::Reject(status));
    }

    /// Hang up (BYE once answered, 480 before).
    pub async fn hangup(self) {
        let _ = self.cmd.send(Cmd::Hangup);
        self.ended.cancelled().await;
    }

    /// DTMF digits received so far by SIP INFO (until media lands).
    pub fn info_digits(&self) -> Vec<char> {
        self.media
            .digits
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}
