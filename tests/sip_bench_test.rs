//! Not a test: the server side of bench/sip_cps.sh (run with `--ignored`).
//! Listens on 127.0.0.1:$SIP_BENCH_PORT, answers every call and waits for its BYE,
//! for $SIP_BENCH_SECS seconds.

mod common;
use common::sipp as support;

use std::sync::Arc;
use std::time::Duration;

use hotline::sip::{Call, CallHandler};

struct Answer;

#[async_trait::async_trait]
impl CallHandler for Answer {
    async fn handle(&self, call: Call) {
        if call.answer().await.is_ok() {
            tokio::select! {
                _ = call.ended() => {}
                _ = tokio::time::sleep(Duration::from_secs(120)) => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark server, started by bench/sip_cps.sh"]
async fn bench_server() {
    let port: u16 = std::env::var("SIP_BENCH_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5090);
    let secs: u64 = std::env::var("SIP_BENCH_SECS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(120);
    let mut cfg = support::config();
    cfg.listen_udp = vec![([127, 0, 0, 1], port).into()];
    cfg.listen_tcp = vec![];
    cfg.max_calls = 100_000;
    // The benchmark measures capacity from one SIPp: per-IP limits would measure those.
    cfg.trusted_sources = vec![[127, 0, 0, 1].into()];
    cfg.max_unconfirmed = 100_000;
    let mut media = support::media_config();
    media.rtp_port_min = 20000;
    media.rtp_port_max = 60000;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = hotline::sip::Server::start(cfg, media, Arc::new(Answer), shutdown.clone())
        .await
        .expect("start");
    println!("bench server on 127.0.0.1:{port}");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let st = server.stats();
    println!(
        "server stats: invites={} answered={} busy={} active={}",
        st.invites.load(std::sync::atomic::Ordering::Relaxed),
        st.answered.load(std::sync::atomic::Ordering::Relaxed),
        st.rejected_busy.load(std::sync::atomic::Ordering::Relaxed),
        st.active.load(std::sync::atomic::Ordering::Relaxed)
    );
}
