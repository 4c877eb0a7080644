//! Operators for end-to-end tests of the call centre: console accounts with SIP passwords,
//! their desk phones (SIPp registering with digest auth, then answering — or not — on the
//! port they registered from), and the `hotline` CLI that changes agent states.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::net::free_port;
use super::serve::Hotline;
use super::{hotline_bin, repo};

/// The SIP password every test operator's phone uses.
pub const PHONE_PASSWORD: &str = "desk-phone-pw-1";

/// Runs the `hotline` CLI against the test server's data; returns stdout, panics on failure.
pub fn cli(h: &Hotline, args: &[&str], password: &str) -> String {
    cli_in(h.dir.path(), args, password)
}

pub fn cli_in(data_dir: &Path, args: &[&str], password: &str) -> String {
    let out = Command::new(hotline_bin())
        .args(args)
        .current_dir(repo())
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
