//! The browser softphone's leg through a call's whole life, against the real `hotline
//! serve` with SIPp callers and desk phones and the agent desk in headless Chromium (a fake
//! microphone playing 1 kHz): the caller hangs up first and the page takes the next call
//! after wrap-up; a tab closed while it rings leaves the caller waiting for the next agent;
//! the desk holds the caller (hold music, the browser leg stays up) and transfers them to a
//! colleague's desk phone, which ends the browser leg, while a colleague in a call is not
//! rung; a supervisor listens in on a browser agent's call from their phone. Screenshots go
//! to target/browser-screenshots.

mod common;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::agents::{
    answering_phone, api, caller_file, drain, events, hotline, kinds, listen, music_blocks,
    operator, phone, phone_done, register_phone, supervisor, talk_and_listen, token, tone,
    tone_share, until_state, Phone,
};
use common::serve::{sipp, Hotline, Step};
use common::softphone::Page;
use serde_json::{json, Value};

const PAGE: Duration = Duration::from_secs(60);

/// A caller who presses 0 and then does `then`, their media on a socket of the test's.
fn call_in(
    h: &Arc<Hotline>,
    number: &str,
    sock: &std::net::UdpSocket,
    then: &[Step],
) -> JoinHandle<(bool, String)> {
    let file = caller_file(h, number, sock.local_addr().unwrap().port(), then);
    let h = h.clone();
    std::thread::spawn(move || sipp(&h, &file, "12345", &[]))
}

/// 100 ms blocks of 8 kHz audio that the operator's 1 kHz microphone dominates.
fn mic_blocks(pcm: &[i16]) -> usize {
    pcm.chunks(800)
        .filter(|b| tone_share(b, 1000.0) > 0.6)
        .count()
}

