//! UAS dialogs: one task per incoming call, from INVITE to the last BYE.
//!
//! ```text
//! caller                 hotline
//!   INVITE (offer)  ──▶
//!                   ◀──  100 Trying            (at once)
//!                   ◀──  180 Ringing           (only if the handler rings first)
//!                   ◀──  200 OK (answer)       (re-sent T1, 2T1 … ≤ T2 until the ACK)
//!   ACK             ──▶                        (matched by Call-ID, tags and CSeq)
//!   INFO / re-INVITE ──▶ ◀── 200
//!   BYE             ──▶ ◀── 200                (or we send BYE when the handler hangs up)
//! ```

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, Method, Request, Response, SipMessage, StatusCode};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::{Transaction, TransactionEvent, TransactionEventSender};
use rsipstack::transport::SipConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::call::{Call, CallError, MediaHandle};
use super::sdp::{Direction, LocalSdp, Negotiated, SdpError, SessionDesc};
use super::server::{DialogKey, Shared, ALLOW};

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// What the call handle asks of its dialog.
pub(crate) enum Cmd {
    Ring,
    Answer(oneshot::Sender<Result<(), CallError>>),
    Reject(u16),
    Hangup,
}

enum Internal {
    /// The ACK of a re-INVITE's 2xx arrived (with its body), or never did (None).
    ReinviteDone(Option<Vec<u8>>),
}

/// A message pump for one server or client transaction: it owns the transaction and
/// drives `receive()` (which is not cancel-safe) in its own task; responses go in through
/// the transaction's event channel, received messages come out of `rx`.
pub(crate) struct Pump {
    pub tu: TransactionEventSender,
    pub rx: mpsc::UnboundedReceiver<SipMessage>,
}

pub(crate) fn spawn_pump(mut tx: Transaction) -> Pump {
    let tu = tx.tu_sender.clone();
    let (out, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(m) = tx.receive().await {
            let _ = out.send(m);
        }
    });
    Pump { tu, rx }
}

/// Response to `req` with our Contact, for INVITE answers.
pub(crate) fn response(
    sh: &Shared,
    req: &Request,
    code: StatusCode,
    sdp: Option<String>,
    reliable: bool,
) -> Response {
    let has_body = sdp.is_some();
    let mut resp = sh
        .endpoint
        .make_response(req, code, sdp.map(|s| s.into_bytes()));
    if has_body {
        resp.headers
            .push(Header::ContentType("application/sdp".into()));
    }
    if let Some(contact) = contact_uri(sh, reliable) {
        resp.headers
            .push(Header::Contact(format!("<{contact}>").into()));
    }
    resp.headers.push(Header::Allow(ALLOW.into()));
    resp
}

pub(crate) fn contact_uri(sh: &Shared, reliable: bool) -> Option<String> {
    let addr = sh.local_addr(reliable)?;
    let sa = addr.get_socketaddr().ok()?;
    let host = match sa {
        std::net::SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        v4 => v4.to_string(),
    };
    Some(if reliable {
        format!("sip:hotline@{host};transport=tcp")
    } else {
        format!("sip:hotline@{host}")
    })
}

async fn reply_simple(tx: &mut Transaction, code: StatusCode, headers: Vec<Header>) {
    if let Err(e) = tx.reply_with(code, headers, None).await {
        debug!(error = %e, "reply failed");
    }
}

