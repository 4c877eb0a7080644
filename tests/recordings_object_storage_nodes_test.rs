//! Several nodes on one PostgreSQL with recordings in S3-compatible object storage (a real
//! `s3s-fs` server that checks request signatures): a voice message SIPp leaves on node A
//! is uploaded, transcribed on node B (the only node with speech on) and downloaded from
//! node C's console with the same bytes the store holds. A wrong secret stops a node at
//! start with a message that says so.

mod web_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hotline::speech::{model, SpeechConfig};
use hotline::store::Db;
use hotline::tickets::DepartmentId;
use hotline::web::accounts::{self, NewAccount, Role};
use sqlx::Row;
use web_support::common::s3::{S3, SECRET};
use web_support::common::serve::{scenario, sipp, Hotline, Step};
use web_support::common::{self, pcap, serve::free_port};
use web_support::{client, login_as, password, Browser};

fn wav_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(wav_files(&p));
        } else if p.extension().is_some_and(|x| x == "wav") {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_recorded_on_one_node_is_transcribed_on_another_and_played_from_a_third() {
    let data = std::env::var_os("HOTLINE_SPEECH_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo().join("target/speech-test-data"));
    let model = model::fetch(&SpeechConfig::default(), &data).expect("model fetch works");
    let s3 = S3::start();
    let pg = common::fresh_pg().await;

    let no_speech = ("HOTLINE__SPEECH__ENABLED", "false".to_string());
    let mut a_env = s3.node_env(&pg, SECRET);
    a_env.push(no_speech.clone());
    let a = Hotline::start(&a_env);
    let mut b_env = s3.node_env(&pg, SECRET);
    b_env.extend([
        ("HOTLINE__SPEECH__MODEL_PATH", model.display().to_string()),
        ("HOTLINE__SPEECH__POLL_MS", "200".to_string()),
        ("HOTLINE__SPEECH__JOB_TIMEOUT_SECS", "600".to_string()),
    ]);
    let b = Hotline::start(&b_env);
    let mut c_env = s3.node_env(&pg, SECRET);
    c_env.push(no_speech);
    let c = Hotline::start(&c_env);

    // The caller speaks over node A's greeting and hangs up.
    let speech = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_01.wav"));
    let said_ms = 1000 + speech.len() as u64 / 8;
    let mut audio = vec![0i16; 8000];
    audio.extend_from_slice(&speech);
    let sp = a.dir.path().join("speech.pcap");
    pcap::speech(&sp, &audio);
    let file = a.dir.path().join("scenario.xml");
    std::fs::write(
        &file,
        scenario(
            "13800138222",
            &[
                Step::Pause(300),
                Step::Pcap(sp),
                Step::Pause(said_ms + 1000),
                Step::Bye,
            ],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(&a, &file, "12345", &[]);
    assert!(ok, "SIPp call failed:\n{out}\n--- node A ---\n{}", a.log());

    let db = Db::connect_url(&pg).await.expect("db");
    let until = Instant::now() + Duration::from_secs(60);
    let (ticket_id, reference) = loop {
        let row = sqlx::query(
            "SELECT id, recording_path FROM tickets WHERE phone = '13800138222' AND recording_path IS NOT NULL",
        )
        .fetch_optional(db.pool())
        .await
        .unwrap();
        if let Some(r) = row {
            break (r.get::<i64, _>(0), r.get::<String, _>(1));
        }
        assert!(
            Instant::now() < until,
            "no ticket from the call:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let key = reference
        .strip_prefix("object:")
        .unwrap_or_else(|| panic!("the ticket points at the store, not a file: {reference}"));
    assert!(key.starts_with("messages/"), "{key}");
    // In the store, and no longer on node A's disk: B and C cannot have read A's file.
    let stored = std::fs::read(s3.bucket_dir().join(key))
        .unwrap_or_else(|e| panic!("object {key} not in the store ({e}):\n{}", a.log()));
    assert!(stored.starts_with(b"RIFF") && stored.len() > 8000);
    assert_eq!(wav_files(a.dir.path()), Vec::<PathBuf>::new());

    // Node B transcribes it.
    let until = Instant::now() + Duration::from_secs(600);
    let status = loop {
        let r =
            sqlx::query("SELECT status, last_error FROM transcription_jobs WHERE ticket_id = $1")
                .bind(ticket_id)
                .fetch_optional(db.pool())
                .await
                .unwrap();
        if let Some(r) = r {
            let status: String = r.get(0);
            if status == "done" || status == "failed" || Instant::now() > until {
                break (status, r.get::<Option<String>, _>(1));
            }
        }
        assert!(Instant::now() < until, "no transcription job");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(status.0, "done", "{status:?}\n--- node B ---\n{}", b.log());
    let text: String = sqlx::query("SELECT text FROM transcripts WHERE ticket_id = $1")
        .bind(ticket_id)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert!(text.contains("停水"), "transcript {text:?}");

    // Node C's console plays it, byte for byte, and logs the opening.
    accounts::add_user(
        &db,
        &[],
        &NewAccount {
            name: "op1".into(),
            display_name: String::new(),
            role: Role::Operator,
            department: None::<DepartmentId>,
            password: password("op1"),
        },
    )
    .await
    .expect("add operator");
    let browser = Browser {
        client: client(),
        base: format!("http://127.0.0.1:{}", c.http_port),
        cookies: Vec::new(),
        csrf: String::new(),
    };
    let mut op = login_as(browser, "op1").await;
    let (status, body) = op
        .get_bytes(&format!("/tickets/{ticket_id}/recording"))
        .await;
    assert_eq!(status, 200, "--- node C ---\n{}", c.log());
    assert!(
        body == stored,
        "node C served other bytes than the store holds"
    );
    let logged: i64 = sqlx::query(
        "SELECT COUNT(*) FROM personal_data_access WHERE what = 'recording' AND ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_one(db.pool())
    .await
    .map(|r| r.get(0))
    .unwrap_or(-1);
    assert_eq!(logged, 1, "the download is in the access log");
    drop((a, b, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_stops_the_node_at_start_saying_why() {
    let s3 = S3::start();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(common::hotline_bin());
    cmd.arg("serve")
        .current_dir(common::repo())
        .env("NO_COLOR", "1")
        .env("HOTLINE__DATA_DIR", data.path())
        .env(
            "HOTLINE__HTTP__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        );
    for (k, v) in s3.node_env("", "not-the-secret") {
        if k != "HOTLINE__DATABASE__URL" {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().expect("hotline runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "started with a wrong secret:\n{all}");
    assert!(all.contains("refused hotline's credentials"), "{all}");
    assert!(
        !all.contains("not-the-secret"),
        "the secret is logged:\n{all}"
    );
}
