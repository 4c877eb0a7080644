//! The agent desk and the wallboard against the real `hotline serve`, with SIPp phones and
//! callers: an operator transfers their call to a colleague, a supervisor listens in from
//! their own phone, a caller on hold hears the hold music, and the screen pop shows the
//! caller in headless Chromium while the operator's phone rings. Calls are steered through
//! the JSON API with each person's own API token, as the desk's buttons do.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::agents::{
    answering_phone, api, caller, drain, events, hotline, listen, music_blocks, operator, phone,
    phone_done, register_phone, supervisor, token, tone, tone_share, until_state, Phone,
};
use common::pcap;
use common::serve::{scenario, sipp, Step};
use serde_json::{json, Value};

/// ops1 answers, then sends the caller to ops2 (blind transfer from their own desk): ops2's
/// phone rings and answers, ops1's phone is hung up, and the record says who transferred
/// to whom. The wallboard's figures count the call as answered in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_transfers_the_call_to_a_colleague() {
    let h = Arc::new(hotline("ring_secs = 10\nwrapup_secs = 1"));
    operator(&h, "ops1");
    operator(&h, "ops2");
    let p1 = register_phone(&h, "ops1");
    let p2 = register_phone(&h, "ops2");
    let (t1, t2) = (token(&h, "ops1").await, token(&h, "ops2").await);
    // ops2 is at the desk but takes no queue calls.
    let (st, a) = api(
        &h,
        &t2,
        "POST",
        "/api/v1/agents/ops2/state",
        Some(json!({"state": "paused", "reason": "paperwork"})),
    )
    .await;
    assert_eq!(
        (st, &a["state"], &a["reason"]),
        (200, &json!("paused"), &json!("paperwork")),
        "{a}"
    );
    // Operators change only their own state.
    let (st, _) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops2/state",
        Some(json!({"state": "ready"})),
    )
    .await;
    assert_eq!(st, 403);
    let phone1 = phone(p1, Phone::Answers, 1);
    let phone2 = phone(p2, Phone::Answers, 1);
    let (st, _) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/state",
        Some(json!({"state": "ready"})),
    )
    .await;
    assert_eq!(st, 200);

    let c = {
        let h = h.clone();
        std::thread::spawn(move || caller(&h, "13800138201", &[Step::Pause(15000), Step::Bye]))
    };
    until_state(&h, &t1, "ops1", "talking").await;
    let (st, _) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops2/call",
        Some(json!({"action": "hangup"})),
    )
    .await;
    assert_eq!(st, 403, "an operator steers only their own call");
    let (st, body) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/call",
        Some(json!({"action": "transfer", "target": "agent:nobody"})),
    )
    .await;
    assert_eq!(st, 400, "an unknown target is refused: {body}");
    let (st, body) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/call",
        Some(json!({"action": "transfer", "target": "agent:ops2"})),
    )
    .await;
    assert_eq!(st, 202, "{body}");

    let (ok, out) = phone_done(phone1);
    assert!(
        ok,
        "ops1's phone was hung up after the transfer:\n{out}\n{}",
        h.log()
    );
    let (ok, out) = c.join().unwrap();
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let (ok, out) = phone_done(phone2);
    assert!(
        ok,
        "ops2's phone rang, answered and got the caller's BYE:\n{out}\n{}",
        h.log()
    );

    let ev = events(&h, "13800138201").await;
    let transferred = ev
        .iter()
        .find(|(k, _)| k == "transferred")
        .unwrap_or_else(|| panic!("a transfer in the record: {ev:?}"));
    assert_eq!(
        (&transferred.1["by"], &transferred.1["to"]),
        (&json!("ops1"), &json!("agent:ops2"))
    );

    let (st, board) = api(&h, &t1, "GET", "/api/v1/queues", None).await;
    assert_eq!(st, 200, "{board}");
    let q = board["queues"]
        .as_array()
        .and_then(|l| l.iter().find(|q| q["queue"]["id"] == "operators"))
        .unwrap_or_else(|| panic!("the operators queue on the wallboard: {board}"));
    assert_eq!(q["service_level"]["answered"], 1, "{board}");
    assert_eq!(q["service_level"]["answered_in_target"], 1, "{board}");
    assert_eq!(q["service_level"]["percent"], 100, "{board}");
    assert_eq!(board["waiting"], json!([]));
}

