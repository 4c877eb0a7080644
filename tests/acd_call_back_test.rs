//! Calling back an abandoned call (回拨) against the real `hotline serve`: a caller (SIPp)
//! gives up waiting in the queue; an operator clicks 回拨 (the JSON API, as the page's
//! button does): their own desk phone (SIPp, registered with digest auth) rings and
//! answers, then the resident's phone behind the trunk destination (a SIPp UAS) rings and
//! answers, and the two are bridged — the resident's voice (a 440 Hz tone) reaches the
//! operator's phone. A colleague clicking meanwhile is refused, and so is anyone once the
//! resident was reached; the call's record says who called back and that it was answered.

mod common;

use std::time::Duration;

use common::agents::{
    answering_phone_after, api, caller, cli, events, kinds, listen, operator, phone_done,
    queues_file, register_phone, talking_phone, token, tone, tone_share, until_state,
};
use common::pcap;
use common::serve::{free_port, scenario, sipp, Hotline, Step};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_calls_back_a_caller_who_gave_up_waiting() {
    let resident_port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    // The queue has no trunk of its own: the call-back goes through [acd] callback_via.
    let q = queues_file(dir.path(), "ring_secs = 10\nwrapup_secs = 1");
    let h = Hotline::start(&[
        ("HOTLINE__ACD__QUEUES_FILE", q.display().to_string()),
        ("HOTLINE__ACD__CALLBACK_VIA", "residents".into()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
        (
            "HOTLINE__SIP__DESTINATIONS__RESIDENTS",
            format!("sip:{{number}}@127.0.0.1:{resident_port}"),
        ),
    ]);
    operator(&h, "ops1");
    operator(&h, "ops2");
    let p1 = register_phone(&h, "ops1");
    register_phone(&h, "ops2");
    // Both at their desks, taking no queue calls: the caller waits, then gives up.
    for name in ["ops1", "ops2"] {
        let out = cli(&h, &["agent", "pause", name, "--reason", "paperwork"], "");
        assert!(out.contains("paused"), "{out}");
    }
    let number = "13800138301";
    let (ok, out) = caller(&h, number, &[Step::Pause(5000), Step::Bye]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let (t1, t2) = (token(&h, "ops1").await, token(&h, "ops2").await);
    // The record is complete a moment after the caller's BYE.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let entry = loop {
        let (st, list) = api(&h, &t1, "GET", "/api/v1/calls/abandoned", None).await;
        assert_eq!(st, 200, "{list}");
        let found = list["items"]
            .as_array()
            .and_then(|l| l.iter().find(|e| e["caller"] == number))
            .cloned();
        match found {
            Some(e) => break e,
            None => assert!(
                std::time::Instant::now() < until,
                "the caller who gave up is to call back: {list}\n{}",
                h.log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (&entry["queue"], &entry["status"]),
        (&json!("operators"), &json!("todo"))
    );
    let id = entry["id"].as_i64().unwrap();

    // ops1's phone sends what it hears to our socket; the resident speaks a tone.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = sock.local_addr().unwrap().port();
    let heard = listen(sock, 25);
    // ops1 picks up after 3 s: a colleague clicks meanwhile.
    let ops_phone = answering_phone_after(h.dir.path(), p1, 3000, None, Some(media_port));
    let voice = h.dir.path().join("resident-voice.pcap");
    pcap::speech(&voice, &tone(440.0, 8.0));
    let resident = talking_phone(h.dir.path(), resident_port, &voice);

    let path = format!("/api/v1/calls/{id}/call-back");
    let (st, body) = api(&h, &t1, "POST", &path, None).await;
    assert_eq!(st, 202, "{body}\n{}", h.log());
    let (st, body) = api(&h, &t2, "POST", &path, None).await;
    assert_eq!(
        (st, &body["error"]["code"]),
        (409, &json!("call_back_in_progress")),
        "a colleague clicking meanwhile: {body}"
    );
    // Both legs answer and are bridged: ops1 talks (busy on the wallboard, though paused
    // before); the resident's voice reaches them.
    until_state(&h, &t1, "ops1", "talking").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (st, body) = api(
        &h,
        &t1,
        "POST",
        "/api/v1/agents/ops1/call",
        Some(json!({"action": "hangup"})),
    )
    .await;
    assert_eq!(st, 202, "{body}");
    let (ok, out) = phone_done(ops_phone);
    assert!(
        ok,
        "ops1's phone rang, answered and was hung up:\n{out}\n{}",
        h.log()
    );
    let (ok, out) = phone_done(resident);
    assert!(
        ok,
        "the resident's phone rang, answered and was hung up:\n{out}\n{}",
        h.log()
    );
    common::agents::wait_until("ops1 is paused again after the call-back", &h, || {
        let a = common::agents::agents(&h);
        a.get("ops1").map(|(s, r, _)| (s.clone(), r.clone()))
            == Some(("paused".into(), Some("paperwork".into())))
    });
    let pcm = heard.join().unwrap();
    let voice_blocks = pcm
        .chunks(800)
        .filter(|b| tone_share(b, 440.0) > 0.6)
        .count();
    assert!(
        voice_blocks >= 20,
        "the operator heard the resident: {voice_blocks} blocks of {} samples",
        pcm.len()
    );

    let ev = events(&h, number).await;
    let k = kinds(&ev);
    assert_eq!(
        &k[..3],
        ["queue_entered", "abandoned", "called_back"],
        "{ev:?}"
    );
    assert!(k.contains(&"agent_call_ended"), "{ev:?}");
    assert_eq!(
        (&ev[2].1["by"], &ev[2].1["answered"]),
        (&json!("ops1"), &json!(true))
    );
    let (st, all) = api(&h, &t2, "GET", "/api/v1/calls/abandoned?status=all", None).await;
    assert_eq!(st, 200, "{all}");
    let e: &Value = all["items"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["id"] == id))
        .unwrap_or_else(|| panic!("the entry under all: {all}"));
    assert_eq!(
        (
            &e["status"],
            &e["called_back_by"],
            &e["called_back_answered"]
        ),
        (&json!("called_back"), &json!("ops1"), &json!(true)),
        "{e}"
    );
    let (_, todo) = api(&h, &t2, "GET", "/api/v1/calls/abandoned", None).await;
    assert!(
        !todo["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id),
        "reached: off the to-do list: {todo}"
    );
    let (st, body) = api(&h, &t2, "POST", &path, None).await;
    assert_eq!(
        (st, &body["error"]["code"]),
        (409, &json!("already_called_back")),
        "{body}"
    );
    drop(dir);
}

/// A caller who hangs up in the voice menus without saying anything is listed for call-back
/// with the node they left in; an operator whose phone is not registered is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_in_the_menus_is_listed_for_call_back() {
    let h = common::agents::hotline("");
    operator(&h, "ops1");
    let out = cli(&h, &["agent", "pause", "ops1", "--reason", "paperwork"], "");
    assert!(out.contains("paused"), "{out}");
    let number = "13800138302";
    let file = h.dir.path().join("silent.xml");
    std::fs::write(&file, scenario(number, &[Step::Pause(3000), Step::Bye])).unwrap();
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let t1 = token(&h, "ops1").await;
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let entry = loop {
        let (st, list) = api(&h, &t1, "GET", "/api/v1/calls/abandoned", None).await;
        assert_eq!(st, 200, "{list}");
        if let Some(e) = list["items"]
            .as_array()
            .and_then(|l| l.iter().find(|e| e["caller"] == number))
        {
            break e.clone();
        }
        assert!(
            std::time::Instant::now() < until,
            "the silent caller is to call back: {list}\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(entry["queue"], Value::Null, "{entry}");
    assert!(
        entry["ivr_node"].as_str().is_some_and(|n| !n.is_empty()),
        "where they hung up: {entry}"
    );
    assert_eq!(entry["status"], "todo", "{entry}");
    let (st, body) = api(
        &h,
        &t1,
        "POST",
        &format!("/api/v1/calls/{}/call-back", entry["id"]),
        None,
    )
    .await;
    assert_eq!(
        (st, &body["error"]["code"]),
        (409, &json!("no_phone")),
        "{body}"
    );
}
