//! Speak first, through real SIPp callers and the real `hotline serve` with the demo
//! dialplan: how soon a caller may speak (measured in the RTP they receive), a long message
//! kept whole, a caller on a landline who hangs up mid-sentence (a ticket, no text message),
//! and a silent caller recorded as abandoned.

mod common;

use std::time::{Duration, Instant};

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

/// Loudness of one 20 ms frame.
fn frame_rms(f: &[i16]) -> f64 {
    (f.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / f.len().max(1) as f64).sqrt()
}

/// When the hotline stops talking and waits: the end of the last sound before the first
/// stretch of `quiet` silence, in seconds from the first RTP packet (the answer).
fn speak_now_at(pcm: &[i16], quiet: Duration) -> Option<f64> {
    let frames: Vec<bool> = pcm.chunks(160).map(|f| frame_rms(f) > 200.0).collect();
    let need = (quiet.as_millis() / 20) as usize;
    let first = frames.iter().position(|&v| v)?;
    let mut last_sound = first;
    let mut run = 0;
    for (i, &v) in frames.iter().enumerate().skip(first) {
        if v {
            last_sound = i;
            run = 0;
        } else {
            run += 1;
            if run >= need {
                return Some((last_sound + 1) as f64 * 0.02);
            }
        }
    }
    None
}

/// What a caller whose SDP points at `sock` hears within `secs`, laid out by the RTP
/// timestamps (a frame the sender skipped under load is silence, not a shift of what
/// follows): sample 0 is the first packet, the answer.
fn heard_by_timestamp(sock: std::net::UdpSocket, secs: u64) -> std::thread::JoinHandle<Vec<i16>> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let until = Instant::now() + Duration::from_secs(secs);
        let mut pcm: Vec<i16> = Vec::new();
        let mut first_ts: Option<u32> = None;
        let mut buf = [0u8; 1500];
        while Instant::now() < until {
            let Ok(n) = sock.recv(&mut buf) else { continue };
            // PCMU (payload type 0) with a plain 12-byte header.
            if n <= 12 || buf[1] & 0x7f != 0 {
                continue;
            }
            let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
            let at = ts.wrapping_sub(*first_ts.get_or_insert(ts)) as usize;
            if at > 8000 * 120 {
                continue;
            }
            let end = at + (n - 12);
            if pcm.len() < end {
                pcm.resize(end, 0);
            }
            for (o, b) in pcm[at..end].iter_mut().zip(&buf[12..n]) {
                *o = hotline::media::g711::ulaw_to_linear(*b);
            }
        }
        pcm
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_may_speak_within_eight_seconds_of_the_answer() {
    let h = Hotline::start(&[]);
    // The caller's SDP names our socket: everything hotline sends the caller arrives here.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = sock.local_addr().unwrap().port();
    // Long enough for a slow start of SIPp on a loaded machine.
    let heard = heard_by_timestamp(sock, 30);
    let xml = scenario("13800138200", &[Step::Pause(14_000), Step::Bye])
        .replace("m=audio [media_port]", &format!("m=audio {media_port}"));
    let file = h.dir.path().join("caller.xml");
    std::fs::write(&file, xml).unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let pcm = heard.join().unwrap();
    let at = speak_now_at(&pcm, Duration::from_millis(1500)).unwrap_or_else(|| {
        panic!(
            "the greeting and the open question were heard, then silence: {} samples",
            pcm.len()
        )
    });
    let question = if h.log().contains("node=open_after_hours") {
        "after hours"
    } else {
        "office hours"
    };
    eprintln!("speak now: {at:.2} s after the answer ({question})");
    assert!(
        at <= 8.0,
        "the open question ({question}) ends {at:.2} s after the answer; the caller must be able to speak within 8 s"
    );
    assert!(
        at >= 3.0,
        "a greeting and a question were heard ({at:.2} s)"
    );
}

