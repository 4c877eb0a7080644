//! The demo 12345 dialplan, driven by real SIPp calls with real RTP (RFC 4733 key presses
//! and PCMU speech) against the real `hotline serve`; each test then checks what a hotline
//! team would: the ticket in the database, the recording, and what the caller heard.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use hotline::tickets::*;
use sqlx::Row;

#[derive(Debug)]
struct CallRow {
    outcome: String,
    nodes: Vec<String>,
    prompts: Vec<String>,
    ticket: Option<String>,
    recording: Option<String>,
    hangup_side: Option<String>,
}

/// The finished call from `caller`, waiting for the hotline to write it.
async fn finished_call(db: &Db, caller: &str) -> CallRow {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let row = sqlx::query(
            "SELECT outcome, nodes, prompts, ticket_number, recording_path, hangup_side FROM calls
             WHERE caller = $1 AND ended_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(caller)
        .fetch_optional(db.pool())
        .await
        .expect("query calls");
        if let Some(r) = row {
            let nodes: String = r.get(1);
            let prompts: String = r.get(2);
            return CallRow {
                outcome: r.get(0),
                nodes: serde_json::from_str(&nodes).expect("nodes json"),
                prompts: serde_json::from_str(&prompts).expect("prompts json"),
                ticket: r.get(3),
                recording: r.get(4),
                hangup_side: r.get(5),
            };
        }
        assert!(
            Instant::now() < until,
            "no finished call from {caller} recorded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn run_call(h: &Hotline, caller: &str, steps: &[Step]) -> String {
    let dir = h.dir.path();
    let file = dir.join(format!("scenario-{caller}-{}.xml", rand::random::<u32>()));
    std::fs::write(&file, scenario(caller, steps)).expect("scenario");
    let (ok, out) = sipp(h, &file, "12345", &[]);
    assert!(
        ok,
        "SIPp call failed:\n{out}\n--- hotline log ---\n{}",
        h.log()
    );
    out
}

fn keys(dir: &Path, name: &str, k: &str) -> std::path::PathBuf {
    let p = dir.join(format!("{name}.pcap"));
    pcap::dtmf(&p, k, 120, 101);
    p
}

fn ticket_db_url(h: &Hotline) -> String {
    h.db_url()
}

/// Rough loudness of a WAV file, to tell speech from silence.
fn rms(path: &str) -> (f64, f64) {
    let mut r = hound::WavReader::open(path).expect("recording is a WAV file");
    let spec = r.spec();
    assert_eq!((spec.sample_rate, spec.channels), (8000, 1));
    let s: Vec<f64> = r
        .samples::<i16>()
        .map(|x| x.expect("sample") as f64)
        .collect();
    let secs = s.len() as f64 / 8000.0;
    let rms = (s.iter().map(|x| x * x).sum::<f64>() / s.len().max(1) as f64).sqrt();
    (secs, rms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_message_becomes_a_ticket_and_its_number_is_read_back() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    // "2" (tell us something), then "2" again (complaint); type-ahead lets a caller who knows
    // the menu skip it, whatever the time of day.
    let k = keys(&dir, "k22", "22");
    let speech = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_01.wav"));
    let speech_secs = speech.len() as f64 / 8000.0;
    let sp = dir.join("speech.pcap");
    pcap::speech(&sp, &speech);
    run_call(
        &h,
        "13800138000",
        &[
            Step::Pause(800),
            Step::Pcap(k),
            Step::Pause(7500),
            Step::Pcap(sp),
            Step::AwaitBye(90_000),
        ],
    );

    let db = Db::connect_url(&ticket_db_url(&h)).await.expect("db");
    let call = finished_call(&db, "13800138000").await;
    assert_eq!(call.outcome, "completed", "{call:?}");
    let number = call.ticket.clone().expect("a ticket was created");
    let tickets = Tickets::from_config(db.clone(), &common::tickets_config()).expect("rules");
    let t = tickets
        .by_number(&number.parse().unwrap())
        .await
        .expect("ticket stored");
    assert_eq!(t.channel, Channel::Call);
    assert_eq!(t.phone.as_str(), "13800138000");
    assert_eq!(
        t.kind,
        Kind::Complaint,
        "the caller pressed 2 for complaint"
    );
    assert_eq!(
        t.state,
        State::Accepted,
        "a voice message waits for its transcript"
    );
    let rec = t.recording_path.clone().expect("recording attached");
    assert_eq!(call.recording.as_deref(), Some(rec.as_str()));
    let (secs, loud) = rms(&rec);
    assert!(
        secs >= 2.5 && secs <= speech_secs + 6.0,
        "recording of {secs:.1} s for {speech_secs:.1} s of speech"
    );
    assert!(
        loud > 300.0,
        "the recording holds the caller's speech (rms {loud:.0})"
    );
    let trail = tickets.audit_trail(t.id).await.unwrap();
    assert_eq!(trail[0].action, "create");
    let jobs: i64 = sqlx::query("SELECT COUNT(*) FROM transcription_jobs WHERE ticket_id = $1")
        .bind(t.id.0)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        jobs, 1,
        "the recording is queued for transcription with the ticket"
    );

    // What the caller heard: the request prompt, the tone, and the number digit by digit.
    let p = &call.prompts;
    let after_tone = p
        .iter()
        .position(|x| x == "beep")
        .expect("the tone before recording");
    assert_eq!(p[after_tone - 1], "leave_message");
    let digits: Vec<String> = number.chars().map(|c| format!("digit_{c}")).collect();
    let mut expected = vec!["your_number".to_string()];
    expected.extend(digits);
    expected.push("sms_follows".into());
    assert_eq!(
        &p[after_tone + 1..],
        &expected[..],
        "the ticket number is read back digit by digit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_of_a_ticket_is_read_back_to_its_caller() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let tickets = Tickets::from_config(db.clone(), &common::tickets_config()).expect("rules");
    let t = tickets
        .create(
            NewTicket {
                channel: Channel::Web,
                kind: Some(Kind::Complaint),
                phone: "13800138001".parse().unwrap(),
                text: "解放路的路灯坏了三天了".into(),
                address: None,
                area: None,
                recording_path: None,
            },
            &Actor::Operator("test".into()),
        )
        .await
        .unwrap();
    assert_eq!(t.state, State::Dispatched);
    let k = keys(&dir, "status", &format!("1{}#", t.number));
    run_call(
        &h,
        "13800138001",
        &[Step::Pause(800), Step::Pcap(k), Step::AwaitBye(90_000)],
    );

    let call = finished_call(&db, "13800138001").await;
    assert!(
        call.nodes.contains(&"status_lookup".to_string()),
        "{call:?}"
    );
    let p = &call.prompts;
    let start = p
        .iter()
        .position(|x| x == "status_intro")
        .expect("status read back");
    let mut expected = vec!["status_intro".to_string()];
    expected.extend(t.number.as_str().chars().map(|c| format!("digit_{c}")));
    use chrono::Datelike;
    let due = t.deadline.with_timezone(&tickets.tz());
    expected.extend([
        "status_is".to_string(),
        "state_dispatched".into(),
        "dept_is".into(),
        "dept_urban_management".into(),
        "deadline_is".into(),
        format!("month_{}", due.month()),
        format!("day_{}", due.day()),
        "status_more".into(),
        "goodbye".into(),
    ]);
    assert_eq!(&p[start..], &expected[..]);
    assert!(call.ticket.is_none(), "looking up creates no ticket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_caller_must_give_the_last_four_digits() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let tickets = Tickets::from_config(db.clone(), &common::tickets_config()).expect("rules");
    let t = tickets
        .create(
            NewTicket {
                channel: Channel::Sms,
                kind: None,
                phone: "13800138002".parse().unwrap(),
                text: "小区门口垃圾堆了好几天没人清运".into(),
                address: None,
                area: None,
                recording_path: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();
    // Wrong last four first time round: refused, nothing read.
    let k = keys(&dir, "wrong", &format!("1{}#9999", t.number));
    run_call(
        &h,
        "13911112222",
        &[
            Step::Pause(800),
            Step::Pcap(k),
            Step::Pause(20_000),
            Step::Bye,
        ],
    );
    let call = finished_call(&db, "13911112222").await;
    assert!(
        call.prompts.contains(&"enter_last4".to_string()),
        "{call:?}"
    );
    assert!(call.prompts.contains(&"denied".to_string()), "{call:?}");
    assert!(
        !call.prompts.iter().any(|p| p.starts_with("state_")),
        "nothing about the ticket is told: {call:?}"
    );

    let k = keys(&dir, "right", &format!("1{}#8002", t.number));
    run_call(
        &h,
        "13933334444",
        &[Step::Pause(800), Step::Pcap(k), Step::AwaitBye(90_000)],
    );
    let call = finished_call(&db, "13933334444").await;
    assert!(
        call.prompts.contains(&"state_dispatched".to_string()),
        "{call:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_during_a_prompt_leaves_no_ticket() {
    let h = Hotline::start(&[]);
    run_call(&h, "13800138003", &[Step::Pause(1500), Step::Bye]);
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let call = finished_call(&db, "13800138003").await;
    assert_eq!(call.outcome, "caller_hung_up");
    assert_eq!(call.prompts.first().map(String::as_str), Some("welcome"));
    assert!(call.ticket.is_none());
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM tickets")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_until_every_timeout_ends_politely_without_a_ticket() {
    let h = Hotline::start(&[]);
    run_call(&h, "13800138004", &[Step::AwaitBye(120_000)]);
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let call = finished_call(&db, "13800138004").await;
    assert_eq!(call.outcome, "completed", "{call:?}");
    let tail: Vec<&str> = call
        .prompts
        .iter()
        .rev()
        .take(2)
        .map(String::as_str)
        .collect();
    assert_eq!(tail, vec!["goodbye", "no_message"]);
    assert!(
        call.nodes.contains(&"message".to_string()),
        "silence leads to the message, then to goodbye"
    );
    assert!(call.ticket.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_asked_again_until_the_retries_run_out() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    let k = keys(&dir, "sevens", "777");
    run_call(
        &h,
        "13800138005",
        &[Step::Pause(800), Step::Pcap(k), Step::AwaitBye(120_000)],
    );
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let call = finished_call(&db, "13800138005").await;
    let invalid = call.prompts.iter().filter(|p| *p == "invalid").count();
    assert_eq!(
        invalid, 2,
        "two retries with the 'wrong key' prompt: {call:?}"
    );
    let menu_at = call.nodes.iter().position(|n| n == "menu").unwrap();
    assert_eq!(
        call.nodes[menu_at + 1],
        "kind",
        "after the retries the caller may still leave a request"
    );
    assert!(call.ticket.is_none());
}

/// 0 at any time reaches a person: here the operator group's phone is a SIPp UAS that
/// answers, so the caller is bridged and the call ends when the caller hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_bridges_the_caller_to_an_operator() {
    let ops_port = common::serve::free_port();
    let ops_media = common::serve::free_port();
    let mut uas = std::process::Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &ops_port.to_string()])
        .args([
            "-mp",
            &ops_media.to_string(),
            "-rtp_echo",
            "-m",
            "1",
            "-nostdin",
            "-bg",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sipp UAS");
    let h = Hotline::start(&[(
        "HOTLINE__SIP__DESTINATIONS__OPERATORS",
        format!("sip:operators@127.0.0.1:{ops_port}"),
    )]);
    let dir = h.dir.path().to_path_buf();
    let k = keys(&dir, "zero", "0");
    run_call(
        &h,
        "13800138006",
        &[
            Step::Pause(800),
            Step::Pcap(k),
            Step::Pause(8000),
            Step::Bye,
        ],
    );
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let call = finished_call(&db, "13800138006").await;
    assert!(call.nodes.contains(&"operator".to_string()), "{call:?}");
    assert!(call.prompts.contains(&"transferring".to_string()));
    assert!(
        !call.prompts.contains(&"operators_busy".to_string()),
        "an operator answered: {call:?}"
    );
    assert!(h.log().contains("outcome=Completed"), "{}", h.log());
    assert_eq!(
        call.hangup_side.as_deref(),
        Some("caller"),
        "the resident hung up on the operator: {call:?}"
    );
    let _ = uas.kill();
    let _ = uas.wait();
}

/// When no operator answers, the caller is offered a voice message instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_operator_answering_offers_a_voice_message() {
    // Nobody listens at the operators' address.
    let nobody = common::serve::free_port();
    let h = Hotline::start(&[(
        "HOTLINE__SIP__DESTINATIONS__OPERATORS",
        format!("sip:operators@127.0.0.1:{nobody}"),
    )]);
    let dir = h.dir.path().to_path_buf();
    let k = keys(&dir, "zero", "0");
    run_call(
        &h,
        "13800138007",
        &[Step::Pause(800), Step::Pcap(k), Step::AwaitBye(120_000)],
    );
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let call = finished_call(&db, "13800138007").await;
    let p = &call.prompts;
    let at = p
        .iter()
        .position(|x| x == "transferring")
        .expect("transfer tried");
    assert_eq!(
        &p[at + 1..at + 4],
        &["operators_busy", "leave_message", "beep"],
        "{call:?}"
    );
}
