//! An operator's desk phone registers through Kamailio (the shipped
//! `deploy/kamailio/kamailio.cfg`) in front of two `hotline serve` nodes on one PostgreSQL:
//! the node that took the REGISTER checked the password and kept Kamailio's Path with the
//! binding; a caller on the OTHER node is put through to that operator, and the INVITE
//! reaches the phone through Kamailio (RFC 3327), which record-routes the call, so its ACK
//! and BYE take the same way.

mod common;

use std::process::{Command, Stdio};

use common::agents::{cli_env, sipp_scenario, PHONE_PASSWORD};
use common::kamailio::Kamailio;
use common::serve::{free_port, scenario, sipp, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

fn node(url: &str) -> Hotline {
    Hotline::start(&[
        ("HOTLINE__DATABASE__URL", url.to_string()),
        (
            "HOTLINE__IVR__DIALPLAN_DIR",
            common::repo()
                .join("tests/dialplans/transfer")
                .display()
                .to_string(),
        ),
        (
            "HOTLINE__SIP__DESTINATIONS__OPERATORS",
            "account:ops1".to_string(),
        ),
        // SIPp's answering phone takes INVITEs only: no keep-alive OPTIONS during the test.
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_through_kamailio_is_rung_from_the_other_node() {
    let url = common::fresh_pg().await;
    let a = node(&url);
    let b = node(&url);
    let on_pg = [("HOTLINE__DATABASE__URL", url.as_str())];
    cli_env(
        a.dir.path(),
        &on_pg,
        &["user", "add", "--name", "ops1", "--role", "operator"],
        "console-pw-123",
    );
    cli_env(
        a.dir.path(),
        &on_pg,
        &["user", "sip-password", "ops1"],
        PHONE_PASSWORD,
    );
    let k = Kamailio::start(&[a.sip_port, b.sip_port]);
    // Both nodes answer the first pings.
    std::thread::sleep(std::time::Duration::from_secs(2));

    // The phone registers with the balancer's address, announcing Path support.
    let phone_port = free_port();
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", k.port))
        .arg("-sf")
        .arg(sipp_scenario("register_path.xml"))
        .args(["-s", "ops1", "-au", "ops1", "-ap", PHONE_PASSWORD])
        .args(["-i", "127.0.0.1", "-p", &phone_port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s"])
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "the phone registers through Kamailio and gets its Path back:\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        k.log()
    );

    // The binding, in the shared table, names Kamailio and the phone's own address.
    let db = Db::open(&url, 1).await.expect("db");
    let row = sqlx::query("SELECT contact, source, path FROM sip_bindings WHERE aor = 'ops1'")
        .fetch_one(db.pool())
        .await
        .expect("a binding for ops1");
    db.close().await;
    let (contact, source, path): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(contact, format!("sip:ops1@127.0.0.1:{phone_port}"));
    assert_eq!(
        source,
        format!("udp:127.0.0.1:{}", k.port),
        "relayed by Kamailio"
    );
    assert!(
        path.starts_with(&format!("<sip:127.0.0.1:{}", k.port)) && path.contains(";lr"),
        "the Path names Kamailio: {path}"
    );
    assert!(
        path.contains(&phone_port.to_string()),
        "the Path carries where the phone's REGISTER came from: {path}"
    );

    // Which node took the REGISTER; the caller calls the other one.
    let registered_at_a = a.log().contains("registered user=ops1");
    let registered_at_b = b.log().contains("registered user=ops1");
    assert!(
        registered_at_a != registered_at_b,
        "one node took the REGISTER:\n--- a ---\n{}\n--- b ---\n{}",
        a.log(),
        b.log()
    );
    let other = if registered_at_a { &b } else { &a };

    // The desk phone answers on the port it registered from, copying Kamailio's
    // Record-Route into its answer as a real phone does; what it receives is traced.
    let trace = tempfile::tempdir().unwrap();
    let phone = Command::new("sipp")
        .arg("-sf")
        .arg(sipp_scenario("uas_record_route.xml"))
        .args(["-i", "127.0.0.1", "-p", &phone_port.to_string()])
        .args(["-mp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "40s", "-trace_msg"])
        .current_dir(trace.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp UAS");

    let dir = other.dir.path();
    let zero = dir.join("zero.pcap");
    common::pcap::dtmf(&zero, "0", 120, 101);
    let caller = dir.join("caller.xml");
    std::fs::write(
        &caller,
        scenario(
            "13800138077",
            &[
                Step::Pause(800),
                Step::Pcap(zero),
                Step::Pause(4000),
                Step::Bye,
            ],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(other, &caller, "12345", &[]);
    assert!(ok, "caller:\n{out}\n--- node ---\n{}", other.log());
    let out = phone.wait_with_output().expect("sipp UAS ends");
    assert!(
        out.status.success(),
        "the phone was rung, answered and got the BYE:\n{}\n--- node ---\n{}\n--- kamailio ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        other.log(),
        k.log()
    );
    other.wait_for_log("outcome=Completed", std::time::Duration::from_secs(10));

    // The INVITE, its ACK and the BYE all came through Kamailio (its Via on top), and the
    // INVITE from the node the caller called.
    let messages: String = std::fs::read_dir(trace.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let kamailio_via = format!("Via: SIP/2.0/UDP 127.0.0.1:{};branch=", k.port);
    for method in ["INVITE", "ACK", "BYE"] {
        let request = messages
            .split("-----------------------------------------------")
            .find(|m| m.contains(&format!("\n{method} sip:")))
            .unwrap_or_else(|| panic!("the phone's trace has no {method}:\n{messages}"));
        let top_via = request
            .lines()
            .find(|l| l.starts_with("Via:"))
            .unwrap_or_default();
        assert!(
            top_via.starts_with(&kamailio_via),
            "the {method} came through Kamailio:\n{request}"
        );
        if method == "INVITE" {
            assert!(
                request.contains(&format!("Via: SIP/2.0/UDP 127.0.0.1:{};", other.sip_port)),
                "from the node the caller called:\n{request}"
            );
        }
    }
}
