//! The browser softphone against the real `hotline serve`: an operator with no SIP phone
//! opens the agent desk in headless Chromium (a fake microphone playing a 1 kHz tone), gets
//! ready, a SIPp caller presses 0, the page rings and is answered with Alt+A; the caller
//! hears the operator's tone and the page plays the caller's 440 Hz; the operator hangs up
//! on the page and the caller gets BYE. A tab closed mid-call puts the caller back in the
//! queue. Screenshots go to target/browser-screenshots.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agents::{
    api, caller_file, events, hotline, kinds, operator, talk_and_listen, token, tone, tone_share,
    until_state,
};
use common::serve::{sipp, Step};
use common::softphone::run_page;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_agent_answers_and_both_sides_hear_each_other() {
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    let number = "13800138301";
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = caller_file(
        &h,
        number,
        sock.local_addr().unwrap().port(),
        &[Step::AwaitBye(40000)],
    );
    let heard = talk_and_listen(sock, 35, Duration::from_secs(3), tone(440.0, 1.0));
    let mut call = None;
    let started = Instant::now();
    let (ok, said) = run_page(
        &h,
        "talk",
        number,
        || {
            let (h, file) = (h.clone(), file.clone());
            call = Some(std::thread::spawn(move || sipp(&h, &file, "12345", &[])));
        },
        |_| {},
    );
    let call = call.unwrap_or_else(|| panic!("the desk never became ready:\n{said}\n{}", h.log()));
    assert!(
        ok && said.contains("ok hung_up"),
        "softphone page:\n{said}\n--- log ---\n{}",
        h.log()
    );
    let (caller_ok, out) = call.join().unwrap();
    assert!(
        caller_ok,
        "the caller got BYE when the operator hung up:\n{out}\n{}",
        h.log()
    );
    eprintln!("wall time of the call: {:?}", started.elapsed());

    // The page played the caller's voice: its loudest pitch is 440 Hz (one FFT bin ≈ 6 Hz).
    let heard_line = said
        .lines()
        .find_map(|l| l.strip_prefix("heard "))
        .expect("the page measured what it heard");
    let freq: f64 = heard_line.split(' ').next().unwrap().parse().unwrap();
    assert!(
        (freq - 440.0).abs() < 15.0,
        "the page played the caller's 440 Hz, heard {heard_line}"
    );
    // The caller heard the operator's microphone (1 kHz) for a good while.
    let pcm = heard.join().unwrap();
    let mic_blocks = pcm
        .chunks(800)
        .filter(|b| tone_share(b, 1000.0) > 0.6)
        .count();
    let meters = said
        .lines()
        .find(|l| l.starts_with("meters "))
        .unwrap_or("");
    eprintln!(
        "page heard {heard_line} ({meters}); caller heard 1 kHz in {mic_blocks} of {} blocks",
        pcm.len() / 800
    );
    assert!(
        mic_blocks >= 20,
        "the caller heard the operator's 1 kHz for {mic_blocks} blocks of 100 ms (of {})",
        pcm.len() / 800
    );

    let ev = events(&h, number).await;
    let k = kinds(&ev);
    assert!(k.contains(&"agent_answered"), "{k:?}");
    let ended = ev
        .iter()
        .find(|(k, _)| k == "agent_call_ended")
        .unwrap_or_else(|| panic!("the agent's part ended in the record: {ev:?}"));
    assert_eq!(ended.1["agent"], "ops1", "{ev:?}");
    assert_eq!(ended.1["side"], "agent", "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_closed_mid_call_puts_the_caller_back_in_the_queue() {
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    let t1 = token(&h, "ops1").await;
    let number = "13800138302";
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = caller_file(
        &h,
        number,
        sock.local_addr().unwrap().port(),
        // Long enough to outlast a slow answer in a busy browser: the tab must close while
        // the caller is still on the line.
        &[Step::Pause(30000), Step::Bye],
    );
    let _heard = talk_and_listen(sock, 36, Duration::from_secs(3), tone(440.0, 1.0));
    let mut call = None;
    let (ok, said) = run_page(
        &h,
        "close_tab",
        number,
        || {
            let (h, file) = (h.clone(), file.clone());
            call = Some(std::thread::spawn(move || sipp(&h, &file, "12345", &[])));
        },
        |_| {},
    );
    assert!(
        ok && said.contains("ok closed"),
        "softphone page:\n{said}\n--- log ---\n{}",
        h.log()
    );
    // The caller waits again, first in line; nobody is talking to them.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (st, board) = api(&h, &t1, "GET", "/api/v1/queues", None).await;
        assert_eq!(st, 200, "{board}");
        let waiting = board["waiting"].as_array().cloned().unwrap_or_default();
        if waiting.iter().any(|w: &Value| w["queue"] == "operators") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the caller is back in the queue: {board}\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    until_state(&h, &t1, "ops1", "ready").await;
    let (caller_ok, out) = call.expect("caller started").join().unwrap();
    assert!(
        caller_ok,
        "the caller stayed on the line and hung up:\n{out}\n{}",
        h.log()
    );
    let ev = events(&h, number).await;
    let k = kinds(&ev);
    let entered = k.iter().filter(|k| **k == "queue_entered").count();
    assert_eq!(entered, 2, "queued again after the tab closed: {k:?}");
}
