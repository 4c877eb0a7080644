//! Outbound legs for bridging (UAC side of the B2BUA).
//!
//! ```text
//! hotline                       operator phone
//!   INVITE (our offer)   ──▶
//!                        ◀──   100 / 180          (caller hears our ringback meanwhile)
//!                        ◀──   200 (answer)  → ACK (sent by the transaction layer)
//!   … media relayed both ways …
//!   BYE ──▶ / ◀── BYE                              (either side ends both)
//! ```
//! No answer within the ring timeout: CANCEL, then 487 comes back.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, Method, Param, Request, SipMessage, StatusCode, StatusCodeKind, Uri};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use super::dialog_table::{spawn_pump, DialogKey};
use super::endpoint::{Shared, ALLOW};
use super::media_leg::MediaHandle;
use super::message::{contact_uri, response, send_request};
use super::sdp::{Direction, LocalSdp, SessionDesc};

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

/// An answered outbound leg.
pub(crate) struct Leg {
    sh: Arc<Shared>,
    key: DialogKey,
    bye: Request,
    /// Cancelled when the called side sent BYE.
    pub ended: CancellationToken,
    /// The `Reason` header of the called side's BYE, if it gave one.
    pub bye_reason: Arc<std::sync::OnceLock<String>>,
}

impl Leg {
    /// Send BYE to the called side (unless it hung up first).
    pub(crate) async fn hangup(&self) {
        self.sh.dialogs.unregister(&self.key);
        if self.ended.is_cancelled() {
            return;
        }
        self.ended.cancel();
        let mut bye = self.bye.clone();
        if let Some(local) = self.sh.local_addr(false) {
            if let Ok(via) = self.sh.endpoint.get_via(Some(local), None) {
                bye.headers.unique_push(Header::Via(via.into()));
            }
        }
        let r = send_request(&self.sh, bye, None).await;
        debug!(status = ?r.map(|r| r.status_code), "BYE to bridged leg answered");
    }
}

fn outcome_for(code: StatusCode) -> BridgeOutcome {
    match u16::from(code) {
        486 | 600 | 603 => BridgeOutcome::Busy,
        408 | 480 | 487 => BridgeOutcome::NoAnswer,
        _ => BridgeOutcome::Failed,
    }
}

/// Where an outbound INVITE goes.
pub(crate) struct Target {
    /// Its Request-URI.
    pub uri: String,
    /// Where it is sent; `None`: the first Route, else where the URI resolves.
    pub next_hop: Option<SipAddr>,
    /// Its Route headers: the Path the phone registered through (RFC 3327), in order.
    pub route: Vec<String>,
    /// The phone's own signalling address when known: where a NAT'd phone's RTP comes from.
    pub peer: Option<std::net::IpAddr>,
}

fn sip_addr(tcp: bool, addr: std::net::SocketAddr) -> SipAddr {
    let t = match tcp {
        true => rsipstack::sip::Transport::Tcp,
        false => rsipstack::sip::Transport::Udp,
    };
    SipAddr::new(t, addr.into())
}

/// Where a `[sip.destinations]` value rings: a SIP URI as it is, or `account:NAME`, the
/// phone that account registered most recently. That phone's Contact is reached along the
/// Path it registered through (Kamailio, from whichever node rings), or, registered
/// directly, at the address its REGISTER came from, which is what reaches it behind NAT.
/// `None` when that account has no phone registered now, or there is no registrar.
pub(crate) async fn resolve(sh: &Shared, value: &str) -> Option<Target> {
    let Some(account) = value.strip_prefix("account:") else {
        let peer = Uri::try_from(value)
            .ok()
            .and_then(|u| match u.host_with_port.host {
                rsipstack::sip::Host::IpAddr(ip) => Some(ip),
                rsipstack::sip::Host::Domain(_) => None,
            });
        return Some(Target {
            uri: value.to_string(),
            next_hop: None,
            route: vec![],
            peer,
        });
    };
    let registrar = sh.registrar.as_ref()?;
    let bindings = match registrar.location().bindings(account.trim()).await {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "reading bindings failed");
            return None;
        }
    };
    let b = bindings.into_iter().max_by_key(|b| b.expires_at)?;
    Some(target_of(b))
}

