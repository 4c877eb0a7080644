//! What is wrong with a UDP datagram, before the stack sees it: the checks of RFC 3261
//! §8.2.2/§16.3 the stack does not make but relies on, and the RFC 4475 spacing it trips on.
//!
//! ```text
//! keep-alive, response        → Pass
//! request line SIP/x.y ≠ 2.0  → Reply 505      scheme not sip/sips/tel → Reply 416
//! unknown method token        → Reply 405      unparseable or bad header → Reply 400
//! `; tag = x` in From/To      → Rewrite without the spaces
//! ```

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::SipMessage;

/// The verdict on one datagram.
pub(crate) enum Check {
    Pass,
    Drop,
    /// Pass on this normalised form of the message instead.
    Rewrite(Vec<u8>),
    /// Answer with this status line (e.g. `400 Bad Request`) and a Warning with the reason.
    Reply(&'static str, String),
}

/// Methods the parser knows; any other token is a valid but unsupported method (405).
pub(crate) const KNOWN_METHODS: [&str; 14] = [
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

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Keep-alives, responses and good requests pass; broken requests get a 400.
pub(crate) fn check(packet: &[u8]) -> Check {
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
            Check::Reply("400 Bad Request", reason.to_string())
        }
    }
}

/// What is wrong with a request the stack parsed; the text goes into the 400 we answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("{0}: {1}")]
    Header(&'static str, String),
    #[error("From tag missing (RFC 2543 requests are not supported)")]
    NoFromTag,
    #[error("CSeq method differs from the request method")]
    CSeqMethod,
    #[error("Content-Length is not a number")]
    ContentLength,
    #[error("two different Content-Length values")]
    TwoContentLengths,
    #[error("Max-Forwards is not a number 0-255")]
    MaxForwards,
    #[error("body shorter than Content-Length")]
    ShortBody,
}

/// The checks of RFC 3261 §8.2.2/§16.3 the stack does not make but relies on.
pub(crate) fn validate(req: &rsipstack::sip::Request) -> Result<(), Invalid> {
    use rsipstack::sip::prelude::ToTypedHeader;
    let bad = |h: &'static str| move |e: rsipstack::sip::Error| Invalid::Header(h, e.to_string());
    req.top_via_header()
        .map_err(bad("Via"))?
        .typed()
        .map_err(bad("Via"))?;
    req.call_id_header().map_err(bad("Call-ID"))?;
    let from = req.from_header().map_err(bad("From"))?;
    from.typed().map_err(bad("From"))?;
    // RFC 2543 requests have no From tag; transactions and dialogs here need one.
    if !matches!(from.tag(), Ok(Some(_))) {
        return Err(Invalid::NoFromTag);
    }
    let to = req.to_header().map_err(bad("To"))?;
    to.typed().map_err(bad("To"))?;
    let cseq = req
        .cseq_header()
        .map_err(bad("CSeq"))?
        .typed()
        .map_err(bad("CSeq"))?;
    if cseq.method != req.method {
        return Err(Invalid::CSeqMethod);
    }
    let mut cl_seen = None;
    for h in req.headers.iter() {
        match h {
            rsipstack::sip::Header::ContentLength(cl) => {
                let n: usize = cl
                    .value()
                    .trim()
                    .parse()
                    .map_err(|_| Invalid::ContentLength)?;
                if cl_seen.is_some_and(|m| m != n) {
                    return Err(Invalid::TwoContentLengths);
                }
                cl_seen = Some(n);
            }
            rsipstack::sip::Header::MaxForwards(mf) => {
                mf.value()
                    .trim()
                    .parse::<u8>()
                    .map_err(|_| Invalid::MaxForwards)?;
            }
            _ => {}
        }
    }
    if let Some(n) = cl_seen {
        if n > req.body.len() {
            return Err(Invalid::ShortBody);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_method_mismatch_is_bad() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(check(raw), Check::Reply(_, _)));
        let ok = String::from_utf8_lossy(raw).replace("1 INVITE", "1 OPTIONS");
        assert!(matches!(check(ok.as_bytes()), Check::Pass));
    }
}