/// Keeps the active-call count honest whatever way the task ends.
struct ActiveGuard(Arc<Shared>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.stats.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn user_part(uri: &rsipstack::sip::Uri) -> String {
    uri.auth
        .as_ref()
        .map(|a| a.user.clone())
        .unwrap_or_default()
}

/// A new INVITE (no To tag): limits, offer, media, then the call's dialog task.
pub(crate) async fn incoming_invite(sh: Arc<Shared>, mut tx: Transaction) {
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
    if let Some(ip) = src_ip {
        if !sh.limiter.allow(ip) {
            sh.stats.rejected_rate.fetch_add(1, Ordering::Relaxed);
            info!(%ip, "INVITE over the per-IP rate limit: 503");
            reply_simple(&mut tx, StatusCode::ServiceUnavailable, retry).await;
            return;
        }
    }
    let before = sh.stats.active.fetch_add(1, Ordering::SeqCst);
    let guard = ActiveGuard(sh.clone());
    if before >= sh.cfg.max_calls {
        sh.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
        info!(max = sh.cfg.max_calls, "call limit reached: 503");
        reply_simple(&mut tx, StatusCode::ServiceUnavailable, retry).await;
        return;
    }
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

    let media = match sh.media.open().await {
        Ok(m) => Arc::new(m),
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
    sh.register(key.clone(), dlg_tx);

    let offer_in_invite = offer.is_some();
    let local_sdp = LocalSdp::new(sh.media_ip, media.local_addr().port());
    let connection = tx.connection.clone();
    let invite = tx.original.clone();
    let pump = spawn_pump(tx);

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let ended = tokio_util::sync::CancellationToken::new();
    let call = Call::new(
        call_id.clone(),
        caller,
        called,
        cmd_tx,
        ended.clone(),
        media.clone(),
        sh.clone(),
    );
    let handler = sh.handler.clone();
    tokio::spawn(async move { handler.handle(call).await });

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
        local_sdp,
        neg: offer,
        offer_in_invite,
        our_dir: Direction::SendRecv,
        media,
        ended,
        reinvite_pending: false,
    };
    dlg.run(pump, cmd_rx, dlg_rx).await;
    drop(guard);
}

enum State {
    Early,
    WaitAck {
        resp: Response,
        next: Instant,
        interval: Duration,
        deadline: Instant,
    },
    Confirmed,
}

struct Uas {
    sh: Arc<Shared>,
    key: DialogKey,
    invite: Request,
    reliable: bool,
    connection: Option<SipConnection>,
    remote_target: rsipstack::sip::Uri,
    routes: Vec<Header>,
    local_party: Header,
    remote_party: Header,
    local_cseq: u32,
    remote_cseq: u32,
    local_sdp: LocalSdp,
    neg: Option<Negotiated>,
    offer_in_invite: bool,
    our_dir: Direction,
    media: Arc<MediaHandle>,
    ended: tokio_util::sync::CancellationToken,
    reinvite_pending: bool,
}

#[derive(PartialEq, Eq, Debug)]
enum End {
    /// Keep going.
    No,
    /// Over, nothing more to send.
    Quiet,
    /// Over, send BYE.
    Bye,
}

impl Uas {
    async fn run(
        &mut self,
        mut pump: Pump,
        mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
        mut dlg_rx: mpsc::UnboundedReceiver<Transaction>,
    ) {
        let (int_tx, mut int_rx) = mpsc::unbounded_channel::<Internal>();
        let mut state = State::Early;
        let mut waiters: Vec<oneshot::Sender<Result<(), CallError>>> = vec![];
        let mut pump_open = true;
        let mut cmd_open = true;
        let mut hangup_wanted = false;
        let hangup_all = self.sh.hangup_all.clone();
        let mut drained = false;
        let media = self.media.clone();
        let end = loop {
            let retx = match &state {
                State::WaitAck { next, .. } if !self.reliable => Some(*next),
                _ => None,
            };
            let deadline = match &state {
                State::WaitAck { deadline, .. } => Some(*deadline),
                _ => None,
            };
            let step = tokio::select! {
                cmd = cmd_rx.recv(), if cmd_open => {
                    match cmd {
                        None => { cmd_open = false; self.hangup(&mut state, &pump.tu, &mut hangup_wanted, 480) }
                        Some(Cmd::Hangup) => self.hangup(&mut state, &pump.tu, &mut hangup_wanted, 480),
                        Some(Cmd::Reject(code)) => self.hangup(&mut state, &pump.tu, &mut hangup_wanted, code),
                        Some(Cmd::Ring) => {
                            if matches!(state, State::Early) {
                                let r = response(&self.sh, &self.invite, StatusCode::Ringing, None, self.reliable);
                                let _ = pump.tu.send(TransactionEvent::Respond(r));
                            }
                            End::No
                        }
                        Some(Cmd::Answer(w)) => {
                            match state {
                                State::Confirmed => { let _ = w.send(Ok(())); End::No }
                                State::WaitAck { .. } => { waiters.push(w); End::No }
                                State::Early => {
                                    waiters.push(w);
                                    match self.answer() {
                                        Some(resp) => {
                                            let _ = pump.tu.send(TransactionEvent::Respond(resp.clone()));
                                            self.sh.stats.answered.fetch_add(1, Ordering::Relaxed);
                                            let now = Instant::now();
                                            state = State::WaitAck {
                                                resp,
                                                next: now + T1,
                                                interval: T1,
                                                deadline: now + Duration::from_secs(self.sh.cfg.ack_timeout_secs),
                                            };
                                            End::No
                                        }
                                        None => {
                                            let r = response(&self.sh, &self.invite, StatusCode::ServiceUnavailable, None, self.reliable);
                                            let _ = pump.tu.send(TransactionEvent::Respond(r));
                                            End::Quiet
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                m = pump.rx.recv(), if pump_open => {
                    match m {
                        None => {
                            pump_open = false;
                            End::No
                        }
                        Some(SipMessage::Request(req)) if req.method == Method::Cancel => {
                            if matches!(state, State::Early) {
                                info!(call = %self.key.0, "caller cancelled: 487");
                                let r = response(&self.sh, &self.invite, StatusCode::RequestTerminated, None, self.reliable);
                                let _ = pump.tu.send(TransactionEvent::Respond(r));
                                End::Quiet
                            } else {
                                End::No
                            }
                        }
                        Some(SipMessage::Request(req)) if req.method == Method::Ack => {
                            if matches!(state, State::WaitAck { .. }) {
                                state = State::Confirmed;
                                let ok = self.on_ack(&req.body);
                                for w in waiters.drain(..) {
                                    let _ = w.send(if ok { Ok(()) } else { Err(CallError::Media("no usable answer in ACK".into())) });
                                }
                                if !ok || hangup_wanted { End::Bye } else { End::No }
                            } else {
                                End::No
                            }
                        }
                        Some(_) => End::No,
                    }
                }
                t = dlg_rx.recv() => {
                    match t {
                        Some(t) => self.in_dialog(t, &mut state, &int_tx).await,
                        None => End::No,
                    }
                }
                ev = int_rx.recv() => {
                    match ev {
                        Some(Internal::ReinviteDone(body)) => {
                            self.reinvite_pending = false;
                            if let Some(body) = body.filter(|b| !b.is_empty()) {
                                self.apply_answer(&body);
                            }
                            End::No
                        }
                        None => End::No,
                    }
                }
                _ = sleep_opt(retx) => {
                    if let State::WaitAck { resp, next, interval, .. } = &mut state {
                        let _ = pump.tu.send(TransactionEvent::Respond(resp.clone()));
                        *interval = (*interval * 2).min(T2);
                        *next = Instant::now() + *interval;
                    }
                    End::No
                }
                _ = sleep_opt(deadline) => {
                    warn!(call = %self.key.0, "no ACK for our 2xx: ending the call");
                    End::Bye
                }
                reason = media.session.ended(), if matches!(state, State::Confirmed) => {
                    info!(call = %self.key.0, ?reason, "media ended: hanging up");
                    End::Bye
                }
                _ = hangup_all.cancelled(), if !drained => {
                    drained = true;
                    self.hangup(&mut state, &pump.tu, &mut hangup_wanted, 503)
                }
            };
            if step != End::No {
                break step;
            }
        };
        for w in waiters.drain(..) {
            let _ = w.send(Err(CallError::Hungup));
        }
        self.ended.cancel();
        self.sh.unregister(&self.key);
        self.media.close();
        // The INVITE transaction finishes on its own (ACK of a 487, Timer L) in its pump.
        if end == End::Bye {
            if let Some(req) = self.make_request(Method::Bye) {
                let sh = self.sh.clone();
                let conn = self.reliable.then(|| self.connection.clone()).flatten();
                send_request(&sh, req, conn).await;
            }
        }
        // Keep answering in-dialog requests that race with our end (e.g. BYE after BYE).
        while let Ok(mut t) = dlg_rx.try_recv() {
            t.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
        }
    }

    /// Hang up in whatever state the call is in.
    fn hangup(
        &mut self,
        state: &mut State,
        tu: &TransactionEventSender,
        wanted: &mut bool,
        code: u16,
    ) -> End {
        match state {
            State::Early => {
                let code = StatusCode::from(code);
                let r = response(&self.sh, &self.invite, code, None, self.reliable);
                let _ = tu.send(TransactionEvent::Respond(r));
                End::Quiet
            }
            // RFC 3261 §15: no BYE before the ACK; send it when the ACK comes.
            State::WaitAck { .. } => {
                *wanted = true;
                End::No
            }
            State::Confirmed => End::Bye,
        }
    }

    /// Build the 2xx: the answer to the INVITE's offer, or our offer when it had none.
    fn answer(&mut self) -> Option<Response> {
        let body = match &self.neg {
            Some(neg) => {
                let dir = neg.remote_direction.reverse();
                self.our_dir = dir;
                self.media.start(neg, dir);
                self.local_sdp.answer(neg, dir)
            }
            None => self.local_sdp.offer(Direction::SendRecv),
        };
        let mut resp = response(
            &self.sh,
            &self.invite,
            StatusCode::OK,
            Some(body),
            self.reliable,
        );
        // RFC 3261 §12.1.1: a 2xx copies the Record-Route headers of the request.
        for h in self.invite.headers.iter() {
            if let Header::RecordRoute(_) = h {
                resp.headers.push(h.clone());
            }
        }
        Some(resp)
    }

    /// The ACK confirmed the dialog; if our 2xx carried the offer, the ACK has the answer.
    fn on_ack(&mut self, body: &[u8]) -> bool {
        if self.offer_in_invite {
            return true;
        }
        if body.is_empty() {
            warn!(call = %self.key.0, "offer in our 2xx got no answer in the ACK");
            return false;
        }
        self.apply_answer(body)
    }

    fn apply_answer(&mut self, body: &[u8]) -> bool {
        match SessionDesc::parse(body).and_then(|d| d.negotiate()) {
            Ok(neg) => {
                let dir = neg.remote_direction.reverse();
                self.our_dir = dir;
                if self.neg.is_none() {
                    self.media.start(&neg, dir);
                } else {
                    self.media.update(&neg, dir);
                }
                self.neg = Some(neg);
                true
            }
            Err(e) => {
                warn!(call = %self.key.0, error = %e, "unusable SDP answer");
                false
            }
        }
    }

    async fn in_dialog(
        &mut self,
        mut t: Transaction,
        state: &mut State,
        int_tx: &mpsc::UnboundedSender<Internal>,
    ) -> End {
        super::server::fix_received(&mut t.original);
        let seq = t.original.cseq_header().and_then(|c| c.seq()).unwrap_or(0);
        if seq < self.remote_cseq && t.original.method != Method::Ack {
            // RFC 3261 §12.2.2: out of order.
            reply_simple(&mut t, StatusCode::ServerInternalError, vec![]).await;
            return End::No;
        }
        self.remote_cseq = seq;
        match t.original.method {
            Method::Bye => {
                reply_simple(&mut t, StatusCode::OK, vec![]).await;
                info!(call = %self.key.0, "caller hung up");
                // A BYE that overtakes the ACK still ends the call (FACTS: ACK+BYE back to back).
                End::Quiet
            }
            Method::Info => {
                if let Some(d) = dtmf_from_info(&t.original) {
                    debug!(call = %self.key.0, digit = %d, "DTMF by INFO");
                    self.media.push_digit(d);
                }
                reply_simple(&mut t, StatusCode::OK, vec![]).await;
                End::No
            }
            Method::Invite => {
                if self.reinvite_pending || matches!(state, State::Early | State::WaitAck { .. }) {
                    reply_simple(&mut t, StatusCode::RequestPending, vec![]).await;
                    return End::No;
                }
                self.reinvite(t, int_tx);
                End::No
            }
            Method::Options => {
                reply_simple(&mut t, StatusCode::OK, vec![Header::Allow(ALLOW.into())]).await;
                End::No
            }
            _ => {
                reply_simple(
                    &mut t,
                    StatusCode::MethodNotAllowed,
                    vec![Header::Allow(ALLOW.into())],
                )
                .await;
                End::No
            }
        }
    }

    /// re-INVITE: hold/unhold, a new address, or an offerless refresh (RFC 3264 §8).
    fn reinvite(&mut self, t: Transaction, int_tx: &mpsc::UnboundedSender<Internal>) {
        let body = if t.original.body.is_empty() {
            // We offer, the answer comes in the ACK.
            Some(self.local_sdp.offer(self.our_dir))
        } else {
            match SessionDesc::parse(&t.original.body).and_then(|d| d.negotiate()) {
                Ok(neg) => {
                    let dir = neg.remote_direction.reverse();
                    if dir != self.our_dir || self.neg.as_ref() != Some(&neg) {
                        info!(call = %self.key.0, ?dir, remote = ?neg.remote, "re-INVITE changes media");
                    }
                    self.our_dir = dir;
                    if self.neg.is_some() {
                        self.media.update(&neg, dir);
                    } else {
                        self.media.start(&neg, dir);
                    }
                    let answer = self.local_sdp.answer(&neg, dir);
                    self.neg = Some(neg);
                    Some(answer)
                }
                Err(_) => None,
            }
        };
        let reliable = self.reliable;
        let Some(body) = body else {
            // 488 for a re-INVITE leaves the session as it was (RFC 3261 §14.2).
            let mut t = t;
            tokio::spawn(async move {
                reply_simple(&mut t, StatusCode::NotAcceptableHere, vec![]).await;
            });
            return;
        };
        let resp = response(&self.sh, &t.original, StatusCode::OK, Some(body), reliable);
        self.reinvite_pending = true;
        let int_tx = int_tx.clone();
        tokio::spawn(async move {
            let mut pump = spawn_pump(t);
            let _ = pump.tu.send(TransactionEvent::Respond(resp.clone()));
            let mut interval = T1;
            let deadline = Instant::now() + 64 * T1;
            loop {
                tokio::select! {
                    m = pump.rx.recv() => match m {
                        Some(SipMessage::Request(ack)) if ack.method == Method::Ack => {
                            let _ = int_tx.send(Internal::ReinviteDone(Some(ack.body)));
                            return;
                        }
                        Some(_) => {}
                        None => break,
                    },
                    _ = tokio::time::sleep(interval), if !reliable => {
                        let _ = pump.tu.send(TransactionEvent::Respond(resp.clone()));
                        interval = (interval * 2).min(T2);
                    }
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            let _ = int_tx.send(Internal::ReinviteDone(None));
        });
    }

    /// A request inside this dialog from our side (BYE), RFC 3261 §12.2.1.
    fn make_request(&mut self, method: Method) -> Option<Request> {
        self.local_cseq += 1;
        let local = self.sh.local_addr(self.reliable)?;
        let via = self.sh.endpoint.get_via(Some(local), None).ok()?;
        let mut headers: Vec<Header> = vec![
            Header::Via(via.into()),
            Header::CallId(self.key.0.clone().into()),
            self.local_party.clone(),
            self.remote_party.clone(),
            Header::CSeq(
                rsipstack::sip::typed::CSeq {
                    seq: self.local_cseq,
                    method,
                }
                .into(),
            ),
            Header::MaxForwards(70.into()),
        ];
        headers.extend(self.routes.iter().cloned());
        Some(Request {
            method,
            uri: self.remote_target.clone(),
            version: rsipstack::sip::Version::V2,
            headers: headers.into(),
            body: vec![],
        })
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Send a request in its own client transaction and wait for the final response.
pub(crate) async fn send_request(
    sh: &Shared,
    req: Request,
    connection: Option<SipConnection>,
) -> Option<Response> {
    let key = TransactionKey::from_request(&req, TransactionRole::Client).ok()?;
    let method = req.method;
    let mut tx = Transaction::new_client(key, req, sh.endpoint.clone(), connection.clone());
    if let Some(c) = connection.as_ref().filter(|c| c.is_reliable()) {
        tx.destination = c.get_remote_addr().cloned();
    }
    if let Err(e) = tx.send().await {
        warn!(%method, error = %e, "request not sent");
        return None;
    }
    let wait = async {
        while let Some(m) = tx.receive().await {
            if let SipMessage::Response(r) = m {
                if r.status_code.kind() != rsipstack::sip::StatusCodeKind::Provisional {
                    return Some(r);
                }
            }
        }
        None
    };
    tokio::time::timeout(64 * T1 + Duration::from_secs(1), wait)
        .await
        .ok()
        .flatten()
}

/// DTMF from an INFO body: `application/dtmf-relay` (`Signal=5`) or `application/dtmf` (`5`).
fn dtmf_from_info(req: &Request) -> Option<char> {
    let body = std::str::from_utf8(&req.body).ok()?;
    let sig = body
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| body.trim().to_string());
    let c = match sig.as_str() {
        "10" => '*',
        "11" => '#',
        s if s.len() == 1 => s.chars().next()?.to_ascii_uppercase(),
        _ => return None,
    };
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}