/// The target of one binding (see [`resolve`]).
pub(crate) fn target_of(b: super::registrar::Binding) -> Target {
    if !b.path.is_empty() {
        return Target {
            next_hop: b.path.first_hop().map(|h| sip_addr(h.tcp, h.addr)),
            route: b.path.route().to_vec(),
            peer: b.path.received().map(|a| a.ip()),
            uri: b.contact,
        };
    }
    let source = b.source.split_once(':').and_then(|(transport, addr)| {
        let addr: std::net::SocketAddr = addr.parse().ok()?;
        Some((transport == "tcp", addr))
    });
    Target {
        uri: b.contact,
        next_hop: source.map(|(tcp, a)| sip_addr(tcp, a)),
        route: vec![],
        peer: source.map(|(_, a)| a.ip()),
    }
}

/// How an outbound INVITE rings: at most `timeout`, until `stop` fires (the caller left,
/// someone else answered). `invite_sent` is called once the INVITE has left: the call
/// centre times its offers with it.
pub(crate) struct Ringing<'a, F> {
    pub timeout: Duration,
    pub stop: &'a CancellationToken,
    pub invite_sent: F,
}

/// Place an INVITE to `target` with an offer for `media`; ring at most the ringing's
/// timeout, and bridge it to the caller's media when it answers.
pub(crate) async fn place_call<F: FnOnce() + Send>(
    sh: &Arc<Shared>,
    target: &Target,
    caller: &str,
    media: Arc<MediaHandle>,
    ringing: Ringing<'_, F>,
) -> Result<Leg, BridgeOutcome> {
    let Ringing {
        timeout: ring_timeout,
        stop: caller_ended,
        invite_sent,
    } = ringing;
    let uri = Uri::try_from(target.uri.as_str()).map_err(|e| {
        warn!(target = %target.uri, error = %e, "bad destination URI");
        BridgeOutcome::Failed
    })?;
    let local = sh.local_addr(false).ok_or(BridgeOutcome::Failed)?;
    let via = sh
        .endpoint
        .get_via(Some(local), None)
        .map_err(|_| BridgeOutcome::Failed)?;
    let user = if !caller.is_empty()
        && caller
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
    {
        caller
    } else {
        "anonymous"
    };
    let from_uri = Uri::try_from(format!("sip:{user}@{}", sh.cfg.domain).as_str())
        .map_err(|_| BridgeOutcome::Failed)?;
    let from_tag = rsipstack::transaction::make_tag();
    let from = rsipstack::sip::typed::From {
        display_name: None,
        uri: from_uri,
        params: vec![Param::Tag(from_tag.clone())],
    };
    let to = rsipstack::sip::typed::To {
        display_name: None,
        uri: uri.clone(),
        params: vec![],
    };
    let mut local_sdp = LocalSdp::new(media.local_addr().ip(), media.local_addr().port());
    let offer = local_sdp.offer(Direction::SendRecv);
    let mut invite = sh
        .endpoint
        .make_request(Method::Invite, uri.clone(), via, from, to, 1, None);
    if let Some(c) = contact_uri(sh, false) {
        invite
            .headers
            .push(Header::Contact(format!("<{c}>").into()));
    }
    for r in &target.route {
        invite.headers.push(Header::Route(r.as_str().into()));
    }
    invite.headers.push(Header::Allow(ALLOW.into()));
    invite
        .headers
        .push(Header::ContentType("application/sdp".into()));
    invite.body = offer.into_bytes();
    let call_id = invite
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default();

    // Requests from the called side (its BYE) carry our From tag as their To tag.
    let key: DialogKey = (call_id.clone(), from_tag.value().to_string());
    let (dlg_tx, dlg_rx) = mpsc::unbounded_channel::<Transaction>();
    sh.dialogs.register(key.clone(), dlg_tx);

    let tkey = TransactionKey::from_request(&invite, TransactionRole::Client).map_err(|_| {
        sh.dialogs.unregister(&key);
        BridgeOutcome::Failed
    })?;
    let mut tx = Transaction::new_client(tkey, invite.clone(), sh.endpoint.clone(), None);
    tx.destination = target.next_hop.clone();
    if let Err(e) = tx.send().await {
        warn!(error = %e, "INVITE to bridge target not sent");
        sh.dialogs.unregister(&key);
        return Err(BridgeOutcome::Failed);
    }
    invite_sent();
    let mut pump = spawn_pump(tx);
    info!(target = %target.uri, routed = !target.route.is_empty(), leg_call_id = %call_id, "ringing bridge target");

    let deadline = tokio::time::Instant::now() + ring_timeout;
    let mut cancelled = false;
    let mut cancel_reason = BridgeOutcome::NoAnswer;
    let final_resp = loop {
        tokio::select! {
            m = pump.rx.recv() => match m {
                Some(SipMessage::Response(r)) if r.status_code.kind() == StatusCodeKind::Provisional => {}
                Some(SipMessage::Response(r)) => break Some(r),
                Some(_) => {}
                None => break None,
            },
            _ = tokio::time::sleep_until(deadline), if !cancelled => {
                cancelled = true;
                send_cancel(sh, &invite);
            }
            _ = caller_ended.cancelled(), if !cancelled => {
                cancelled = true;
                cancel_reason = BridgeOutcome::Failed;
                send_cancel(sh, &invite);
            }
            // A CANCEL that gets no 487 back: give up after 64·T1.
            _ = tokio::time::sleep_until(deadline + Duration::from_secs(32)) => break None,
        }
    };
    let Some(resp) = final_resp else {
        sh.dialogs.unregister(&key);
        return Err(if cancelled {
            cancel_reason
        } else {
            BridgeOutcome::Failed
        });
    };
    if resp.status_code.kind() != StatusCodeKind::Successful {
        sh.dialogs.unregister(&key);
        info!(target = %target.uri, status = %resp.status_code, "bridge target did not answer");
        return Err(if cancelled {
            cancel_reason
        } else {
            outcome_for(resp.status_code.clone())
        });
    }

    // 2xx: the transaction layer sent the ACK. Build the dialog (RFC 3261 §12.1.2).
    let remote_target = resp
        .contact_header()
        .ok()
        .and_then(|c| c.typed().ok())
        .map(|c| c.uri)
        .unwrap_or(uri);
    let mut routes: Vec<Header> = resp
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(rr) => Some(Header::Route(rr.value().into())),
            _ => None,
        })
        .collect();
    routes.reverse();
    let to_hdr = resp.to_header().ok().cloned();
    let from_hdr = invite.from_header().ok().cloned();
    let mut headers: Vec<Header> = vec![Header::CallId(call_id.clone().into())];
    if let Some(f) = from_hdr {
        headers.push(Header::From(f));
    }
    if let Some(t) = to_hdr {
        headers.push(Header::To(t));
    }
    headers.push(Header::CSeq(
        rsipstack::sip::typed::CSeq {
            seq: 2,
            method: Method::Bye,
        }
        .into(),
    ));
    headers.push(Header::MaxForwards(70.into()));
    headers.extend(routes);
    let bye = Request {
        method: Method::Bye,
        uri: remote_target,
        version: rsipstack::sip::Version::V2,
        headers: headers.into(),
        body: vec![],
    };

    let neg = SessionDesc::parse(&resp.body).and_then(|d| d.negotiate());
    let leg = Leg {
        sh: sh.clone(),
        key: key.clone(),
        bye,
        ended: CancellationToken::new(),
        bye_reason: Default::default(),
    };
    match neg {
        Ok(neg) => {
            media.start(&neg, neg.remote_direction.reverse());
        }
        Err(e) => {
            warn!(error = %e, "bridge target answered without usable SDP");
            leg.hangup().await;
            return Err(BridgeOutcome::Failed);
        }
    }
    tokio::spawn(
        serve_leg(
            dlg_rx,
            (leg.ended.clone(), leg.bye_reason.clone()),
            media,
            local_sdp,
            sh.clone(),
        )
        .in_current_span(),
    );
    Ok(leg)
}