/// The `agent_call_ended` events of a record: (agent, side).
fn ends(ev: &[(String, Value)]) -> Vec<(String, String)> {
    ev.iter()
        .filter(|(k, _)| k == "agent_call_ended")
        .map(|(_, d)| {
            (
                d["agent"].as_str().unwrap_or_default().to_string(),
                d["side"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn set_state(h: &Hotline, token: &str, agent: &str, state: &str) {
    let (st, body) = api(
        h,
        token,
        "POST",
        &format!("/api/v1/agents/{agent}/state"),
        Some(json!({ "state": state })),
    )
    .await;
    assert_eq!(st, 200, "{agent} {state}: {body}");
}

async fn steer(h: &Hotline, token: &str, agent: &str, body: Value) {
    let (st, answer) = api(
        h,
        token,
        "POST",
        &format!("/api/v1/agents/{agent}/call"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 202, "{body} → {answer}\n{}", h.log());
}

/// The caller hangs up while talking to a browser agent: the page shows the call over by
/// itself, the agent goes through wrap-up to ready, the record says the caller hung up,
/// and the same page rings and answers the next caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_hangs_up_first_and_the_page_takes_the_next_call() {
    let started = Instant::now();
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 2"));
    operator(&h, "ops1");
    let t1 = token(&h, "ops1").await;
    let (first, second) = ("13800138311", "13800138312");
    let mut page = Page::open(&h, "ops1", "follow", first, &[("CALLS", "2")]);
    page.expect(&h, "ready", PAGE);

    // Each caller talks a while, then hangs up; nobody touches the page.
    let sock1 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let c1 = call_in(&h, first, &sock1, &[Step::Pause(12000), Step::Bye]);
    page.expect(&h, &format!("phone ringing {first}"), PAGE);
    page.expect(&h, "phone talking", PAGE);
    page.expect(&h, "phone idle", PAGE);
    page.expect(&h, "ended 1", PAGE);
    let (ok, out) = c1.join().unwrap();
    assert!(ok, "the first caller hung up:\n{out}\n{}", h.log());
    eprintln!("first call over after {:?}", started.elapsed());

    // The second caller arrives while ops1 wraps up, and rings once they are ready.
    let sock2 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let c2 = call_in(&h, second, &sock2, &[Step::Pause(10000), Step::Bye]);
    page.expect(&h, &format!("phone ringing {second}"), PAGE);
    page.expect(&h, "phone talking", PAGE);
    page.expect(&h, "ended 2", PAGE);
    page.expect(&h, "ok calls 2", PAGE);
    let said = page.said().to_string();
    page.finish(&h);
    let (ok, out) = c2.join().unwrap();
    assert!(ok, "the second caller hung up:\n{out}\n{}", h.log());
    let wrap_ups = said.lines().filter(|l| *l == "agent wrap_up").count();
    assert_eq!(
        wrap_ups, 2,
        "the desk showed wrap-up after each call:\n{said}"
    );
    until_state(&h, &t1, "ops1", "ready").await;

    for number in [first, second] {
        let ev = events(&h, number).await;
        assert_eq!(
            ends(&ev),
            [("ops1".to_string(), "caller".to_string())],
            "{number}: {ev:?}"
        );
    }
    eprintln!("wall time: {:?}", started.elapsed());
}

/// ops1's tab dies while a call rings there, before anyone answers: the caller stays in
/// line, ops1 is not left ringing, and the next agent who gets ready (ops2, on a desk
/// phone) answers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_closed_while_ringing_leaves_the_caller_to_the_next_agent() {
    let started = Instant::now();
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    operator(&h, "ops2");
    let p2 = register_phone(&h, "ops2");
    let (t1, t2) = (token(&h, "ops1").await, token(&h, "ops2").await);
    let ops2_phone = phone(p2, Phone::Answers, 1);
    let number = "13800138313";
    let mut page = Page::open(&h, "ops1", "close_ringing", number, &[]);
    page.expect(&h, "ready", PAGE);

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = call_in(&h, number, &sock, &[Step::Pause(15000), Step::Bye]);
    page.expect(&h, &format!("ringing {number}"), PAGE);
    page.expect(&h, "ok closed_ringing", PAGE);
    let closed = Instant::now();
    page.finish(&h);

    // The caller waits, first in line; ops1 rings no more.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (st, board) = api(&h, &t1, "GET", "/api/v1/queues", None).await;
        assert_eq!(st, 200, "{board}");
        let waiting = board["waiting"].as_array().cloned().unwrap_or_default();
        let (_, agents) = api(&h, &t1, "GET", "/api/v1/agents", None).await;
        let ops1 = agents
            .as_array()
            .and_then(|l| l.iter().find(|a| a["name"] == "ops1"))
            .map(|a| a["state"].clone());
        if waiting.len() == 1 && ops1 == Some(json!("ready")) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the caller waits and ops1 is free: {board} {agents}\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "caller back in line {:?} after the tab closed",
        closed.elapsed()
    );

    set_state(&h, &t2, "ops2", "ready").await;
    until_state(&h, &t2, "ops2", "talking").await;
    eprintln!("ops2 answered {:?} after the tab closed", closed.elapsed());
    let (ok, out) = c.join().unwrap();
    assert!(ok, "the caller talked and hung up:\n{out}\n{}", h.log());
    let (ok, out) = phone_done(ops2_phone);
    assert!(ok, "ops2's phone answered and got BYE:\n{out}\n{}", h.log());
    until_state(&h, &t1, "ops1", "ready").await;

    let ev = events(&h, number).await;
    let rung: Vec<(&Value, &Value)> = ev
        .iter()
        .filter(|(k, _)| k == "agent_rung")
        .map(|(_, d)| (&d["agent"], &d["result"]))
        .collect();
    assert!(
        rung.iter().any(|(a, r)| *a == "ops1" && *r != "answered"),
        "ops1's ring ended unanswered: {rung:?}"
    );
    let answered: Vec<&Value> = ev
        .iter()
        .filter(|(k, _)| k == "agent_answered")
        .map(|(_, d)| &d["agent"])
        .collect();
    assert_eq!(answered, [&json!("ops2")], "{ev:?}");
    assert_eq!(
        ends(&ev),
        [("ops2".to_string(), "caller".to_string())],
        "{ev:?}"
    );
    eprintln!("wall time: {:?}", started.elapsed());
}

/// ops1 talks on the browser and mutes a moment (the caller hears nothing of them); the
/// buttons of their desk's screen pop hold the caller (who hears the hold music while
/// the page stays in the call) and takes them back (the microphone is heard again), then
/// sends them to ops2's desk phone: ops2 answers and shows busy until the caller leaves,
/// and ops1's page and state move on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_holds_and_transfers_a_browser_call_to_a_desk_phone() {
    let started = Instant::now();
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    operator(&h, "ops2");
    let p2 = register_phone(&h, "ops2");
    let (t1, t2) = (token(&h, "ops1").await, token(&h, "ops2").await);
    // ops2 is at the desk but takes no queue calls.
    set_state(&h, &t2, "ops2", "paused").await;
    let ops2_phone = phone(p2, Phone::Answers, 1);
    let number = "13800138314";
    let mut page = Page::open(&h, "ops1", "follow", number, &[]);
    page.expect(&h, "ready", PAGE);

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = call_in(&h, number, &sock, &[Step::Pause(25000), Step::Bye]);
    page.expect(&h, &format!("phone ringing {number}"), PAGE);
    page.expect(&h, "phone talking", PAGE);
    until_state(&h, &t1, "ops1", "talking").await;
    drain(&sock);
    let before = listen(sock.try_clone().unwrap(), 2).join().unwrap();
    // Muted, the caller hears nothing of the microphone.
    assert_eq!(page.press(&h, "mute"), "ok true", "静音 pressed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drain(&sock);
    let muted = listen(sock.try_clone().unwrap(), 2).join().unwrap();
    assert_eq!(page.press(&h, "mute"), "ok false", "静音 released");

    let said = page.press(&h, "hold");
    assert!(said.starts_with("ok"), "保持 on the desk: {said}");
    let held = listen(sock.try_clone().unwrap(), 4).join().unwrap();
    let said = page.press(&h, "unhold");
    assert!(said.starts_with("ok"), "取消保持 on the desk: {said}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&sock);
    let back = listen(sock.try_clone().unwrap(), 2).join().unwrap();
    let during: Vec<String> = page
        .said()
        .lines()
        .skip_while(|l| *l != "phone talking")
        .skip(1)
        .filter(|l| l.starts_with("phone ") || l.starts_with("ended "))
        .map(str::to_string)
        .collect();
    assert!(
        during.is_empty(),
        "the page stayed in the call through hold: {during:?}"
    );
    eprintln!(
        "caller heard the microphone in {} of {} blocks before hold, in {} of {} while muted, \
         music in {} of {} on hold, the microphone in {} of {} after",
        mic_blocks(&before),
        before.len().div_ceil(800),
        mic_blocks(&muted),
        muted.len().div_ceil(800),
        music_blocks(&held),
        held.len().div_ceil(800),
        mic_blocks(&back),
        back.len().div_ceil(800)
    );
    assert!(
        mic_blocks(&before) >= 10,
        "the caller heard ops1's microphone before hold"
    );
    assert!(
        mic_blocks(&muted) <= 2,
        "the caller heard ops1's microphone while muted"
    );
    assert!(
        music_blocks(&held) >= 20,
        "at least 2 s of hold music while held"
    );
    assert!(
        mic_blocks(&back) >= 10 && music_blocks(&back) <= 2,
        "ops1's microphone, not the music, once taken back"
    );

    let transfer = Instant::now();
    let said = page.press(&h, "transfer agent:ops2");
    assert!(said.starts_with("ok"), "转接 to ops2 on the desk: {said}");
    page.expect(&h, "phone idle", PAGE);
    page.expect(&h, "ended 1", PAGE);
    eprintln!(
        "the page left the call {:?} after the transfer",
        transfer.elapsed()
    );
    page.expect(&h, "ok calls 1", PAGE);
    let said = page.said().to_string();
    page.finish(&h);
    assert!(
        said.contains("agent wrap_up"),
        "ops1 wrapped up after the transfer:\n{said}"
    );
    // ops2 is busy with the caller now, and back to their pause after.
    until_state(&h, &t2, "ops2", "talking").await;
    let (ok, out) = c.join().unwrap();
    assert!(ok, "the caller talked on and hung up:\n{out}\n{}", h.log());
    let (ok, out) = phone_done(ops2_phone);
    assert!(ok, "ops2's phone answered and got BYE:\n{out}\n{}", h.log());
    until_state(&h, &t2, "ops2", "paused").await;

    let ev = events(&h, number).await;
    let holds: Vec<&Value> = ev
        .iter()
        .filter(|(k, _)| k == "hold")
        .map(|(_, d)| &d["on"])
        .collect();
    assert_eq!(holds, [&json!(true), &json!(false)], "{ev:?}");
    let t = ev
        .iter()
        .find(|(k, _)| k == "transferred")
        .unwrap_or_else(|| panic!("a transfer in the record: {ev:?}"));
    assert_eq!(
        (&t.1["by"], &t.1["to"]),
        (&json!("ops1"), &json!("agent:ops2"))
    );
    assert_eq!(
        ends(&ev),
        [
            ("ops1".to_string(), "agent".to_string()),
            ("ops2".to_string(), "caller".to_string())
        ],
        "{ev:?}"
    );
    eprintln!("wall time: {:?}", started.elapsed());
}

/// A supervisor listens in on a browser agent's call from their own phone: they hear both
/// the caller (440 Hz) and the operator's microphone (1 kHz), and the record says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_listens_in_on_a_browser_agents_call() {
    let started = Instant::now();
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    supervisor(&h, "sup1");
    let ps = register_phone(&h, "sup1");
    let (t1, ts) = (token(&h, "ops1").await, token(&h, "sup1").await);
    let ear = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sup_phone = answering_phone(
        h.dir.path(),
        ps,
        None,
        Some(ear.local_addr().unwrap().port()),
    );
    let number = "13800138315";
    let mut page = Page::open(&h, "ops1", "follow", number, &[]);
    page.expect(&h, "ready", PAGE);

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = caller_file(
        &h,
        number,
        sock.local_addr().unwrap().port(),
        &[Step::Pause(16000), Step::Bye],
    );
    let _voice = talk_and_listen(sock, 30, Duration::from_secs(3), tone(440.0, 1.0));
    let c = {
        let h = h.clone();
        std::thread::spawn(move || sipp(&h, &file, "12345", &[]))
    };
    page.expect(&h, &format!("phone ringing {number}"), PAGE);
    page.expect(&h, "phone talking", PAGE);
    until_state(&h, &t1, "ops1", "talking").await;
    steer(&h, &ts, "ops1", json!({"action": "listen"})).await;
    let heard = listen(ear, 6).join().unwrap();
    page.expect(&h, "ended 1", PAGE);
    page.expect(&h, "ok calls 1", PAGE);
    page.finish(&h);
    let (ok, out) = c.join().unwrap();
    assert!(ok, "the caller talked and hung up:\n{out}\n{}", h.log());
    let (ok, out) = phone_done(sup_phone);
    assert!(
        ok,
        "the supervisor's phone answered and was hung up at the end:\n{out}\n{}",
        h.log()
    );

    // Both voices reach the supervisor mixed: each tone holds a good share of a block.
    let both = heard
        .chunks(800)
        .filter(|b| tone_share(b, 1000.0) > 0.15 && tone_share(b, 440.0) > 0.15)
        .count();
    eprintln!(
        "the supervisor heard the operator's microphone and the caller together in {both} of {} blocks",
        heard.len().div_ceil(800)
    );
    assert!(
        both >= 20,
        "the supervisor heard both the browser operator and the caller"
    );
    let ev = events(&h, number).await;
    let m = ev
        .iter()
        .find(|(k, _)| k == "monitored")
        .unwrap_or_else(|| panic!("the listening in the record: {ev:?}"));
    assert_eq!(
        (&m.1["supervisor"], &m.1["mode"]),
        (&json!("sup1"), &json!("listen"))
    );
    eprintln!("wall time: {:?}", started.elapsed());
}

/// A transfer to a colleague who is in a call already is not rung: the caller stays with
/// the browser operator (still heard), the colleague's call goes on, and the record has no
/// transfer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_a_busy_colleague_leaves_the_caller_with_the_operator() {
    let started = Instant::now();
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    operator(&h, "ops2");
    let p2 = register_phone(&h, "ops2");
    let (t1, t2) = (token(&h, "ops1").await, token(&h, "ops2").await);
    // ops2 takes the first caller on their desk phone.
    let ops2_phone = phone(p2, Phone::Answers, 1);
    set_state(&h, &t2, "ops2", "ready").await;
    let (first, second) = ("13800138316", "13800138317");
    let sock1 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let c1 = call_in(&h, first, &sock1, &[Step::Pause(30000), Step::Bye]);
    until_state(&h, &t2, "ops2", "talking").await;

    let mut page = Page::open(&h, "ops1", "follow", second, &[]);
    page.expect(&h, "ready", PAGE);
    let sock2 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let c2 = call_in(&h, second, &sock2, &[Step::Pause(14000), Step::Bye]);
    page.expect(&h, &format!("phone ringing {second}"), PAGE);
    page.expect(&h, "phone talking", PAGE);
    until_state(&h, &t1, "ops1", "talking").await;

    let said = page.press(&h, "transfer agent:ops2");
    assert!(said.starts_with("ok"), "转接 to ops2 on the desk: {said}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drain(&sock2);
    let after = listen(sock2.try_clone().unwrap(), 2).join().unwrap();
    eprintln!(
        "after the refused transfer the caller heard the microphone in {} of {} blocks",
        mic_blocks(&after),
        after.len().div_ceil(800)
    );
    assert!(
        mic_blocks(&after) >= 10,
        "the caller is still with ops1 and hears them"
    );
    page.expect(&h, "ended 1", PAGE);
    page.expect(&h, "ok calls 1", PAGE);
    page.finish(&h);
    for (c, who) in [(c1, "first"), (c2, "second")] {
        let (ok, out) = c.join().unwrap();
        assert!(
            ok,
            "the {who} caller talked and hung up:\n{out}\n{}",
            h.log()
        );
    }
    let (ok, out) = phone_done(ops2_phone);
    assert!(ok, "ops2's phone had its one call:\n{out}\n{}", h.log());

    let ev = events(&h, second).await;
    assert!(
        !kinds(&ev).contains(&"transferred"),
        "no transfer in the record: {ev:?}"
    );
    assert_eq!(
        ends(&ev),
        [("ops1".to_string(), "caller".to_string())],
        "{ev:?}"
    );
    let ev = events(&h, first).await;
    assert_eq!(
        ends(&ev),
        [("ops2".to_string(), "caller".to_string())],
        "{ev:?}"
    );
    eprintln!("wall time: {:?}", started.elapsed());
}
