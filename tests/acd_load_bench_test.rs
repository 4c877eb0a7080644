//! A short run of bench/acd.sh (run with `--ignored`; it builds the release binary): 60
//! callers waiting and 10 operators talking for 10 s. It checks what the figures stand on,
//! not the figures: every call held, and the queue and the agents were where the run put
//! them. Timings are printed, never asserted.

mod common;

use std::process::Command;

#[test]
#[ignore = "load run through bench/acd.sh; builds the release binary and takes a minute"]
fn the_call_centre_holds_its_callers_and_agents_under_load() {
    let out = Command::new("bash")
        .arg(common::repo().join("bench/acd.sh"))
        .args(["60", "10", "10"])
        // Ports of its own, beside the full-size run's defaults.
        .env("ACD_BENCH_PORT", "5290")
        .env("ACD_BENCH_HTTP", "8290")
        .env("ACD_BENCH_MEDIA_PORT", "46400")
        .output()
        .expect("bench/acd.sh runs");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "bench/acd.sh failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("callers successful=70 failed=0"),
        "every caller's call held"
    );
    assert!(
        text.contains("window   : 60 waiting, 10 talking at its end"),
        "60 callers waited while 10 operators talked"
    );
    assert!(
        text.contains("phones   : 10 of 10 registered"),
        "every desk phone registered"
    );
}
