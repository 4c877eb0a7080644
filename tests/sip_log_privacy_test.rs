//! What the log of a hotline at its default level holds after a real SIPp call: the call,
//! but no raw SIP message and no caller's number (a flood must not fill the disk with
//! callers' numbers). `rsipstack=trace` in the filter brings the raw messages back.

mod common;

use std::time::Duration;

use common::serve::{scenario, sipp, Hotline, Step};

const CALLER: &str = "13800138041";

fn call(h: &Hotline) {
    let file = h.dir.path().join("scenario.xml");
    std::fs::write(&file, scenario(CALLER, &[Step::Pause(1500), Step::Bye])).expect("scenario");
    let (ok, out) = sipp(h, &file, "12345", &[]);
    assert!(ok, "SIPp call failed:\n{out}\n--- log ---\n{}", h.log());
}

/// Log lines that carry a SIP message as it went over the wire.
fn raw_sip_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("raw_message")
                || l.contains("SIP/2.0/UDP")
                || l.contains("INVITE sip:")
                || l.contains("Call-ID:")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_log_holds_no_raw_sip_and_no_caller_number() {
    let h = Hotline::start(&[("RUST_LOG", String::new())]);
    call(&h);
    // The call's end is written after the BYE.
    std::thread::sleep(Duration::from_millis(800));
    let log = h.log();
    assert!(
        log.contains("caller hung up"),
        "the call itself is in the log:\n{log}"
    );
    let raw = raw_sip_lines(&log);
    assert!(
        raw.is_empty(),
        "raw SIP in the default log:\n{}",
        raw.join("\n")
    );
    let numbers: Vec<&str> = log.lines().filter(|l| l.contains(CALLER)).collect();
    assert!(
        numbers.is_empty(),
        "the caller's number in the default log:\n{}",
        numbers.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_rsipstack_in_the_filter_shows_raw_sip_again() {
    let h = Hotline::start(&[("RUST_LOG", "info,rsipstack=trace".into())]);
    call(&h);
    assert!(
        !raw_sip_lines(&h.log()).is_empty(),
        "an operator who asks for rsipstack's trace gets the messages"
    );
}
