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

use super::endpoint::ALLOW;
use super::telemetry;

/// The socket `UdpConnection` reads through.
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
                Check::Rewrite(bytes) if bytes.len() <= buf.len() => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), from));
                }
                Check::Rewrite(_) => continue,
                Check::Drop => continue,
                Check::Reply(status, reason) => {
                    debug!(%from, %reason, %status, "answering a request the stack cannot take");
                    if let Some(resp) = reply_raw(packet, status, &reason, from, &self.user_agent) {
                        count_reply(packet, status);
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
    /// Pass on this normalised form of the message instead.
    Rewrite(Vec<u8>),
    /// Answer with this status line (e.g. `400 Bad Request`) and a Warning with the reason.
    Reply(&'static str, String),
}

/// Methods the parser knows; any other token is a valid but unsupported method (405).
const KNOWN_METHODS: [&str; 14] = [
    "ACK",
    "BYE",
    "CANCEL",
    "INFO",
    "INVITE",
    "MESSAGE",
    "NOTIFY",
    "OPTIONS",
    "PRACK",
    "PUBLISH",
    "REFER",
    "REGISTER",
    "SUBSCRIBE",
    "UPDATE",
];

/// The stack never sees the requests answered here: count them and their answer here.
fn count_reply(packet: &[u8], status: &str) {
    let first = packet.split(|b| *b == b' ').next().unwrap_or(&[]);
    let method = KNOWN_METHODS
        .iter()
        .find(|m| m.as_bytes() == first)
        .copied()
        .unwrap_or("other");
    telemetry::count_request(method);
    if let Some(code) = status.get(..3).and_then(|c| c.parse().ok()) {
        telemetry::count_final(method, code);
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Keep-alives, responses and good requests pass; broken requests get a 400.
fn check(packet: &[u8]) -> Check {
    if packet.iter().all(|b| b.is_ascii_whitespace()) || packet.starts_with(b"SIP/") {
        return Check::Pass;
    }
    if !looks_like_request(packet) {
        return match SipMessage::try_from(packet) {
            Ok(_) => Check::Pass,
            Err(_) => Check::Drop,
        };
    }
    // Request line: METHOD SP Request-URI SP SIP-Version (RFC 3261 §7.1).
    let first = packet.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = String::from_utf8_lossy(first);
    let first = first.trim_end_matches('\r');
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("");
    let version = first.rsplit(' ').next().unwrap_or("");
    if version.starts_with("SIP/") && version != "SIP/2.0" && is_token(method) {
        return Check::Reply("505 Version Not Supported", format!("version {version}"));
    }
    let uri = parts.next().unwrap_or("");
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    if is_token(method) && uri.contains(':') && !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
        return Check::Reply("416 Unsupported URI Scheme", format!("scheme {scheme}"));
    }
    if is_token(method) && !KNOWN_METHODS.contains(&method) {
        return Check::Reply("405 Method Not Allowed", format!("method {method}"));
    }
    let msg = match SipMessage::try_from(packet) {
        Ok(m) => m,
        Err(e) => return Check::Reply("400 Bad Request", e.to_string()),
    };
    let SipMessage::Request(req) = msg else {
        return Check::Pass;
    };
    match validate(&req) {
        Ok(()) => Check::Pass,
        Err(reason) => {
            // Legal but odd spacing in From/To parameters (`; tag = x`, RFC 4475 wsinv) trips
            // the stack's tag lookup: retry with that whitespace taken out.
            if let Some(fixed) = normalise_tags(&req) {
                if validate(&fixed).is_ok() {
                    return Check::Rewrite(fixed.to_string().into_bytes());
                }
            }
            Check::Reply("400 Bad Request", reason)
        }
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
    // RFC 2543 requests have no From tag; transactions and dialogs here need one.
    if !matches!(from.tag(), Ok(Some(_))) {
        return Err("From tag missing (RFC 2543 requests are not supported)".into());
    }
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

/// From/To with the whitespace around `;` and `=` of their parameters removed.
fn normalise_tags(req: &rsipstack::sip::Request) -> Option<rsipstack::sip::Request> {
    use rsipstack::sip::Header;
    fn squeeze(v: &str) -> String {
        let mut out = String::with_capacity(v.len());
        let mut in_quotes = false;
        let mut in_angle = false;
        let mut prev_escape = false;
        for c in v.chars() {
            if in_quotes {
                out.push(c);
                if c == '"' && !prev_escape {
                    in_quotes = false;
                }
                prev_escape = c == '\\' && !prev_escape;
                continue;
            }
            match c {
                '"' => {
                    in_quotes = true;
                    out.push(c)
                }
                '<' => {
                    in_angle = true;
                    out.push(c)
                }
                '>' => {
                    in_angle = false;
                    out.push(c)
                }
                ';' | '=' if !in_angle => {
                    while out.ends_with(char::is_whitespace) {
                        out.pop();
                    }
                    out.push(c);
                }
                c if c.is_whitespace() && (out.ends_with(';') || out.ends_with('=')) => {}
                c => out.push(c),
            }
        }
        out.trim().to_string()
    }
    let mut fixed = req.clone();
    let mut changed = false;
    for h in fixed.headers.iter_mut() {
        match h {
            Header::From(f) => {
                let v = squeeze(f.value());
                changed |= v != f.value();
                *h = Header::From(v.into());
            }
            Header::To(t) => {
                let v = squeeze(t.value());
                changed |= v != t.value();
                *h = Header::To(v.into());
            }
            _ => {}
        }
    }
    changed.then_some(fixed)
}

fn looks_like_request(packet: &[u8]) -> bool {
    let first = packet.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = String::from_utf8_lossy(first);
    first.contains("SIP/") && first.split_whitespace().count() >= 3
}

/// A response built from the raw header lines (the parser could not read them).
pub(crate) fn reply_raw(
    packet: &[u8],
    status: &str,
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
    let mut out = format!("SIP/2.0 {status}\r\n");
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
    if status.starts_with("405") {
        out.push_str(&format!("Allow: {}\r\n", ALLOW));
    }
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
        assert!(matches!(check(raw), Check::Reply(_, _)));
        let r = reply_raw(
            raw,
            "400 Bad Request",
            "x",
            "127.0.0.1:5999".parse().unwrap(),
            "ua",
        )
        .unwrap();
        assert!(r.starts_with("SIP/2.0 400 "));
        assert!(r.contains("received=127.0.0.1"));
        assert!(r.contains("To: <sip:a@b>;tag="));
        assert!(reply_raw(
            b"FOO sip:x SIP/2.0\r\n\r\n",
            "400 Bad Request",
            "x",
            "127.0.0.1:1".parse().unwrap(),
            "ua"
        )
        .is_none());
    }

    #[test]
    fn cseq_method_mismatch_is_bad() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(check(raw), Check::Reply(_, _)));
        let ok = String::from_utf8_lossy(raw).replace("1 INVITE", "1 OPTIONS");
        assert!(matches!(check(ok.as_bytes()), Check::Pass));
    }
}
