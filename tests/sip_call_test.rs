//! Signalling end to end against SIPp: the call flows a trunk or a softphone uses.

mod common;
use common::sipp as support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hotline::sip::{Call, CallHandler};
use support::*;

/// Answers (unless the number dialled is `ring`, which only rings) and waits for the end.
struct Answerer {
    answered: AtomicUsize,
    confirmed: AtomicUsize,
}

#[async_trait::async_trait]
impl CallHandler for Answerer {
    async fn handle(&self, call: Call) {
        if call.called() == "ring" {
            call.ring();
            tokio::select! {
                _ = call.ended() => {}
                _ = tokio::time::sleep(Duration::from_secs(20)) => {}
            }
            return;
        }
        self.answered.fetch_add(1, Ordering::SeqCst);
        if call.answer().await.is_ok() {
            self.confirmed.fetch_add(1, Ordering::SeqCst);
        }
        tokio::select! {
            _ = call.ended() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => { call.hangup().await; }
        }
    }
}

fn answerer() -> Arc<Answerer> {
    Arc::new(Answerer {
        answered: AtomicUsize::new(0),
        confirmed: AtomicUsize::new(0),
    })
}

async fn server(h: Arc<Answerer>) -> TestServer {
    start(config(), h).await
}

fn target(s: &TestServer) -> std::net::SocketAddr {
    ([127, 0, 0, 1], s.port).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_call_over_udp() {
    let h = answerer();
    let s = server(h.clone()).await;
    let r = sipp(
        target(&s),
        &[
            "-sf",
            &scenario("basic.xml"),
            "-s",
            "12345",
            "-m",
            "3",
            "-r",
            "3",
        ],
    )
    .await;
    r.assert_ok("basic call");
    assert_eq!(h.confirmed.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_call_over_tcp() {
    let h = answerer();
    let s = server(h.clone()).await;
    let r = sipp(
        target(&s),
        &[
            "-sf",
            &scenario("basic.xml"),
            "-s",
            "12345",
            "-m",
            "3",
            "-r",
            "3",
            "-t",
            "t1",
        ],
    )
    .await;
    r.assert_ok("basic call over TCP");
    assert_eq!(h.confirmed.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer_gets_487() {
    let h = answerer();
    let s = server(h.clone()).await;
    let r = sipp(
        target(&s),
        &[
            "-sf",
            &scenario("cancel.xml"),
            "-s",
            "ring",
            "-m",
            "2",
            "-r",
            "2",
        ],
    )
    .await;
    r.assert_ok("cancel");
    assert_eq!(h.answered.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_hold_and_unhold() {
    let h = answerer();
    let s = server(h).await;
    let r = sipp(
        target(&s),
        &[
            "-sf",
            &scenario("reinvite_hold.xml"),
            "-s",
            "12345",
            "-m",
            "1",
        ],
    )
    .await;
    r.assert_ok("re-INVITE hold/unhold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_without_sdp_gets_offer_in_200() {
    let h = answerer();
    let s = server(h.clone()).await;
    let r = sipp(
        target(&s),
        &["-sf", &scenario("no_sdp.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("INVITE without SDP");
    assert_eq!(h.confirmed.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_and_bye_back_to_back() {
    let h = answerer();
    // One SIPp stands in for 200 callers: its address is spared the per-IP limits.
    let mut cfg = config();
    cfg.trusted_sources = vec![[127, 0, 0, 1].into()];
    let s = start(cfg, h.clone()).await;
    let r = sipp(
        target(&s),
        &[
            "-sf",
            &scenario("ack_bye.xml"),
            "-s",
            "12345",
            "-m",
            "200",
            "-r",
            "100",
            "-l",
            "200",
        ],
    )
    .await;
    r.assert_ok("ACK+BYE back to back");
    // Every call ends: nothing left active.
    let stats = s.server.stats();
    for _ in 0..100 {
        if stats.active.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stats.active.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_without_common_codec_gets_488() {
    let h = answerer();
    let s = server(h.clone()).await;
    let r = sipp(
        target(&s),
        &["-sf", &scenario("no_codec.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("488");
    assert_eq!(h.answered.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_405_and_481() {
    let h = answerer();
    let s = server(h).await;
    let r = sipp(
        target(&s),
        &["-sf", &scenario("options.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("OPTIONS / 405 / 481");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_call_over_ipv6() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let h = answerer();
    let mut cfg = config();
    cfg.listen_udp = vec!["[::1]:0".parse().expect("addr")];
    cfg.listen_tcp = vec![];
    let mut media = media_config();
    media.bind_ip = "::1".parse().expect("ip");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = hotline::sip::Server::start(cfg, media, h.clone(), shutdown)
        .await
        .expect("server starts");
    let target: std::net::SocketAddr = server.udp_addrs[0];
    let r = sipp_v6(
        target,
        &["-sf", &scenario("basic.xml"), "-s", "12345", "-m", "1"],
    )
    .await;
    r.assert_ok("basic call over IPv6");
    assert_eq!(h.confirmed.load(Ordering::SeqCst), 1);
}
