//! Hostile peers for the hardening tests: raw SIP INVITEs from any loopback address (a
//! spoofer needs no SIP stack, only a socket), and RTP spray at a range of ports.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// An INVITE from `from` (its Via and Contact) whose SDP names `media` for RTP.
pub fn invite(to: SocketAddr, from: SocketAddr, media: SocketAddr, call_id: &str) -> Vec<u8> {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        ip = media.ip(),
        port = media.port()
    );
    format!(
        "INVITE sip:12345@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK{branch};rport\r\n\
         From: <sip:13800000000@{from}>;tag={tag}\r\n\
         To: <sip:12345@{to}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:13800000000@{from}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        branch = rand::random::<u64>(),
        tag = rand::random::<u32>(),
        len = sdp.len()
    )
    .into_bytes()
}

/// The final status codes a socket received within `wait`, by Call-ID (the last one seen).
pub fn finals_by_call(sock: &UdpSocket, wait: Duration) -> HashMap<String, u16> {
    let until = Instant::now() + wait;
    let mut out = HashMap::new();
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    while Instant::now() < until {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let Some(code) = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
        else {
            continue;
        };
        if code < 200 {
            continue;
        }
        let call_id = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap_or("")
            .trim()
            .to_string();
        out.insert(call_id, code);
    }
    out
}

/// Datagrams that reached `sock` within `wait`.
pub fn count_datagrams(sock: &UdpSocket, wait: Duration) -> usize {
    let until = Instant::now() + wait;
    let mut n = 0;
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    while Instant::now() < until {
        if sock.recv_from(&mut buf).is_ok() {
            n += 1;
        }
    }
    n
}

/// An RTP packet: payload type, sequence, timestamp, SSRC, marker, payload.
pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The RTP range `Hotline::start` gives a server on `sip_port` (see `common::serve`).
pub fn rtp_range(sip_port: u16) -> std::ops::RangeInclusive<u16> {
    let base = 20000 + (sip_port as u32 % 400) * 100;
    base as u16..=(base + 99) as u16
}
