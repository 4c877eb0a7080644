//! The demo's open question understands a few spoken commands when the speech model is
//! loaded: a caller who says "我要查询进度" or "转人工服务" (recorded Mandarin, sent as RTP by
//! SIPp) is taken to the ticket lookup or to a person without pressing a key, and their
//! words are not kept as a message.

mod common;

use std::time::Duration;

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::speech::{model, SpeechConfig};
use hotline::store::Db;
use sqlx::Row;

fn model_path() -> std::path::PathBuf {
    let data = std::env::var_os("HOTLINE_SPEECH_TEST_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo().join("target/speech-test-data"));
    model::fetch(&SpeechConfig::default(), &data).expect("the speech model can be fetched")
}

/// The nodes of the call from `caller`, after a caller who said `clip` once, a second into
/// the greeting, then stayed on the line for `stay_ms`.
async fn nodes_after_saying(caller: &str, clip: &str, stay_ms: u64) -> (Vec<String>, Hotline) {
    let model = tokio::task::spawn_blocking(model_path).await.unwrap();
    let h = Hotline::start(&[
        ("HOTLINE__SPEECH__MODEL_PATH", model.display().to_string()),
        // A loaded 2-core test machine: the time limit of a spoken command is production's.
        ("HOTLINE__SPEECH__MENU_TIMEOUT_MS", "20000".to_string()),
    ]);
    let clip = pcap::wav_8k(&common::repo().join(format!("tests/fixtures/speech/{clip}.wav")));
    let mut audio = vec![0i16; 8000];
    audio.extend_from_slice(&clip);
    let p = h.dir.path().join("say.pcap");
    pcap::speech(&p, &audio);
    let file = h.dir.path().join("say.xml");
    std::fs::write(
        &file,
        scenario(
            caller,
            &[
                Step::Pause(300),
                Step::Pcap(p),
                Step::Pause(stay_ms),
                Step::Bye,
            ],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "{out}\n{}", h.log());
    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let row = loop {
        let row = sqlx::query(
            "SELECT nodes, ticket_number FROM calls WHERE caller = $1 AND ended_at IS NOT NULL",
        )
        .bind(caller)
        .fetch_optional(db.pool())
        .await
        .unwrap();
        match row {
            Some(r) => break r,
            None if std::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            None => panic!("the call from {caller} did not end\n{}", h.log()),
        }
    };
    let nodes: Vec<String> = serde_json::from_str(&row.get::<String, _>(0)).unwrap();
    let ticket: Option<String> = row.get(1);
    assert!(
        ticket.is_none(),
        "a command is not a message: {nodes:?}\n{}",
        h.log()
    );
    (nodes, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saying_check_progress_over_the_greeting_opens_the_ticket_lookup() {
    let (nodes, h) = nodes_after_saying("13800138030", "menu_02", 12_000).await;
    assert_eq!(
        nodes[..4],
        ["screen", "welcome", "open", "status_number"],
        "the spoken words chose the lookup: {nodes:?}\n{}",
        h.log()
    );
    assert!(h.log().contains("speech command"), "{}", h.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saying_operator_over_the_greeting_goes_to_a_person() {
    let (nodes, h) = nodes_after_saying("13800138031", "menu_01", 12_000).await;
    assert_eq!(
        nodes[..4],
        ["screen", "welcome", "open", "operator"],
        "转人工服务 chose a person: {nodes:?}\n{}",
        h.log()
    );
}

/// An English caller (recognised from their first words) hears the rest of the call in
/// English, and their ticket carries the English transcript and its language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_english_caller_is_answered_in_english_and_transcribed_in_english() {
    let model = tokio::task::spawn_blocking(model_path).await.unwrap();
    let h = Hotline::start(&[
        ("HOTLINE__SPEECH__MODEL_PATH", model.display().to_string()),
        ("HOTLINE__SPEECH__MENU_TIMEOUT_MS", "20000".to_string()),
        ("HOTLINE__SPEECH__JOB_TIMEOUT_SECS", "600".to_string()),
        ("HOTLINE__SPEECH__POLL_MS", "200".to_string()),
    ]);
    // "The street light outside my house on Jiefang Road is broken."
    let clip = pcap::wav_8k(&common::repo().join("tests/fixtures/speech-heldout/en_03.wav"));
    let mut audio = vec![0i16; 8000];
    audio.extend_from_slice(&clip);
    let p = h.dir.path().join("say.pcap");
    pcap::speech(&p, &audio);
    let file = h.dir.path().join("say.xml");
    std::fs::write(
        &file,
        scenario(
            "13800138032",
            &[Step::Pause(300), Step::Pcap(p), Step::AwaitBye(90_000)],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "{out}\n{}", h.log());

    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let row = sqlx::query(
        "SELECT c.ticket_number, e.detail FROM calls c JOIN call_events e ON e.call = c.id
         WHERE c.caller = '13800138032' AND e.kind = 'language'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the caller's language is in the call's record: {e}\n{}",
            h.log()
        )
    });
    let number: String = row.get::<Option<String>, _>(0).expect("a ticket");
    assert!(
        row.get::<String, _>(1).contains("\"en\""),
        "{}",
        row.get::<String, _>(1)
    );
    // What followed the message was said in English.
    let log = h.log();
    assert!(
        log.contains("prompt=your_number lang=en") && log.contains("prompt=sms_follows lang=en"),
        "the read-back was in English:\n{log}"
    );

    // The transcript: English words, marked English.
    let id: i64 = sqlx::query("SELECT id FROM tickets WHERE number = $1")
        .bind(&number)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    let until = std::time::Instant::now() + Duration::from_secs(600);
    let (text, language) = loop {
        let t = sqlx::query("SELECT text, language FROM transcripts WHERE ticket_id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await
            .unwrap();
        if let Some(t) = t {
            break (t.get::<String, _>(0), t.get::<String, _>(1));
        }
        assert!(
            std::time::Instant::now() < until,
            "no transcript\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(language, "en", "{text}");
    // The job was told the language the call heard; it did not guess again.
    let hinted: Option<String> =
        sqlx::query("SELECT language FROM transcription_jobs WHERE ticket_id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0);
    assert_eq!(hinted.as_deref(), Some("en"), "the job's language hint");
    let lower = text.to_lowercase();
    assert!(
        lower.contains("light") || lower.contains("road") || lower.contains("broken"),
        "an English transcript: {text}"
    );
}
