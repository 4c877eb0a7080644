//! Two `hotline serve` nodes on one PostgreSQL behind Debian's Kamailio with the shipped
//! `deploy/kamailio/kamailio.cfg`: calls through the balancer land on both nodes (an INVITE
//! whose Request-URI names the balancer, ACK and BYE kept on the node by Record-Route);
//! after `kill -9` of one node mid-run its calls drop, new calls keep succeeding through the
//! other, and no ticket, recording, notice or call record is lost or written twice.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::kamailio::Kamailio;
use common::pcap;
use common::serve::{scenario, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

const CALLER: &str = "13800138077";

/// One SIPp run through the balancer: the Call-IDs of the calls that succeeded, and SIPp's
/// output.
fn sipp_through(
    k: &Kamailio,
    scenario_file: &Path,
    calls: u32,
    rate: u32,
) -> (Vec<String>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", k.port))
        .arg("-sf")
        .arg(scenario_file)
        .args(["-s", "12345", "-i", "127.0.0.1", "-p", "0"])
        .args(["-mp", &common::free_port().to_string()])
        .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
        .args(["-l", &calls.to_string()])
        .args(["-nostdin", "-timeout", "60s", "-trace_logs"])
        .current_dir(dir.path())
        .output()
        .expect("sipp runs (Debian package sip-tester)");
    let mut ok = vec![];
    for e in std::fs::read_dir(dir.path()).expect("sipp dir").flatten() {
        if e.file_name().to_string_lossy().ends_with("_logs.log") {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            ok.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("answered-and-hung-up "))
                    .map(str::to_string),
            );
        }
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (ok, text)
}

