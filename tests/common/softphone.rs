//! The agent desk's browser softphone in headless Chromium (`tests/browser/softphone.mjs`)
//! against a running `hotline serve`, and the SIPp caller it answers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::repo;
use super::serve::{scenario, Hotline, Step};

/// The operator's microphone: a 1 kHz tone, 48 kHz mono, as Chromium's fake capture takes it.
pub fn mic_wav(h: &Hotline) -> std::path::PathBuf {
    let path = h.dir.path().join("mic-1khz.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("wav");
    for i in 0..48000 * 5 {
        let x = (i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 48000.0).sin() * 12000.0;
        w.write_sample(x as i16).expect("wav sample");
    }
    w.finalize().expect("wav");
    path
}

pub fn browser_deps() -> std::path::PathBuf {
    let dir = repo().join("tests/browser");
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian package `chromium` is needed (apt-get install -y chromium)"
    );
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the browser tests");
        assert!(ok.success(), "npm ci in tests/browser failed");
    }
    dir
}

/// Runs softphone.mjs in `mode`; when it says "ready", `on_ready` starts the caller. Every
/// line it printed, and whether it ended well.
pub fn run_page(
    h: &Hotline,
    mode: &str,
    caller: &str,
    mut on_ready: impl FnMut(),
    mut on_line: impl FnMut(&str),
) -> (bool, String) {
    let dir = browser_deps();
    let mut node = Command::new("node")
        .arg("softphone.mjs")
        .current_dir(&dir)
        .env("BASE", format!("http://127.0.0.1:{}", h.http_port))
        .env("SHOTS", repo().join("target/browser-screenshots"))
        .env("AGENT", "ops1")
        .env("PASSWORD", "console-pw-123")
        .env("CALLER", caller)
        .env("MODE", mode)
        .env("MIC_WAV", mic_wav(h))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for the browser tests");
    let mut said = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap_or_default();
        said.push_str(&line);
        said.push('\n');
        if line == "ready" {
            on_ready();
        }
        on_line(&line);
        if line.starts_with("ok") || line.starts_with("FAIL") {
            break;
        }
    }
    let status = node.wait().expect("node ends");
    if let Some(mut e) = node.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut said);
    }
    (status.success(), said)
}

/// A caller whose SDP names `media_port` (a test socket) and who presses 0 by SIP INFO.
pub fn caller_scenario(
    h: &Hotline,
    number: &str,
    media_port: u16,
    then: &[Step],
) -> std::path::PathBuf {
    let mut steps = vec![Step::Pause(800), Step::Info('0')];
    steps.extend_from_slice(then);
    let xml =
        scenario(number, &steps).replace("m=audio [media_port]", &format!("m=audio {media_port}"));
    let file = h.dir.path().join(format!("caller-{number}.xml"));
    std::fs::write(&file, xml).unwrap();
    file
}
