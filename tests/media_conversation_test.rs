//! A staffed call over real loopback UDP: a caller's phone (440 Hz, μ-law) and an agent's
//! phone (1000 Hz, A-law) talk through two sessions; the conversation recording holds each
//! voice where it belongs, and a supervisor (700 Hz, μ-law) listens, whispers to the agent
//! and barges in. Tones are told apart by Goertzel amplitude; no timing is asserted.

mod common;

use std::path::Path;
use std::time::Duration;

use common::rtp::{tone_amplitude, Phone};
use hotline::media::*;

const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 700.0;
/// A -10 dBFS tone measures about 10 000; heard means well above, absent well below.
const HEARD: f64 = 3000.0;
const ABSENT: f64 = 500.0;

/// Skip the first 0.3 s of what a phone hears after a change, then measure 0.5 s.
const SKIP: usize = 2400;
const MEASURE: usize = 4000;

struct Call {
    caller: MediaSession,
    agent: MediaSession,
    caller_phone: Phone,
    agent_phone: Phone,
}

/// Caller and agent sessions, each with its phone talking its tone.
async fn call(pool: &PortPool) -> Call {
    let caller = MediaSession::open(pool).expect("caller session");
    let agent = MediaSession::open(pool).expect("agent session");
    let mut caller_phone = Phone::new(Codec::Pcmu).await;
    let mut agent_phone = Phone::new(Codec::Pcma).await;
    caller.start(caller_phone.params());
    agent.start(agent_phone.params());
    caller_phone.talk(caller.local_addr(), CALLER_HZ);
    agent_phone.talk(agent.local_addr(), AGENT_HZ);
    Call {
        caller,
        agent,
        caller_phone,
        agent_phone,
    }
}

fn pool() -> PortPool {
    PortPool::new(&common::sipp::media_config()).expect("port pool")
}

/// The file as a standard reader sees it: its spec and each channel's samples.
fn read_wav(path: &Path) -> (hound::WavSpec, Vec<Vec<i16>>) {
    let mut r = hound::WavReader::open(path).expect("a valid WAV file");
    let spec = r.spec();
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let ch = spec.channels as usize;
    let channels = (0..ch)
        .map(|c| all.iter().skip(c).step_by(ch).copied().collect())
        .collect();
    (spec, channels)
}

