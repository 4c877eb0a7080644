//! The abandoned-calls list (放弃来电 · 待回拨) and a ticket's transcript in the console, as
//! people use them: in headless Chromium (tests/browser/abandoned.mjs) an operator opens
//! the list from the navigation, sees today's callers who hung up in the queue and in the
//! voice menus (not the one who called again and was answered, who shows as 已再次来电
//! under 全部), and on a ticket clicks a transcript segment: the recording plays from that
//! segment's start (the recording is served with HTTP ranges). Over plain HTTP: the API
//! lists the same entries, administrators see numbers masked and no 回拨 button,
//! department staff are refused, and a call-back needs the call centre's phone side.
//!
//! Needs: apt `chromium`, Node, and `npm ci --prefix tests/browser` (run here when
//! node_modules is missing).

mod web_support;

use std::path::Path;
use std::process::Command;

use hotline::calls::{CallEnd, CallEvent, CallRecordId, Calls, HangupSide, NewCall};
use hotline::tickets::{Actor, Channel, NewTicket};
use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::*;

/// A finished call from `caller` that passed `nodes`, with `events`.
async fn call(calls: &Calls, caller: &str, nodes: &[&str], events: &[CallEvent]) -> CallRecordId {
    let id = calls
        .start(&NewCall {
            call_id: &format!("{caller}-{}@test", rand::random::<u32>()),
            caller,
            called: "12345",
            dialplan: "12345",
        })
        .await
        .expect("call record");
    calls.answered(id).await.expect("answered");
    for e in events {
        calls.event(id, e).await.expect("event");
    }
    let nodes: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
    calls
        .end(
            id,
            &CallEnd {
                outcome: "caller_hung_up",
                nodes: &nodes,
                prompts: &[],
                digits: "",
                ticket_number: None,
                recording_path: None,
                hangup_side: HangupSide::Caller,
                hangup_reason: "bye",
            },
        )
        .await
        .expect("end");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    id
}

