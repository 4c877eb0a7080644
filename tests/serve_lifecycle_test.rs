//! `hotline serve` as a person runs it: it creates its database, says where it listens,
//! answers health checks, refuses a broken configuration with a clear message, and on
//! SIGTERM lets a call in progress finish (new calls and health checks get 503) before it
//! exits cleanly.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let code = body
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body)
}

#[test]
fn serve_creates_its_database_reports_health_and_stops_cleanly() {
    let h = Hotline::start(&[]);
    assert!(
        h.dir.path().join("hotline.db").exists(),
        "SQLite database created on first start"
    );
    let log = h.log();
    assert!(
        log.contains(&format!(
            "SIP listening (UDP) addr=127.0.0.1:{}",
            h.sip_port
        )),
        "{log}"
    );
    assert!(log.contains("HTTP listening"), "{log}");
    let (code, _) = http_get(h.http_port, "/healthz");
    assert_eq!(code, 200);
    let (code, body) = http_get(h.http_port, "/readyz");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("\"sip_listening\":true") && body.contains("\"database\":true"),
        "{body}"
    );
    let (status, log) = h.stop();
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
}

#[test]
fn a_broken_configuration_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "data_dir = \"x\"\n[sip]\nmax_calls = \"many\"\n").unwrap();
    let out = std::process::Command::new(common::hotline_bin())
        .args(["--config"])
        .arg(&cfg)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml line 3") && err.contains("sip.max_calls"),
        "{err}"
    );
    assert!(
        !dir.path().join("x").exists(),
        "nothing is created from a refused configuration"
    );
}

#[test]
fn sigterm_lets_the_call_in_progress_finish_and_refuses_new_ones() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    // The caller starts telling their problem a second into the greeting.
    let sp = dir.join("sp.pcap");
    let mut audio = vec![0i16; 8000];
    audio.extend(pcap::wav_8k(
        &common::repo().join("tests/fixtures/speech/zh_02.wav"),
    ));
    pcap::speech(&sp, &audio);
    let file = dir.join("call.xml");
    std::fs::write(
        &file,
        scenario(
            "13800138010",
            &[Step::Pause(300), Step::Pcap(sp), Step::AwaitBye(90_000)],
        ),
    )
    .unwrap();
    std::thread::scope(|s| {
        let call = s.spawn(|| sipp(&h, &file, "12345", &[]));
        std::thread::sleep(Duration::from_secs(4));
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &h.pid().to_string()])
            .status();
        std::thread::sleep(Duration::from_secs(1));
        // A new call while draining: 503.
        let late = dir.join("late.xml");
        std::fs::write(&late, scenario("13800138011", &[Step::Bye])).unwrap();
        let (ok, out) = sipp(&h, &late, "12345", &[]);
        assert!(!ok, "a new call is refused while draining:\n{out}");
        // A balancer's health check hears it too, and sends new calls elsewhere.
        let probe = common::repo().join("tests/sipp/options_draining.xml");
        let (ok, out) = sipp(&h, &probe, "12345", &[]);
        assert!(ok, "OPTIONS gets 503 while draining:\n{out}");
        let (ok, out) = call.join().unwrap();
        assert!(
            ok,
            "the call in progress finished normally:\n{out}\n{}",
            h.log()
        );
    });
    let (status, log) = h.wait_exit();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("ticket created from call"),
        "the caller's message became a ticket:\n{log}"
    );
    assert!(log.contains("503") || log.contains("draining"), "{log}");
}
