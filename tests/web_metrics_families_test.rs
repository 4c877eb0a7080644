//! `/metrics` of the real `hotline serve` after a real SIPp call: every family an operator
//! scrapes is there (SIP by method and code, calls, RTP, DTMF, SMS, mail, speech, events
//! lag, web, call centre), and the call's own traffic shows in the counters.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};

/// One sample: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// Reads the text exposition into name → samples.
fn parse(text: &str) -> BTreeMap<String, Vec<Sample>> {
    let mut out: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (head, value) = line.rsplit_once(' ').expect("sample line has a value");
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let labels = labels
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').expect("label k=v");
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        out.entry(name.to_string())
            .or_default()
            .push((labels, value.parse().expect("numeric sample")));
    }
    out
}

/// The value of `name` whose labels include `want` (summed over the other labels).
fn value(m: &BTreeMap<String, Vec<Sample>>, name: &str, want: &[(&str, &str)]) -> f64 {
    m.get(name)
        .unwrap_or_else(|| panic!("family {name} missing"))
        .iter()
        .filter(|(l, _)| {
            want.iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_every_family_and_count_a_real_call() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path();
    let keys = dir.join("key1.pcap");
    pcap::dtmf(&keys, "1", 120, 101);
    let file = dir.join("call.xml");
    std::fs::write(
        &file,
        scenario(
            "13800000123",
            &[
                Step::Pause(800),
                Step::Pcap(keys),
                Step::Pause(1500),
                Step::Bye,
            ],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "SIPp call failed:\n{out}\n--- log ---\n{}", h.log());

    let url = format!("http://127.0.0.1:{}/metrics", h.http_port);
    // The call ends on the hotline's side just after SIPp's 200 to BYE.
    let mut m = BTreeMap::new();
    for _ in 0..50 {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        m = parse(&text);
        if m.contains_key("hotline_calls_active") && value(&m, "hotline_calls_active", &[]) == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(value(&m, "hotline_sip_requests_total", &[("method", "INVITE")]) >= 1.0);
    assert!(value(&m, "hotline_sip_requests_total", &[("method", "BYE")]) >= 1.0);
    assert!(
        value(
            &m,
            "hotline_sip_responses_total",
            &[("method", "INVITE"), ("code", "200")]
        ) >= 1.0
    );
    assert_eq!(
        value(&m, "hotline_calls_active", &[]),
        0.0,
        "the call ended"
    );
    assert!(value(&m, "hotline_rtp_packets_total", &[("direction", "out")]) > 50.0);
    assert!(value(&m, "hotline_rtp_packets_total", &[("direction", "in")]) > 0.0);
    assert!(value(&m, "hotline_dtmf_digits_total", &[("source", "rfc4733")]) >= 1.0);
    // Every frame the call's menu sent was timed; a frame belongs to one lateness bucket.
    assert!(value(&m, "hotline_rtp_send_lateness_total", &[]) > 50.0);
    assert!(m["hotline_rtp_send_lateness_total"]
        .iter()
        .any(|(l, _)| l.get("le_us").map(String::as_str) == Some("inf")));
    // The call centre's levels (the demo has queues, nobody logged in).
    assert_eq!(value(&m, "hotline_acd_waiting", &[]), 0.0);
    assert_eq!(
        value(&m, "hotline_acd_agents", &[("state", "talking")]),
        0.0
    );
    for family in [
        "hotline_rtp_packets_lost_total",
        "hotline_rtp_packets_late_total",
        "hotline_sms_submitted_total",
        "hotline_sms_failed_total",
        "hotline_mail_sent_total",
        "hotline_mail_failed_total",
        "hotline_events_lag_seconds",
        "hotline_speech_queue_pending",
        "hotline_http_responses_total",
        "hotline_database_up",
        "hotline_tickets",
    ] {
        assert!(m.contains_key(family), "family {family} missing");
    }
    assert_eq!(value(&m, "hotline_database_up", &[]), 1.0);
}
