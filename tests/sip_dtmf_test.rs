//! DTMF reaches the dialplan: RFC 4733 events from SIPp's pcaps, and in-band tones.

mod common;
use common::sipp as support;

use std::sync::Arc;
use std::time::Duration;

use hotline::sip::{Call, CallHandler};
use support::*;
use tokio::sync::mpsc;

/// Answers, collects digits up to `#`, reports them, hangs up.
struct Gatherer {
    out: mpsc::UnboundedSender<String>,
}

#[async_trait::async_trait]
impl CallHandler for Gatherer {
    async fn handle(&self, call: Call) {
        if call.answer().await.is_err() {
            return;
        }
        let digits = call
            .gather_digits(
                8,
                Duration::from_secs(30),
                Duration::from_secs(10),
                Some('#'),
            )
            .await
            .unwrap_or_default();
        let _ = self.out.send(digits);
        call.hangup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_digits_from_sipp_pcaps() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let s = start(config(), Arc::new(Gatherer { out: tx })).await;
    let target = ([127, 0, 0, 1], s.port).into();
    let r = sipp(
        target,
        &[
            "-sf",
            &scenario("dtmf_rfc4733.xml"),
            "-s",
            "12345",
            "-m",
            "1",
        ],
    )
    .await;
    r.assert_ok("RFC 4733 DTMF");
    let digits = rx.recv().await.expect("handler reported");
    assert_eq!(digits, "123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_info_digits() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let s = start(config(), Arc::new(Gatherer { out: tx })).await;
    let target = ([127, 0, 0, 1], s.port).into();
    let r = sipp(
        target,
        &["-sf", &scenario("dtmf_info.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("SIP INFO DTMF");
    let digits = rx.recv().await.expect("handler reported");
    assert_eq!(digits, "42");
}
