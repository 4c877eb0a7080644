//! A real softphone (baresip) calls in and sends audio from a WAV file:
//! - the recording on our side holds that audio (length, energy, pitch);
//! - DTMF tones in the audio (in-band, synthesised by sox) come out as the right digits;
//! - speech (espeak-ng) yields no digits.

mod common;
use common::sipp as support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hotline::media::{InbandDtmf, RecordOptions};
use hotline::sip::{Call, CallHandler};
use support::*;
use tokio::sync::mpsc;

#[derive(Debug)]
enum Got {
    Recording(Vec<i16>),
    Digits(String),
}

enum Mode {
    Record,
    Digits,
}

struct Handler {
    mode: Mode,
    out: mpsc::UnboundedSender<Got>,
}

#[async_trait::async_trait]
impl CallHandler for Handler {
    async fn handle(&self, call: Call) {
        if call.answer().await.is_err() {
            return;
        }
        match self.mode {
            Mode::Record => {
                let opts = RecordOptions {
                    max: Duration::from_secs(4),
                    silence_end: None,
                    stop_on_hash: false,
                };
                if let Ok(rec) = call.record(opts).await {
                    let _ = self.out.send(Got::Recording(rec.pcm));
                }
            }
            Mode::Digits => {
                // Keep every digit heard, even if the caller hangs up before `#`.
                let mut d = String::new();
                while let Ok(Some(c)) = call.next_digit(Duration::from_secs(10)).await {
                    if c == '#' {
                        break;
                    }
                    d.push(c);
                }
                let _ = self.out.send(Got::Digits(d));
            }
        }
        call.hangup().await;
    }
}

fn sox(args: &[&str]) {
    let st = Command::new("sox")
        .args(args)
        .status()
        .expect("sox runs (package sox)");
    assert!(st.success(), "sox {args:?}");
}

/// DTMF tones per ITU-T Q.23, 150 ms each with 150 ms gaps, 8 kHz mono.
fn dtmf_wav(dir: &Path, digits: &str) -> String {
    let mut parts = vec![];
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        &dir.join("gap.wav").display().to_string(),
        "trim",
        "0",
        "0.15",
    ]);
    let lead = dir.join("lead.wav").display().to_string();
    sox(&[
        "-n", "-r", "8000", "-c", "1", "-b", "16", &lead, "trim", "0", "1.0",
    ]);
    parts.push(lead);
    for (i, d) in digits.chars().enumerate() {
        let (lo, hi) = match d {
            '1' => (697, 1209),
            '2' => (697, 1336),
            '3' => (697, 1477),
            '4' => (770, 1209),
            '5' => (770, 1336),
            '6' => (770, 1477),
            '7' => (852, 1209),
            '8' => (852, 1336),
            '9' => (852, 1477),
            '*' => (941, 1209),
            '0' => (941, 1336),
            '#' => (941, 1477),
            _ => panic!("digit {d}"),
        };
        let f = dir.join(format!("d{i}.wav")).display().to_string();
        sox(&[
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            &f,
            "synth",
            "0.15",
            "sine",
            &lo.to_string(),
            "sine",
            &hi.to_string(),
            "channels",
            "1",
            "vol",
            "0.4",
        ]);
        parts.push(f);
        parts.push(dir.join("gap.wav").display().to_string());
    }
    let out = dir.join("dtmf.wav").display().to_string();
    let mut args: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
    args.push(&out);
    sox(&args);
    out
}

