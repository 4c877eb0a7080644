//! Taking a new call: a new INVITE (no To tag) passes the drain, rate and call limits and
//! the SDP offer, gets a media session, and becomes a UAS dialog whose call handle is
//! handed to the layer above.
//!
//! ```text
//! INVITE ──▶ draining?            ──▶ 503 Retry-After
//!            over the per-IP rate? ──▶ 503 Retry-After      (not for trusted_sources)
//!            max_calls reached?    ──▶ 503 Retry-After      (confirmed calls only)
//!            source has max_unconfirmed_per_ip setups ──▶ 503 Retry-After
//!            max_unconfirmed full  ──▶ the oldest setup is given up, this one goes on
//!        ◀── 100 Trying
//!            no PCMU/PCMA offered  ──▶ 488
//!            unreadable SDP        ──▶ 400
//!            no RTP port           ──▶ 503 Retry-After
//!            else: NewCall to the layer above; this task runs the dialog to its end
//! ```

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::dialog_table::{spawn_pump, DialogKey};
use super::dialog_uas::{Cmd, Uas};
use super::dialog_uas_sdp::OfferAnswer;
use super::endpoint::Shared;
use super::identity::asserted_caller;
use super::limits::Refused;
use super::media_leg::MediaHandle;
use super::message::{reply_simple, user_part};
use super::sdp::{Direction, LocalSdp, SdpError, SessionDesc};
use super::telemetry::ActiveCall;

/// What the layer above needs to build its call handle.
pub(crate) struct NewCall {
    pub id: String,
    pub caller: String,
    /// The caller's number as a trusted peer asserted it (`identity.rs`).
    pub asserted: Option<String>,
    pub called: String,
    /// The account the caller proved to be (digest credentials), when it had to.
    pub authenticated: Option<String>,
    /// The address the INVITE came from (the transport's peer).
    pub source: Option<std::net::IpAddr>,
    /// Commands to the dialog (answer, ring, reject, hang up).
    pub cmd: mpsc::UnboundedSender<Cmd>,
    /// Cancelled when the dialog is over.
    pub ended: CancellationToken,
    pub media: Arc<MediaHandle>,
    /// The call's span (entered by the dispatcher); the handler's task runs inside it.
    pub span: tracing::Span,
}

/// Hands a new call upward; the server builds the `Call` and spawns the handler with it.
pub(crate) type OnCall = Arc<dyn Fn(NewCall) + Send + Sync>;

