//! A transcription job that runs twice for the same recording — its worker died after the
//! ticket took the transcript but before the job was marked done, and the next worker took
//! it once the lease ended — leaves one transcript on the ticket, one `transcribed` audit
//! line and one event, on both databases. No whisper here: the second run re-applies the
//! stored transcript, as it does after a crash.

mod common;

use std::time::Duration;

use common::{fresh_pg, fresh_sqlite, repo, tickets_at};
use hotline::notify::speech_jobs;
use hotline::speech::{queue, SpeechConfig, SpeechService, Transcript};
use hotline::store::Db;
use hotline::tickets::*;

async fn count(db: &Db, sql: &str, ticket: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(ticket)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn scenario(url: String) {
    let tickets = tickets_at(&url).await;
    let db = Db::connect_url(&url).await.unwrap();
    let ticket = tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: "13900002222".parse().unwrap(),
                text: String::new(),
                address: None,
                area: None,
                recording_path: Some("/var/lib/hotline/recordings/rerun.wav".into()),
                language: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();
    speech_jobs::queue_jobs(&db).await.unwrap();
    let cfg = SpeechConfig::default();
    let service = SpeechService::new(
        cfg.clone(),
        repo().join("target"),
        db.clone(),
        tickets.clone(),
    );

    // The first worker transcribes and updates the ticket, then dies before `finish`.
    let first = queue::claim(&db, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
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
    let route = service.router().route(&t);
    queue::store_transcript(&db, &first, &t, &route, "ggml-base.bin")
        .await
        .unwrap();
    tickets
        .apply_transcript(ticket.id, route.to_update())
        .await
        .unwrap();

    // Its lease ends; the next worker takes the same job and runs it to the end.
    sqlx::query("UPDATE transcription_jobs SET claimed_until = 0 WHERE id = $1")
        .bind(first.id)
        .execute(db.pool())
        .await
        .unwrap();
    let second = queue::claim(&db, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the job is taken again after its lease");
    assert_eq!(second.id, first.id);
    service.process(second).await;

    let after = tickets.get(ticket.id).await.unwrap();
    assert_eq!(
        after.text.matches("路灯坏了").count(),
        1,
        "one transcript on the ticket: {:?}",
        after.text
    );
    let id = ticket.id.0;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM ticket_audit WHERE ticket_id = $1 AND action = 'transcribed'",
            id
        )
        .await,
        1,
        "one audit line"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM ticket_events WHERE ticket_id = $1 AND kind = 'updated'",
            id
        )
        .await,
        1,
        "one event"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM transcripts WHERE ticket_id = $1",
            id
        )
        .await,
        1
    );
    let s = queue::stats(&db).await.unwrap();
    assert_eq!((s.done, s.pending, s.running), (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_twice_leaves_one_transcript_on_sqlite() {
    let (_dir, url) = fresh_sqlite();
    scenario(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_twice_leaves_one_transcript_on_postgres() {
    scenario(fresh_pg().await).await;
}

/// A worker that renews its lease keeps the job past the first lease's end: no second
/// worker takes it while it still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lease_keeps_the_job_from_a_second_worker() {
    let (_dir, url) = fresh_sqlite();
    let tickets = tickets_at(&url).await;
    let db = Db::connect_url(&url).await.unwrap();
    tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: "13900003333".parse().unwrap(),
                text: String::new(),
                address: None,
                area: None,
                recording_path: Some("/var/lib/hotline/recordings/long.wav".into()),
                language: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();
    speech_jobs::queue_jobs(&db).await.unwrap();
    let lease = Duration::from_millis(1500);
    let job = queue::claim(&db, lease).await.unwrap().unwrap();
    for _ in 0..4 {
        tokio::time::sleep(lease / 3).await;
        assert!(queue::renew(&db, &job, lease).await.unwrap());
    }
    // Two thirds of a lease past the first one's end: still this worker's.
    assert!(queue::claim(&db, lease).await.unwrap().is_none());
    queue::finish(&db, &job).await.unwrap();
    assert!(
        !queue::renew(&db, &job, lease).await.unwrap(),
        "a finished job is not renewed"
    );
}