/// Call our server from baresip, sending `wav` as the microphone, for `secs` seconds.
async fn baresip_call(server_port: u16, wav: &str, secs: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let heard = dir.path().join("heard.wav").display().to_string();
    let config = format!(
        "poll_method\t\tpoll\nsip_listen\t\t127.0.0.1:{port}\naudio_player\t\taufile,{heard}\naudio_source\t\taufile,{wav}\naudio_alert\t\taufile,{heard}\nmodule_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule\t\t\taufile.so\nmodule_app\t\taccount.so\nmodule_app\t\tmenu.so\n"
    );
    std::fs::write(dir.path().join("config"), config).expect("config");
    std::fs::write(
        dir.path().join("accounts"),
        "<sip:13800138000@127.0.0.1>;regint=0\n",
    )
    .expect("accounts");
    std::fs::write(dir.path().join("contacts"), "").expect("contacts");
    let out = tokio::process::Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .args(["-e", &format!("/dial sip:12345@127.0.0.1:{server_port}")])
        .args(["-t", &secs.to_string()])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(secs as u64 + 30), out)
        .await
        .expect("baresip ends")
        .expect("baresip runs (package baresip-core)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Call established"),
        "baresip call failed:\n{text}"
    );
}

async fn server(mode: Mode, inband: InbandDtmf) -> (TestServer, mpsc::UnboundedReceiver<Got>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut media = media_config();
    media.inband_dtmf = inband;
    let server = hotline::sip::Server::start(
        config(),
        media,
        Arc::new(Handler { mode, out: tx }),
        shutdown.clone(),
    )
    .await
    .expect("server starts");
    let port = server.udp_addrs[0].port();
    (
        TestServer {
            server,
            port,
            shutdown,
        },
        rx,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softphone_audio_is_in_our_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("tone.wav").display().to_string();
    // 6 s of a 440 Hz tone at half scale.
    sox(&[
        "-n", "-r", "8000", "-c", "1", "-b", "16", &wav, "synth", "6", "sine", "440", "vol", "0.5",
    ]);
    let (s, mut rx) = server(Mode::Record, InbandDtmf::Auto).await;
    let call = baresip_call(s.port, &wav, 8);
    let got = async { rx.recv().await };
    let (_, got) = tokio::join!(call, got);
    let Some(Got::Recording(pcm)) = got else {
        panic!("no recording: {got:?}")
    };
    let secs = pcm.len() as f64 / 8000.0;
    assert!(secs >= 3.0, "recording is {secs:.2} s long");
    // Energy of the loud part: RMS well above silence (the tone is at -6 dBFS peak).
    let tail = &pcm[pcm.len() / 2..];
    let rms = (tail.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
    assert!(rms > 3000.0, "rms {rms:.0}");
    // And it is the tone that was sent: ~880 zero crossings per second for 440 Hz.
    let zc = tail.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count() as f64
        / (tail.len() as f64 / 8000.0);
    assert!(
        (800.0..960.0).contains(&zc),
        "zero crossings per second {zc:.0}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inband_dtmf_tones_give_the_digits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dtmf_wav(dir.path(), "1590*#");
    let (s, mut rx) = server(Mode::Digits, InbandDtmf::Always).await;
    let call = baresip_call(s.port, &wav, 6);
    let got = async { rx.recv().await };
    let (_, got) = tokio::join!(call, got);
    let Some(Got::Digits(d)) = got else {
        panic!("no digits: {got:?}")
    };
    assert_eq!(d, "1590*");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_gives_no_digits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("speech22k.wav").display().to_string();
    let st = Command::new("espeak-ng")
        .args(["-v", "en", "-s", "150", "-w", &raw])
        .arg("Hello, I would like to report a broken water pipe on Main Street, number twelve, it has been leaking since Monday morning.")
        .status()
        .expect("espeak-ng runs (package espeak-ng)");
    assert!(st.success());
    let wav = dir.path().join("speech.wav").display().to_string();
    sox(&[&raw, "-r", "8000", "-c", "1", "-b", "16", &wav]);
    let (s, mut rx) = server(Mode::Digits, InbandDtmf::Always).await;
    let call = baresip_call(s.port, &wav, 8);
    let got = async { rx.recv().await };
    let (_, got) = tokio::join!(call, got);
    let Some(Got::Digits(d)) = got else {
        panic!("no report: {got:?}")
    };
    assert_eq!(d, "", "speech must not produce digits");
}