/// The part of a recorded channel after the first 0.3 s (the phones start talking then).
fn settled(pcm: &[i16]) -> &[i16] {
    &pcm[SKIP.min(pcm.len())..]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stereo_recording_has_the_caller_left_and_the_agent_right_until_a_hang_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = pool();
    let c = call(&pool).await;
    let bridged = {
        let (a, b) = (c.caller.clone(), c.agent.clone());
        tokio::spawn(async move { bridge(&a, &b).await })
    };
    let path = dir.path().join("call.wav");
    let rec = ConversationRecorder::start(&c.caller, &c.agent, &path, RecordLayout::Stereo)
        .expect("recording starts");
    assert!(matches!(
        ConversationRecorder::start(
            &c.caller,
            &c.agent,
            dir.path().join("again.wav"),
            RecordLayout::Mixed
        ),
        Err(MediaError::AlreadyRecording)
    ));
    // The bridge works while recording: each phone hears the other's tone.
    let (heard_by_caller, heard_by_agent) = tokio::join!(
        c.caller_phone.listen(SKIP, 2 * MEASURE),
        c.agent_phone.listen(SKIP, 2 * MEASURE)
    );
    assert!(tone_amplitude(&heard_by_caller, AGENT_HZ) > HEARD);
    assert!(tone_amplitude(&heard_by_agent, CALLER_HZ) > HEARD);

    // The agent hangs up: the recording ends with the call.
    c.agent.close();
    let done = rec.finish().await.expect("recording finishes");
    assert_eq!(
        done.ended_by,
        ConversationEnd::SecondEnded(EndReason::Closed)
    );
    assert_eq!(done.layout, RecordLayout::Stereo);
    assert_eq!(done.writer_gaps, Duration::ZERO);
    let _ = bridged.await;

    let (spec, ch) = read_wav(&path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    assert_eq!(
        done.duration,
        Duration::from_micros(ch[0].len() as u64 * 125),
        "the reported length is the file's"
    );
    assert!(ch[0].len() >= SKIP + 2 * MEASURE, "{} samples", ch[0].len());
    let (left, right) = (settled(&ch[0]), settled(&ch[1]));
    let (l440, l1000) = (
        tone_amplitude(left, CALLER_HZ),
        tone_amplitude(left, AGENT_HZ),
    );
    let (r440, r1000) = (
        tone_amplitude(right, CALLER_HZ),
        tone_amplitude(right, AGENT_HZ),
    );
    assert!(
        l440 > HEARD && l1000 < ABSENT,
        "left is the caller: 440 Hz {l440:.0}, 1 kHz {l1000:.0}"
    );
    assert!(
        r1000 > HEARD && r440 < ABSENT,
        "right is the agent: 440 Hz {r440:.0}, 1 kHz {r1000:.0}"
    );
    assert_eq!(c.caller.end_reason(), None, "the caller's leg lives on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_recording_holds_both_voices_also_when_not_bridged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = pool();
    let c = call(&pool).await;
    // Not bridged (the caller is on hold, say): each party's voice is still recorded.
    let path = dir.path().join("call.wav");
    let rec = ConversationRecorder::start(&c.caller, &c.agent, &path, RecordLayout::Mixed)
        .expect("recording starts");
    assert_eq!(rec.path(), path);
    c.caller_phone.listen(0, SKIP + 2 * MEASURE).await;
    let done = rec.finish().await.expect("recording finishes");
    assert_eq!(done.ended_by, ConversationEnd::Stopped);

    let (spec, ch) = read_wav(&path);
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
    let mono = settled(&ch[0]);
    let (a, b) = (
        tone_amplitude(mono, CALLER_HZ),
        tone_amplitude(mono, AGENT_HZ),
    );
    assert!(
        a > HEARD && b > HEARD,
        "both voices: 440 Hz {a:.0}, 1 kHz {b:.0}"
    );
    assert!(c.caller.end_reason().is_none() && c.agent.end_reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_recorder_still_leaves_a_playable_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = pool();
    let c = call(&pool).await;
    let path = dir.path().join("call.wav");
    let rec = ConversationRecorder::start(&c.caller, &c.agent, &path, RecordLayout::Stereo)
        .expect("recording starts");
    c.caller_phone.listen(0, SKIP + MEASURE).await;
    drop(rec);
    // The file is completed in the background; a standard reader opens it with the audio.
    let mut tries = 0;
    let left = loop {
        let (_, ch) = read_wav(&path);
        if ch[0].len() >= SKIP + MEASURE || tries > 100 {
            break ch[0].clone();
        }
        tries += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(left.len() >= SKIP + MEASURE, "{} samples", left.len());
    assert!(tone_amplitude(settled(&left), CALLER_HZ) > HEARD);
    // The sessions are free for a new recording.
    let again = ConversationRecorder::start(
        &c.caller,
        &c.agent,
        dir.path().join("again.wav"),
        RecordLayout::Mixed,
    )
    .expect("a second recording starts once the first is gone");
    again.finish().await.expect("finishes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rtp_during_recording_is_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = pool();
    let c = call(&pool).await;
    let path = dir.path().join("call.wav");
    let rec = ConversationRecorder::start(&c.caller, &c.agent, &path, RecordLayout::Stereo)
        .expect("recording starts");
    c.caller_phone.listen(0, SKIP).await;
    let garbage: [&[u8]; 4] = [
        &[0x80, 0x00, 0x01],                                      // truncated header
        &[0x8F, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0, 0],      // 15 CSRCs announced, none there
        &[0x90, 0x00, 0, 2, 0, 0, 1, 64, 0, 0, 0, 1, 0xBE, 0xDE], // extension cut short
        &[0xFF; 7],
    ];
    for g in garbage {
        c.caller_phone
            .rtp
            .send_to(g, c.caller.local_addr())
            .await
            .expect("send");
    }
    c.caller_phone.listen(0, 2 * MEASURE).await;
    let done = rec.finish().await.expect("recording finishes");
    assert_eq!(done.ended_by, ConversationEnd::Stopped);
    assert!(
        c.caller.stats().malformed_dropped >= 3,
        "{:?}",
        c.caller.stats()
    );
    let (_, ch) = read_wav(&path);
    assert!(tone_amplitude(settled(&ch[0]), CALLER_HZ) > HEARD);
    assert!(tone_amplitude(settled(&ch[1]), AGENT_HZ) > HEARD);
}

/// What each phone hears now (after the path fills): caller's, agent's, supervisor's.
async fn everyone_hears(c: &Call, sup: &Phone) -> [Vec<i16>; 3] {
    c.caller_phone.flush();
    c.agent_phone.flush();
    sup.flush();
    let (a, b, s) = tokio::join!(
        c.caller_phone.listen(SKIP, MEASURE),
        c.agent_phone.listen(SKIP, MEASURE),
        sup.listen(SKIP, MEASURE)
    );
    [a, b, s]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_listens_whispers_and_barges_in() {
    let pool = pool();
    let c = call(&pool).await;
    let supervisor = MediaSession::open(&pool).expect("supervisor session");
    let mut sup_phone = Phone::new(Codec::Pcmu).await;
    supervisor.start(sup_phone.params());
    sup_phone.talk(supervisor.local_addr(), SUPERVISOR_HZ);
    let bridged = {
        let (a, b) = (c.caller.clone(), c.agent.clone());
        tokio::spawn(async move { bridge(&a, &b).await })
    };
    let mut m =
        monitor(&c.caller, &c.agent, &supervisor, MonitorMode::Listen).expect("monitor starts");
    assert!(matches!(
        monitor(&c.caller, &c.agent, &supervisor, MonitorMode::Listen),
        Err(MediaError::AlreadyMonitored)
    ));

    // Listen: the supervisor hears both; nobody hears the supervisor.
    let [caller, agent, sup] = everyone_hears(&c, &sup_phone).await;
    let (s440, s1000) = (
        tone_amplitude(&sup, CALLER_HZ),
        tone_amplitude(&sup, AGENT_HZ),
    );
    assert!(
        s440 > HEARD && s1000 > HEARD,
        "supervisor hears 440 Hz {s440:.0}, 1 kHz {s1000:.0}"
    );
    assert!(
        tone_amplitude(&caller, AGENT_HZ) > HEARD,
        "the call goes on"
    );
    assert!(
        tone_amplitude(&agent, CALLER_HZ) > HEARD,
        "the call goes on"
    );
    assert!(
        tone_amplitude(&caller, SUPERVISOR_HZ) < ABSENT,
        "caller does not hear the supervisor"
    );
    assert!(
        tone_amplitude(&agent, SUPERVISOR_HZ) < ABSENT,
        "agent does not hear the supervisor"
    );

    // Whisper: the agent hears the supervisor over the caller; the caller does not.
    m.set_mode(MonitorMode::Whisper);
    assert_eq!(m.mode(), MonitorMode::Whisper);
    let [caller, agent, sup] = everyone_hears(&c, &sup_phone).await;
    let (a440, a700) = (
        tone_amplitude(&agent, CALLER_HZ),
        tone_amplitude(&agent, SUPERVISOR_HZ),
    );
    assert!(
        a440 > HEARD && a700 > HEARD,
        "agent hears caller {a440:.0} and supervisor {a700:.0}"
    );
    assert!(
        tone_amplitude(&caller, SUPERVISOR_HZ) < ABSENT,
        "caller does not hear the whisper"
    );
    assert!(tone_amplitude(&caller, AGENT_HZ) > HEARD);
    assert!(tone_amplitude(&sup, CALLER_HZ) > HEARD && tone_amplitude(&sup, AGENT_HZ) > HEARD);

    // Barge-in: everyone hears everyone.
    m.set_mode(MonitorMode::Barge);
    let [caller, agent, sup] = everyone_hears(&c, &sup_phone).await;
    let (c1000, c700) = (
        tone_amplitude(&caller, AGENT_HZ),
        tone_amplitude(&caller, SUPERVISOR_HZ),
    );
    assert!(
        c1000 > HEARD && c700 > HEARD,
        "caller hears agent {c1000:.0} and supervisor {c700:.0}"
    );
    assert!(
        tone_amplitude(&agent, CALLER_HZ) > HEARD && tone_amplitude(&agent, SUPERVISOR_HZ) > HEARD
    );
    assert!(tone_amplitude(&sup, CALLER_HZ) > HEARD && tone_amplitude(&sup, AGENT_HZ) > HEARD);

    // Monitor dropped: the call is the caller and the agent again; the supervisor hears nothing.
    drop(m);
    let [caller, agent, sup] = everyone_hears(&c, &sup_phone).await;
    assert!(tone_amplitude(&caller, SUPERVISOR_HZ) < ABSENT);
    assert!(tone_amplitude(&agent, SUPERVISOR_HZ) < ABSENT);
    assert!(tone_amplitude(&caller, AGENT_HZ) > HEARD && tone_amplitude(&agent, CALLER_HZ) > HEARD);
    assert!(tone_amplitude(&sup, CALLER_HZ) < ABSENT && tone_amplitude(&sup, AGENT_HZ) < ABSENT);
    assert!(!bridged.is_finished(), "the bridge still runs");
    sup_phone.silence();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_whose_file_cannot_be_created_fails_and_leaves_the_call_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = pool();
    let c = call(&pool).await;
    let missing = dir.path().join("no-such-dir").join("call.wav");
    let err = ConversationRecorder::start(&c.caller, &c.agent, &missing, RecordLayout::Stereo)
        .expect_err("the directory does not exist");
    assert!(matches!(err, MediaError::Wav(_)), "{err}");
    // Nothing is left attached: a recording to a good path starts and holds the caller.
    let path = dir.path().join("call.wav");
    let rec = ConversationRecorder::start(&c.caller, &c.agent, &path, RecordLayout::Stereo)
        .expect("recording starts");
    c.caller_phone.listen(0, SKIP + MEASURE).await;
    rec.finish().await.expect("recording finishes");
    let (_, ch) = read_wav(&path);
    assert!(tone_amplitude(settled(&ch[0]), CALLER_HZ) > HEARD);
}
