//! Media benchmark: N concurrent RTP sessions on loopback, each sending a prompt in 20 ms
//! packets to its partner session (pairs: one PCMA, one PCMU side) and receiving from it.
//! Prints memory per session, CPU use and the sender's wake-up lateness (p50/p99/max).
//!
//! ```text
//! cargo run --release --example media_bench -- [sessions=1000] [seconds=20] [inband]
//! ```
//! `inband` also runs the in-band DTMF detector on every received packet (trunks that send
//! no RFC 4733); by default telephone-event is negotiated, as with most phones.

use hotline::media::*;
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of this process, in seconds.
fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn percentile(hist: &[u64], q: f64) -> String {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return "-".into();
    }
    let want = (total as f64 * q).ceil() as u64;
    let mut acc = 0;
    for (i, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= want {
            return match LATENESS_BUCKETS_US.get(i) {
                Some(us) => format!("≤{:.2} ms", *us as f64 / 1000.0),
                None => format!(
                    ">{:.0} ms",
                    LATENESS_BUCKETS_US[LATENESS_BUCKETS_US.len() - 1] as f64 / 1000.0
                ),
            };
        }
    }
    "-".into()
}

fn sum_stats(sessions: &[MediaSession]) -> (Vec<u64>, u64, u64, u64, u64, u64) {
    let mut hist = vec![0u64; LATENESS_BUCKETS_US.len() + 1];
    let (mut out, mut inp, mut bad, mut skipped, mut max_late) = (0, 0, 0, 0, 0);
    for s in sessions {
        let st = s.stats();
        for (h, v) in hist.iter_mut().zip(st.lateness_histogram.iter()) {
            *h += v;
        }
        out += st.packets_out;
        inp += st.packets_in;
        bad += st.malformed_dropped + st.unexpected_dropped;
        skipped += st.skipped_frames;
        max_late = max_late.max(st.max_lateness_us);
    }
    (hist, out, inp, bad, skipped, max_late)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1000) & !1;
    let secs: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(20);
    let inband = args.iter().any(|a| a == "inband");
    let cfg = MediaConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        rtp_port_min: 30000,
        rtp_port_max: 50000,
        no_rtp_timeout_secs: 0,
        ..MediaConfig::default()
    };
    let pool = PortPool::new(&cfg).expect("port range");
    // A shared 10 s prompt (speech-like level), decoded once for all sessions.
    let prompt = Prompt::from_pcm(
        "bench",
        (0..80_000)
            .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
            .collect(),
    );
    prompt.encoded(Codec::Pcma);
    prompt.encoded(Codec::Pcmu);

    let rss0 = rss_kib();
    let t_open = Instant::now();
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        match MediaSession::open(&pool) {
            Ok(s) => sessions.push(s),
            Err(e) => {
                eprintln!("open failed after {} sessions: {e}", sessions.len());
                break;
            }
        }
    }
    let n = sessions.len() & !1;
    sessions.truncate(n);
    let open_ms = t_open.elapsed().as_secs_f64() * 1000.0;
    let dtmf = if inband { None } else { Some(101) };
    // Both sides of a pair use one codec; half the pairs PCMA, half PCMU.
    for (i, pair) in sessions.chunks(2).enumerate() {
        let codec = if i % 2 == 0 { Codec::Pcma } else { Codec::Pcmu };
        let (a, b) = (&pair[0], &pair[1]);
        a.start(StreamParams {
            dtmf_payload_type: dtmf,
            ..StreamParams::new(b.local_addr(), codec)
        });
        b.start(StreamParams {
            dtmf_payload_type: dtmf,
            ..StreamParams::new(a.local_addr(), codec)
        });
    }
    for s in &sessions {
        let s = s.clone();
        let p = prompt.clone();
        tokio::spawn(async move { while s.play(&p, false).await == PlayOutcome::Finished {} });
    }
    // Warm up, then measure over `secs`.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (h0, out0, in0, _, _, _) = sum_stats(&sessions);
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let (h1, out1, in1, bad, skipped, max_late) = sum_stats(&sessions);
    let rss1 = rss_kib();
    let hist: Vec<u64> = h1.iter().zip(h0.iter()).map(|(a, b)| a - b).collect();
    let expected = n as f64 * 50.0 * elapsed;

    println!(
        "media_bench: {n} sessions ({} pairs), {secs} s measured, in-band DTMF detector {}",
        n / 2,
        if inband { "on" } else { "off" }
    );
    println!("  open:            {open_ms:.0} ms for all sessions");
    println!(
        "  memory:          RSS {} KiB -> {} KiB, {:.1} KiB per session",
        rss0,
        rss1,
        (rss1.saturating_sub(rss0)) as f64 / n as f64
    );
    println!(
        "  cpu:             {:.1} % of one core ({:.2} ms CPU per session-second)",
        cpu / elapsed * 100.0,
        cpu / elapsed / n as f64 * 1000.0
    );
    println!(
        "  packets out:     {} ({:.1} % of {:.0} expected at 50/s)",
        out1 - out0,
        (out1 - out0) as f64 / expected * 100.0,
        expected
    );
    println!("  packets in:      {}", in1 - in0);
    println!("  dropped (bad/unexpected): {bad}, frames skipped after >100 ms stalls: {skipped}");
    println!(
        "  send lateness:   p50 {}  p99 {}  p99.9 {}  max {:.2} ms (max since start)",
        percentile(&hist, 0.50),
        percentile(&hist, 0.99),
        percentile(&hist, 0.999),
        max_late as f64 / 1000.0
    );
    for s in &sessions {
        s.close();
    }
}