/// 12 s of a 440 Hz tone, 8 kHz mono: a voice message long enough to seek in.
fn write_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for i in 0..(8000 * 12u32) {
        let s = ((i as f32 * 440.0 * 2.0 * std::f32::consts::PI / 8000.0).sin() * 3000.0) as i16;
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_abandoned_list_and_a_transcript_that_plays_from_each_segment() {
    let repo = web_support::common::repo();
    let dir = web_support::common::browser_dir();
    let site = start_sqlite().await;
    site.add_user("ab_op", Role::Operator, None).await;
    site.add_user("ab_admin", Role::Admin, None).await;
    site.add_user("ab_water", Role::Department, Some("water"))
        .await;
    let calls = Calls::new(site.tickets.db().clone());
    // Gave up after 42 s in the queue; hung up in the voice menus without a word (marked
    // LeftMenu); gave up, then called again and was answered.
    let queued = call(
        &calls,
        "13800001111",
        &["welcome", "operator"],
        &[
            CallEvent::QueueEntered {
                queue: "operators".into(),
            },
            CallEvent::Abandoned {
                queue: "operators".into(),
                wait_ms: 42_000,
            },
        ],
    )
    .await;
    let silent = call(
        &calls,
        "13800002222",
        &["welcome", "menu"],
        &[CallEvent::LeftMenu {
            node: "menu".into(),
        }],
    )
    .await;
    call(
        &calls,
        "13800003333",
        &["welcome", "operator"],
        &[CallEvent::Abandoned {
            queue: "operators".into(),
            wait_ms: 9_000,
        }],
    )
    .await;
    call(
        &calls,
        "13800003333",
        &["welcome", "operator"],
        &[CallEvent::AgentAnswered {
            queue: "operators".into(),
            agent: "ab_op".into(),
            wait_ms: 4_000,
        }],
    )
    .await;

    // A voice message with its transcript, three segments.
    let rec_dir = tempfile::tempdir().unwrap();
    let wav = rec_dir.path().join("message.wav");
    write_wav(&wav);
    let ticket = site
        .tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: "13800004444".parse().unwrap(),
                text: "您好。我家门口的路灯坏了。地址是运河街道。".into(),
                address: None,
                area: None,
                recording_path: Some(wav.display().to_string()),
                language: None,
            },
            &Actor::System,
        )
        .await
        .expect("ticket");
    let segments = serde_json::json!([
        {"start_ms": 0, "end_ms": 3000, "text": "您好。"},
        {"start_ms": 4200, "end_ms": 8000, "text": "我家门口的路灯坏了。"},
        {"start_ms": 8500, "end_ms": 11000, "text": "地址是运河街道。"},
    ]);
    sqlx::query(
        "INSERT INTO transcripts (ticket_id, job_id, text, raw_text, segments, avg_logprob, confidence,
            language, audio_ms, elapsed_ms, model, kind, department_id, route_reason, needs_review,
            repairs, summary, created_at)
         VALUES ($1, 1, $2, $2, $3, -0.2, 0.8, 'zh', 12000, 900, 'base', NULL, NULL, '', $4, '[]', '', $5)",
    )
    .bind(ticket.id.0)
    .bind("您好。我家门口的路灯坏了。地址是运河街道。")
    .bind(segments.to_string())
    .bind(0i64)
    .bind(hotline::store::now_ms())
    .execute(site.tickets.db().pool())
    .await
    .expect("transcript");

    // Plain HTTP first: the same data in the API, masking, refusals.
    let c = client();
    let op_token = site.token_for("ab_op").await;
    let todo: Value = c
        .get(format!("{}/api/v1/calls/abandoned", site.base))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = todo["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [silent.get(), queued.get()],
        "today's to-do, newest first: {todo}"
    );
    assert_eq!(todo["items"][0]["ivr_node"], "menu", "{todo}");
    assert_eq!(todo["items"][1]["queue"], "operators", "{todo}");
    assert_eq!(todo["items"][1]["waited_ms"], 42_000, "{todo}");
    assert_eq!(todo["items"][1]["status"], "todo", "{todo}");
    let all: Value = c
        .get(format!("{}/api/v1/calls/abandoned?status=all", site.base))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 3, "{all}");
    assert_eq!(all["items"][0]["status"], "called_again", "{all}");
    let bad = c
        .get(format!(
            "{}/api/v1/calls/abandoned?date=yesterday",
            site.base
        ))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // The web alone runs no SIP stack: the call-back is refused with a reason, not a crash.
    let r = c
        .post(format!(
            "{}/api/v1/calls/{}/call-back",
            site.base,
            queued.get()
        ))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "an operator not signed in as an agent");
    let openapi: Value = c
        .get(format!("{}/api/v1/openapi.json", site.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in ["/api/v1/calls/abandoned", "/api/v1/calls/{id}/call-back"] {
        assert!(
            openapi["paths"][p].is_object(),
            "{p} in the OpenAPI document"
        );
    }

    let mut admin = site.login("ab_admin").await;
    let page = admin.get("/console/abandoned").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = visible_text(&page.body);
    assert!(text.contains("138****1111"), "{text}");
    assert!(!text.contains("13800001111"), "masked for admins: {text}");
    assert!(!page.body.contains("call-back-btn"), "no 回拨 for admins");
    let mut water = site.login("ab_water").await;
    assert_eq!(water.get("/console/abandoned").await.status, 403);
    let r = water
        .submit(
            &format!("/console/abandoned/{}/call-back", queued.get()),
            &[],
        )
        .await;
    assert_eq!(r.status, 403, "department staff do not call back");

    let shots = repo.join("target/browser-screenshots");
    let base = site.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("abandoned.mjs")
            .current_dir(&dir)
            .env("BASE", base)
            .env("SHOTS", &shots)
            .env("OPERATOR", "ab_op")
            .env("TICKET", ticket.id.0.to_string())
            .output()
            .expect("node is needed for the browser tests")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && stdout.contains("ok abandoned_list")
            && stdout.contains("ok transcript_seek"),
        "in the browser:\n{stdout}\n{stderr}"
    );
}
