//! The demo's main menu understands a few spoken words when the speech model is loaded: a
//! caller who says "我要查询进度" (recorded Mandarin, sent as RTP by SIPp) is taken to the
//! ticket lookup without pressing a key.

mod common;

use std::time::Duration;

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::speech::{model, SpeechConfig};
use hotline::store::Db;
use sqlx::Row;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saying_check_progress_in_the_menu_opens_the_ticket_lookup() {
    let data = std::env::var_os("HOTLINE_SPEECH_TEST_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::repo().join("target/speech-test-data"));
    let model_path =
        tokio::task::spawn_blocking(move || model::fetch(&SpeechConfig::default(), &data))
            .await
            .unwrap()
            .expect("the speech model can be fetched");
    let h = Hotline::start(&[(
        "HOTLINE__SPEECH__MODEL_PATH",
        model_path.display().to_string(),
    )]);

    // The phrase again and again, so that whenever the menu listens, the caller is speaking.
    let clip = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/menu_02.wav"));
    let mut audio = Vec::new();
    for _ in 0..20 {
        audio.extend_from_slice(&clip);
        audio.extend(std::iter::repeat_n(0i16, 8000 / 2));
    }
    let p = h.dir.path().join("say.pcap");
    pcap::speech(&p, &audio);
    let file = h.dir.path().join("say.xml");
    std::fs::write(
        &file,
        scenario(
            "13800138030",
            &[
                Step::Pause(500),
                Step::Pcap(p),
                Step::Pause(40_000),
                Step::Bye,
            ],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "{out}\n{}", h.log());

    let db = Db::connect_url(&h.db_url()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let row = sqlx::query("SELECT nodes FROM calls WHERE caller = '13800138030'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let nodes: Vec<String> = serde_json::from_str(&row.get::<String, _>(0)).unwrap();
    let at = nodes
        .iter()
        .position(|n| n == "menu")
        .expect("the menu was reached");
    assert_eq!(
        nodes.get(at + 1).map(String::as_str),
        Some("status_number"),
        "the spoken words chose the lookup: {nodes:?}\n{}",
        h.log()
    );
    assert!(h.log().contains("speech choice"), "{}", h.log());
}