/// Keeps the active-call count honest whatever way the task ends.
struct ActiveGuard(Arc<Shared>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.stats.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A new INVITE (no To tag): limits, offer, media, then the call's dialog task.
pub(crate) async fn incoming_invite(
    sh: Arc<Shared>,
    mut tx: Transaction,
    on_call: OnCall,
    authenticated: Option<String>,
) {
    sh.stats.invites.fetch_add(1, Ordering::Relaxed);
    let retry = vec![Header::RetryAfter(
        sh.cfg.retry_after_secs.to_string().into(),
    )];
    if sh.draining.load(Ordering::SeqCst) {
        sh.stats.rejected_draining.fetch_add(1, Ordering::Relaxed);
        reply_simple(&mut tx, StatusCode::ServiceUnavailable, retry).await;
        return;
    }
    let reliable = tx.connection.as_ref().is_some_and(|c| c.is_reliable());
    let src_ip = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok())
        .map(|a| a.ip());
    let trusted = src_ip.is_some_and(|ip| sh.trusted(ip));
    if let Some(ip) = src_ip.filter(|_| !trusted) {
        if !sh.limiter.allow(ip) {
            sh.stats.rejected_rate.fetch_add(1, Ordering::Relaxed);
            info!(%ip, "INVITE over the per-IP rate limit: 503");
            reply_simple(&mut tx, StatusCode::ServiceUnavailable, retry).await;
            return;
        }
    }
    // Calls being set up do not count against max_calls: they have their own budget.
    let before = sh.stats.active.fetch_add(1, Ordering::SeqCst);
    let guard = ActiveGuard(sh.clone());
    if before.saturating_sub(sh.setup.len()) >= sh.cfg.max_calls {
        sh.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
        info!(max = sh.cfg.max_calls, "call limit reached: 503");
        reply_simple(&mut tx, StatusCode::ServiceUnavailable, retry).await;
        return;
    }
    let setup_ip = src_ip.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let setup = match sh.setup.admit(setup_ip, trusted) {
        Ok(slot) => slot,
        Err(Refused::SourceBusy) => {
            sh.stats
                .rejected_unconfirmed
                .fetch_add(1, Ordering::Relaxed);
            info!(ip = %setup_ip, "too many unanswered setups from this source: 503");
            reply_simple(&mut tx, StatusCode::ServiceUnavailable, retry).await;
            return;
        }
    };
    if let Err(e) = tx.send_trying().await {
        debug!(error = %e, "100 Trying not sent");
    }

    // The offer, if any (RFC 3264 §5/§6).
    let offer = if tx.original.body.is_empty() {
        None
    } else {
        match SessionDesc::parse(&tx.original.body).and_then(|d| d.negotiate()) {
            Ok(n) => Some(n),
            Err(SdpError::NoCommonCodec) | Err(SdpError::NoAudio) => {
                info!("offer without a common codec: 488");
                let w = vec![Header::Warning(
                    "304 hotline \"only PCMU/PCMA audio\"".into(),
                )];
                reply_simple(&mut tx, StatusCode::NotAcceptableHere, w).await;
                return;
            }
            Err(e) => {
                info!(error = %e, "unreadable SDP: 400");
                reply_simple(&mut tx, StatusCode::BadRequest, vec![]).await;
                return;
            }
        }
    };

    let media = match sh.media.open(src_ip).await {
        Ok(m) => {
            // The SDP address is only claimed until the caller ACKs our answer.
            m.session.await_confirmation();
            Arc::new(m)
        }
        Err(e) => {
            warn!(error = %e, "no media session: 503");
            reply_simple(&mut tx, StatusCode::ServiceUnavailable, retry).await;
            return;
        }
    };

    // Our tag goes on every response from here on, provisional ones included.
    let local_tag = rsipstack::transaction::make_tag();
    let Ok(to) = tx.original.to_header().cloned() else {
        return;
    };
    let to_tagged = to.clone().with_tag(local_tag.clone());
    tx.original.headers.unique_push(to_tagged.clone().into());

    let call_id = tx
        .original
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let from = match tx.original.from_header() {
        Ok(f) => f.clone(),
        Err(_) => return,
    };
    let caller = from.typed().map(|f| user_part(&f.uri)).unwrap_or_default();
    let asserted = asserted_caller(&tx.original, src_ip, &sh.cfg.trusted_peers);
    let called = {
        let u = user_part(&tx.original.uri);
        if u.is_empty() {
            to.typed().map(|t| user_part(&t.uri)).unwrap_or_default()
        } else {
            u
        }
    };
    let remote_target = match tx.original.contact_header().and_then(|c| c.typed()) {
        Ok(c) => c.uri,
        Err(_) => tx
            .original
            .from_header()
            .and_then(|f| f.typed())
            .map(|f| f.uri)
            .unwrap_or_else(|_| tx.original.uri.clone()),
    };
    let routes: Vec<Header> = tx
        .original
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(rr) => Some(Header::Route(rr.value().into())),
            _ => None,
        })
        .collect();
    let remote_cseq = tx.original.cseq_header().and_then(|c| c.seq()).unwrap_or(0);

    let key: DialogKey = (call_id.clone(), local_tag.value().to_string());
    let (dlg_tx, dlg_rx) = mpsc::unbounded_channel();
    sh.dialogs.register(key.clone(), dlg_tx);

    let offer_in_invite = offer.is_some();
    let local_sdp = LocalSdp::new(sh.media_ip, media.local_addr().port());
    let connection = tx.connection.clone();
    let invite = tx.original.clone();
    let pump = spawn_pump(tx);

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let ended = CancellationToken::new();
    let active = ActiveCall::start();
    on_call(NewCall {
        id: call_id,
        caller,
        asserted,
        called,
        authenticated,
        source: src_ip,
        cmd: cmd_tx,
        ended: ended.clone(),
        media: media.clone(),
        span: tracing::Span::current(),
    });

    let mut dlg = Uas {
        sh: sh.clone(),
        key,
        invite,
        reliable,
        connection,
        remote_target,
        routes,
        local_party: Header::From(to_tagged.value().into()),
        remote_party: Header::To(from.value().into()),
        local_cseq: rand::random::<u16>() as u32 + 1,
        remote_cseq,
        sdp: OfferAnswer {
            local_sdp,
            neg: offer,
            offer_in_invite,
            our_dir: Direction::SendRecv,
            media: media.clone(),
        },
        media,
        ended,
        reinvite_pending: false,
        bye_reason: None,
        setup: Some(setup),
    };
    dlg.run(pump, cmd_rx, dlg_rx).await;
    drop(active);
    drop(guard);
}
