//! Test side of the SMSC simulator (tests/smsc/smsc.js): start it on an ephemeral loopback
//! port, send it commands, read what it saw. Shared by tests/sms_*_test.rs via `#[path]`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub fn smsc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smsc")
}

/// `npm ci` once when node_modules is missing (a fresh clone); a lock directory keeps
/// parallel test binaries from running it twice.
pub fn ensure_node_modules() {
    let dir = smsc_dir();
    if dir.join("node_modules/smpp/package.json").exists() {
        return;
    }
    let lock = dir.join(".npm-ci.lock");
    let start = Instant::now();
    loop {
        if std::fs::create_dir(&lock).is_ok() {
            break;
        }
        if dir.join("node_modules/smpp/package.json").exists()
            || start.elapsed() > Duration::from_secs(300)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !dir.join("node_modules/smpp/package.json").exists() {
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm must be installed to run the SMSC simulator");
        assert!(st.success(), "npm ci in tests/smsc failed");
    }
    let _ = std::fs::remove_dir(&lock);
}

pub struct Smsc {
    child: Child,
    stdin: ChildStdin,
    pub port: u16,
    log: Arc<Mutex<Vec<Value>>>,
}

impl Smsc {
    pub fn start(system_id: &str, password: &str) -> Smsc {
        Smsc::start_on(0, system_id, password, &[])
    }

    pub fn start_on(port: u16, system_id: &str, password: &str, extra: &[&str]) -> Smsc {
        ensure_node_modules();
        let mut child = Command::new("node")
            .arg(smsc_dir().join("smsc.js"))
            .args([
                "--port",
                &port.to_string(),
                "--system-id",
                system_id,
                "--password",
                password,
            ])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed to run the SMSC simulator");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if v["event"] == "listening" {
                    let _ = port_tx.send(v["port"].as_u64().unwrap_or(0) as u16);
                }
                l.lock().unwrap().push(v);
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("SMSC simulator did not start listening");
        Smsc {
            child,
            stdin,
            port,
            log,
        }
    }

    pub fn cmd(&mut self, v: Value) {
        let _ = writeln!(self.stdin, "{v}");
        let _ = self.stdin.flush();
    }

    pub fn deliver_text(&mut self, from: &str, text: &str) {
        self.cmd(json!({"cmd": "deliver", "from": from, "to": "12345", "text": text}));
    }

    pub fn deliver_hex(&mut self, from: &str, hex: &str, data_coding: u8, esm_class: u8) {
        self.cmd(json!({"cmd": "deliver", "from": from, "to": "12345", "hex": hex, "data_coding": data_coding, "esm_class": esm_class}));
    }

    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["event"] == kind)
            .cloned()
            .collect()
    }

    /// Acknowledged submit_sm to `dest`.
    pub fn acked_to(&self, dest: &str) -> Vec<Value> {
        self.events("submit_sm")
            .into_iter()
            .filter(|v| v["dest"] == dest && v["acked"] == true && v["status"] == 0)
            .collect()
    }

    /// Whole messages to `dest`, parts joined by their UDH (reference, sequence), in order of
    /// their first part.
    pub fn messages_to(&self, dest: &str) -> Vec<Message> {
        assemble(&self.acked_to(dest))
    }

    pub async fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Smsc) -> bool) {
        let start = Instant::now();
        while !pred(self) {
            if start.elapsed() > timeout {
                let tail: Vec<Value> = {
                    let l = self.log.lock().unwrap();
                    l.iter().rev().take(15).cloned().collect()
                };
                panic!("timed out waiting for {what}; last SMSC events: {tail:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub text: String,
    pub data_coding: u64,
    pub parts: usize,
    pub udh_ok: bool,
}

pub fn assemble(submits: &[Value]) -> Vec<Message> {
    let mut out: Vec<Message> = vec![];
    let mut groups: Vec<(String, u8, Vec<Option<String>>, u64)> = vec![];
    for v in submits {
        let udh = v["udh"].as_str().unwrap_or("");
        let text = v["text"].as_str().unwrap_or("").to_string();
        let dc = v["data_coding"].as_u64().unwrap_or(0);
        if udh.is_empty() {
            out.push(Message {
                text,
                data_coding: dc,
                parts: 1,
                udh_ok: true,
            });
            continue;
        }
        // node-smpp hands over the information elements without the UDHL octet.
        let mut b: Vec<u8> = (0..udh.len() / 2)
            .filter_map(|i| u8::from_str_radix(&udh[2 * i..2 * i + 2], 16).ok())
            .collect();
        if b.len() == 6 && b[0] == 5 {
            b.remove(0);
        }
        if b.len() != 5 || b[0] != 0 || b[1] != 3 || b[4] == 0 || b[4] > b[3] {
            out.push(Message {
                text,
                data_coding: dc,
                parts: 1,
                udh_ok: false,
            });
            continue;
        }
        let (r, total, seq) = (b[2], b[3], b[4]);
        let key = format!("{}:{}:{}", v["dest"], r, total);
        let g = match groups
            .iter_mut()
            .position(|g| g.0 == key && g.2[(seq - 1) as usize].is_none())
        {
            Some(i) => &mut groups[i],
            None => {
                groups.push((key, total, vec![None; total as usize], dc));
                groups.last_mut().unwrap()
            }
        };
        g.2[(seq - 1) as usize] = Some(text);
        if g.2.iter().all(|p| p.is_some()) {
            let text: String = g.2.iter().flatten().cloned().collect();
            out.push(Message {
                text,
                data_coding: g.3,
                parts: g.1 as usize,
                udh_ok: true,
            });
            let k = g.0.clone();
            groups.retain(|x| !(x.0 == k && x.2.iter().all(|p| p.is_some())));
        }
    }
    out
}

/// UCS-2 (UTF-16BE) hex of a text.
pub fn ucs2_hex(s: &str) -> String {
    s.encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}