fn send_cancel(sh: &Arc<Shared>, invite: &Request) {
    // RFC 3261 §9.1: same Request-URI, top Via, Call-ID, From, To and CSeq number.
    let mut headers: Vec<Header> = vec![];
    for h in invite.headers.iter() {
        match h {
            Header::Via(_)
            | Header::CallId(_)
            | Header::From(_)
            | Header::To(_)
            | Header::Route(_) => headers.push(h.clone()),
            _ => {}
        }
    }
    headers.push(Header::CSeq(
        rsipstack::sip::typed::CSeq {
            seq: 1,
            method: Method::Cancel,
        }
        .into(),
    ));
    headers.push(Header::MaxForwards(70.into()));
    let cancel = Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: rsipstack::sip::Version::V2,
        headers: headers.into(),
        body: vec![],
    };
    let sh = sh.clone();
    tokio::spawn(
        async move {
            send_request(&sh, cancel, None).await;
        }
        .in_current_span(),
    );
}

/// In-dialog requests from the called side: BYE ends the leg, re-INVITE/INFO get answers.
async fn serve_leg(
    mut rx: mpsc::UnboundedReceiver<Transaction>,
    (ended, bye_reason): (CancellationToken, Arc<std::sync::OnceLock<String>>),
    media: Arc<MediaHandle>,
    mut local_sdp: LocalSdp,
    sh: Arc<Shared>,
) {
    loop {
        let t = tokio::select! {
            t = rx.recv() => t,
            _ = ended.cancelled() => None,
        };
        let Some(mut t) = t else { break };
        match t.original.method {
            Method::Bye => {
                let reason = t.original.headers.iter().find_map(|h| match h {
                    Header::Reason(r) => Some(r.value().to_string()),
                    _ => None,
                });
                if let Some(r) = reason {
                    let _ = bye_reason.set(r);
                }
                t.reply(StatusCode::OK).await.ok();
                ended.cancel();
                break;
            }
            Method::Invite => {
                match SessionDesc::parse(&t.original.body).and_then(|d| d.negotiate()) {
                    Ok(neg) => {
                        let dir = neg.remote_direction.reverse();
                        media.update(&neg, dir);
                        let body = local_sdp.answer(&neg, dir);
                        let resp = response(&sh, &t.original, StatusCode::OK, Some(body), false);
                        t.respond(resp).await.ok();
                        // The ACK is absorbed by the transaction; keep it alive briefly.
                        tokio::spawn(async move {
                            let _ =
                                tokio::time::timeout(Duration::from_secs(32), t.receive()).await;
                        });
                    }
                    Err(_) => {
                        t.reply(StatusCode::NotAcceptableHere).await.ok();
                    }
                }
            }
            Method::Info => {
                t.reply(StatusCode::OK).await.ok();
            }
            _ => {
                t.reply(StatusCode::MethodNotAllowed).await.ok();
            }
        }
    }
    // Answer whatever raced with the end.
    while let Ok(mut t) = rx.try_recv() {
        t.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::registrar::{Binding, Path};

    fn binding(source: &str, path: &str) -> Binding {
        Binding {
            contact: "sip:ops1@192.168.1.20:5062".into(),
            call_id: "c".into(),
            cseq: 1,
            expires_at: 0,
            source: source.into(),
            user_agent: String::new(),
            path: Path::from_stored(path),
        }
    }

    #[test]
    fn a_phone_with_a_path_is_reached_through_its_first_hop() {
        let t = target_of(binding(
            "udp:198.51.100.5:5060",
            "<sip:198.51.100.5:5070;lr;received=sip:203.0.113.9:40312>",
        ));
        assert_eq!(t.uri, "sip:ops1@192.168.1.20:5062");
        assert_eq!(
            t.route,
            ["<sip:198.51.100.5:5070;lr;received=sip:203.0.113.9:40312>"]
        );
        let hop = t.next_hop.expect("first hop");
        assert_eq!(hop.r#type, Some(rsipstack::sip::Transport::Udp));
        assert_eq!(hop.addr.to_string(), "198.51.100.5:5070");
        assert_eq!(t.peer, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn a_phone_registered_directly_is_reached_where_its_register_came_from() {
        let t = target_of(binding("tcp:203.0.113.9:40312", ""));
        assert!(t.route.is_empty());
        let hop = t.next_hop.expect("its source");
        assert_eq!(hop.r#type, Some(rsipstack::sip::Transport::Tcp));
        assert_eq!(hop.addr.to_string(), "203.0.113.9:40312");
        assert_eq!(t.peer, Some("203.0.113.9".parse().unwrap()));
    }
}
