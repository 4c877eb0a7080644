//! The browser softphone across two real `hotline serve` nodes on one fresh PostgreSQL: the
//! operator's desk (headless Chromium, a fake microphone playing 1 kHz) is open on node B, a
//! SIPp caller on node A presses 0. Node A rings the tab through node B, the page rings and
//! answers, the caller hears the operator's tone and the page hears the caller's 440 Hz; the
//! operator hangs up on the page and the caller gets BYE. A tab closed mid-call puts the
//! caller on A back in the queue, as on one node.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agents::{
    api, caller_file, events_in, kinds, operator_pg, queues_file, talk_and_listen, token_at, tone,
    tone_share, until_state,
};
use common::serve::{sipp, Hotline, Step};
use common::softphone::run_page;
use serde_json::Value;

/// A node on the shared database with the test's queue.
fn node(url: &str, queues: &Path) -> Hotline {
    Hotline::start(&[
        ("HOTLINE__DATABASE__URL", url.to_string()),
        ("HOTLINE__ACD__QUEUES_FILE", queues.display().to_string()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
    ])
}

/// Two nodes, `ops1` an operator of the shared call centre.
async fn two_nodes() -> (String, Arc<Hotline>, Arc<Hotline>, tempfile::TempDir) {
    let url = common::fresh_pg().await;
    let dir = tempfile::tempdir().unwrap();
    let q = queues_file(dir.path(), "ring_secs = 20\nwrapup_secs = 1");
    let a = Arc::new(node(&url, &q));
    let b = Arc::new(node(&url, &q));
    operator_pg(&a, &url, "ops1");
    (url, a, b, dir)
}

fn logs(a: &Hotline, b: &Hotline) -> String {
    format!("--- a ---\n{}\n--- b ---\n{}", a.log(), b.log())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_agent_on_one_node_answers_a_caller_held_on_the_other() {
    let (url, a, b, _dir) = two_nodes().await;
    let number = "13800138401";
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = caller_file(
        &a,
        number,
        sock.local_addr().unwrap().port(),
        // Room for a slow machine: two nodes, a browser and the ring between the nodes.
        &[Step::AwaitBye(60000)],
    );
    let heard = talk_and_listen(sock, 35, Duration::from_secs(3), tone(440.0, 1.0));
    let mut call = None;
    let started = Instant::now();
    // The desk is on node b; the caller calls node a.
    let (ok, said) = run_page(
        &b,
        "talk",
        number,
        || {
            let (a, file) = (a.clone(), file.clone());
            call = Some(std::thread::spawn(move || sipp(&a, &file, "12345", &[])));
        },
        |_| {},
    );
    let call = call.unwrap_or_else(|| panic!("the desk never became ready:\n{said}"));
    assert!(
        ok && said.contains("ok hung_up"),
        "softphone page on b:\n{said}\n{}",
        logs(&a, &b)
    );
    let (caller_ok, out) = call.join().unwrap();
    assert!(
        caller_ok,
        "the caller on a got BYE when the operator hung up on b:\n{out}\n{}",
        logs(&a, &b)
    );
    eprintln!("wall time of the call: {:?}", started.elapsed());

    let heard_line = said
        .lines()
        .find_map(|l| l.strip_prefix("heard "))
        .expect("the page measured what it heard");
    let freq: f64 = heard_line.split(' ').next().unwrap().parse().unwrap();
    assert!(
        (freq - 440.0).abs() < 15.0,
        "the page on b played the caller's 440 Hz, heard {heard_line}"
    );
    let pcm = heard.join().unwrap();
    let mic_blocks = pcm
        .chunks(800)
        .filter(|b| tone_share(b, 1000.0) > 0.6)
        .count();
    eprintln!(
        "page heard {heard_line}; caller heard 1 kHz in {mic_blocks} of {} blocks",
        pcm.len() / 800
    );
    assert!(
        mic_blocks >= 20,
        "the caller heard the operator's 1 kHz for {mic_blocks} blocks of 100 ms (of {})",
        pcm.len() / 800
    );

    // One call record, on node a: answered by ops1, who hung up.
    let ev = events_in(&url, number, &a).await;
    let k = kinds(&ev);
    assert!(k.contains(&"agent_answered"), "{k:?}");
    let ended = ev
        .iter()
        .find(|(k, _)| k == "agent_call_ended")
        .unwrap_or_else(|| panic!("the agent's part ended in the record: {ev:?}"));
    assert_eq!(ended.1["agent"], "ops1", "{ev:?}");
    assert_eq!(ended.1["side"], "agent", "{ev:?}");
    assert!(a.log().contains("caller joined the queue"));
    assert!(!b.log().contains("caller joined the queue"));
    assert!(
        b.log()
            .contains("browser answered a call held on another node"),
        "{}",
        logs(&a, &b)
    );
    let ops1 = token_at(&url, "ops1").await;
    until_state(&a, &ops1, "ops1", "ready").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_closed_mid_call_on_one_node_puts_the_caller_on_the_other_back_in_the_queue() {
    let (url, a, b, _dir) = two_nodes().await;
    let ops1 = token_at(&url, "ops1").await;
    let number = "13800138402";
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = caller_file(
        &a,
        number,
        sock.local_addr().unwrap().port(),
        &[Step::Pause(30000), Step::Bye],
    );
    let _heard = talk_and_listen(sock, 36, Duration::from_secs(3), tone(440.0, 1.0));
    let mut call = None;
    let (ok, said) = run_page(
        &b,
        "close_tab",
        number,
        || {
            let (a, file) = (a.clone(), file.clone());
            call = Some(std::thread::spawn(move || sipp(&a, &file, "12345", &[])));
        },
        |_| {},
    );
    assert!(
        ok && said.contains("ok closed"),
        "softphone page on b:\n{said}\n{}",
        logs(&a, &b)
    );
    // The caller waits again on node a; nobody is talking to them.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (st, board) = api(&a, &ops1, "GET", "/api/v1/queues", None).await;
        assert_eq!(st, 200, "{board}");
        let waiting = board["waiting"].as_array().cloned().unwrap_or_default();
        if waiting.iter().any(|w: &Value| w["queue"] == "operators") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the caller is back in the queue: {board}\n{}",
            logs(&a, &b)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (caller_ok, out) = call.expect("caller started").join().unwrap();
    assert!(
        caller_ok,
        "the caller stayed on the line and hung up:\n{out}\n{}",
        logs(&a, &b)
    );
    let ev = events_in(&url, number, &a).await;
    let k = kinds(&ev);
    let entered = k.iter().filter(|k| **k == "queue_entered").count();
    assert_eq!(entered, 2, "queued again after the tab closed: {k:?}");
}

/// Only another node of the call centre may ring an operator's tab: the same INVITE from
/// any other address is refused before anything rings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_for_an_operators_tab_from_outside_the_call_centre_is_refused() {
    let (_url, a, b, _dir) = two_nodes().await;
    let file = common::agents::sipp_scenario("refused_403.xml");
    let (ok, out) = sipp(&b, &file, "browser.ops1", &["-i", "127.0.0.2"]);
    assert!(ok, "403 for a stranger:\n{out}\n{}", logs(&a, &b));
    assert!(
        b.log()
            .contains("browser call from outside the call centre refused"),
        "{}",
        b.log()
    );
}
