//! Message helpers both dialog sides use: responses with our Contact, the Contact URI, a
//! request in its own client transaction, and the RFC 3261 timers they run on.

use std::time::Duration;

use rsipstack::sip::{Header, Method, Request, Response, SipMessage, StatusCode};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::{Transaction, TransactionEvent};
use rsipstack::transport::SipConnection;
use tracing::{debug, warn};

use super::dialog_table::spawn_pump;
use super::endpoint::{Shared, ALLOW};

/// RFC 3261 timer T1 (round-trip estimate).
pub(crate) const T1: Duration = Duration::from_millis(500);
/// RFC 3261 timer T2 (longest retransmit interval).
pub(crate) const T2: Duration = Duration::from_secs(4);

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

/// Our Contact URI for a transport (`;transport=tcp` on a reliable one).
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

/// Answer a server transaction with a body-less response; a failure is only logged.
pub(crate) async fn reply_simple(tx: &mut Transaction, code: StatusCode, headers: Vec<Header>) {
    if let Err(e) = tx.reply_with(code, headers, None).await {
        debug!(error = %e, "reply failed");
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
    await_final(&mut tx).await
}

/// The final response of a client transaction, or `None` after Timer F (64·T1) passed.
pub(crate) async fn await_final(tx: &mut Transaction) -> Option<Response> {
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

/// User part of a URI (`13800000000` of `sip:13800000000@host`), empty when there is none.
pub(crate) fn user_part(uri: &rsipstack::sip::Uri) -> String {
    uri.auth
        .as_ref()
        .map(|a| a.user.clone())
        .unwrap_or_default()
}

/// Answer a server INVITE transaction with a 2xx, re-sent T1, 2T1 … ≤ T2 on unreliable
/// transports until its ACK comes (RFC 3261 §13.3.1.4); the ACK's body, or None after 64·T1.
pub(crate) async fn answer_until_ack(
    t: Transaction,
    resp: Response,
    reliable: bool,
) -> Option<Vec<u8>> {
    let mut pump = spawn_pump(t);
    let _ = pump.tu.send(TransactionEvent::Respond(resp.clone()));
    let mut interval = T1;
    let deadline = tokio::time::Instant::now() + 64 * T1;
    loop {
        tokio::select! {
            m = pump.rx.recv() => match m {
                Some(SipMessage::Request(ack)) if ack.method == Method::Ack => return Some(ack.body),
                Some(_) => {}
                None => return None,
            },
            _ = tokio::time::sleep(interval), if !reliable => {
                let _ = pump.tu.send(TransactionEvent::Respond(resp.clone()));
                interval = (interval * 2).min(T2);
            }
            _ = tokio::time::sleep_until(deadline) => return None,
        }
    }
}

/// DTMF from an INFO body: `application/dtmf-relay` (`Signal=5`) or `application/dtmf` (`5`).
pub(crate) fn dtmf_from_info(req: &Request) -> Option<char> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn info(body: &str) -> Request {
        let raw = format!(
            "INFO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\n\
             Call-ID: x\r\nCSeq: 2 INFO\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match SipMessage::try_from(raw.as_str()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn dtmf_relay_and_plain_dtmf_bodies_give_the_digit() {
        assert_eq!(
            dtmf_from_info(&info("Signal=5\r\nDuration=160\r\n")),
            Some('5')
        );
        assert_eq!(dtmf_from_info(&info("Signal= 11\r\n")), Some('#'));
        assert_eq!(dtmf_from_info(&info("*")), Some('*'));
        assert_eq!(dtmf_from_info(&info("Signal=x\r\n")), None);
    }
}
