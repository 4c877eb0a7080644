//! The request dispatcher: every new server transaction the stack hands up passes here once.
//!
//! ```text
//! INVITE without To tag        ──▶ a new call (dialog_uas_accept), in its own task and span
//! OPTIONS                      ──▶ 200 with Allow/Accept; 503 while draining, so a balancer
//!                                  pinging the node stops sending it new calls
//! REGISTER                     ──▶ the registrar (registrar_uas), when accounts are known
//! ACK                          ──▶ nothing (a 2xx ACK reaches its dialog by its transaction)
//! in-dialog (To tag)           ──▶ the dialog's task, by Call-ID and To tag; else 481
//! BYE/INFO/UPDATE without tag  ──▶ 481
//! anything else                ──▶ 405 with Allow
//! ```

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::mpsc;
use tracing::{debug, warn, Instrument};

use super::dialog_uas_accept::{incoming_invite, OnCall};
use super::endpoint::{fix_received, Shared, ALLOW};
use super::message::user_part;
use super::telemetry::call_span;

/// The remote tag of our dialogs is the To tag of requests that reach us.
fn to_tag(tx: &Transaction) -> Option<String> {
    tx.original
        .to_header()
        .ok()?
        .tag()
        .ok()
        .flatten()
        .map(|t| t.value().to_string())
}

fn call_id(tx: &Transaction) -> String {
    tx.original
        .call_id_header()
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

/// Where a request came from: the address (for the lockout) and `transport:ip:port` (for
/// reaching a phone behind NAT). The transport's own peer address first, for UDP too: a
/// Via whose sent-by already matches the source keeps whatever `received=` the sender
/// wrote, so trusting the Via would let one address pose as many and dodge the lockout.
fn source_of(tx: &Transaction) -> (IpAddr, String) {
    let peer = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok());
    let reliable = tx.connection.as_ref().is_some_and(|c| c.is_reliable());
    let via = tx.original.via_header().ok().and_then(|v| v.typed().ok());
    let from_via = via.as_ref().and_then(|v| {
        let ip: IpAddr = v.params.iter().find_map(|p| match p {
            rsipstack::sip::Param::Received(r) => r.value().parse().ok(),
            _ => None,
        })?;
        let port = v
            .params
            .iter()
            .find_map(|p| match p {
                rsipstack::sip::Param::Rport(Some(p)) => Some(*p),
                _ => None,
            })
            .or_else(|| v.uri.host_with_port.port.map(|p| p.value()))
            .unwrap_or(5060);
        Some(std::net::SocketAddr::new(ip, port))
    });
    let addr = peer.or(from_via);
    let addr = addr.unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let transport = if reliable { "tcp" } else { "udp" };
    (addr.ip(), format!("{transport}:{addr}"))
}

/// The address a REGISTER's lockout counts against: the phone's own, as the edge proxy
/// wrote it in the Path (`received=`), when the REGISTER came from one of the
/// `trusted_sources` (the Kamailio in front of the nodes) — else one phone guessing wrong
/// would lock every phone behind that proxy out. From anyone else the Path is not believed
/// for this.
fn phone_ip(req: &rsipstack::sip::Request, from: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&from) {
        return from;
    }
    let paths = req.headers.iter().filter_map(|h| match h {
        Header::Path(p) => Some(p.value()),
        _ => None,
    });
    super::registrar::Path::read(paths)
        .and_then(|p| p.received())
        .map_or(from, |a| a.ip())
}

