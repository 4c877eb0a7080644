//! Keys an operator presses on the browser softphone reach the caller as DTMF: the real
//! `hotline serve`, a SIPp caller who pressed 0, the agent desk in headless Chromium. The
//! agent answers, clicks 1 on the keypad and types 5 and # on the keyboard; the caller's
//! phone receives "15#" — as RFC 4733 telephone-events when its SDP offered them, as tones
//! in the audio when it did not.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agents::{hotline, operator, talk_and_hear, tone};
use common::serve::{sipp, Step};
use common::softphone::{caller_scenario_keys, run_page, CallerKeys};

/// One call: the agent presses "15#" on the page; what the caller's phone got (keys from
/// telephone-events, keys from tones).
fn agent_presses_keys(number: &str, keys: CallerKeys) -> (String, String) {
    let h = Arc::new(hotline("ring_secs = 20\nwrapup_secs = 1"));
    operator(&h, "ops1");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = caller_scenario_keys(
        &h,
        number,
        sock.local_addr().unwrap().port(),
        &[Step::AwaitBye(40000)],
        keys,
    );
    let heard = talk_and_hear(sock, 30, Duration::from_secs(3), tone(440.0, 1.0));
    let mut call = None;
    let started = Instant::now();
    let (ok, said) = run_page(
        &h,
        "keys",
        number,
        || {
            let (h, file) = (h.clone(), file.clone());
            call = Some(std::thread::spawn(move || sipp(&h, &file, "12345", &[])));
        },
        |_| {},
    );
    let call = call.unwrap_or_else(|| panic!("the desk never became ready:\n{said}\n{}", h.log()));
    assert!(
        ok && said.contains("keys 15#") && said.contains("ok keys"),
        "softphone page:\n{said}\n--- log ---\n{}",
        h.log()
    );
    let (caller_ok, out) = call.join().unwrap();
    assert!(
        caller_ok,
        "the caller got BYE when the operator hung up:\n{out}\n{}",
        h.log()
    );
    eprintln!("wall time of the call: {:?}", started.elapsed());
    let heard = heard.join().unwrap();
    let tones = heard.tones();
    eprintln!(
        "caller got {:?} as telephone-events and {tones:?} as tones",
        heard.events
    );
    (heard.events, tones)
}

#[test]
fn keys_pressed_on_the_page_reach_the_caller_as_telephone_events() {
    let (events, tones) = agent_presses_keys("13800138311", CallerKeys::Rfc4733);
    assert_eq!(events, "15#", "the keys, in order, as RFC 4733 events");
    assert_eq!(tones, "", "no tones besides the events");
}

#[test]
fn keys_pressed_on_the_page_reach_a_caller_without_telephone_event_as_tones() {
    let (events, tones) = agent_presses_keys("13800138312", CallerKeys::Inband);
    assert_eq!(tones, "15#", "the keys, in order, as tones in the audio");
    assert_eq!(events, "", "no telephone-events were negotiated");
}
