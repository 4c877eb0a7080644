//! The short soak (bench/soak.sh runs the long one): the real `hotline serve` under a
//! minute of mixed load — SIPp calls with RTP through the demo dialplan, residents texting
//! through the node SMSC simulator, web and API requests — and then idle again holds as many
//! open file descriptors as before the load (a small slack for sockets still closing).
//! Counts, not timings.

mod common;
#[path = "smsc/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::serve::Hotline;
use harness::Smsc;

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `calls` SIPp uac_pcap calls (8 s of G.711 each way), `at_once` at a time; how many ended well.
fn calls(h: &Hotline, work: &Path, calls: u32, at_once: u32) -> u32 {
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", h.sip_port))
        .args([
            "-sn",
            "uac_pcap",
            "-s",
            "12345",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
        ])
        .args(["-mp", &common::free_port().to_string()])
        .args([
            "-r",
            "1",
            "-l",
            &at_once.to_string(),
            "-m",
            &calls.to_string(),
        ])
        .args(["-nostdin", "-timeout", "180s"])
        .current_dir(work)
        .output()
        .expect("sipp runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .rfind(|l| l.trim_start().starts_with("Successful call"))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Web and API requests, over and over, until `until`; how many were answered.
async fn web(base: String, until: Instant) -> usize {
    let c = reqwest::Client::new();
    let mut answered = 0;
    while Instant::now() < until {
        for path in [
            "/healthz",
            "/metrics",
            "/open311/v2/services.json",
            "/open311/v2/requests.json",
            "/login",
        ] {
            if c.get(format!("{base}{path}")).send().await.is_ok() {
                answered += 1;
            }
        }
        let _ = c
            .post(format!("{base}/login"))
            .form(&[("name", "nobody"), ("password", "wrong")])
            .send()
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    answered
}

/// One round of the mix for `secs`: calls, texts and web requests side by side.
async fn load(
    h: &Hotline,
    smsc: &mut Smsc,
    work: &Path,
    secs: u32,
    first_phone: u32,
) -> (u32, usize) {
    let until = Instant::now() + Duration::from_secs(secs as u64);
    let base = format!("http://127.0.0.1:{}", h.http_port);
    let web = tokio::spawn(web(base, until));
    let n_calls = secs / 2;
    let ok = std::thread::scope(|s| {
        let c = s.spawn(|| calls(h, work, n_calls, 4));
        let mut i = first_phone;
        while Instant::now() < until {
            smsc.deliver_text(&format!("139{i:08}"), "解放路的路灯坏了三天了，晚上很黑");
            i += 1;
            std::thread::sleep(Duration::from_millis(500));
        }
        c.join().unwrap()
    });
    (ok, web.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_mixed_load_leaves_no_descriptor_open() {
    let mut smsc = Smsc::start("hotline", "secret");
    let h = Hotline::start(&[
        ("HOTLINE__SMS__ENABLED", "true".into()),
        ("HOTLINE__SMS__PORT", smsc.port.to_string()),
        ("HOTLINE__SMS__PASSWORD", "secret".into()),
        ("HOTLINE__SMS__QUIET_START", "00:00".into()),
        ("HOTLINE__SMS__QUIET_END", "00:00".into()),
        ("HOTLINE__SMS__DAILY_CAP_PER_PHONE", "0".into()),
    ]);
    let pid = h.pid();
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/share/sip-tester", work.path().join("pcap")).unwrap();

    // Warm-up: the same mix for a while, so pools and caches that grow on first use have
    // grown before the baseline.
    let (warm_calls, _) = load(&h, &mut smsc, work.path(), 15, 1).await;
    assert!(warm_calls > 0, "calls work: {}", h.log());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (base_fds, base_rss) = (fds(pid), rss_kb(pid));

    let (ok_calls, answered) = load(&h, &mut smsc, work.path(), 45, 1000).await;
    // Idle again: calls ended, texts answered, client connections closed.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (end_fds, end_rss) = (fds(pid), rss_kb(pid));
    eprintln!(
        "soak: {ok_calls} calls, {answered} web answers; fds {base_fds} -> {end_fds}, rss {base_rss} kB -> {end_rss} kB"
    );
    assert!(ok_calls > 0 && answered > 0);
    assert!(
        end_fds <= base_fds + 8,
        "descriptors leaked: {base_fds} before the load, {end_fds} after"
    );
    let tickets = smsc.events("deliver_resp").len();
    assert!(tickets > 0, "texts were answered");
}
