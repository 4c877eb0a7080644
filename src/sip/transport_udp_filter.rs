//! UDP socket that answers unparseable requests with 400 before the stack sees them.
//!
//! rsipstack drops a datagram it cannot parse without a word; RFC 3261 §16.3/§21.4.1 wants
//! a 400 back when the request is broken but still has enough to route a response
//! (a top Via). This wrapper sits under `UdpConnection` (via its socket seam) and does that.
//! It is also the cheapest place to shed a flood: requests from one source IP beyond
//! `udp_requests_per_ip` are dropped here, before anything parses them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rsipstack::platform::net::UdpSocket as PlatformUdpSocket;
use tracing::debug;

use super::endpoint::ALLOW;
use super::limits::RateLimiter;
use super::telemetry;
use super::transport_udp_check::{check, Check, KNOWN_METHODS};

/// The socket `UdpConnection` reads through.
pub(crate) struct FilteringUdp {
    pub(crate) socket: Arc<tokio::net::UdpSocket>,
    pub(crate) user_agent: String,
    /// Requests per source IP (`udp_requests_per_ip`).
    pub(crate) flood: RateLimiter,
    /// Sources the flood limit spares (`trusted_sources`).
    pub(crate) trusted: Vec<IpAddr>,
}

#[async_trait::async_trait]
impl PlatformUdpSocket for FilteringUdp {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, from) = self.socket.recv_from(buf).await?;
            let packet = &buf[..len];
            if !packet.starts_with(b"SIP/")
                && !self.trusted.contains(&from.ip())
                && !self.flood.allow(from.ip())
            {
                telemetry::count_flood_dropped();
                continue;
            }
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
}
