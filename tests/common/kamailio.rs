//! Runs Debian's Kamailio with the shipped `deploy/kamailio/kamailio.cfg` in front of hotline
//! nodes: its own ports, runtime directory and dispatcher list, in the foreground as a child
//! process that is killed on drop.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::free_port;
use super::repo;

pub struct Kamailio {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Kamailio {
    /// Starts Kamailio on a free loopback port, dispatching to the SIP ports of `nodes`
    /// (pinged every second); waits until it listens.
    pub fn start(nodes: &[u16]) -> Kamailio {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let list: String = nodes
            .iter()
            .enumerate()
            .map(|(i, p)| format!("1 sip:127.0.0.1:{p} 0 0 duid=node{}\n", i + 1))
            .collect();
        let list_file = dir.path().join("dispatcher.list");
        std::fs::write(&list_file, list).expect("dispatcher list");
        let log = std::fs::File::create(dir.path().join("kamailio.log")).expect("log file");
        let define = |k: &str, v: String| ["-A".to_string(), format!("{k}={v}")];
        let mut cmd = Command::new("kamailio");
        cmd.arg("-f")
            .arg(repo().join("deploy/kamailio/kamailio.cfg"))
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-Y")
            .arg(dir.path())
            .arg("-P")
            .arg(dir.path().join("kamailio.pid"))
            .args(define("LISTEN", format!("udp:127.0.0.1:{port}")))
            .args(define("LISTEN_TCP", format!("tcp:127.0.0.1:{port}")))
            .args(define(
                "DISPATCHER_LIST",
                format!("\"{}\"", list_file.display()),
            ))
            .args(define(
                "CTL_SOCKET",
                format!("\"unix:{}\"", dir.path().join("ctl").display()),
            ))
            .args(define("PING_INTERVAL", "1".into()))
            .args(define("CHILDREN", "2".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        let child = cmd
            .spawn()
            .expect("kamailio starts (Debian package kamailio)");
        let k = Kamailio { child, port, dir };
        k.wait_for_log("SO_RCVBUF", Duration::from_secs(20));
        k
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("kamailio.log")
    }

    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no `{needle}` in Kamailio's log:\n{}", self.log());
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // Kamailio's main process takes its children down with it on SIGTERM.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
