//! The short version of `bench/sip_flood.sh`: a SIPp INVITE flood at a thousand calls a
//! second from 127.0.0.2 and sipvicious (`svmap`, `svwar` guessing extensions with INVITE;
//! sipvicious 0.3.3 ignores `-b` and sends from 127.0.0.1) against the real `hotline serve`,
//! while two real callers from 127.0.0.3 leave voice messages with RTP. Both calls complete
//! and each recording holds its caller's audio, whole.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pcap;
use common::rtp::tone_amplitude;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

/// Kills the flood when the test ends, however it ends.
struct Flood(Vec<Child>);
impl Drop for Flood {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn flood(h: &Hotline) -> Flood {
    let target = format!("127.0.0.1:{}", h.sip_port);
    let quiet = || (Stdio::null(), Stdio::null());
    let mut procs = vec![];
    let (o, e) = quiet();
    procs.push(
        Command::new("sipp")
            .arg(&target)
            .args(["-sn", "uac", "-i", "127.0.0.2", "-r", "1000", "-d", "0"])
            .args(["-m", "60000", "-l", "5000", "-nostdin", "-timeout", "60s"])
            .args(["-p", &common::free_port().to_string()])
            .args(["-mp", &common::free_port().to_string()])
            .current_dir(h.dir.path())
            .stdout(o)
            .stderr(e)
            .spawn()
            .expect("sipp runs"),
    );
    let port = h.sip_port.to_string();
    for args in [
        vec![
            "svmap",
            "-b",
            "127.0.0.2",
            "-p",
            &port,
            "-m",
            "INVITE",
            "127.0.0.1",
        ],
        vec![
            "svwar",
            "-b",
            "127.0.0.2",
            "-p",
            &port,
            "-m",
            "INVITE",
            "-e",
            "1000-60000",
            "-t",
            "0.001",
            "127.0.0.1",
        ],
    ] {
        let (o, e) = quiet();
        procs.push(
            Command::new(args[0])
                .args(&args[1..])
                .current_dir(h.dir.path())
                .stdout(o)
                .stderr(e)
                .spawn()
                .expect("sipvicious runs (Debian package sipvicious)"),
        );
    }
    Flood(procs)
}

/// A caller's words, then two seconds of a tone that marks whose message it is.
fn message_with_mark(freq: f64) -> Vec<i16> {
    let mut audio = vec![0i16; 4000];
    audio.extend(pcap::wav_8k(
        &common::repo().join("tests/fixtures/speech/zh_02.wav"),
    ));
    audio.extend((0..16000).map(|i| {
        let t = i as f64 / 8000.0;
        (10_000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
    }));
    audio
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_callers_leave_clean_messages_through_a_scanner_flood() {
    // A production-sized RTP range: the flood's answered calls hold ports while their
    // dialplans finish, more than the hundred ports other tests get.
    let h = Hotline::start(&[
        ("HOTLINE__MEDIA__RTP_PORT_MIN", "30000".into()),
        ("HOTLINE__MEDIA__RTP_PORT_MAX", "39999".into()),
    ]);
    let dir = h.dir.path().to_path_buf();
    let callers = [("13800138081", 700.0), ("13800138082", 1300.0)];
    let mut files = vec![];
    for (caller, freq) in callers {
        let audio = message_with_mark(freq);
        let p = dir.join(format!("msg-{caller}.pcap"));
        pcap::speech(&p, &audio);
        let file = dir.join(format!("caller-{caller}.xml"));
        std::fs::write(
            &file,
            scenario(
                caller,
                &[Step::Pause(300), Step::Pcap(p), Step::AwaitBye(50_000)],
            ),
        )
        .expect("scenario");
        files.push((file, audio.len()));
    }

    let attack = flood(&h);
    // Let the flood build up before the real callers dial.
    std::thread::sleep(Duration::from_secs(2));
    let results: Vec<(bool, String)> = std::thread::scope(|s| {
        let calls: Vec<_> = files
            .iter()
            .map(|(f, _)| s.spawn(|| sipp(&h, f, "12345", &["-i", "127.0.0.3"])))
            .collect();
        calls.into_iter().map(|c| c.join().expect("sipp")).collect()
    });
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", h.http_port))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    drop(attack);
    for (ok, out) in &results {
        let log = h.log();
        let refusals: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("138****") || l.contains("no media"))
            .take(20)
            .collect();
        assert!(
            ok,
            "a real call failed under the flood:\n{out}\n--- refusals ---\n{}",
            refusals.join("\n")
        );
    }
    let dropped = metric(&metrics, "hotline_sip_flood_dropped_total");
    let invites = metric(&metrics, "hotline_sip_requests_total{method=\"INVITE\"}");
    println!("flood: {dropped} requests dropped unread, {invites} INVITEs taken in");
    assert!(
        dropped > 1000.0,
        "the flood reached the server ({dropped} dropped)"
    );

    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let until = Instant::now() + Duration::from_secs(30);
    for ((caller, freq), (_, samples)) in callers.iter().zip(&files) {
        let other = if *freq == 700.0 { 1300.0 } else { 700.0 };
        let path: String = loop {
            let row = sqlx::query("SELECT recording_path FROM tickets WHERE phone = $1")
                .bind(caller)
                .fetch_optional(db.pool())
                .await
                .expect("tickets");
            if let Some(p) = row.and_then(|r| r.get::<Option<String>, _>(0)) {
                break p;
            }
            assert!(
                Instant::now() < until,
                "{caller} left a ticket with a recording"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let pcm: Vec<i16> = hound::WavReader::open(&path)
            .expect("wav")
            .samples::<i16>()
            .map(|s| s.expect("sample"))
            .collect();
        let sent = (*samples as f64 - 4000.0) / 8000.0;
        let got = pcm.len() as f64 / 8000.0;
        assert!(
            got >= sent - 0.5,
            "{caller}: {got:.1} s recorded of {sent:.1} s said: audio was lost"
        );
        let tail = &pcm[pcm.len().saturating_sub(16000 + 8000)..];
        let (mine, theirs) = (tone_amplitude(tail, *freq), tone_amplitude(tail, other));
        assert!(
            mine > 2000.0 && theirs < mine / 10.0,
            "{caller}: the mark at {freq} Hz is whole ({mine:.0}), no other ({theirs:.0})"
        );
    }
}
