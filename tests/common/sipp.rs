//! Shared helpers for the SIP end-to-end tests: an in-process server and a SIPp runner.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hotline::sip::{CallHandler, Server, SipConfig};

#[allow(unused_imports)] // part of this helper's API for the tests that use it
pub use super::net::free_port;
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub server: Server,
    pub port: u16,
    pub shutdown: CancellationToken,
}

pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp")
}

pub fn config() -> SipConfig {
    SipConfig {
        listen_udp: vec!["127.0.0.1:0".parse().expect("addr")],
        listen_tcp: vec!["127.0.0.1:0".parse().expect("addr")],
        drain_timeout_secs: 10,
        ..SipConfig::default()
    }
}

pub fn media_config() -> hotline::media::MediaConfig {
    hotline::media::MediaConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        ..Default::default()
    }
}

pub async fn start(cfg: SipConfig, handler: Arc<dyn CallHandler>) -> TestServer {
    // RUST_LOG=hotline=debug shows the server's side of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let shutdown = CancellationToken::new();
    let server = Server::start(cfg, media_config(), handler, shutdown.clone())
        .await
        .expect("server starts");
    let port = server.udp_addrs[0].port();
    TestServer {
        server,
        port,
        shutdown,
    }
}

pub struct SippRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
    pub errors: String,
}

/// Run SIPp against `target` with a scenario from tests/sipp (or `-sn` built-ins via args).
pub async fn sipp(target: SocketAddr, args: &[&str]) -> SippRun {
    sipp_from("127.0.0.1", target, args).await
}

/// SIPp over IPv6 loopback.
pub async fn sipp_v6(target: SocketAddr, args: &[&str]) -> SippRun {
    sipp_from("::1", target, args).await
}

async fn sipp_from(local_ip: &str, target: SocketAddr, args: &[&str]) -> SippRun {
    let dir = tempfile::tempdir().expect("tempdir");
    // SIPp's built-in uac_pcap scenario reads pcap/g711a.pcap from the working directory.
    let _ = std::os::unix::fs::symlink("/usr/share/sip-tester", dir.path().join("pcap"));
    let port = free_port();
    let mport = free_port();
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.arg(target.to_string())
        .args(["-i", local_ip, "-p", &port.to_string()])
        .args(["-mp", &mport.to_string()])
        .args([
            "-timeout",
            "90s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .args(["-trace_logs"])
        .args(args)
        .current_dir(dir.path())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("sipp finished in time")
        .expect("sipp runs (package sip-tester)");
    let mut errors = String::new();
    if let Ok(rd) = std::fs::read_dir(dir.path()) {
        for e in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(e.path()) {
                errors.push_str(&format!("--- {}\n{}\n", e.path().display(), s));
            }
        }
    }
    SippRun {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        errors,
    }
}

pub fn scenario(name: &str) -> String {
    sipp_dir().join(name).display().to_string()
}

impl SippRun {
    pub fn assert_ok(&self, what: &str) {
        assert!(
            self.ok,
            "sipp {what} failed\nstdout:\n{}\nstderr:\n{}\nfiles:\n{}",
            tail(&self.stdout),
            self.stderr,
            tail(&self.errors)
        );
    }
}

fn tail(s: &str) -> &str {
    let n = s.len();
    let mut start = n.saturating_sub(6000);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
