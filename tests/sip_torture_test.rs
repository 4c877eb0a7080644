//! Robustness: every RFC 4475 torture message over UDP gets a sensible answer (or, for the
//! responses among them, silence); the server never panics and still answers OPTIONS.

mod common;
use common::sipp as support;

use std::sync::Arc;
use std::time::Duration;

use hotline::sip::{Call, CallHandler};
use support::*;
use tokio::net::UdpSocket;

/// Refuses every call: a torture INVITE that parses gets a final answer at once.
struct Refuser;

#[async_trait::async_trait]
impl CallHandler for Refuser {
    async fn handle(&self, call: Call) {
        call.reject(480);
    }
}

/// Insert `;rport` after the sent-by of the first Via so the answer comes back to us.
fn add_rport(msg: &[u8]) -> Vec<u8> {
    let text = msg;
    let lower: Vec<u8> = text.iter().map(|b| b.to_ascii_lowercase()).collect();
    // The first header line that is a Via ("via" or compact "v", then optional space, ':').
    let mut pos = None;
    let mut i = 0;
    while i < lower.len() {
        let line_start = i == 0 || lower[i - 1] == b'\n';
        if line_start {
            let rest = &lower[i..];
            let name_len = if rest.starts_with(b"via") {
                3
            } else if rest.starts_with(b"v") {
                1
            } else {
                0
            };
            if name_len > 0 {
                let mut j = i + name_len;
                while j < lower.len() && (lower[j] == b' ' || lower[j] == b'\t') {
                    j += 1;
                }
                if j < lower.len() && lower[j] == b':' {
                    pos = Some(j);
                    break;
                }
            }
        }
        i += 1;
    }
    let Some(start) = pos else {
        return msg.to_vec();
    };
    let Some(udp) = find(&lower[start..], b"udp").map(|k| start + k + 3) else {
        return msg.to_vec();
    };
    let mut k = udp;
    while k < text.len() && text[k].is_ascii_whitespace() {
        k += 1;
    }
    while k < text.len() && !b";,\r\n \t".contains(&text[k]) {
        k += 1;
    }
    let mut out = text[..k].to_vec();
    out.extend_from_slice(b";rport");
    out.extend_from_slice(&text[k..]);
    out
}

/// The Call-ID value of a raw message (full or compact form), to match answers.
fn call_id(msg: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(msg);
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let n = name.trim().to_ascii_lowercase();
        if n == "call-id" || n == "i" {
            return Some(value.trim().to_string());
        }
        if line.trim().is_empty() {
            break;
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a correct answer to each message is. Valid requests must not get a 400; invalid ones
/// must get a 4xx (400 unless the RFC names another code); responses get no answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Valid request: any final answer except 400 and 5xx.
    Valid,
    /// Broken request: a 4xx or 505.
    Reject,
    /// A response sent to us: nothing comes back.
    Silence,
    /// The RFC allows rejecting (400) or being liberal and processing it.
    Either,
    /// Exactly this status.
    Code(u16),
}

fn expectation(name: &str) -> Expect {
    match name {
        // §3.1.1 valid messages
        "wsinv" | "intmeth" | "esc01" | "escnull" | "esc02" | "lwsdisp" | "longreq" | "dblreq"
        | "semiuri" | "transports" | "mpart01" => Expect::Valid,
        "unreason" | "noreason" => Expect::Silence,
        // §3.1.2 invalid messages
        "badinv01" | "clerr" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri" | "lwsstart"
        | "escruri" | "baddate" | "regbadct" | "mismatch01" | "mismatch02" | "ncl" => {
            Expect::Reject
        }
        // "reasonable to reject with 400"; liberal elements may process it.
        "trws" | "badaspec" | "baddn" | "badbranch" => Expect::Either,
        // RFC 2543 request without From tag: we answer 400 (see src/sip/transport_udp_check.rs).
        "inv2543" => Expect::Either,
        "badvers" => Expect::Code(505),
        "unkscm" | "novelsc" => Expect::Code(416),
        "scalarlg" | "bigcode" => Expect::Silence,
        // §3.2 transaction layer, §3.3 application layer, §3.4 backward compatibility
        "insuf" | "unksm2" | "mcl01" | "multi01" => Expect::Reject,
        "bcast" => Expect::Silence,
        _ => Expect::Valid,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4475_torture_messages() {
    let s = start(config(), Arc::new(Refuser)).await;
    let target: std::net::SocketAddr = ([127, 0, 0, 1], s.port).into();
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip_torture");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("torture dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 49, "all 49 RFC 4475 messages are kept");
    let mut report = vec![];
    let mut wrong = vec![];
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read(&path).expect("read");
        let is_response = raw.starts_with(b"SIP/");
        let msg = if is_response {
            raw.clone()
        } else {
            add_rport(&raw)
        };
        sock.send_to(&msg, target).await.expect("send");
        // Collect answers for a moment: the first final one counts.
        let mut status: Option<u16> = None;
        let want_id = call_id(&raw);
        let mut buf = vec![0u8; 65536];
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(if is_response { 300 } else { 3000 });
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..n]);
            let code: Option<u16> = text
                .strip_prefix("SIP/2.0 ")
                .and_then(|r| r.get(..3))
                .and_then(|c| c.parse().ok());
            let same_call = match (&want_id, call_id(&buf[..n])) {
                (Some(a), Some(b)) => *a == b,
                (None, _) => true,
                (Some(_), None) => false,
            };
            if let (Some(c), true) = (code, same_call) {
                if c >= 200 {
                    status = Some(c);
                    break;
                }
            }
        }
        let exp = expectation(&name);
        let ok = match (exp, status) {
            (Expect::Silence, None) => true,
            (Expect::Silence, Some(_)) => false,
            (Expect::Valid, Some(c)) => c != 400 && c < 500 || c == 503,
            (Expect::Reject, Some(c)) => (400..500).contains(&c) || c == 505,
            (Expect::Either, Some(c)) => c < 500,
            (Expect::Code(want), Some(c)) => c == want,
            (_, None) => false,
        };
        report.push(format!(
            "{name:12} {exp:?} -> {status:?} {}",
            if ok { "ok" } else { "WRONG" }
        ));
        if !ok {
            wrong.push(name);
        }
    }
    println!("{}", report.join("\n"));

    // Still alive: a plain OPTIONS gets its 200.
    let r = sipp(
        target,
        &["-sf", &scenario("options.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("OPTIONS after the torture messages");
    assert!(
        wrong.is_empty(),
        "wrong answers: {wrong:?}\n{}",
        report.join("\n")
    );
}