/// A supervisor listens in on ops1's call: their own phone rings and answers, and the
/// caller's voice (a 440 Hz tone) reaches it; operators may not listen in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_listens_in_from_their_phone() {
    let h = Arc::new(hotline("ring_secs = 10"));
    operator(&h, "ops1");
    supervisor(&h, "sup1");
    let p1 = register_phone(&h, "ops1");
    let ps = register_phone(&h, "sup1");
    let (t1, ts) = (token(&h, "ops1").await, token(&h, "sup1").await);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = sock.local_addr().unwrap().port();
    let heard = listen(sock, 30);
    let sup_phone = answering_phone(h.dir.path(), ps, None, Some(media_port));
    let agent_phone = phone(p1, Phone::Answers, 1);
    let (st, _) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/state",
        Some(json!({"state": "ready"})),
    )
    .await;
    assert_eq!(st, 200);

    let voice = h.dir.path().join("caller-voice.pcap");
    pcap::speech(&voice, &tone(440.0, 14.0));
    let c = {
        let h = h.clone();
        std::thread::spawn(move || {
            caller(
                &h,
                "13800138202",
                &[
                    Step::Pause(3000),
                    Step::Pcap(voice),
                    Step::Pause(15000),
                    Step::Bye,
                ],
            )
        })
    };
    until_state(&h, &ts, "ops1", "talking").await;
    let (st, _) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/call",
        Some(json!({"action": "listen"})),
    )
    .await;
    assert_eq!(st, 403, "only supervisors listen in");
    let (st, body) = api(
        &h,
        &ts,
        "POST",
        "/api/v1/agents/ops1/call",
        Some(json!({"action": "listen"})),
    )
    .await;
    assert_eq!(st, 202, "{body}");

    let (ok, out) = c.join().unwrap();
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let (ok, out) = phone_done(sup_phone);
    assert!(
        ok,
        "the supervisor's phone rang, answered and was hung up at the end:\n{out}\n{}",
        h.log()
    );
    let (ok, out) = phone_done(agent_phone);
    assert!(ok, "ops1 talked:\n{out}");
    let pcm = heard.join().unwrap();
    let voice_blocks = pcm
        .chunks(800)
        .filter(|b| tone_share(b, 440.0) > 0.6)
        .count();
    assert!(
        voice_blocks >= 20,
        "the supervisor heard the caller's voice: {voice_blocks} blocks of {} samples",
        pcm.len()
    );

    let ev = events(&h, "13800138202").await;
    let m = ev
        .iter()
        .find(|(k, _)| k == "monitored")
        .unwrap_or_else(|| panic!("the listening in the record: {ev:?}"));
    assert_eq!(
        (&m.1["supervisor"], &m.1["mode"]),
        (&json!("sup1"), &json!("listen"))
    );
}

