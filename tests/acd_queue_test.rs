//! The call centre against the real `hotline serve`: operators' desk phones (SIPp, digest
//! auth) registered and made ready with `hotline agent ready`, callers (SIPp) pressing 0 in
//! the demo dialplan. Each test checks what a hotline's supervisor would: whose phone rang,
//! who answered, agent states, and the call's record.

mod common;

use std::time::{Duration, Instant};

use common::agents::{
    self, caller, cli, events, hotline, kinds, listen, operator, phone, phone_done, ready,
    register_phone, talking_phone, tone, tone_share, wait_until, Phone,
};
use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

/// Two operators with registered phones that do as told, made ready in this order (the
/// first has then been idle longest); their phones.
fn two_agents(
    h: &Hotline,
    first: (&str, Phone),
    second: (&str, Phone),
) -> (std::process::Child, std::process::Child) {
    let mut phones = Vec::new();
    for (name, does) in [first, second] {
        operator(h, name);
        let port = register_phone(h, name);
        phones.push(phone(port, does, 1));
    }
    ready(h, first.0);
    std::thread::sleep(Duration::from_millis(300));
    ready(h, second.0);
    let second_phone = phones.pop().expect("two phones");
    (phones.pop().expect("two phones"), second_phone)
}

/// Two operators ready; the one idle longest (ready first) gets the call, answers, and the
/// record says who answered, after how long, and that the caller hung up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_idle_agent_answers() {
    let h = hotline("strategy = \"longest-idle\"\nring_secs = 10\nwrapup_secs = 1");
    let (phone2, phone1) = two_agents(&h, ("ops2", Phone::Answers), ("ops1", Phone::Answers));

    let (ok, out) = caller(&h, "13800138101", &[Step::Pause(6000), Step::Bye]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let (answered, out2) = phone_done(phone2);
    assert!(
        answered,
        "ops2's phone answered and got the BYE:\n{out2}\n{}",
        h.log()
    );
    agents::hang_up_phone(phone1);

    let ev = events(&h, "13800138101").await;
    assert_eq!(
        kinds(&ev),
        [
            "queue_entered",
            "agent_rung",
            "agent_answered",
            "recorded",
            "agent_call_ended"
        ],
        "{ev:?}"
    );
    assert_eq!(ev[1].1["agent"], "ops2");
    assert_eq!(ev[1].1["result"], "answered");
    assert_eq!(ev[2].1["agent"], "ops2");
    assert!(ev[2].1["wait_ms"].as_u64().unwrap() < 10_000, "{ev:?}");
    assert_eq!(ev[4].1["side"], "caller");
    let db = Db::open(&h.db_url(), 1).await.expect("db");
    let row = sqlx::query(
        "SELECT agent, hangup_side, wait_ms, talk_ms FROM calls WHERE caller = '13800138101'",
    )
    .fetch_one(db.pool())
    .await
    .expect("the call's record");
    assert_eq!(row.get::<Option<String>, _>(0).as_deref(), Some("ops2"));
    assert_eq!(row.get::<Option<String>, _>(1).as_deref(), Some("caller"));
    assert!(row.get::<Option<i64>, _>(3).unwrap_or(0) >= 1_000);
    db.close().await;
    assert!(ev[4].1["talk_ms"].as_u64().unwrap() >= 1_000, "{ev:?}");
    wait_until(
        "ops2 is ready again after wrap-up, with one call",
        &h,
        || agents::agents(&h).get("ops2") == Some(&("ready".into(), None, 1)),
    );
    assert_eq!(agents::agents(&h)["ops1"].0, "ready");
}

/// The first agent's phone rings unanswered: after `ring_secs` the next agent rings and
/// takes the call, and the first is paused automatically (auto_pause_after = 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_agent_is_skipped_and_paused() {
    let h = hotline("strategy = \"longest-idle\"\nring_secs = 3\nauto_pause_after = 1");
    let (phone1, phone2) = two_agents(&h, ("ops1", Phone::NeverAnswers), ("ops2", Phone::Answers));

    let (ok, out) = caller(&h, "13800138102", &[Step::Pause(9000), Step::Bye]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let (cancelled, out1) = phone_done(phone1);
    assert!(cancelled, "ops1's phone rang and was cancelled:\n{out1}");
    let (answered, out2) = phone_done(phone2);
    assert!(answered, "ops2 answered:\n{out2}\n{}", h.log());

    let ev = events(&h, "13800138102").await;
    assert_eq!(
        kinds(&ev),
        [
            "queue_entered",
            "agent_rung",
            "agent_rung",
            "agent_answered",
            "recorded",
            "agent_call_ended"
        ],
        "{ev:?}"
    );
    assert_eq!(
        (&ev[1].1["agent"], &ev[1].1["result"]),
        (&"ops1".into(), &"no_answer".into())
    );
    assert!(ev[1].1["ring_ms"].as_u64().unwrap() >= 3_000, "{ev:?}");
    assert_eq!(
        (&ev[2].1["agent"], &ev[2].1["result"]),
        (&"ops2".into(), &"answered".into())
    );
    let states = agents::agents(&h);
    assert_eq!(
        states["ops1"],
        ("paused".into(), Some("no_answer".into()), 0),
        "{states:?}"
    );
}

