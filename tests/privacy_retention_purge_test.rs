//! Retention of personal data (个人信息保护法) with the real `hotline privacy purge`, on
//! SQLite and on PostgreSQL: tickets closed longer ago than the configured periods lose
//! their recording (file and row), their transcript, all but the last four digits of the
//! resident's number and every long number in their text and events; open tickets keep
//! everything. Call records past their periods lose their recordings (a voice message still
//! held by an open ticket excepted) and the caller's number but keep what KPIs read; the
//! transcription job of a purged voice message lets go of its path; the call centre's
//! queue entries that ended lose the caller's number and menu context, a callback still
//! owed keeps its number; the SMS log loses numbers and texts except notices still to be
//! sent. A second run changes nothing.

mod common;

use std::path::Path;
use std::process::Command;

use hotline::calls::{CallEnd, CallEvent, CallRecordId, Calls, HangupSide};
use hotline::tickets::{
    Action, Actor, Channel, DepartmentId, Kind, NewTicket, State, Ticket, Tickets,
};
use sqlx::Row;

fn purge(data: &Path, url: &str) -> (bool, String) {
    let out = Command::new(common::hotline_bin())
        .args(["privacy", "purge"])
        .current_dir(common::repo())
        .env("HOTLINE__DATA_DIR", data)
        .env("HOTLINE__DATABASE__URL", url)
        // Everything closed before now is past its period.
        .env("HOTLINE__TICKETS__RETENTION__RECORDING_DAYS", "0")
        .env("HOTLINE__TICKETS__RETENTION__TRANSCRIPT_DAYS", "0")
        .env("HOTLINE__TICKETS__RETENTION__PHONE_DAYS", "0")
        .env("HOTLINE__CALLS__RETENTION__RECORDING_DAYS", "0")
        .env("HOTLINE__CALLS__RETENTION__PHONE_DAYS", "0")
        .env("HOTLINE__SMS__RETENTION__DAYS", "0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .output()
        .expect("hotline runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A call ticket with a voice message on disk and its transcript.
async fn with_recording(tickets: &Tickets, dir: &Path, name: &str) -> Ticket {
    let wav = dir.join(format!("{name}.wav"));
    std::fs::write(&wav, b"RIFF....WAVEfmt ").unwrap();
    let t = tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: Some(Kind::Complaint),
                phone: "13812345678".parse().unwrap(),
                text: "我家楼下的路灯坏了，请回电139-1234-5678".into(),
                address: None,
                area: None,
                recording_path: Some(wav.to_string_lossy().to_string()),
                language: None,
            },
            &Actor::System,
        )
        .await
        .expect("ticket");
    sqlx::query(
        "INSERT INTO transcripts (ticket_id, job_id, text, raw_text, segments, avg_logprob, confidence, language, audio_ms, elapsed_ms, model, route_reason, needs_review, repairs, summary, created_at)
         VALUES ($1, 1, '我是张三，电话13812345678，路灯坏了', '我是张三', '[{\"start_ms\":0,\"end_ms\":900,\"text\":\"我是张三\"}]', -0.3, 0.9, 'zh', 900, 100, 'base', '', FALSE, '[]', '路灯坏了', 0)",
    )
    .bind(t.id.0)
    .execute(tickets.db().pool())
    .await
    .expect("transcript");
    t
}

async fn close(tickets: &Tickets, t: &Ticket) {
    let t = tickets.get(t.id).await.unwrap();
    if t.state == State::Accepted || t.state == State::Returned {
        tickets
            .transition(
                t.id,
                Action::Dispatch {
                    department: DepartmentId("urban_management".into()),
                },
                &Actor::System,
            )
            .await
            .unwrap();
    }
    for a in [
        Action::Sign,
        Action::Resolve {
            answer: "路灯已修复".into(),
        },
        Action::Close,
    ] {
        tickets.transition(t.id, a, &Actor::System).await.unwrap();
    }
    assert_eq!(tickets.get(t.id).await.unwrap().state, State::Closed);
}

async fn transcript(tickets: &Tickets, t: &Ticket) -> (String, String, String) {
    let r = sqlx::query("SELECT text, raw_text, segments FROM transcripts WHERE ticket_id = $1")
        .bind(t.id.0)
        .fetch_one(tickets.db().pool())
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// A call a queue's agent answered and recorded, whose caller asked to be called back;
/// `voice_message` is the file its menus recorded (a ticket's).
async fn agent_call(calls: &Calls, dir: &Path, voice_message: &Path) -> CallRecordId {
    let conversation = dir.join("conversation.wav");
    std::fs::write(&conversation, b"RIFF....WAVEfmt ").unwrap();
    let id = common::calls::answered_call(
        calls,
        "purge-1@test",
        "13812345678",
        &[
            CallEvent::QueueEntered {
                queue: "general".into(),
            },
            CallEvent::CallbackRequested {
                queue: "general".into(),
                number: "13812345678".into(),
            },
            CallEvent::AgentAnswered {
                queue: "general".into(),
                agent: "li".into(),
                wait_ms: 12_000,
            },
            CallEvent::Recorded {
                path: conversation.display().to_string(),
            },
            CallEvent::AgentCallEnded {
                agent: "li".into(),
                talk_ms: 60_000,
                side: HangupSide::Caller,
            },
        ],
        &CallEnd {
            outcome: "completed",
            nodes: &[],
            prompts: &[],
            digits: "1#13812345678#",
            ticket_number: None,
            recording_path: Some(&voice_message.display().to_string()),
            hangup_side: HangupSide::Caller,
            hangup_reason: "bye",
        },
    )
    .await;
    id
}

/// Texts sent (one delivered, one still waiting to go) and received from the resident.
async fn sms_log(tickets: &Tickets) {
    for (key, state) in [("a", "delivered"), ("b", "pending")] {
        sqlx::query(
            "INSERT INTO sms_outbox (dedup_key, phone, kind, body, state, not_before, created_at, updated_at)
             VALUES ($1, '13812345678', 'accepted', '您的诉求已受理', $2, 0, 0, 0)",
        )
        .bind(key)
        .bind(state)
        .execute(tickets.db().pool())
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO sms_inbound (phone, text, command, created_at) VALUES ('13812345678', '我叫张三，路灯坏了', 'new', 0)",
    )
    .execute(tickets.db().pool())
    .await
    .unwrap();
}

/// The transcription job of each ticket's voice message, as the speech consumer queues it.
async fn transcription_jobs(tickets: &Tickets, done: &[&Ticket]) {
    for t in done {
        sqlx::query(
            "INSERT INTO transcription_jobs (ticket_id, recording_path, status, attempts, next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, 'done', 1, 0, 0, 0)",
        )
        .bind(t.id.0)
        .bind(t.recording_path.clone().expect("a voice message"))
        .execute(tickets.db().pool())
        .await
        .unwrap();
    }
}

/// The call centre's queue: the caller of `call` waited and was answered (the entry is
/// over), and another resident is still owed a callback.
async fn queue_entries(tickets: &Tickets, call: CallRecordId) {
    for (status, kind, caller, record, info) in [
        (
            "done",
            "live",
            "13812345678",
            Some(call.get()),
            r#"{"keys":"1#13812345678#","vars":{"callback":"13812345678"}}"#,
        ),
        ("waiting", "callback", "13912345678", None, "{}"),
    ] {
        sqlx::query(
            "INSERT INTO acd_waiting (queue, kind, status, caller, call_record, joined_at, info, updated_at)
             VALUES ('general', $1, $2, $3, $4, 0, $5, 0)",
        )
        .bind(kind)
        .bind(status)
        .bind(caller)
        .bind(record)
        .bind(info)
        .execute(tickets.db().pool())
        .await
        .unwrap();
    }
}

async fn strings(tickets: &Tickets, sql: &str) -> Vec<String> {
    sqlx::query(sql)
        .fetch_all(tickets.db().pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

async fn purge_case(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let tickets = common::tickets_at(url).await;
    let old = with_recording(&tickets, dir.path(), "closed").await;
    let open = with_recording(&tickets, dir.path(), "open").await;
    close(&tickets, &old).await;
    let calls = Calls::new(tickets.db().clone());
    let held = dir.path().join("open.wav");
    let call = agent_call(&calls, dir.path(), &held).await;
    sms_log(&tickets).await;
    transcription_jobs(&tickets, &[&old, &open]).await;
    queue_entries(&tickets, call).await;

    let (ok, out) = purge(dir.path(), url);
    assert!(ok, "{out}");
    assert!(out.contains("privacy purge"), "logged: {out}");
    assert!(out.contains("queue_entries=1"), "{out}");

    let after = tickets.get(old.id).await.unwrap();
    assert!(
        !dir.path().join("closed.wav").exists(),
        "recording file deleted"
    );
    assert_eq!(after.recording_path, None, "recording row cleared");
    assert_eq!(after.phone.as_str(), "*******5678");
    assert_eq!(after.phone.last4(), "5678", "the status lookup still works");
    let (text, raw, segments) = transcript(&tickets, &old).await;
    assert!(text.is_empty() && raw.is_empty(), "transcript blanked");
    assert_eq!(segments, "[]");
    assert_eq!(
        after.text, "我家楼下的路灯坏了，请回电***",
        "numbers in the text"
    );
    let payloads = strings(
        &tickets,
        &format!(
            "SELECT payload FROM ticket_events WHERE ticket_id = {}",
            old.id.0
        ),
    )
    .await;
    assert!(!payloads.is_empty());
    for p in &payloads {
        assert!(
            !p.contains("13812345678") && !p.contains("closed.wav"),
            "event payload purged: {p}"
        );
    }

    // The call record: the conversation is deleted, the voice message stays while its
    // ticket is open, the caller keeps four digits; what KPIs read is untouched.
    assert!(
        !dir.path().join("conversation.wav").exists(),
        "conversation deleted"
    );
    let d = calls.get(call).await.unwrap().expect("call record kept");
    assert_eq!(d.recordings, vec![held.display().to_string()]);
    assert!(held.exists(), "an open ticket's voice message stays");
    assert_eq!(d.call.caller, "*******5678");
    assert_eq!(d.digits, "1#***#");
    assert!(d
        .events
        .iter()
        .any(|e| e.event == CallEvent::RecordingPurged));
    assert!(d.events.iter().any(|e| e.event
        == CallEvent::CallbackRequested {
            queue: "general".into(),
            number: "*******5678".into()
        }));
    assert_eq!(d.call.queue.as_deref(), Some("general"));
    assert_eq!(d.call.agent.as_deref(), Some("li"));
    assert_eq!(d.call.wait_ms, Some(12_000));
    assert_eq!(d.call.talk_ms, Some(60_000));

    // The transcription jobs: the purged voice message's path is gone, the open ticket's
    // stays.
    let jobs = strings(
        &tickets,
        &format!(
            "SELECT status || ':' || recording_path FROM transcription_jobs ORDER BY ticket_id <> {}",
            old.id.0
        ),
    )
    .await;
    assert_eq!(
        jobs,
        vec![
            "done:".to_string(),
            format!("done:{}", dir.path().join("open.wav").display())
        ]
    );

    // The queue: an entry that ended keeps four digits and no menu context; a callback
    // still owed keeps the number it will call.
    assert_eq!(
        strings(
            &tickets,
            "SELECT status || ':' || caller || ':' || info FROM acd_waiting ORDER BY id"
        )
        .await,
        vec![
            "done:*******5678:{}".to_string(),
            "waiting:13912345678:{}".to_string()
        ]
    );

    // The SMS log: a notice still to be sent keeps its number.
    let outbox = strings(
        &tickets,
        "SELECT state || ':' || phone || ':' || body FROM sms_outbox ORDER BY dedup_key",
    )
    .await;
    assert_eq!(
        outbox,
        vec![
            "delivered:*******5678:".to_string(),
            "pending:13812345678:您的诉求已受理".to_string()
        ]
    );
    assert_eq!(
        strings(&tickets, "SELECT phone || ':' || text FROM sms_inbound").await,
        vec!["*******5678:".to_string()]
    );

    let kept = tickets.get(open.id).await.unwrap();
    assert!(
        dir.path().join("open.wav").exists(),
        "an open ticket keeps its recording"
    );
    assert_eq!(kept.phone.as_str(), "13812345678");
    assert!(transcript(&tickets, &open).await.0.contains("路灯"));

    // Again: nothing left to do, nothing changes.
    let (ok, out2) = purge(dir.path(), url);
    assert!(ok, "{out2}");
    assert!(
        out2.contains("recordings=0")
            && out2.contains("transcripts=0")
            && out2.contains("phones=0")
            && out2.contains("call_recordings=0")
            && out2.contains("call_phones=0")
            && out2.contains("queue_entries=0")
            && out2.contains("sms=0"),
        "{out2}"
    );
    assert_eq!(
        tickets.get(old.id).await.unwrap().phone.as_str(),
        "*******5678"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_on_sqlite() {
    let (_dir, url) = common::fresh_sqlite();
    purge_case(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_on_postgres() {
    let url = common::fresh_pg().await;
    purge_case(&url).await;
}
