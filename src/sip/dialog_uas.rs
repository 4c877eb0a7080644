//! UAS dialogs: one task per incoming call, from INVITE to the last BYE. The call was
//! taken (limits, offer, media) in `dialog_uas_accept.rs`; this is its state machine.
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

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, Request, Response, SipMessage, StatusCode};
use rsipstack::transaction::transaction::{Transaction, TransactionEvent, TransactionEventSender};
use rsipstack::transport::SipConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use super::dialog_table::{DialogKey, Pump};
use super::dialog_uas_sdp::OfferAnswer;
use super::endpoint::{fix_received, Shared, ALLOW};
use super::error::CallError;
use super::limits::SetupSlot;
use super::media_leg::MediaHandle;
use super::message::{
    answer_until_ack, dtmf_from_info, reply_simple, response, send_request, T1, T2,
};

/// What the call handle asks of its dialog.
pub(crate) enum Cmd {
    Ring,
    Answer(oneshot::Sender<Result<(), CallError>>),
    Reject(u16),
    Hangup,
    /// Hang up with a `Reason` header (RFC 3326) on the BYE.
    HangupBecause(String),
}

enum Internal {
    /// The ACK of a re-INVITE's 2xx arrived (with its body), or never did (None).
    ReinviteDone(Option<Vec<u8>>),
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

/// One incoming call's dialog, owned by its task.
pub(crate) struct Uas {
    pub(crate) sh: Arc<Shared>,
    pub(crate) key: DialogKey,
    pub(crate) invite: Request,
    pub(crate) reliable: bool,
    pub(crate) connection: Option<SipConnection>,
    pub(crate) remote_target: rsipstack::sip::Uri,
    pub(crate) routes: Vec<Header>,
    pub(crate) local_party: Header,
    pub(crate) remote_party: Header,
    pub(crate) local_cseq: u32,
    pub(crate) remote_cseq: u32,
    pub(crate) sdp: OfferAnswer,
    pub(crate) media: Arc<MediaHandle>,
    pub(crate) ended: tokio_util::sync::CancellationToken,
    pub(crate) reinvite_pending: bool,
    /// The `Reason` our BYE carries, when the layer above gave one.
    pub(crate) bye_reason: Option<String>,
    /// The call's place in the setup budget until its ACK; evicted when newer setups
    /// need it (a caller that never ACKs must not keep real callers out).
    pub(crate) setup: Option<SetupSlot>,
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
    /// Drive the dialog until it is over: commands from the call handle, messages of
    /// the INVITE transaction, in-dialog requests, timers, media end and the drain.
    pub(crate) async fn run(
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
                        Some(Cmd::HangupBecause(reason)) => {
                            self.bye_reason = Some(reason);
                            self.hangup(&mut state, &pump.tu, &mut hangup_wanted, 480)
                        }
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
                                info!("caller cancelled: 487");
                                let r = response(&self.sh, &self.invite, StatusCode::RequestTerminated, None, self.reliable);
                                let _ = pump.tu.send(TransactionEvent::Respond(r));
                                End::Quiet
                            } else {
                                End::No
                            }
                        }
                        Some(SipMessage::Request(req)) if req.method == Method::Ack => {
                            // Only who saw our 2xx knows our tag: that is what proves the
                            // caller is at the address it claims.
                            if matches!(state, State::WaitAck { .. }) && ack_has_tag(&req, &self.key.1) {
                                state = State::Confirmed;
                                if let Some(slot) = self.setup.take() {
                                    slot.confirm();
                                }
                                self.media.session.confirm();
                                let ok = self.sdp.on_ack(&req.body);
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
                                self.sdp.apply_answer(&body);
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
                    warn!("no ACK for our 2xx: ending the call");
                    End::Bye
                }
                reason = media.session.ended(), if matches!(state, State::Confirmed) => {
                    info!(?reason, "media ended: hanging up");
                    End::Bye
                }
                _ = evicted(&self.setup) => {
                    self.sh.stats.evicted_unconfirmed.fetch_add(1, Ordering::Relaxed);
                    info!("call still unconfirmed when newer setups needed its place: given up");
                    self.setup = None;
                    match state {
                        State::Early => {
                            let r = response(&self.sh, &self.invite, StatusCode::ServiceUnavailable, None, self.reliable);
                            let _ = pump.tu.send(TransactionEvent::Respond(r));
                            End::Quiet
                        }
                        // No BYE before an ACK (RFC 3261 §15): stop re-sending the 2xx.
                        State::WaitAck { .. } => End::Quiet,
                        State::Confirmed => End::No,
                    }
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
        let why = match state {
            State::WaitAck { .. } => CallError::Unconfirmed,
            State::Early | State::Confirmed => CallError::Hungup,
        };
        for w in waiters.drain(..) {
            let _ = w.send(Err(why.clone()));
        }
        self.ended.cancel();
        self.sh.dialogs.unregister(&self.key);
        self.media.close();
        // The INVITE transaction finishes on its own (ACK of a 487, Timer L) in its pump.
        if end == End::Bye {
            if let Some(mut req) = self.make_request(Method::Bye) {
                if let Some(reason) = self.bye_reason.take() {
                    req.headers.push(Header::Reason(reason.into()));
                }
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

    /// Build the 2xx to the initial INVITE.
    fn answer(&mut self) -> Option<Response> {
        let body = self.sdp.answer_body();
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

    /// Answer a request inside the dialog.
    async fn in_dialog(
        &mut self,
        mut t: Transaction,
        state: &mut State,
        int_tx: &mpsc::UnboundedSender<Internal>,
    ) -> End {
        fix_received(&mut t.original);
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
                info!("caller hung up");
                // A BYE that overtakes the ACK still ends the call (FACTS: ACK+BYE back to back).
                End::Quiet
            }
            Method::Info => {
                if let Some(d) = dtmf_from_info(&t.original) {
                    debug!(digit = %d, "DTMF by INFO");
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
        let body = self.sdp.reinvite_body(&t.original.body);
        let reliable = self.reliable;
        let Some(body) = body else {
            // 488 for a re-INVITE leaves the session as it was (RFC 3261 §14.2).
            let mut t = t;
            tokio::spawn(
                async move {
                    reply_simple(&mut t, StatusCode::NotAcceptableHere, vec![]).await;
                }
                .in_current_span(),
            );
            return;
        };
        let resp = response(&self.sh, &t.original, StatusCode::OK, Some(body), reliable);
        self.reinvite_pending = true;
        let int_tx = int_tx.clone();
        tokio::spawn(
            async move {
                let ack_body = answer_until_ack(t, resp, reliable).await;
                let _ = int_tx.send(Internal::ReinviteDone(ack_body));
            }
            .in_current_span(),
        );
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

/// Resolves when the setup slot, if any, is taken back.
async fn evicted(slot: &Option<SetupSlot>) {
    match slot {
        Some(s) => s.evicted.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Whether an ACK carries our tag in its To header.
fn ack_has_tag(ack: &Request, ours: &str) -> bool {
    ack.to_header()
        .ok()
        .and_then(|t| t.tag().ok().flatten())
        .is_some_and(|t| t.value() == ours)
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