/// Everyone logged in is busy (paused): the caller waits, hears the hold music (its notes
/// are found in the RTP they receive) and their position, then hangs up; the record says
/// they abandoned after waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_caller_hears_music_and_position_and_abandoning_is_recorded() {
    let h = hotline("announce_every_secs = 5\nmax_wait_secs = 120");
    operator(&h, "ops1");
    register_phone(&h, "ops1");
    let out = cli(&h, &["agent", "pause", "ops1", "--reason", "meeting"], "");
    assert!(out.contains("paused"), "{out}");

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = sock.local_addr().unwrap().port();
    let heard = listen(sock, 25);
    let dir = h.dir.path();
    // The caller's SDP names our socket and the key goes by SIP INFO, so everything hotline
    // sends the caller arrives here.
    let xml = scenario(
        "13800138103",
        &[
            Step::Pause(800),
            Step::Info('0'),
            Step::Pause(16000),
            Step::Bye,
        ],
    )
    .replace("m=audio [media_port]", &format!("m=audio {media_port}"));
    let file = dir.join("caller.xml");
    std::fs::write(&file, xml).unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let pcm = heard.join().unwrap();
    assert!(
        pcm.len() > 8000 * 10,
        "RTP reached the caller: {} samples",
        pcm.len()
    );

    // The hold music's notes (C5 E5 G5 D5 F5 A5) dominate whole 100 ms blocks.
    let notes = [523.25, 659.25, 783.99, 587.33, 698.46, 880.0];
    let music_blocks = pcm
        .chunks(800)
        .filter(|b| notes.iter().any(|f| tone_share(b, *f) > 0.6))
        .count();
    assert!(
        music_blocks >= 20,
        "at least 2 s of hold music heard: {music_blocks} blocks"
    );

    let db = Db::open(&h.db_url(), 1).await.expect("db");
    let prompts: String = sqlx::query("SELECT prompts FROM calls WHERE caller = '13800138103'")
        .fetch_one(db.pool())
        .await
        .expect("call")
        .get(0);
    assert!(
        prompts.contains("\"queue_ahead\",\"digit_0\",\"queue_wait\""),
        "the position was announced: {prompts}"
    );
    db.close().await;
    let ev = events(&h, "13800138103").await;
    assert_eq!(kinds(&ev), ["queue_entered", "abandoned"], "{ev:?}");
    assert!(ev[1].1["wait_ms"].as_u64().unwrap() >= 10_000, "{ev:?}");
}

/// The caller presses 1 while waiting: they are promised a callback and hang up; when an
/// agent becomes ready, hotline rings the agent first, then calls the resident back through
/// the trunk, and the two talk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_rings_the_agent_then_the_resident() {
    let resident_port = common::serve::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let q = agents::queues_file(
        dir.path(),
        "keys = { \"1\" = \"callback\" }\ncallback_via = \"residents\"\nring_secs = 10",
    );
    let h = Hotline::start(&[
        ("HOTLINE__ACD__QUEUES_FILE", q.display().to_string()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
        (
            "HOTLINE__SIP__DESTINATIONS__RESIDENTS",
            format!("sip:{{number}}@127.0.0.1:{resident_port}"),
        ),
    ]);
    operator(&h, "ops1");
    let p1 = register_phone(&h, "ops1");
    cli(&h, &["agent", "pause", "ops1", "--reason", "meal"], "");

    let one = h.dir.path().join("one.pcap");
    pcap::dtmf(&one, "1", 120, 101);
    let (ok, out) = caller(
        &h,
        "13800138104",
        &[Step::Pause(6000), Step::Pcap(one), Step::AwaitBye(30_000)],
    );
    assert!(
        ok,
        "the caller was promised a callback and hung up on:\n{out}\n{}",
        h.log()
    );

    let agent_phone = phone(p1, Phone::Answers, 1);
    let resident = phone(resident_port, Phone::AnswersAndHangsUp, 1);
    ready(&h, "ops1");
    let (ok, out) = phone_done(resident);
    assert!(
        ok,
        "the resident was called back and talked:\n{out}\n{}",
        h.log()
    );
    let (ok, out) = phone_done(agent_phone);
    assert!(
        ok,
        "the agent was rung first and got BYE at the end:\n{out}\n{}",
        h.log()
    );

    let ev = events(&h, "13800138104").await;
    let k = kinds(&ev);
    assert_eq!(
        k,
        [
            "queue_entered",
            "queue_left",
            "callback_requested",
            "agent_rung",
            "callback_placed",
            "recorded",
            "agent_call_ended"
        ],
        "{ev:?}"
    );
    assert_eq!(ev[1].1["to"], "callback");
    assert_eq!(ev[2].1["number"], "13800138104");
    assert_eq!(
        (&ev[4].1["agent"], &ev[4].1["answered"]),
        (&"ops1".into(), &true.into())
    );
    drop(dir);
}

