//! Limits and shutdown: past max_calls new INVITEs get 503 with Retry-After; during the
//! drain new INVITEs get 503 while a call in progress runs on, and the server stops after.

mod common;
use common::sipp as support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hotline::sip::{Call, CallHandler};
use support::*;

/// Answers and holds the call until the caller hangs up.
struct Holder;

#[async_trait::async_trait]
impl CallHandler for Holder {
    async fn handle(&self, call: Call) {
        if call.answer().await.is_ok() {
            call.ended().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_calls_gets_503_with_retry_after() {
    let mut cfg = config();
    cfg.max_calls = 2;
    let s = start(cfg, Arc::new(Holder)).await;
    let target = ([127, 0, 0, 1], s.port).into();
    // Two long calls take the two places (basic.xml-like, held 6 s by SIPp's -d).
    let hold = tokio::spawn(async move {
        sipp(
            target,
            &[
                "-sn", "uac", "-s", "12345", "-m", "2", "-r", "10", "-d", "6000",
            ],
        )
        .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.server.stats().active.load(Ordering::SeqCst), 2);
    let r = sipp(
        target,
        &["-sf", &scenario("busy_503.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("503 past max_calls");
    hold.await.expect("join").assert_ok("held calls");
    assert!(s.server.stats().rejected_busy.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_refuses_new_calls_and_lets_calls_finish() {
    let s = start(config(), Arc::new(Holder)).await;
    let target = ([127, 0, 0, 1], s.port).into();
    let hold = tokio::spawn(async move {
        sipp(
            target,
            &["-sn", "uac", "-s", "12345", "-m", "1", "-d", "5000"],
        )
        .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = sipp(
        target,
        &["-sf", &scenario("busy_503.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("503 while draining");
    // The call in progress ran to its normal end (SIPp's BYE got its 200).
    hold.await
        .expect("join")
        .assert_ok("call in progress during drain");
    tokio::time::timeout(Duration::from_secs(20), s.server.wait())
        .await
        .expect("server stops after the drain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_rate_limit_gets_503() {
    let mut cfg = config();
    cfg.rate_limit_per_ip = 0.01;
    cfg.rate_limit_burst = 1.0;
    let s = start(cfg, Arc::new(Holder)).await;
    let target = ([127, 0, 0, 1], s.port).into();
    sipp(
        target,
        &["-sf", &scenario("basic.xml"), "-s", "12345", "-m", "1"],
    )
    .await
    .assert_ok("first call within the rate");
    sipp(
        target,
        &["-sf", &scenario("busy_503.xml"), "-s", "12345", "-m", "1"],
    )
    .await
    .assert_ok("second call over the rate gets 503");
    assert_eq!(s.server.stats().rejected_rate.load(Ordering::SeqCst), 1);
}