/// Route one new server transaction.
pub(crate) async fn dispatch(sh: &Arc<Shared>, mut tx: Transaction, on_call: &OnCall) {
    fix_received(&mut tx.original);
    let method = tx.original.method;
    let tag = to_tag(&tx);
    if !matches!(
        tx.original.uri.scheme,
        None | Some(rsipstack::sip::Scheme::Sip) | Some(rsipstack::sip::Scheme::Sips)
    ) && method != Method::Ack
    {
        // RFC 3261 §8.2.2.1.
        tx.reply(StatusCode::UnsupportedUriScheme).await.ok();
        return;
    }
    match (method, tag) {
        (Method::Invite, None) => {
            let caller = tx
                .original
                .from_header()
                .and_then(|f| f.typed())
                .map(|f| user_part(&f.uri))
                .unwrap_or_default();
            let span = call_span(&call_id(&tx), &caller);
            let called = tx
                .original
                .uri
                .auth
                .as_ref()
                .map(|a| a.user.clone())
                .unwrap_or_default();
            // Service codes (*71 …) act on the account that dials them: the phone proves
            // who it is with digest credentials (407), like a PBX's extensions.
            match (called.starts_with('*'), sh.registrar.clone()) {
                (true, Some(r)) => {
                    let (sh, on_call) = (sh.clone(), on_call.clone());
                    tokio::spawn(
                        async move {
                            let mut tx = tx;
                            let (ip, _) = source_of(&tx);
                            if let Some(user) = r.authenticate(&mut tx, ip).await {
                                incoming_invite(sh, tx, on_call, Some(user)).await;
                            }
                        }
                        .instrument(span),
                    );
                }
                (true, None) => {
                    tx.reply(StatusCode::NotFound).await.ok();
                }
                (false, _) => {
                    tokio::spawn(
                        incoming_invite(sh.clone(), tx, on_call.clone(), None).instrument(span),
                    );
                }
            }
        }
        (Method::Options, _) => {
            let mut headers = vec![
                Header::Allow(ALLOW.into()),
                Header::Accept("application/sdp".into()),
            ];
            let status = if sh.draining.load(Ordering::SeqCst) {
                headers.push(Header::RetryAfter(
                    sh.cfg.retry_after_secs.to_string().into(),
                ));
                StatusCode::ServiceUnavailable
            } else {
                StatusCode::OK
            };
            if let Err(e) = tx.reply_with(status, headers, None).await {
                debug!(error = %e, "OPTIONS reply failed");
            }
        }
        (Method::Ack, _) => {}
        (Method::Register, _) if sh.registrar.is_some() => {
            if let Some(r) = sh.registrar.clone() {
                let (ip, source) = source_of(&tx);
                let ip = phone_ip(&tx.original, ip, &sh.cfg.trusted_sources);
                tokio::spawn(async move {
                    let mut tx = tx;
                    r.handle(&mut tx, ip, source).await;
                });
            }
        }
        (
            Method::Invite
            | Method::Bye
            | Method::Info
            | Method::Update
            | Method::Refer
            | Method::Notify
            | Method::Message,
            Some(tag),
        ) => match sh.dialogs.lookup(&(call_id(&tx), tag)) {
            Some(dlg) => {
                if let Err(mpsc::error::SendError(mut tx)) = dlg.send(tx) {
                    tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
                }
            }
            None => {
                tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
            }
        },
        (Method::Bye | Method::Info | Method::Update, None) => {
            tx.reply(StatusCode::CallTransactionDoesNotExist).await.ok();
        }
        (m, _) => {
            debug!(method = %m, "method not allowed");
            let headers = vec![Header::Allow(ALLOW.into())];
            if let Err(e) = tx
                .reply_with(StatusCode::MethodNotAllowed, headers, None)
                .await
            {
                warn!(error = %e, "405 reply failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::SipMessage;

    fn register(path: &str) -> rsipstack::sip::Request {
        let raw = format!(
            "REGISTER sip:192.0.2.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK1\r\n\
             {path}Call-ID: x\r\nCSeq: 1 REGISTER\r\nFrom: <sip:ops1@h>;tag=1\r\n\
             To: <sip:ops1@h>\r\nContent-Length: 0\r\n\r\n"
        );
        match SipMessage::try_from(raw.as_str()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn wrong_passwords_through_a_trusted_proxy_count_against_the_phone() {
        let proxy: IpAddr = "192.0.2.5".parse().unwrap();
        let phone: IpAddr = "203.0.113.9".parse().unwrap();
        let relayed = register("Path: <sip:192.0.2.5;lr;received=sip:203.0.113.9:40312>\r\n");
        assert_eq!(phone_ip(&relayed, proxy, &[proxy]), phone);
        // Not a trusted source: its Path is not believed, the lockout sees the sender.
        assert_eq!(phone_ip(&relayed, proxy, &[]), proxy);
        // Trusted, but no Path (or none with received=): the sender.
        assert_eq!(phone_ip(&register(""), proxy, &[proxy]), proxy);
        let bare = register("Path: <sip:192.0.2.5;lr>\r\n");
        assert_eq!(phone_ip(&bare, proxy, &[proxy]), proxy);
    }
}
