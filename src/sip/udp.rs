//! UDP socket that answers unparseable requests with 400 before the stack sees them.
//!
//! rsipstack drops a datagram it cannot parse without a word; RFC 3261 §16.3/§21.4.1 wants
//! a 400 back when the request is broken but still has enough to route a response
//! (a top Via). This wrapper sits under `UdpConnection` (via its socket seam) and does that.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::platform::net::UdpSocket as PlatformUdpSocket;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::SipMessage;
use tracing::debug;

pub(crate) struct FilteringUdp {
    pub(crate) socket: Arc<tokio::net::UdpSocket>,
    pub(crate) user_agent: String,
}

#[async_trait::async_trait]
impl PlatformUdpSocket for FilteringUdp {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, from) = self.socket.recv_from(buf).await?;
            let packet = &buf[..len];
            match check(packet) {
                Check::Pass => return Ok((len, from)),
                Check::Drop => continue,
                Check::BadRequest(reason) => {
                    debug!(%from, %reason, "answering unparseable request with 400");
                    if let Some(resp) = bad_request(packet, &reason, from, &self.user_agent) {
                        self.socket.send_to(resp.as_bytes(), from).await.ok();
                    }
                }
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

enum Check {
    Pass,
    Drop,
    BadRequest(String),
}

/// Keep-alives, responses and good requests pass; broken requests get a 400.
fn check(packet: &[u8]) -> Check {
    if packet.iter().all(|b| b.is_ascii_whitespace()) || packet.starts_with(b"SIP/") {
        return Check::Pass;
    }
    let msg = match SipMessage::try_from(packet) {
        Ok(m) => m,
        Err(e) => {
            return if looks_like_request(packet) {
                Check::BadRequest(e.to_string())
            } else {
                Check::Drop
            }
        }
    };
    let SipMessage::Request(req) = msg else {
        return Check::Pass;
    };
    match validate(&req) {
        Ok(()) => Check::Pass,
        Err(reason) => Check::BadRequest(reason),
    }
}

/// The checks of RFC 3261 §8.2.2/§16.3 the stack does not make but relies on.
pub(crate) fn validate(req: &rsipstack::sip::Request) -> Result<(), String> {
    use rsipstack::sip::prelude::ToTypedHeader;
    let via = req
        .top_via_header()
        .map_err(|e| format!("Via: {e}"))?
        .typed()
        .map_err(|e| format!("Via: {e}"))?;
    let _ = via;
    req.call_id_header().map_err(|e| format!("Call-ID: {e}"))?;
    let from = req.from_header().map_err(|e| format!("From: {e}"))?;
    from.typed().map_err(|e| format!("From: {e}"))?;
    let to = req.to_header().map_err(|e| format!("To: {e}"))?;
    to.typed().map_err(|e| format!("To: {e}"))?;
    let cseq = req
        .cseq_header()
        .map_err(|e| format!("CSeq: {e}"))?
        .typed()
        .map_err(|e| format!("CSeq: {e}"))?;
    if cseq.method != req.method {
        return Err("CSeq method differs from the request method".into());
    }
    let mut cl_seen = None;
    for h in req.headers.iter() {
        match h {
            rsipstack::sip::Header::ContentLength(cl) => {
                let n: usize = cl
                    .value()
                    .trim()
                    .parse()
                    .map_err(|_| "Content-Length is not a number".to_string())?;
                if cl_seen.is_some_and(|m| m != n) {
                    return Err("two different Content-Length values".into());
                }
                cl_seen = Some(n);
            }
            rsipstack::sip::Header::MaxForwards(mf) => {
                mf.value()
                    .trim()
                    .parse::<u8>()
                    .map_err(|_| "Max-Forwards is not a number 0-255".to_string())?;
            }
            _ => {}
        }
    }
    if let Some(n) = cl_seen {
        if n > req.body.len() {
            return Err("body shorter than Content-Length".into());
        }
    }
    Ok(())
}

fn looks_like_request(packet: &[u8]) -> bool {
    let first = packet.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = String::from_utf8_lossy(first);
    first.contains("SIP/") && first.split_whitespace().count() >= 3
}

/// A 400 built from the raw header lines (the parser could not read them).
pub(crate) fn bad_request(
    packet: &[u8],
    reason: &str,
    from: SocketAddr,
    user_agent: &str,
) -> Option<String> {
    let text = String::from_utf8_lossy(packet);
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("");
    // Unfold continuation lines (RFC 3261 §7.3.1).
    let mut lines: Vec<String> = vec![];
    for l in head.lines().skip(1) {
        let l = l.trim_end_matches('\r');
        if (l.starts_with(' ') || l.starts_with('\t')) && !lines.is_empty() {
            if let Some(last) = lines.last_mut() {
                last.push(' ');
                last.push_str(l.trim());
            }
        } else {
            lines.push(l.to_string());
        }
    }
    let mut out = String::from("SIP/2.0 400 Bad Request\r\n");
    let mut have_via = false;
    let mut have_to = false;
    for l in &lines {
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let lname = name.trim().to_ascii_lowercase();
        let value = value.trim();
        let canon = match lname.as_str() {
            "via" | "v" => "Via",
            "from" | "f" => "From",
            "to" | "t" => "To",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            _ => continue,
        };
        if value.contains(['\r', '\n']) {
            continue;
        }
        if canon == "Via" {
            if have_via {
                out.push_str(&format!("Via: {value}\r\n"));
                continue;
            }
            have_via = true;
            // RFC 3581: answer to where it came from.
            let mut v = value.to_string();
            if !v.contains("received=") {
                v.push_str(&format!(";received={}", from.ip()));
            }
            out.push_str(&format!("Via: {v}\r\n"));
            continue;
        }
        if canon == "To" {
            if have_to {
                continue;
            }
            have_to = true;
            if !value.to_ascii_lowercase().contains("tag=") {
                out.push_str(&format!("To: {value};tag=bad{}\r\n", rand::random::<u32>()));
                continue;
            }
        }
        out.push_str(&format!("{canon}: {value}\r\n"));
    }
    if !have_via {
        return None;
    }
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    out.push_str(&format!(
        "Server: {user_agent}\r\nWarning: 399 hotline \"{}\"\r\nContent-Length: 0\r\n\r\n",
        reason.replace('"', "'")
    ));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_with_via_gets_400_and_without_via_nothing() {
        let raw = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nContent-Length: 9999\r\n\r\nv=0\r\n";
        assert!(matches!(check(raw), Check::BadRequest(_)));
        let r = bad_request(raw, "x", "127.0.0.1:5999".parse().unwrap(), "ua").unwrap();
        assert!(r.starts_with("SIP/2.0 400 "));
        assert!(r.contains("received=127.0.0.1"));
        assert!(r.contains("To: <sip:a@b>;tag="));
        assert!(bad_request(
            b"FOO sip:x SIP/2.0\r\n\r\n",
            "x",
            "127.0.0.1:1".parse().unwrap(),
            "ua"
        )
        .is_none());
    }

    #[test]
    fn cseq_method_mismatch_is_bad() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(check(raw), Check::BadRequest(_)));
        let ok = String::from_utf8_lossy(raw).replace("1 INVITE", "1 OPTIONS");
        assert!(matches!(check(ok.as_bytes()), Check::Pass));
    }
}
