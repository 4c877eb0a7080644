//! Recording files are named by the hotline, never by the caller: two real SIPp calls that
//! send the same Call-ID on the same day each leave a voice message, and each ticket keeps
//! its own recording with its own audio.

mod common;

use std::time::{Duration, Instant};

use common::pcap;
use common::rtp::tone_amplitude;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

/// The Call-ID both callers send.
const SAME_CALL_ID: &str = "same-call-id@198.51.100.7";

/// The caller's words, then a second of a tone that marks whose message it is.
fn message_with_mark(freq: f64) -> Vec<i16> {
    let mut audio = vec![0i16; 4000];
    audio.extend(pcap::wav_8k(
        &common::repo().join("tests/fixtures/speech/zh_01.wav"),
    ));
    audio.extend((0..8000).map(|i| {
        let t = i as f64 / 8000.0;
        (10_000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
    }));
    audio
}

fn recording_of(db_rows: &[(String, Option<String>)], caller: &str) -> String {
    db_rows
        .iter()
        .find(|(c, _)| c == caller)
        .and_then(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("the ticket of {caller} has a recording: {db_rows:?}"))
}

fn wav(path: &str) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).expect("recording is a WAV file");
    r.samples::<i16>().map(|s| s.expect("sample")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_with_one_call_id_keep_their_own_recordings() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    let callers = [("13800138031", 600.0), ("13800138032", 1400.0)];
    for (caller, freq) in callers {
        let p = dir.join(format!("msg-{caller}.pcap"));
        pcap::speech(&p, &message_with_mark(freq));
        let xml = scenario(
            caller,
            &[Step::Pause(300), Step::Pcap(p), Step::AwaitBye(90_000)],
        );
        let file = dir.join(format!("scenario-{caller}.xml"));
        std::fs::write(&file, xml).expect("scenario");
        let (ok, out) = sipp(&h, &file, "12345", &["-cid_str", SAME_CALL_ID]);
        assert!(ok, "SIPp call failed:\n{out}\n--- log ---\n{}", h.log());
    }

    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let until = Instant::now() + Duration::from_secs(30);
    let rows: Vec<(String, Option<String>)> = loop {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query("SELECT phone, recording_path FROM tickets ORDER BY id")
                .fetch_all(db.pool())
                .await
                .expect("tickets")
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        if rows.len() >= 2 || Instant::now() > until {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(rows.len(), 2, "one ticket per call: {rows:?}");
    let a = recording_of(&rows, callers[0].0);
    let b = recording_of(&rows, callers[1].0);
    assert_ne!(a, b, "each call has its own recording file");
    for path in [&a, &b] {
        assert!(
            !path.contains("same-call-id"),
            "the file name comes from the hotline, not the caller's Call-ID: {path}"
        );
    }
    // Each recording plays its own caller's mark, not the other's.
    for (path, own, other) in [(&a, 600.0, 1400.0), (&b, 1400.0, 600.0)] {
        let pcm = wav(path);
        let (mine, theirs) = (tone_amplitude(&pcm, own), tone_amplitude(&pcm, other));
        assert!(
            mine > 5.0 * theirs.max(1.0),
            "{path} holds its caller's {own} Hz mark ({mine:.0}) and not {other} Hz ({theirs:.0})"
        );
    }
}
