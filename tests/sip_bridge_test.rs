//! Bridging (B2BUA): a SIPp caller is put through to a SIPp UAS playing the called phone;
//! media flows both ways through us; the caller's BYE ends both legs.

mod common;
use common::sipp as support;

use std::sync::Arc;
use std::time::Duration;

use hotline::media::MediaStats;
use hotline::sip::{BridgeOutcome, Call, CallHandler};
use support::*;
use tokio::sync::mpsc;

struct Bridger {
    out: mpsc::UnboundedSender<(BridgeOutcome, MediaStats, Option<MediaStats>)>,
}

#[async_trait::async_trait]
impl CallHandler for Bridger {
    async fn handle(&self, call: Call) {
        if call.answer().await.is_err() {
            return;
        }
        let outcome = call.bridge_to("phone", Duration::from_secs(20)).await;
        let _ = self
            .out
            .send((outcome, call.media().stats(), call.last_bridge_stats()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_bridged_to_sipp_uas_media_both_ways() {
    // The called phone: SIPp's UAS, echoing the RTP it gets back to us.
    let uas_port = free_port();
    let uas_media = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut uas = tokio::process::Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()])
        .args([
            "-mp",
            &uas_media.to_string(),
            "-rtp_echo",
            "-m",
            "1",
            "-nostdin",
        ])
        .args(["-timeout", "60s"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp uas runs");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config();
    cfg.destinations
        .insert("phone".into(), format!("sip:operator@127.0.0.1:{uas_port}"));
    let s = start(cfg, Arc::new(Bridger { out: tx })).await;
    let target = ([127, 0, 0, 1], s.port).into();
    // The caller: SIPp's uac_pcap plays 8 s of G.711 A-law, then hangs up.
    let r = sipp(target, &["-sn", "uac_pcap", "-s", "12345", "-m", "1"]).await;
    r.assert_ok("caller");

    let (outcome, caller_leg, called_leg) =
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("bridge ended")
            .expect("handler reported");
    assert_eq!(outcome, BridgeOutcome::Completed);
    let called_leg = called_leg.expect("called leg stats");
    // Caller → us: the pcap's packets arrived on the caller's leg.
    assert!(caller_leg.packets_in > 200, "caller leg in: {caller_leg:?}");
    // us → called phone → (echo) → us: what we relayed came back on the called leg.
    assert!(
        called_leg.packets_out > 200,
        "called leg out: {called_leg:?}"
    );
    assert!(called_leg.packets_in > 100, "called leg in: {called_leg:?}");
    // The caller's BYE ended the called leg too: SIPp's UAS finished its one call.
    let status = tokio::time::timeout(Duration::from_secs(20), uas.wait())
        .await
        .expect("uas ended")
        .expect("uas status");
    assert!(status.success(), "SIPp UAS saw its call end normally");
}

/// After a failed bridge the dialplan keeps the call: here it just reports and hangs up.
struct TryBridge {
    out: mpsc::UnboundedSender<(BridgeOutcome, bool)>,
}

#[async_trait::async_trait]
impl CallHandler for TryBridge {
    async fn handle(&self, call: Call) {
        if call.answer().await.is_err() {
            return;
        }
        let outcome = call.bridge_to("phone", Duration::from_secs(2)).await;
        // Control is back with the caller's dialplan: the call is still up.
        let still_up = !call.is_ended();
        let _ = self.out.send((outcome, still_up));
        call.hangup().await;
    }
}

async fn bridge_against(uas_scenario: &str) -> (BridgeOutcome, bool) {
    let uas_port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut uas = tokio::process::Command::new("sipp")
        .args([
            "-sf",
            &scenario(uas_scenario),
            "-i",
            "127.0.0.1",
            "-p",
            &uas_port.to_string(),
        ])
        .args([
            "-mp",
            &free_port().to_string(),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "60s",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp uas runs");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config();
    cfg.destinations
        .insert("phone".into(), format!("sip:operator@127.0.0.1:{uas_port}"));
    let s = start(cfg, Arc::new(TryBridge { out: tx })).await;
    let target = ([127, 0, 0, 1], s.port).into();
    let caller = tokio::spawn(async move {
        sipp(
            target,
            &[
                "-sf",
                &scenario("bye_from_server.xml"),
                "-s",
                "12345",
                "-m",
                "1",
            ],
        )
        .await
    });
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("handler reported")
        .expect("handler reported");
    caller.await.expect("join").assert_ok("caller");
    let status = tokio::time::timeout(Duration::from_secs(20), uas.wait())
        .await
        .expect("uas ended")
        .expect("uas status");
    assert!(
        status.success(),
        "SIPp UAS ({uas_scenario}) ran its scenario to the end"
    );
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_phone_returns_busy_to_the_dialplan() {
    let (outcome, still_up) = bridge_against("uas_busy.xml").await;
    assert_eq!(outcome, BridgeOutcome::Busy);
    assert!(still_up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_phone_is_cancelled_and_returns_no_answer() {
    let (outcome, still_up) = bridge_against("uas_no_answer.xml").await;
    assert_eq!(outcome, BridgeOutcome::NoAnswer);
    assert!(still_up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn called_side_bye_ends_the_caller_too() {
    let uas_port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut uas = tokio::process::Command::new("sipp")
        .args([
            "-sf",
            &scenario("uas_hangup.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            &uas_port.to_string(),
        ])
        .args([
            "-mp",
            &free_port().to_string(),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "60s",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp uas runs");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut cfg = config();
    cfg.destinations
        .insert("phone".into(), format!("sip:operator@127.0.0.1:{uas_port}"));
    let s = start(cfg, Arc::new(Bridger { out: tx })).await;
    let target = ([127, 0, 0, 1], s.port).into();
    // The caller waits for our BYE, which must follow the called phone's BYE.
    let r = sipp(
        target,
        &[
            "-sf",
            &scenario("bye_from_server.xml"),
            "-s",
            "12345",
            "-m",
            "1",
        ],
    )
    .await;
    r.assert_ok("caller hung up by us after the called side's BYE");
    let (outcome, _, _) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("bridge ended")
        .expect("handler reported");
    assert_eq!(outcome, BridgeOutcome::Completed);
    let status = tokio::time::timeout(Duration::from_secs(20), uas.wait())
        .await
        .expect("uas ended")
        .expect("uas status");
    assert!(status.success(), "the called phone's BYE got its 200");
}
