//! Runs the real `hotline serve` binary for end-to-end tests, and SIPp calls against it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // part of this helper's API for the tests that use it
pub use super::net::free_port;
use super::{hotline_bin, repo};

pub struct Hotline {
    child: Mutex<Child>,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub http_port: u16,
    pub log: Arc<Mutex<String>>,
}

/// A free port that is not `taken`: nothing holds a free port between two calls, so the
/// same one may come back, and SIP over TCP and HTTP cannot share it (a taken SIP port
/// stops hotline at start).
fn other_free_port(taken: u16) -> u16 {
    loop {
        let p = free_port();
        if p != taken {
            return p;
        }
    }
}

impl Hotline {
    /// Starts `hotline serve` on fresh ports with a fresh SQLite database, the demo config
    /// and `env` overrides; waits until SIP listens.
    pub fn start(env: &[(&str, String)]) -> Hotline {
        let dir = tempfile::tempdir().expect("tempdir");
        let sip_port = free_port();
        let http_port = other_free_port(sip_port);
        let log = Arc::new(Mutex::new(String::new()));
        let child = spawn(dir.path(), sip_port, http_port, env, &log);
        let h = Hotline {
            child: Mutex::new(child),
            dir,
            sip_port,
            http_port,
            log,
        };
        h.wait_for_log("SIP listening (UDP)", Duration::from_secs(120));
        h
    }

    /// `kill -9`: the process dies at once, with no shutdown of any kind.
    pub fn kill9(&self) {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(c.id().to_string())
            .status();
        let _ = c.wait();
    }

    /// Starts the server again on the same data directory (after [`Self::kill9`] or an exit),
    /// on fresh ports, with `env`; the log starts empty. Waits until SIP listens.
    pub fn restart(&mut self, env: &[(&str, String)]) {
        {
            let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = c.kill();
            let _ = c.wait();
        }
        self.sip_port = free_port();
        self.http_port = other_free_port(self.sip_port);
        let log = Arc::new(Mutex::new(String::new()));
        let child = spawn(self.dir.path(), self.sip_port, self.http_port, env, &log);
        self.log = log;
        *self.child.get_mut().unwrap_or_else(|e| e.into_inner()) = child;
        self.wait_for_log("SIP listening (UDP)", Duration::from_secs(120));
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the log contains `needle`; panics with the log after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.log().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait()
            {
                panic!(
                    "hotline exited ({status}) before `{needle}`:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "no `{needle}` in the log after {timeout:?}:\n{}",
            self.log()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).id()
    }

    pub fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("hotline.db").display())
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        self.wait_exit()
    }

    /// Waits (up to a minute) for the process to exit by itself.
    pub fn wait_exit(self) -> (std::process::ExitStatus, String) {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let exited = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait();
            if let Ok(Some(s)) = exited {
                std::thread::sleep(Duration::from_millis(200));
                return (s, self.log());
            }
            if Instant::now() > until {
                let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).kill();
                panic!(
                    "hotline did not stop within 60 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Spawns `hotline serve` on `dir` and the ports, its output collected into `log`.
fn spawn(
    dir: &Path,
    sip_port: u16,
    http_port: u16,
    env: &[(&str, String)],
    log: &Arc<Mutex<String>>,
) -> Child {
    // Each server its own RTP range, so tests running side by side never collide.
    let rtp_base = 20000 + (sip_port as u32 % 400) * 100;
    let cache = repo().join("target/test-prompt-cache");
    let mut cmd = Command::new(hotline_bin());
    cmd.arg("serve")
        .current_dir(repo())
        .env("RUST_LOG", "info,hotline=debug")
        .env("NO_COLOR", "1")
        .env("HOTLINE__DATA_DIR", dir)
        .env(
            "HOTLINE__SIP__LISTEN_UDP",
            format!("[\"127.0.0.1:{sip_port}\"]"),
        )
        .env(
            "HOTLINE__SIP__LISTEN_TCP",
            format!("[\"127.0.0.1:{sip_port}\"]"),
        )
        .env("HOTLINE__HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
        .env("HOTLINE__MEDIA__RTP_PORT_MIN", rtp_base.to_string())
        .env("HOTLINE__MEDIA__RTP_PORT_MAX", (rtp_base + 99).to_string())
        .env("HOTLINE__MEDIA__NO_RTP_TIMEOUT_SECS", "120")
        .env("HOTLINE__IVR__PROMPT_CACHE_DIR", &cache)
        .env("HOTLINE__TICKETS__SUPERVISION__ENABLED", "false")
        // Tests start from an empty database: no demo tickets.
        .env("HOTLINE__DEMO_TICKETS_FILE", "")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // An empty value removes the variable: `("RUST_LOG", "")` runs the binary at its own
    // default log level.
    for (k, v) in env {
        match v.as_str() {
            "" => cmd.env_remove(k),
            _ => cmd.env(k, v),
        };
    }
    let mut child = cmd.spawn().expect("hotline starts");
    for stream in [
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
    }
    child
}

impl Drop for Hotline {
    fn drop(&mut self) {
        let c = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// One step of a caller's side of a call.
#[derive(Debug, Clone)]
pub enum Step {
    Pause(u64),
    /// Replay a pcap of RTP (key presses or speech) into the call.
    Pcap(PathBuf),
    /// Hang up (BYE) and expect 200.
    Bye,
    /// Wait up to this many ms for the hotline's BYE and answer it.
    AwaitBye(u64),
    /// Press a key by SIP INFO (application/dtmf-relay): no RTP leaves the caller, so the
    /// hotline keeps sending its audio where the caller's SDP said.
    Info(char),
}

/// A SIPp UAC scenario: INVITE from `caller` with PCMU and telephone-event 101, then `steps`.
pub fn scenario(caller: &str, steps: &[Step]) -> String {
    let mut x = String::from(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hotline caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:CALLER@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:CALLER@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:CALLER@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
"#,
    )
    .replace("CALLER", caller);
    let mut cseq = 1;
    for s in steps {
        match s {
            Step::Pause(ms) => x.push_str(&format!("  <pause milliseconds=\"{ms}\"/>\n")),
            Step::Pcap(p) => x.push_str(&format!(
                "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n",
                p.display()
            )),
            Step::Info(key) => {
                cseq += 1;
                x.push_str(&format!(
                    r#"  <send retrans="500"><![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={key}
Duration=160
]]></send>
  <recv response="200"/>
"#
                ))
            }
            Step::Bye => x.push_str(&format!(
                r#"  <send><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {} BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
"#,
                cseq + 1
            )),
            Step::AwaitBye(ms) => x.push_str(&format!(
                r#"  <recv request="BYE" timeout="{ms}"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#
            )),
        }
    }
    x.push_str("</scenario>\n");
    x
}

/// Runs a scenario file with SIPp against the hotline; true when the call succeeded.
pub fn sipp(
    hotline: &Hotline,
    scenario_file: &Path,
    service: &str,
    extra: &[&str],
) -> (bool, String) {
    let port = free_port();
    let mport = free_port();
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", hotline.sip_port))
        .args(["-sf"])
        .arg(scenario_file)
        .args([
            "-s",
            service,
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mp",
            &mport.to_string(),
        ])
        .args(["-nostdin", "-timeout", "180s"])
        .args(extra)
        .args(if extra.contains(&"-m") {
            vec![]
        } else {
            vec!["-m", "1"]
        })
        .output()
        .expect("sipp runs (Debian package sip-tester)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
