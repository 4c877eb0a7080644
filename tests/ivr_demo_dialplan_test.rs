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
}

/// The finished call from `caller`, waiting for the hotline to write it.
async fn finished_call(db: &Db, caller: &str) -> CallRow {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let row = sqlx::query(
            "SELECT outcome, nodes, prompts, ticket_number, recording_path FROM calls
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

/// Loudness of a stretch of a WAV file (from `from` to `to` seconds), and the file's length.
fn rms_window(path: &str, from: f64, to: f64) -> (f64, f64) {
    let mut r = hound::WavReader::open(path).expect("recording is a WAV file");
    let s: Vec<f64> = r
        .samples::<i16>()
        .map(|x| x.expect("sample") as f64)
        .collect();
    let (a, b) = (
        (from * 8000.0) as usize,
        ((to * 8000.0) as usize).min(s.len()),
    );
    let w = &s[a.min(b)..b];
    let rms = (w.iter().map(|x| x * x).sum::<f64>() / w.len().max(1) as f64).sqrt();
    (rms, s.len() as f64 / 8000.0)
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
async fn a_caller_who_speaks_during_the_greeting_leaves_a_ticket_from_the_first_syllable() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    // The caller's phone sends a second of room silence, then they talk over the greeting.
    let speech = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_01.wav"));
    let speech_secs = speech.len() as f64 / 8000.0;
    let mut audio = vec![0i16; 8000];
    audio.extend_from_slice(&speech);
    let sp = dir.join("speech.pcap");
    pcap::speech(&sp, &audio);
    run_call(
        &h,
        "13800138000",
        &[Step::Pause(300), Step::Pcap(sp), Step::AwaitBye(90_000)],
    );

    let db = Db::connect_url(&ticket_db_url(&h)).await.expect("db");
    let call = finished_call(&db, "13800138000").await;
    assert_eq!(call.outcome, "completed", "{call:?}");
    assert_eq!(
        call.nodes,
        ["screen", "welcome", "open", "create", "read_number", "end"],
        "the greeting yields to the caller's words, which are the message: nothing is asked"
    );
    let number = call.ticket.clone().expect("a ticket was created");
    let tickets = Tickets::from_config(db.clone(), &common::tickets_config()).expect("rules");
    let t = tickets
        .by_number(&number.parse().unwrap())
        .await
        .expect("ticket stored");
    assert_eq!(t.channel, Channel::Call);
    assert_eq!(t.phone.as_str(), "13800138000");
    assert_eq!(
        t.state,
        State::Accepted,
        "a voice message waits for its transcript"
    );
    let rec = t.recording_path.clone().expect("recording attached");
    assert_eq!(call.recording.as_deref(), Some(rec.as_str()));
    let (secs, loud) = rms(&rec);
    assert!(
        secs >= speech_secs && secs <= speech_secs + 1.5,
        "recording of {secs:.1} s for {speech_secs:.1} s of speech"
    );
    assert!(
        loud > 300.0,
        "the recording holds the caller's speech (rms {loud:.0})"
    );
    // The pre-roll: the recording begins with the quiet before the first word, so the first
    // syllable is whole.
    let (lead, _) = rms_window(&rec, 0.0, 0.25);
    assert!(
        lead < 100.0,
        "the recording starts before the first word (rms {lead:.0} in its first 250 ms)"
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

    // What the caller heard: the greeting (cut short), then the number digit by digit.
    let digits: Vec<String> = number.chars().map(|c| format!("digit_{c}")).collect();
    let mut expected = vec!["welcome".to_string(), "your_number".to_string()];
    expected.extend(digits);
    expected.push("sms_follows".into());
    assert_eq!(
        call.prompts, expected,
        "the ticket number is read back digit by digit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_of_a_ticket_is_read_back_once_the_caller_gives_the_last_four_digits() {
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
                language: None,
            },
            &Actor::Operator("test".into()),
        )
        .await
        .unwrap();
    assert_eq!(t.state, State::Dispatched);
    // The caller's own number is not proof (anyone can send it): the last four digits are.
    let k = keys(&dir, "status", &format!("1{}#8001", t.number));
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
                language: None,
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
    // A silent caller who gave up is a call to return: marked abandoned, where they left.
    let row = sqlx::query(
        "SELECT c.abandoned, e.detail FROM calls c JOIN call_events e ON e.call = c.id
         WHERE c.caller = '13800138003' AND e.kind = 'left_menu'",
    )
    .fetch_one(db.pool())
    .await
    .expect("the abandoned call is recorded with where the caller left");
    let abandoned: bool = row
        .try_get::<bool, _>(0)
        .unwrap_or_else(|_| row.get::<i64, _>(0) != 0);
    assert!(abandoned);
    assert!(row.get::<String, _>(1).contains("welcome"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_until_every_timeout_ends_politely_without_a_ticket() {
    let h = Hotline::start(&[]);
    run_call(&h, "13800138004", &[Step::AwaitBye(120_000)]);
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let call = finished_call(&db, "13800138004").await;
    assert_eq!(call.outcome, "completed", "{call:?}");
    // The open question twice (the second time after "not caught"), then goodbye.
    let open = call
        .prompts
        .iter()
        .filter(|p| p.starts_with("open"))
        .count();
    assert_eq!(open, 2, "{call:?}");
    assert_eq!(call.prompts.last().map(String::as_str), Some("silent"));
    assert!(call.ticket.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_asked_again_until_the_retries_run_out() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    let k = keys(&dir, "sevens", "77");
    run_call(
        &h,
        "13800138005",
        &[Step::Pause(800), Step::Pcap(k), Step::AwaitBye(120_000)],
    );
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let call = finished_call(&db, "13800138005").await;
    let invalid = call.prompts.iter().filter(|p| *p == "invalid").count();
    assert_eq!(invalid, 1, "one retry after a wrong key: {call:?}");
    let at = call
        .nodes
        .iter()
        .position(|n| n.starts_with("open"))
        .unwrap();
    assert_eq!(
        call.nodes[at + 1],
        "operator",
        "after the retries the caller is offered a person"
    );
    assert!(call.ticket.is_none());
}

/// When no operator is logged in to the queue (at night), the caller is offered a voice
/// message instead. (Operators answering: `acd_queue_test`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_operator_answering_offers_a_voice_message() {
    let h = Hotline::start(&[]);
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