/// The conversation with the operator is recorded, one stereo file per call: the caller's
/// voice (a 440 Hz tone here) on the left, the operator's (1 kHz) on the right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_is_recorded_with_both_voices() {
    let h = hotline("ring_secs = 10");
    operator(&h, "ops1");
    let p1 = register_phone(&h, "ops1");
    let dir = h.dir.path().to_path_buf();
    let agent_voice = dir.join("agent.pcap");
    pcap::speech(&agent_voice, &tone(1000.0, 3.0));
    let caller_voice = dir.join("caller.pcap");
    pcap::speech(&caller_voice, &tone(440.0, 6.0));
    let agent_phone = talking_phone(&dir, p1, &agent_voice);
    ready(&h, "ops1");
    let (ok, out) = caller(
        &h,
        "13800138105",
        &[
            Step::Pause(5000),
            Step::Pcap(caller_voice),
            Step::Pause(6500),
            Step::Bye,
        ],
    );
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let (ok, out) = phone_done(agent_phone);
    assert!(ok, "the operator talked and got BYE:\n{out}");

    let ev = events(&h, "13800138105").await;
    let path = ev
        .iter()
        .find(|(k, _)| k == "recorded")
        .map(|(_, d)| d["path"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("a recording in the record: {ev:?}\n{}", h.log()));
    let mut wav = hound::WavReader::open(&path).expect("the recording is a WAV file");
    assert_eq!(wav.spec().channels, 2, "stereo by default");
    let samples: Vec<i16> = wav.samples::<i16>().map(|s| s.unwrap()).collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    let blocks = |ch: &[i16], f: f64| ch.chunks(800).filter(|b| tone_share(b, f) > 0.6).count();
    assert!(
        blocks(&left, 440.0) >= 20,
        "the caller's voice on the left: {}",
        blocks(&left, 440.0)
    );
    assert!(
        blocks(&right, 1000.0) >= 15,
        "the operator's voice on the right: {}",
        blocks(&right, 1000.0)
    );
    assert_eq!(blocks(&left, 1000.0), 0, "the channels are apart");
}