/// ops1 puts the caller on hold from their desk: the caller hears the queue's hold music
/// until ops1 takes them back, and the record has both steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_on_hold_hears_music_until_taken_back() {
    let h = Arc::new(hotline("ring_secs = 10"));
    operator(&h, "ops1");
    let p1 = register_phone(&h, "ops1");
    let t1 = token(&h, "ops1").await;
    let agent_phone = phone(p1, Phone::Answers, 1);
    let (st, _) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/state",
        Some(json!({"state": "ready"})),
    )
    .await;
    assert_eq!(st, 200);

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = sock.local_addr().unwrap().port();
    // The caller's SDP names our socket and the key goes by SIP INFO, so everything hotline
    // sends the caller arrives here.
    let xml = scenario(
        "13800138203",
        &[
            Step::Pause(800),
            Step::Info('0'),
            Step::Pause(16000),
            Step::Bye,
        ],
    )
    .replace("m=audio [media_port]", &format!("m=audio {media_port}"));
    let file = h.dir.path().join("held-caller.xml");
    std::fs::write(&file, xml).unwrap();
    let c = {
        let h = h.clone();
        std::thread::spawn(move || sipp(&h, &file, "12345", &[]))
    };
    until_state(&h, &t1, "ops1", "talking").await;
    drain(&sock);
    let (st, body) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/call",
        Some(json!({"action": "hold"})),
    )
    .await;
    assert_eq!(st, 202, "{body}");
    let held = listen(sock.try_clone().unwrap(), 4).join().unwrap();
    let (st, body) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/call",
        Some(json!({"action": "unhold"})),
    )
    .await;
    assert_eq!(st, 202, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&sock);
    let back = listen(sock, 2).join().unwrap();

    let (ok, out) = c.join().unwrap();
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let (ok, out) = phone_done(agent_phone);
    assert!(ok, "ops1 talked:\n{out}");
    let on_hold = music_blocks(&held);
    assert!(
        on_hold >= 20,
        "at least 2 s of hold music while held: {on_hold} blocks"
    );
    let after = music_blocks(&back);
    assert!(after <= 2, "no hold music once taken back: {after} blocks");

    let ev = events(&h, "13800138203").await;
    let holds: Vec<&Value> = ev
        .iter()
        .filter(|(k, _)| k == "hold")
        .map(|(_, d)| &d["on"])
        .collect();
    assert_eq!(holds, [&json!(true), &json!(false)], "{ev:?}");
}

/// ops1 is ready on the desk page in headless Chromium; a caller presses 0 and ops1's
/// phone rings (unanswered): the page shows the caller's number, their earlier ticket, and a
/// neighbour's open ticket about the same matter as a merge suggestion; the supervisor's
/// wallboard, open all along, shows the caller waiting and ops1's phone ringing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_pop_shows_the_caller_while_the_phone_rings() {
    let dir = common::browser_dir();
    let h = Arc::new(hotline("ring_secs = 12"));
    operator(&h, "ops1");
    supervisor(&h, "sup1");
    let p1 = register_phone(&h, "ops1");
    let t1 = token(&h, "ops1").await;
    let number = "13800138204";
    let (st, earlier) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/tickets",
        Some(json!({"phone": number, "text": "上周反映幸福小区停水，至今未恢复"})),
    )
    .await;
    assert_eq!(st, 201, "{earlier}");
    // A neighbour reported the same matter: the pop suggests merging with it.
    let (st, similar) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/tickets",
        Some(json!({"phone": "13900139001", "text": "幸福小区停水三天了"})),
    )
    .await;
    assert_eq!(st, 201, "{similar}");
    let ringing = phone(p1, Phone::NeverAnswers, 1);

    let shots = common::repo().join("target/browser-screenshots");
    let mut node = Command::new("node")
        .arg("desk.mjs")
        .current_dir(&dir)
        .env("BASE", format!("http://127.0.0.1:{}", h.http_port))
        .env("SHOTS", &shots)
        .env("AGENT", "ops1")
        .env("SUPERVISOR", "sup1")
        .env("PASSWORD", "console-pw-123")
        .env("CALLER", number)
        .env("EARLIER_TICKET", earlier["number"].as_str().unwrap())
        .env("SIMILAR_TICKET", similar["number"].as_str().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the browser tests");
    // The page says when ops1 is ready; then the caller rings in.
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut said = String::new();
    let mut call = None;
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        said.push_str(&line);
        said.push('\n');
        if line.starts_with("ready") && call.is_none() {
            let h = h.clone();
            call = Some(std::thread::spawn(move || {
                caller(&h, number, &[Step::Pause(15000), Step::Bye])
            }));
        }
        if line.starts_with("ok") || line.starts_with("FAIL") {
            break;
        }
    }
    let status = node.wait().expect("node ends");
    let mut err = String::new();
    if let Some(mut e) = node.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let call =
        call.unwrap_or_else(|| panic!("the desk never became ready:\n{said}\n{err}\n{}", h.log()));
    let (ok, out) = call.join().unwrap();
    common::agents::hang_up_phone(ringing);
    assert!(
        status.success() && said.contains("ok screen_pop"),
        "screen pop in the browser:\n{said}\n{err}\n--- log ---\n{}",
        h.log()
    );
    assert!(ok, "caller:\n{out}");
    assert!(shots.join("desk-screen-pop.png").exists());
}