/// The room silence a phone sends, then what the caller says.
fn after_silence(secs: usize, speech: &[i16]) -> Vec<i16> {
    let mut v = vec![0i16; 8000 * secs];
    v.extend_from_slice(speech);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_minute_message_is_kept_whole() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    // Eighteen sentences twice over, with the short pauses of someone telling a story.
    let mut story = Vec::new();
    'fill: for _ in 0..3 {
        for i in 1..=18 {
            let clip =
                pcap::wav_8k(&common::repo().join(format!("tests/fixtures/speech/zh_{i:02}.wav")));
            story.extend_from_slice(&clip);
            story.extend(std::iter::repeat_n(0i16, 8000 * 7 / 10));
            if story.len() >= 8000 * 120 {
                break 'fill;
            }
        }
    }
    let story_secs = story.len() as f64 / 8000.0;
    let p = dir.join("story.pcap");
    pcap::speech(&p, &after_silence(1, &story));
    let xml = scenario(
        "13800138201",
        &[Step::Pause(300), Step::Pcap(p), Step::AwaitBye(200_000)],
    );
    let file = dir.join("caller.xml");
    std::fs::write(&file, xml).unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());

    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let row =
        sqlx::query("SELECT recording_path, ticket_number FROM calls WHERE caller = '13800138201'")
            .fetch_one(db.pool())
            .await
            .expect("the call is recorded");
    let path: String = row.get(0);
    let ticket: Option<String> = row.get(1);
    assert!(ticket.is_some(), "the message became a ticket");
    let r = hound::WavReader::open(&path).expect("the message is a WAV file");
    let secs = r.duration() as f64 / 8000.0;
    // The story's last pause is not kept (200 ms after the last word are).
    assert!(
        secs >= story_secs - 1.0 && secs <= story_secs + 1.5,
        "a {story_secs:.0} s story was kept as {secs:.1} s"
    );
}

/// The finished call from `caller`: (ticket number, outcome).
async fn finished(db: &Db, caller: &str) -> (Option<String>, String) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = sqlx::query(
            "SELECT ticket_number, outcome FROM calls WHERE caller = $1 AND ended_at IS NOT NULL",
        )
        .bind(caller)
        .fetch_optional(db.pool())
        .await
        .expect("calls")
        {
            return (r.get(0), r.get(1));
        }
        assert!(Instant::now() < until, "no finished call from {caller}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_mid_sentence_leaves_a_ticket_and_only_mobiles_get_a_text() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    let speech = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_07.wav"));
    let p = dir.join("say.pcap");
    pcap::speech(&p, &after_silence(1, &speech));
    let said_ms = 1000 + speech.len() as u64 / 8;
    // A mobile and a landline caller each say one sentence during the greeting and hang up
    // a second later, long before the message would end by itself.
    for caller in ["13800138202", "051686661234"] {
        let xml = scenario(
            caller,
            &[
                Step::Pause(300),
                Step::Pcap(p.clone()),
                Step::Pause(said_ms + 1000),
                Step::Bye,
            ],
        );
        let file = dir.join(format!("{caller}.xml"));
        std::fs::write(&file, xml).unwrap();
        let (ok, out) = sipp(&h, &file, "12345", &[]);
        assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    }
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    for caller in ["13800138202", "051686661234"] {
        let (ticket, outcome) = finished(&db, caller).await;
        let number = ticket
            .unwrap_or_else(|| panic!("{caller}'s words became a ticket ({outcome})\n{}", h.log()));
        let rec: Option<String> =
            sqlx::query("SELECT recording_path FROM tickets WHERE number = $1")
                .bind(&number)
                .fetch_one(db.pool())
                .await
                .unwrap()
                .get(0);
        let secs = hound::WavReader::open(rec.expect("with the recording"))
            .unwrap()
            .duration() as f64
            / 8000.0;
        // All of it: the pre-roll before the first word makes up for the trailing silence of
        // the clip, which is not kept.
        let clip = speech.len() as f64 / 8000.0;
        assert!(secs >= clip - 0.5, "{secs:.1} s kept of {clip:.1} s");
    }
    // The accepted notice is queued for the mobile only (a landline cannot read it).
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM sms_outbox WHERE phone = '13800138202'")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "no accepted SMS for the mobile caller"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let landline: i64 = sqlx::query("SELECT COUNT(*) FROM sms_outbox WHERE phone = '051686661234'")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(landline, 0, "no text message to a landline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_says_only_hello_and_hangs_up_is_owed_a_call_back() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    // "喂" — half a second of voice — then nothing, then the caller gives up.
    let hello: Vec<i16> = (0..4000)
        .map(|i| ((i as f64 * 0.25).sin() * 6000.0) as i16)
        .collect();
    let p = dir.join("hello.pcap");
    pcap::speech(&p, &after_silence(1, &hello));
    let xml = scenario(
        "13800138203",
        &[
            Step::Pause(300),
            Step::Pcap(p),
            Step::Pause(4000),
            Step::Bye,
        ],
    );
    let file = dir.join("caller.xml");
    std::fs::write(&file, xml).unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let (ticket, _) = finished(&db, "13800138203").await;
    assert!(ticket.is_none(), "a hello is not a request");
    let kinds: Vec<String> = sqlx::query(
        "SELECT e.kind FROM call_events e JOIN calls c ON c.id = e.call WHERE c.caller = '13800138203'",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(kinds, ["left_menu"], "recorded as abandoned, to call back");
}
