//! Operators for end-to-end tests of the call centre: console accounts with SIP passwords,
//! their desk phones (SIPp registering with digest auth, then answering — or not — on the
//! port they registered from), and the `hotline` CLI that changes agent states.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

use hotline::store::Db;
use serde_json::{json, Value};
use sqlx::Row;

use super::net::free_port;
use super::pcap;
use super::serve::{scenario, sipp, Hotline, Step};
use super::{hotline_bin, repo};

/// The SIP password every test operator's phone uses.
pub const PHONE_PASSWORD: &str = "desk-phone-pw-1";

/// Runs the `hotline` CLI against the test server's data; returns stdout, panics on failure.
pub fn cli(h: &Hotline, args: &[&str], password: &str) -> String {
    cli_in(h.dir.path(), args, password)
}

pub fn cli_in(data_dir: &Path, args: &[&str], password: &str) -> String {
    cli_env(data_dir, &[], args, password)
}

/// [`cli_in`] with more environment (e.g. `HOTLINE__DATABASE__URL` for nodes on PostgreSQL).
pub fn cli_env(data_dir: &Path, env: &[(&str, &str)], args: &[&str], password: &str) -> String {
    let out = Command::new(hotline_bin())
        .args(args)
        .current_dir(repo())
        .envs(env.iter().copied())
        .env("HOTLINE__DATA_DIR", data_dir)
        .env("HOTLINE_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("hotline CLI runs");
    assert!(
        out.status.success(),
        "hotline {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A console account with the operator role and a SIP password for its phone.
pub fn operator(h: &Hotline, name: &str) {
    cli(
        h,
        &["user", "add", "--name", name, "--role", "operator"],
        "console-pw-123",
    );
    cli(h, &["user", "sip-password", name], PHONE_PASSWORD);
}

/// [`operator`] for nodes on the PostgreSQL at `url`.
pub fn operator_pg(h: &Hotline, url: &str, name: &str) {
    let env = [("HOTLINE__DATABASE__URL", url)];
    cli_env(
        h.dir.path(),
        &env,
        &["user", "add", "--name", name, "--role", "operator"],
        "console-pw-123",
    );
    cli_env(
        h.dir.path(),
        &env,
        &["user", "sip-password", name],
        PHONE_PASSWORD,
    );
}

pub fn sipp_scenario(name: &str) -> PathBuf {
    repo().join("tests/sipp").join(name)
}

/// Registers `name`'s desk phone from a fresh local port (SIPp, digest auth); the port.
pub fn register_phone(h: &Hotline, name: &str) -> u16 {
    let port = free_port();
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", h.sip_port))
        .arg("-sf")
        .arg(sipp_scenario("register_only.xml"))
        .args(["-s", name, "-au", name, "-ap", PHONE_PASSWORD])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s"])
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "{name}'s phone registers:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    port
}

/// What a desk phone does when it rings.
#[derive(Debug, Clone, Copy)]
pub enum Phone {
    /// Answers, echoes what it hears, waits for BYE.
    Answers,
    /// Answers and hangs up after 2 s.
    AnswersAndHangsUp,
    /// Rings until cancelled.
    NeverAnswers,
}

/// The phone registered at `port` waiting for `calls` calls (SIPp UAS on that port).
pub fn phone(port: u16, does: Phone, calls: u32) -> Child {
    let mut cmd = Command::new("sipp");
    match does {
        Phone::Answers => cmd.args(["-sn", "uas"]),
        Phone::AnswersAndHangsUp => cmd.arg("-sf").arg(sipp_scenario("uas_hangup.xml")),
        Phone::NeverAnswers => cmd.arg("-sf").arg(sipp_scenario("uas_no_answer.xml")),
    };
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_port().to_string(), "-rtp_echo"])
        .args(["-m", &calls.to_string(), "-nostdin", "-timeout", "90s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp UAS")
}

/// Waits for a phone's SIPp to finish; true when every call went as its scenario says.
pub fn phone_done(child: Child) -> (bool, String) {
    let out = child.wait_with_output().expect("sipp UAS ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Stops a phone that is still waiting.
pub fn hang_up_phone(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The agent states `hotline agent list --json` prints: name → (state, reason, answered).
pub fn agents(h: &Hotline) -> std::collections::BTreeMap<String, (String, Option<String>, u64)> {
    cli(h, &["agent", "list", "--json"], "")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_string(),
                (
                    v["state"].as_str().unwrap_or_default().to_string(),
                    v["reason"].as_str().map(str::to_string),
                    v["answered_today"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// A queues file for a test, with the repository's hold music; `extra` lines go into the
/// `operators` queue.
pub fn queues_file(dir: &Path, extra: &str) -> PathBuf {
    let f = dir.join("queues.toml");
    std::fs::write(
        &f,
        format!(
            "[queue.operators]\nmembers = [\"role:operator\"]\nhold_music = \"{}\"\n{extra}\n",
            repo().join("sounds/hold").display()
        ),
    )
    .expect("write queues file");
    f
}

/// `hotline serve` with the queues file `extra` configures; phones are not pinged (SIPp's
/// answering scenarios take only INVITEs).
pub fn hotline(extra: &str) -> Hotline {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = queues_file(dir.path(), extra);
    let h = Hotline::start(&[
        ("HOTLINE__ACD__QUEUES_FILE", q.display().to_string()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
    ]);
    // The queues file must outlive the server's start only.
    drop(dir);
    h
}

/// A caller pressing 0 after the greeting, then `steps`.
pub fn caller(h: &Hotline, number: &str, steps: &[Step]) -> (bool, String) {
    let dir = h.dir.path();
    let zero = dir.join(format!("zero-{number}.pcap"));
    pcap::dtmf(&zero, "0", 120, 101);
    let mut all = vec![Step::Pause(800), Step::Pcap(zero)];
    all.extend_from_slice(steps);
    let file = dir.join(format!("caller-{number}.xml"));
    std::fs::write(&file, scenario(number, &all)).expect("scenario");
    sipp(h, &file, "12345", &[])
}

/// A caller's scenario file: their SDP names `media_port` (a test's socket, so it gets all
/// the RTP hotline sends them), they press 0 by SIP INFO after the greeting, then `then`.
pub fn caller_file(h: &Hotline, number: &str, media_port: u16, then: &[Step]) -> PathBuf {
    let mut steps = vec![Step::Pause(800), Step::Info('0')];
    steps.extend_from_slice(then);
    let xml =
        scenario(number, &steps).replace("m=audio [media_port]", &format!("m=audio {media_port}"));
    let file = h.dir.path().join(format!("caller-{number}.xml"));
    std::fs::write(&file, xml).expect("scenario");
    file
}

/// The events of the last call from `number`, once it has ended: (kind, detail).
pub async fn events(h: &Hotline, number: &str) -> Vec<(String, serde_json::Value)> {
    events_in(&h.db_url(), number, h).await
}

/// [`events`] from the database at `url` (nodes on PostgreSQL); `h`'s log on failure.
pub async fn events_in(url: &str, number: &str, h: &Hotline) -> Vec<(String, serde_json::Value)> {
    let db = Db::open(url, 1).await.expect("db");
    let until = Instant::now() + Duration::from_secs(20);
    let id: i64 = loop {
        let row = sqlx::query(
            "SELECT id FROM calls WHERE caller = $1 AND ended_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(number)
        .fetch_optional(db.pool())
        .await
        .expect("calls");
        if let Some(r) = row {
            break r.get(0);
        }
        assert!(
            Instant::now() < until,
            "no finished call from {number}\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rows = sqlx::query("SELECT kind, detail FROM call_events WHERE call = $1 ORDER BY id")
        .bind(id)
        .fetch_all(db.pool())
        .await
        .expect("events");
    db.close().await;
    rows.iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                serde_json::from_str(&r.get::<String, _>(1)).expect("detail json"),
            )
        })
        .collect()
}

pub fn kinds(ev: &[(String, serde_json::Value)]) -> Vec<&str> {
    ev.iter().map(|(k, _)| k.as_str()).collect()
}

/// A console account with the supervisor role and a SIP password for its phone.
pub fn supervisor(h: &Hotline, name: &str) {
    cli(
        h,
        &["user", "add", "--name", name, "--role", "supervisor"],
        "console-pw-123",
    );
    cli(h, &["user", "sip-password", name], PHONE_PASSWORD);
}

/// The hold music's notes (C5 E5 G5 D5 F5 A5): how many 100 ms blocks one dominates.
pub fn music_blocks(pcm: &[i16]) -> usize {
    let notes = [523.25, 659.25, 783.99, 587.33, 698.46, 880.0];
    pcm.chunks(800)
        .filter(|b| notes.iter().any(|f| tone_share(b, *f) > 0.6))
        .count()
}

/// Drops what a socket has received so far.
pub fn drain(sock: &std::net::UdpSocket) {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1500];
    while sock.recv(&mut buf).is_ok() {}
    sock.set_nonblocking(false).unwrap();
}

pub fn ready(h: &Hotline, name: &str) {
    let out = cli(h, &["agent", "ready", name], "");
    assert!(out.contains("ready"), "{out}");
}

pub fn wait_until(what: &str, h: &Hotline, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < until, "{what}\n{}", h.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What a caller whose SDP points at `sock` hears: the μ-law payloads of the RTP that
/// arrives within `secs`, decoded.
pub fn listen(sock: std::net::UdpSocket, secs: u64) -> std::thread::JoinHandle<Vec<i16>> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let until = Instant::now() + Duration::from_secs(secs);
        let mut pcm = Vec::new();
        let mut buf = [0u8; 1500];
        while Instant::now() < until {
            if let Ok(n) = sock.recv(&mut buf) {
                // RTP with PCMU (payload type 0): 12-byte header, no CSRC or extension.
                if n > 12 && buf[1] & 0x7f == 0 {
                    pcm.extend(
                        buf[12..n]
                            .iter()
                            .map(|b| hotline::media::g711::ulaw_to_linear(*b)),
                    );
                }
            }
        }
        pcm
    })
}

/// Power of `f` Hz in a block of 8 kHz samples (Goertzel), relative to the block's energy.
pub fn tone_share(block: &[i16], f: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f / 8000.0;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in block {
        let s0 = x as f64 + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f64 = block.iter().map(|&x| (x as f64) * (x as f64)).sum();
    if energy < 1e3 {
        return 0.0;
    }
    power / (energy * block.len() as f64 / 2.0)
}

pub fn tone(f: f64, secs: f64) -> Vec<i16> {
    (0..(secs * 8000.0) as usize)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * f / 8000.0).sin() * 8000.0) as i16)
        .collect()
}

/// A desk phone (SIPp UAS on `port`) that answers and then says `pcap`, then waits for BYE.
pub fn talking_phone(dir: &Path, port: u16, pcap: &Path) -> Child {
    answering_phone(dir, port, Some(pcap), None)
}

/// A desk phone (SIPp UAS on `port`) that answers, says `say` if given, and waits for BYE.
/// With `media_to`, its SDP names that local UDP port instead of its own, so a test's
/// socket receives all the RTP hotline sends to this phone (see [`listen`]).
pub fn answering_phone(dir: &Path, port: u16, say: Option<&Path>, media_to: Option<u16>) -> Child {
    answering_phone_after(dir, port, 0, say, media_to)
}

/// [`answering_phone`] that rings (180) for `ring_ms` before it answers, as a person
/// picking up does.
pub fn answering_phone_after(
    dir: &Path,
    port: u16,
    ring_ms: u64,
    say: Option<&Path>,
    media_to: Option<u16>,
) -> Child {
    let ring = if ring_ms == 0 {
        String::new()
    } else {
        format!(
            r#"  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]A[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <pause milliseconds="{ring_ms}"/>
"#
        )
    };
    let media = media_to
        .map(|p| p.to_string())
        .unwrap_or_else(|| "[media_port]".into());
    let say = say
        .map(|p| {
            format!(
                "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
                p.display()
            )
        })
        .unwrap_or_default();
    let xml = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent talks">
  <recv request="INVITE"/>
{ring}  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]A[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:phone@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio {media} RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
{say}  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#
    );
    let file = dir.join(format!("answering-{port}.xml"));
    std::fs::write(&file, xml).unwrap();
    Command::new("sipp")
        .arg("-sf")
        .arg(&file)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "90s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp UAS")
}

/// An API token for `name` (issued as an administrator would).
pub async fn token(h: &Hotline, name: &str) -> String {
    token_at(&h.db_url(), name).await
}

/// [`token`] in the database at `url`.
pub async fn token_at(url: &str, name: &str) -> String {
    let db = Db::open(url, 1).await.expect("db");
    let id = hotline::web::accounts::list(&db)
        .await
        .expect("accounts")
        .into_iter()
        .find(|a| a.name == name)
        .expect("account")
        .id;
    let t = hotline::web::accounts::create_api_token(&db, id, "desk test")
        .await
        .expect("token");
    db.close().await;
    t
}

/// One JSON API request; the status and the body.
pub async fn api(
    h: &Hotline,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("http://127.0.0.1:{}{path}", h.http_port);
    let c = reqwest::Client::new();
    let mut rq = match method {
        "GET" => c.get(url),
        _ => c.post(url),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    let r = rq.send().await.expect("API answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until the API says `agent` is in `state`.
pub async fn until_state(h: &Hotline, token: &str, agent: &str, state: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = api(h, token, "GET", "/api/v1/agents", None).await;
        let now = list
            .as_array()
            .and_then(|l| l.iter().find(|a| a["name"] == agent))
            .map(|a| a["state"].clone());
        if now == Some(json!(state)) {
            return;
        }
        assert!(
            Instant::now() < until,
            "{agent} never became {state} (now {now:?})\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A caller's media on `sock` (the caller's SDP names it) for `secs`: what hotline sends is
/// decoded as in [`listen`], and once hotline's first packet shows where its session is, the
/// caller sends PCMU back to it, 20 ms a packet: silence for `quiet` from then (so the voice
/// menu does not take them for speaking), then `voice` (8 kHz samples, looped).
pub fn talk_and_listen(
    sock: std::net::UdpSocket,
    secs: u64,
    quiet: Duration,
    voice: Vec<i16>,
) -> std::thread::JoinHandle<Vec<i16>> {
    std::thread::spawn(move || talk_and_hear_keys(sock, secs, quiet, voice).pcm)
}

/// What a caller heard: the audio, and the keys pressed toward them.
pub struct Heard {
    /// PCMU payloads, decoded.
    pub pcm: Vec<i16>,
    /// Keys that came as RFC 4733 telephone-events (payload type 101), each press once.
    pub events: String,
}

impl Heard {
    /// Keys that came as tones in the audio.
    pub fn tones(&self) -> String {
        let mut keys = String::new();
        hotline::media::dtmf::ToneDetector::new().feed(&self.pcm, |d| keys.push(d.as_char()));
        keys
    }
}

/// [`talk_and_listen`] that also decodes the telephone-events hotline sends.
pub fn talk_and_hear(
    sock: std::net::UdpSocket,
    secs: u64,
    quiet: Duration,
    voice: Vec<i16>,
) -> std::thread::JoinHandle<Heard> {
    std::thread::spawn(move || talk_and_hear_keys(sock, secs, quiet, voice))
}

fn talk_and_hear_keys(
    sock: std::net::UdpSocket,
    secs: u64,
    quiet: Duration,
    voice: Vec<i16>,
) -> Heard {
    use hotline::media::dtmf::{EventDeduper, TelephoneEvent};
    let mut speak_at = None;
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let until = Instant::now() + Duration::from_secs(secs);
    let (mut pcm, mut buf) = (Vec::new(), [0u8; 1500]);
    let (mut events, mut presses) = (String::new(), EventDeduper::default());
    let mut peer = None;
    let (mut seq, mut at, mut next) = (0u16, 0usize, Instant::now());
    while Instant::now() < until {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            peer.get_or_insert(from);
            speak_at.get_or_insert(Instant::now() + quiet);
            if n > 12 && buf[1] & 0x7f == 0 {
                pcm.extend(
                    buf[12..n]
                        .iter()
                        .map(|b| hotline::media::g711::ulaw_to_linear(*b)),
                );
            } else if n >= 16 && buf[1] & 0x7f == 101 {
                let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                if let Some(ev) = TelephoneEvent::parse(&buf[12..n]) {
                    let keys = presses.on_packet(ts, ev, std::time::Instant::now());
                    events.extend(keys.into_iter().flatten().map(|d| d.as_char()));
                }
            }
        }
        if let (Some(to), true) = (peer, Instant::now() >= next) {
            next += Duration::from_millis(20);
            let mut pkt = vec![0x80u8, 0, (seq >> 8) as u8, seq as u8];
            pkt.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            let speaking = speak_at.is_some_and(|t| Instant::now() >= t);
            pkt.extend((0..160).map(|i| {
                let x = if speaking {
                    voice[(at + i) % voice.len()]
                } else {
                    0
                };
                hotline::media::g711::linear_to_ulaw(x)
            }));
            at = (at + 160) % voice.len();
            seq = seq.wrapping_add(1);
            let _ = sock.send_to(&pkt, to);
        }
    }
    Heard { pcm, events }
}
