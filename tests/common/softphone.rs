//! The agent desk's browser softphone in headless Chromium (tests/browser/softphone.mjs,
//! playwright-core driving Debian's /usr/bin/chromium) against `hotline serve`: run to its
//! end in one mode (`run_page`), or followed line by line while callers, phones and the API
//! do their part (`Page`); and the SIPp callers that ring it.
#![allow(dead_code)]

use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::repo;
use super::serve::{Hotline, Step};

/// The operator's microphone: a 1 kHz tone, 48 kHz mono, as Chromium's fake capture takes it.
pub fn mic_wav(h: &Hotline) -> PathBuf {
    let path = h.dir.path().join("mic-1khz.wav");
    if path.exists() {
        return path;
    }
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

/// softphone.mjs for `agent` (password `console-pw-123`) in `mode`, expecting `caller`.
fn page_command(h: &Hotline, agent: &str, mode: &str, caller: &str) -> Command {
    let mut c = Command::new("node");
    c.arg("softphone.mjs")
        .current_dir(super::browser_dir())
        .env("BASE", format!("http://127.0.0.1:{}", h.http_port))
        .env("SHOTS", repo().join("target/browser-screenshots"))
        .env("AGENT", agent)
        .env("PASSWORD", "console-pw-123")
        .env("CALLER", caller)
        .env("MODE", mode)
        .env("MIC_WAV", mic_wav(h));
    c
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
    let mut node = page_command(h, "ops1", mode, caller)
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

/// How a caller's phone takes key presses sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKeys {
    /// Its SDP offers telephone-event 101 besides PCMU.
    Rfc4733,
    /// PCMU only: keys reach it as tones in the audio.
    Inband,
}

/// [`caller_file`](super::agents::caller_file) with the caller's SDP offering
/// telephone-event or not.
pub fn caller_scenario_keys(
    h: &Hotline,
    number: &str,
    media_port: u16,
    then: &[Step],
    keys: CallerKeys,
) -> PathBuf {
    let file = super::agents::caller_file(h, number, media_port, then);
    if keys == CallerKeys::Inband {
        let xml = std::fs::read_to_string(&file)
            .unwrap()
            .replace(" RTP/AVP 0 101\n", " RTP/AVP 0\n")
            .replace("a=rtpmap:101 telephone-event/8000\n", "")
            .replace("a=fmtp:101 0-15\n", "");
        assert!(!xml.contains("telephone-event"), "{xml}");
        std::fs::write(&file, xml).unwrap();
    }
    file
}

/// softphone.mjs running one MODE for `agent` (password `console-pw-123`), its lines read
/// as they come.
pub struct Page {
    node: Child,
    orders: ChildStdin,
    lines: Receiver<String>,
    said: String,
}

impl Page {
    /// Opens the desk of `agent` in `mode`; `caller` is the number the page expects to ring
    /// (modes that check it), `env` more settings (e.g. `CALLS`).
    pub fn open(h: &Hotline, agent: &str, mode: &str, caller: &str, env: &[(&str, &str)]) -> Page {
        let mut node = page_command(h, agent, mode, caller)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is needed for the browser tests");
        let (tx, lines) = mpsc::channel();
        let out = node.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Page {
            orders: node.stdin.take().expect("stdin"),
            node,
            lines,
            said: String::new(),
        }
    }

    /// Waits up to `within` for a line starting with `prefix` and returns it; panics with
    /// everything the page said (and the server's log) if it fails, ends or is late.
    pub fn expect(&mut self, h: &Hotline, prefix: &str, within: Duration) -> String {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.said.push_str(&line);
                    self.said.push('\n');
                    if line.starts_with(prefix) {
                        return line;
                    }
                    if line.starts_with("FAIL") {
                        panic!(
                            "the page failed waiting for {prefix:?}:\n{}",
                            self.transcript(h)
                        );
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "the page never said {prefix:?} within {within:?}:\n{}",
                    self.transcript(h)
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the page ended before saying {prefix:?}:\n{}",
                    self.transcript(h)
                ),
            }
        }
    }

    /// Presses a button of the screen pop (modes that take orders, e.g. "hold" or
    /// "transfer agent:ops2"); what the desk said about it ("ok …" or "error …").
    pub fn press(&mut self, h: &Hotline, order: &str) -> String {
        writeln!(self.orders, "{order}").expect("the page takes orders");
        let prefix = format!("did {order} ");
        let done = self.expect(h, &prefix, Duration::from_secs(20));
        done[prefix.len()..].to_string()
    }

    /// What the page said so far, one line each.
    pub fn said(&mut self) -> &str {
        while let Ok(line) = self.lines.try_recv() {
            self.said.push_str(&line);
            self.said.push('\n');
        }
        &self.said
    }

    /// Waits for the script to end; panics unless it ended well.
    pub fn finish(mut self, h: &Hotline) {
        let ok = self.node.wait().expect("node ends").success();
        // Its last lines, until the reader sees the end of its output.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.said.push_str(&line);
            self.said.push('\n');
        }
        assert!(ok, "the page ended badly:\n{}", self.transcript(h));
    }

    fn transcript(&mut self, h: &Hotline) -> String {
        let mut err = String::new();
        if let Some(mut e) = self.node.stderr.take() {
            let _ = self.node.kill();
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        format!("{}{err}\n--- log ---\n{}", self.said, h.log())
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.node.kill();
        let _ = self.node.wait();
    }
}
