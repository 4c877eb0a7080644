//! Retention of personal data (个人信息保护法) with the real `hotline privacy purge`, on
//! SQLite and on PostgreSQL: tickets closed longer ago than the configured periods lose
//! their recording (file and row), their transcript and all but the last four digits of
//! the resident's number; open tickets keep everything; a second run changes nothing.

mod common;

use std::path::Path;
use std::process::Command;

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
                text: "我家楼下的路灯坏了".into(),
                address: None,
                area: None,
                recording_path: Some(wav.to_string_lossy().to_string()),
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

async fn purge_case(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let tickets = common::tickets_at(url).await;
    let old = with_recording(&tickets, dir.path(), "closed").await;
    let open = with_recording(&tickets, dir.path(), "open").await;
    close(&tickets, &old).await;

    let (ok, out) = purge(dir.path(), url);
    assert!(ok, "{out}");
    assert!(out.contains("privacy purge"), "logged: {out}");

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
            && out2.contains("phones=0"),
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
