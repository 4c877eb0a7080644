//! The main journeys in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (tests/browser/journeys.mjs) against the site started here in-process.
//! Screenshots of every step land in target/browser-screenshots/.
//!
//! Needs: apt `chromium`, Node, and `npm ci --prefix tests/browser` (run here when
//! node_modules is missing).

mod web_support;

use std::path::Path;
use std::process::Command;

use hotline::calls::{CallEnd, CallEvent, Calls, HangupSide, NewCall, RingResult};
use hotline::tickets::{
    Action, Actor, Channel, DepartmentId, Kind, NewTicket, TicketId, TranscriptUpdate,
};
use hotline::web::accounts::Role;
use web_support::*;

fn write_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for i in 0..8000u32 {
        let s = ((i as f32 * 440.0 * 2.0 * std::f32::consts::PI / 8000.0).sin() * 3000.0) as i16;
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

async fn dispatched(site: &Site, phone: &str, text: &str, dept: &str) -> TicketId {
    let t = site.ticket(phone, text).await;
    site.tickets
        .transition(
            t.id,
            Action::Dispatch {
                department: DepartmentId(dept.into()),
            },
            &Actor::System,
        )
        .await
        .expect("dispatch");
    t.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_journeys_in_headless_chromium() {
    let repo = common_repo();
    let dir = web_support::common::browser_dir();

    let site = start_sqlite().await;
    for (n, r, d) in [
        ("b_op", Role::Operator, None),
        ("b_water", Role::Department, Some("water")),
        ("b_sup", Role::Supervisor, None),
    ] {
        site.add_user(n, r, d).await;
    }
    let op_token = site.token_for("b_op").await;

    // A call that left a voice message, transcribed, waiting for an operator.
    let rec_dir = tempfile::tempdir().unwrap();
    let wav = rec_dir.path().join("call.wav");
    write_wav(&wav);
    let call = site
        .tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: "13812340001".parse().unwrap(),
                text: String::new(),
                address: None,
                area: None,
                recording_path: Some(wav.display().to_string()),
                language: None,
            },
            &Actor::System,
        )
        .await
        .expect("call ticket");
    let text = "我们小区门口的路灯坏了好几天了";
    let mut route = site.tickets.route(text, None, None);
    route.department = None;
    route.kind = Kind::Complaint;
    site.tickets
        .apply_transcript(
            call.id,
            TranscriptUpdate {
                transcript: text.into(),
                summary: None,
                route,
            },
        )
        .await
        .expect("transcript");

    // Its call record: rung one agent, answered by another, with the voice message.
    let calls = Calls::new(site.tickets.db().clone());
    let rec = calls
        .start(&NewCall {
            call_id: "browser@test",
            caller: "13812340001",
            called: "12345",
            dialplan: "12345",
        })
        .await
        .expect("call record");
    calls.answered(rec).await.expect("answered");
    for ev in [
        CallEvent::AgentRung {
            queue: "general".into(),
            agent: "zhang".into(),
            ring_ms: 15_000,
            result: RingResult::NoAnswer,
        },
        CallEvent::AgentAnswered {
            queue: "general".into(),
            agent: "li".into(),
            wait_ms: 18_000,
        },
    ] {
        calls.event(rec, &ev).await.expect("call event");
    }
    let wav_path = wav.display().to_string();
    calls
        .end(
            rec,
            &CallEnd {
                outcome: "completed",
                nodes: &["screen".into(), "welcome".into(), "record".into()],
                prompts: &[],
                digits: "",
                ticket_number: Some(call.number.as_str()),
                recording_path: Some(&wav_path),
                hangup_side: HangupSide::System,
                hangup_reason: "completed",
            },
        )
        .await
        .expect("call end");

    let sign = dispatched(&site, "13812340002", "家里停水了", "water").await;
    let ret = dispatched(&site, "13812340003", "燃气表漏气", "water").await;
    let sup = dispatched(&site, "13812340004", "自来水管道改造", "water").await;
    site.tickets
        .transition(sup, Action::Sign, &Actor::System)
        .await
        .unwrap();
    site.tickets
        .transition(
            sup,
            Action::RequestExtension {
                days: 3,
                reason: "需要协调施工".into(),
            },
            &Actor::System,
        )
        .await
        .unwrap();
    let status = site.tickets.get(sign).await.unwrap();

    let shots = repo.join("target/browser-screenshots");
    let base = site.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("journeys.mjs")
            .current_dir(&dir)
            .env("BASE", base)
            .env("SHOTS", &shots)
            .env("OP_TICKET", call.id.0.to_string())
            .env("DEPT_SIGN_TICKET", sign.0.to_string())
            .env("DEPT_RETURN_TICKET", ret.0.to_string())
            .env("SUP_TICKET", sup.0.to_string())
            .env("STATUS_NUMBER", status.number.to_string())
            .env("STATUS_LAST4", status.phone.last4())
            .env("OP_TOKEN", op_token)
            .env("CALL_CALLER", "13812340001")
            .output()
            .expect("node is needed for the browser tests")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "browser journeys failed:\n{stdout}\n{stderr}"
    );
    for j in [
        "operator_dispatches_a_transcribed_call",
        "department_signs_returns_and_resolves",
        "supervisor_grants_an_extension",
        "supervisor_reads_a_call_record",
        "resident_checks_status",
    ] {
        assert!(
            stdout.contains(&format!("ok   {j}")),
            "{j} did not pass:\n{stdout}"
        );
    }
    // What the browser did is in the database too.
    assert_eq!(
        site.tickets.get(call.id).await.unwrap().department,
        Some(DepartmentId("urban_management".into()))
    );
    assert_eq!(
        site.tickets.get(sign).await.unwrap().state,
        hotline::tickets::State::Resolved
    );
}

fn common_repo() -> std::path::PathBuf {
    web_support::common::repo()
}
