//! The transcription queue and speech's tables on both databases (SQLite and the real
//! PostgreSQL server): claiming with leases, a crashed worker's job taken again, backoff and
//! the visible end state `failed`, stored transcripts, and the report of operators'
//! corrections of speech-chosen routes. No whisper here; see speech_transcription_test.rs.

mod common;

use std::time::Duration;

use common::{fresh_pg, fresh_sqlite, tickets_at};
use hotline::notify::speech_jobs;
use hotline::speech::routing::{corrections_report, record_correction, SpeechRouter};
use hotline::speech::{queue, SpeechConfig, Transcript};
use hotline::store::Db;
use hotline::tickets::*;
use sqlx::Row;

async fn voice_ticket(t: &Tickets, language: Option<&str>) -> Ticket {
    t.create(
        NewTicket {
            channel: Channel::Call,
            kind: None,
            phone: "13900001111".parse().unwrap(),
            text: String::new(),
            address: None,
            area: None,
            recording_path: Some("/var/lib/hotline/recordings/x.wav".into()),
            language: language.map(str::to_string),
        },
        &Actor::System,
    )
    .await
    .unwrap()
}

async fn status(db: &Db, ticket: TicketId) -> (String, i64) {
    let r = sqlx::query("SELECT status, attempts FROM transcription_jobs WHERE ticket_id = $1")
        .bind(ticket.0)
        .fetch_one(db.pool())
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

async fn scenario(url: String) {
    let tickets = tickets_at(&url).await;
    let db = Db::connect_url(&url).await.unwrap();
    // The first caller's language was heard on the call; the second's is to be detected.
    let a = voice_ticket(&tickets, Some("en")).await;
    let b = voice_ticket(&tickets, None).await;
    // The `speech` consumer turns each voice message's `accepted` event into its one job.
    speech_jobs::queue_jobs(&db).await.unwrap();
    assert_eq!(queue::stats(&db).await.unwrap().pending, 2);
    for (t, want) in [(&a, Some("en")), (&b, None)] {
        let lang: Option<String> =
            sqlx::query("SELECT language FROM transcription_jobs WHERE ticket_id = $1")
                .bind(t.id.0)
                .fetch_one(db.pool())
                .await
                .unwrap()
                .get(0);
        assert_eq!(lang.as_deref(), want, "the job carries the call's language");
    }

    // Two workers claim: each gets a different job; a third finds none.
    let j1 = queue::claim(&db, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let j2 = queue::claim(&db, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(j1.id, j2.id);
    assert!(queue::claim(&db, Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
    let s = queue::stats(&db).await.unwrap();
    assert_eq!((s.pending, s.running), (0, 2));

    // Worker of j2 crashes: after its lease the job is taken again, attempt 2.
    sqlx::query("UPDATE transcription_jobs SET claimed_until = 0 WHERE id = $1")
        .bind(j2.id)
        .execute(db.pool())
        .await
        .unwrap();
    let again = queue::claim(&db, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (j2.id, 2));
    // It fails for good (2 of 2 attempts): visible, not lost.
    assert!(
        queue::fail(&db, &again, "unreadable audio", 2, Duration::ZERO)
            .await
            .unwrap()
    );
    let failed_ticket = if j2.ticket_id == a.id.0 { a.id } else { b.id };
    assert_eq!(status(&db, failed_ticket).await, ("failed".to_string(), 2));

    // j1 succeeds: transcript and route stored, ticket updated, job done.
    let router = SpeechRouter::new(
        &tickets.rules().routing,
        &tickets.rules().directory,
        &SpeechConfig::default(),
    );
    let t = Transcript {
        text: "人民路上的路灯坏了,晚上很黑。".into(),
        segments: vec![],
        avg_logprob: -0.2,
        confidence: 0.82,
        language: "zh".into(),
        language_probability: None,
        audio_secs: 4.2,
        elapsed_ms: 900,
    };
    let route = router.route(&t);
    queue::store_transcript(&db, &j1, &t, &route, "ggml-base.bin")
        .await
        .unwrap();
    tickets
        .apply_transcript(TicketId(j1.ticket_id), route.to_update())
        .await
        .unwrap();
    queue::finish(&db, &j1).await.unwrap();
    let stored = queue::transcript_of(&db, TicketId(j1.ticket_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.text, "人民路上的路灯坏了，晚上很黑。");
    assert_eq!(stored.department_id.as_deref(), Some("urban_management"));
    assert!(!stored.needs_review);
    assert_eq!(stored.audio_ms, 4200);
    let s = queue::stats(&db).await.unwrap();
    assert_eq!((s.done, s.failed, s.pending, s.running), (1, 1, 0, 0));

    // An operator moves it; the report shows where speech sent it and where it went.
    let moved = DepartmentId("housing_construction".into());
    assert!(record_correction(
        &db,
        TicketId(j1.ticket_id),
        Some(Kind::Complaint),
        Some(&moved),
        "张敏"
    )
    .await
    .unwrap());
    // Confirming speech's own choice is no correction.
    let same = DepartmentId("urban_management".into());
    assert!(!record_correction(
        &db,
        TicketId(j1.ticket_id),
        Some(Kind::Complaint),
        Some(&same),
        "张敏"
    )
    .await
    .unwrap());
    let report = corrections_report(&db).await.unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(
        report[0].speech_department.as_deref(),
        Some("urban_management")
    );
    assert_eq!(
        report[0].final_department.as_deref(),
        Some("housing_construction")
    );
    assert_eq!(report[0].count, 1);
    assert!(report[0].example.as_deref().unwrap_or("").contains("路灯"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_speech_tables_on_sqlite() {
    let (_dir, url) = fresh_sqlite();
    scenario(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_speech_tables_on_postgres() {
    scenario(fresh_pg().await).await;
}
