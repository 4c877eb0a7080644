//! Issue 16's promise for a browser whose network dies mid-call while its sockets stay open
//! (a laptop lid shut, Wi-Fi gone: TCP lingers, nothing more arrives): the real `hotline
//! serve`, a SIPp caller and the agent desk in headless Chromium. Once the call is up the
//! operator mutes for longer than the silence limit (quiet is not gone), then every Chromium
//! process is stopped (SIGSTOP: no more UDP, the WebSocket's TCP left open); within seconds
//! the caller waits at the head of the queue again and the agent is free. Then Chromium runs
//! on and its page has left the dead call.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agents::{api, events, hotline, kinds, operator, talk_and_listen, token, tone};
use common::agents::{caller_file, until_state};
use common::serve::{sipp, Step};
use common::softphone::run_page;
use serde_json::Value;

/// What the issue promises ("within seconds"); detection is measured and printed. The
/// server catches it in about 5 s; str0m's own ICE timeout alone would take 12-15 s.
const CAUGHT_WITHIN: Duration = Duration::from_secs(10);

/// Processes under `pid`, deepest first.
fn descendants(pid: u32) -> Vec<i32> {
    let out = std::process::Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep (procps) is needed");
    let mut all = vec![];
    for child in String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
    {
        all.extend(descendants(child));
        all.push(child as i32);
    }
    all
}

/// Stopped processes, let go on drop (also when the test fails).
struct Frozen(Vec<i32>);

impl Frozen {
    fn stop(pids: Vec<i32>) -> Frozen {
        for &p in &pids {
            // SAFETY: kill(2) with a signal number has no memory effects.
            unsafe { libc::kill(p, libc::SIGSTOP) };
        }
        Frozen(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &p in self.0.iter().rev() {
            // SAFETY: as above.
            unsafe { libc::kill(p, libc::SIGCONT) };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_whose_network_dies_mid_call_is_caught_and_the_caller_waits_again() {
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    let t1 = token(&h, "ops1").await;
    let number = "13800138304";
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = caller_file(
        &h,
        number,
        sock.local_addr().unwrap().port(),
        // The caller stays on the line through the mute and the freeze, and is still there after.
        &[Step::Pause(35000), Step::Bye],
    );
    let _heard = talk_and_listen(sock, 42, Duration::from_secs(3), tone(440.0, 1.0));

    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let page = {
        let h = h.clone();
        std::thread::spawn(move || {
            let mut call = None;
            let page = run_page(
                &h,
                "freeze",
                number,
                || {
                    let (h, file) = (h.clone(), file.clone());
                    call = Some(std::thread::spawn(move || sipp(&h, &file, "12345", &[])));
                },
                |l| {
                    let _ = lines_tx.send(l.to_string());
                },
            );
            (page, call)
        })
    };
    let node = loop {
        let line = tokio::time::timeout(Duration::from_secs(90), lines.recv())
            .await
            .expect("the page reaches the call in time");
        match line.as_deref().map(|l| l.split_once(' ')) {
            Some(Some(("freeze", pid))) => break pid.parse::<u32>().expect("node's pid"),
            Some(_) => continue,
            None => {
                let ((_, said), _) = page.join().expect("page thread");
                panic!("the page never got to the call:\n{said}\n{}", h.log());
            }
        }
    };

    let chromium = descendants(node);
    assert!(!chromium.is_empty(), "Chromium runs under node {node}");
    let frozen = Frozen::stop(chromium);
    let froze = Instant::now();

    // The caller waits again, first in line, and nobody is talking to them.
    loop {
        let (st, board) = api(&h, &t1, "GET", "/api/v1/queues", None).await;
        assert_eq!(st, 200, "{board}");
        let waiting = board["waiting"].as_array().cloned().unwrap_or_default();
        if waiting.iter().any(|w: &Value| w["queue"] == "operators") {
            break;
        }
        assert!(
            froze.elapsed() < CAUGHT_WITHIN,
            "the caller is back in the queue within {CAUGHT_WITHIN:?} of the network dying: \
             {board}\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught = froze.elapsed();
    until_state(&h, &t1, "ops1", "ready").await;
    eprintln!(
        "dead browser caught: caller waiting after {caught:?}, agent ready after {:?}",
        froze.elapsed()
    );

    // Chromium runs on: its page is out of the dead call.
    drop(frozen);
    let ((ok, said), call) = page.join().expect("page thread");
    assert!(
        ok && said.contains("ok left"),
        "softphone page:\n{said}\n--- log ---\n{}",
        h.log()
    );
    let (caller_ok, out) = call.expect("caller started").join().unwrap();
    assert!(
        caller_ok,
        "the caller stayed on the line and hung up:\n{out}\n{}",
        h.log()
    );
    let ev = events(&h, number).await;
    let k = kinds(&ev);
    let entered = k.iter().filter(|k| **k == "queue_entered").count();
    assert_eq!(entered, 2, "queued again after the network died: {k:?}");
}