/// The phone of account `name` dials `code` with its digest credentials (`password`);
/// true when the call was answered and ended by hotline.
fn dial_code(h: &Hotline, name: &str, password: &str, code: &str) -> (bool, String) {
    let csv = h.dir.path().join(format!("who-{name}.csv"));
    std::fs::write(&csv, format!("SEQUENTIAL\n{name};\n")).unwrap();
    let out = std::process::Command::new("sipp")
        .arg(format!("127.0.0.1:{}", h.sip_port))
        .arg("-sf")
        .arg(agents::sipp_scenario("feature_code.xml"))
        .arg("-inf")
        .arg(&csv)
        .args(["-s", code, "-au", name, "-ap", password])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &common::serve::free_port().to_string(),
        ])
        .args(["-mp", &common::serve::free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s"])
        .output()
        .expect("sipp runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Agents change state from their desk phones: *71 ready, *722 paused for a meal, *73
/// logged out; the phone must prove its account (a wrong password changes nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_codes_from_the_desk_phone_change_the_agent_state() {
    let h = hotline("");
    operator(&h, "ops1");
    let (ok, out) = dial_code(&h, "ops1", agents::PHONE_PASSWORD, "*71");
    assert!(ok, "*71 answered:\n{out}\n{}", h.log());
    assert_eq!(agents::agents(&h)["ops1"].0, "ready");
    let (ok, out) = dial_code(&h, "ops1", agents::PHONE_PASSWORD, "*722");
    assert!(ok, "*722 answered:\n{out}");
    assert_eq!(
        agents::agents(&h)["ops1"],
        ("paused".into(), Some("meal".into()), 0)
    );
    let (ok, _) = dial_code(&h, "ops1", "not-the-password", "*73");
    assert!(!ok, "a wrong password is refused");
    assert_eq!(agents::agents(&h)["ops1"].0, "paused");
    let (ok, out) = dial_code(&h, "ops1", agents::PHONE_PASSWORD, "*73");
    assert!(ok, "*73 answered:\n{out}");
    assert_eq!(agents::agents(&h)["ops1"].0, "logged_out");
}

/// hotline crashes (kill -9) while a caller waits and an agent is paused: after the
/// restart the agent is still paused for the same reason and the caller who was waiting is
/// owed a callback, in the same queue, at the same place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_state_survives_a_crash() {
    let data = tempfile::tempdir().unwrap();
    let q = agents::queues_file(
        data.path(),
        "callback_via = \"residents\"\nwhen_max_wait = \"callback\"",
    );
    let env = [
        ("HOTLINE__DATA_DIR", data.path().display().to_string()),
        ("HOTLINE__ACD__QUEUES_FILE", q.display().to_string()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
        (
            "HOTLINE__SIP__DESTINATIONS__RESIDENTS",
            "sip:{number}@127.0.0.1:9".into(),
        ),
    ];
    let h = Hotline::start(&env);
    let cli = |args: &[&str], pw: &str| agents::cli_in(data.path(), args, pw);
    cli(
        &["user", "add", "--name", "ops1", "--role", "operator"],
        "console-pw-123",
    );
    cli(&["user", "sip-password", "ops1"], agents::PHONE_PASSWORD);
    register_phone(&h, "ops1");
    cli(&["agent", "pause", "ops1", "--reason", "meeting"], "");
    let dir = h.dir.path().to_path_buf();
    let port = h.sip_port;
    let file = dir.join("waiting.xml");
    std::fs::write(
        &file,
        scenario(
            "13800138106",
            &[
                Step::Pause(800),
                Step::Info('0'),
                Step::Pause(60_000),
                Step::Bye,
            ],
        ),
    )
    .unwrap();
    let mut waiting_caller = std::process::Command::new("sipp")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-sf")
        .arg(&file)
        .args([
            "-s",
            "12345",
            "-i",
            "127.0.0.1",
            "-p",
            &common::serve::free_port().to_string(),
        ])
        .args(["-m", "1", "-nostdin"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp caller");
    let url = format!("sqlite://{}", data.path().join("hotline.db").display());
    let db = Db::open(&url, 1).await.expect("db");
    let waiting = || async {
        sqlx::query("SELECT kind, queue, joined_at FROM acd_waiting WHERE status = 'waiting'")
            .fetch_all(db.pool())
            .await
            .expect("acd_waiting")
            .iter()
            .map(|r| {
                (
                    r.get::<String, _>(0),
                    r.get::<String, _>(1),
                    r.get::<i64, _>(2),
                )
            })
            .collect::<Vec<_>>()
    };
    let until = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let w = waiting().await;
        if !w.is_empty() {
            break w;
        }
        assert!(
            Instant::now() < until,
            "the caller never waited\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(before[0].0, "live");
    std::process::Command::new("kill")
        .args(["-9", &h.pid().to_string()])
        .status()
        .unwrap();
    let _ = h.wait_exit();
    let _ = waiting_caller.kill();
    let _ = waiting_caller.wait();

    let h = Hotline::start(&env);
    h.wait_for_log("will be called back", Duration::from_secs(20));
    let after = waiting().await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        (after[0].0.as_str(), after[0].1.as_str(), after[0].2),
        ("callback", "operators", before[0].2),
        "owed a callback at the same place"
    );
    let list = cli(&["agent", "list", "--json"], "");
    assert!(
        list.contains(r#""name":"ops1","state":"paused","reason":"meeting""#),
        "{list}"
    );
    let kinds: Vec<String> = sqlx::query(
        "SELECT e.kind FROM call_events e JOIN calls c ON c.id = e.call WHERE c.caller = '13800138106' ORDER BY e.id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(kinds, ["queue_entered", "callback_requested"]);
    db.close().await;
}