fn node(url: &str, plans: &Path) -> Hotline {
    Hotline::start(&[
        ("HOTLINE__DATABASE__URL", url.to_string()),
        ("HOTLINE__IVR__DIALPLAN_DIR", plans.display().to_string()),
        ("HOTLINE__SIP__DRAIN_TIMEOUT_SECS", "5".into()),
        ("RUST_LOG", "info".into()),
    ])
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_spread_over_nodes_and_go_on_when_one_dies() {
    let url = common::fresh_pg().await;
    let plans = common::repo().join("tests/dialplans/message");
    let a = node(&url, &plans);
    let b = node(&url, &plans);
    let k = Kamailio::start(&[a.sip_port, b.sip_port]);
    // Both nodes answer the first pings.
    std::thread::sleep(Duration::from_secs(2));

    // A caller who says two seconds of their problem, then waits for the hotline to hang up
    // after the message is kept; the log line marks a call that went all the way.
    let work = tempfile::tempdir().unwrap();
    let sp = work.path().join("speech.pcap");
    let mut audio = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_02.wav"));
    audio.truncate(16_000);
    pcap::speech(&sp, &audio);
    let file = work.path().join("caller.xml");
    // The ACK follows the route set the balancer's Record-Route made (RFC 3261 §12.2.1.1).
    let xml = scenario(CALLER, &[Step::Pcap(sp), Step::AwaitBye(12_000)])
        .replace(
            "Max-Forwards: 70\nContent-Length: 0",
            "[routes]\nMax-Forwards: 70\nContent-Length: 0",
        )
        .replace(
            "</scenario>",
            "  <nop><action><log message=\"answered-and-hung-up [call_id]\"/></action></nop>\n</scenario>",
        );
    assert!(xml.contains("[routes]"));
    std::fs::write(&file, xml).unwrap();

    // Before any failure: calls land on both nodes.
    let (ok0, out0) = sipp_through(&k, &file, 6, 6);
    assert_eq!(
        ok0.len(),
        6,
        "every call through the balancer succeeds:\n{out0}\n{}",
        k.log()
    );
    let (on_a, on_b) = (
        count(&a.log(), "ticket created from call"),
        count(&b.log(), "ticket created from call"),
    );
    assert!(
        on_a > 0 && on_b > 0,
        "calls on both nodes: {on_a} and {on_b}"
    );

    // Mid-run, node b dies without a word; its calls drop, the others carry on.
    let (ok1, out1, ok2, out2) = std::thread::scope(|s| {
        let run1 = s.spawn(|| sipp_through(&k, &file, 10, 5));
        std::thread::sleep(Duration::from_millis(1500));
        b.kill9();
        // New calls right after the death: the balancer tries the next node on timeout and
        // stops pinging b as alive.
        let (ok2, out2) = sipp_through(&k, &file, 10, 5);
        let (ok1, out1) = run1.join().unwrap();
        (ok1, out1, ok2, out2)
    });
    assert_eq!(
        ok2.len(),
        10,
        "calls after the death all succeed on the living node:\n{out2}\n{}",
        k.log()
    );
    assert!(
        ok1.len() < 10,
        "calls in progress on the dead node dropped:\n{out1}"
    );
    assert!(!ok1.is_empty(), "calls on the living node went on:\n{out1}");

    // What was written: one call record per Call-ID, one ticket per call record that names
    // one, its recording on disk, and no ticket without its call.
    let db = Db::connect_url(&url).await.unwrap();
    let rows = sqlx::query("SELECT call_id, ticket_number, recording_path, ended_at FROM calls")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let mut per_call: BTreeMap<String, usize> = BTreeMap::new();
    let mut with_ticket = BTreeMap::new();
    for r in &rows {
        let id: String = r.get("call_id");
        *per_call.entry(id.clone()).or_default() += 1;
        if let Some(t) = r.get::<Option<String>, _>("ticket_number") {
            let rec: Option<String> = r.get("recording_path");
            with_ticket.insert(id, (t, rec));
        }
    }
    let twice: Vec<_> = per_call.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "call records written twice: {twice:?}");
    let succeeded: BTreeSet<&String> = ok0.iter().chain(&ok1).chain(&ok2).collect();
    for id in &succeeded {
        let (ticket, rec) = with_ticket
            .get(*id)
            .unwrap_or_else(|| panic!("call {id} succeeded but has no call record with a ticket"));
        let rec = rec
            .as_deref()
            .unwrap_or_else(|| panic!("ticket {ticket} has no recording"));
        assert!(Path::new(rec).exists(), "recording of {ticket} kept: {rec}");
    }
    let tickets: Vec<String> =
        sqlx::query_scalar("SELECT number FROM tickets WHERE phone = $1 AND channel = 'call'")
            .bind(CALLER)
            .fetch_all(db.pool())
            .await
            .unwrap();
    let distinct: BTreeSet<&String> = tickets.iter().collect();
    assert_eq!(distinct.len(), tickets.len(), "no ticket number twice");
    let named: BTreeSet<&String> = with_ticket.values().map(|(t, _)| t).collect();
    assert!(
        named.len() >= succeeded.len(),
        "every successful call named its own ticket"
    );
    // A node killed between writing the ticket and closing its call record leaves a ticket
    // with an open record; no ticket exists without any call at all.
    let per_node_tickets = count(&a.log(), "ticket created from call");
    assert!(tickets.len() >= named.len() && tickets.len() <= per_call.len());
    assert!(per_node_tickets > 0);
    // Notices: at most one "accepted" text per ticket, however many nodes ran.
    let dup: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT ticket_id, kind FROM sms_outbox GROUP BY ticket_id, kind \
         HAVING COUNT(*) > 1) d",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(dup, 0, "no notice queued twice for one ticket");
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox WHERE phone = $1")
        .bind(CALLER)
        .fetch_one(db.pool())
        .await
        .unwrap();
    eprintln!(
        "calls: {} before, {}/10 across the death, {}/10 after; records {}, tickets {}, notices {notices}",
        ok0.len(),
        ok1.len(),
        ok2.len(),
        per_call.len(),
        tickets.len()
    );
}
