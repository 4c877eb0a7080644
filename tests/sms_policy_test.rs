//! What decides whether and when a notice goes out, on a real database: TD opt-out, the
//! per-phone daily cap, quiet hours, and idempotence on the event.

use hotline::sms::outbox::{self, Enqueued, Notice};
use hotline::sms::SmsConfig;
use hotline::store::{now_ms, Db};
use sqlx::Row;

fn notice(key: &str, phone: &str, kind: &str) -> Notice {
    Notice {
        dedup_key: key.into(),
        ticket_id: Some(1),
        event_id: None,
        phone: phone.into(),
        kind: kind.into(),
        body: "【12345】测试".into(),
        event_at: None,
    }
}

async fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect_url(&format!("sqlite://{}/h.db", dir.path().display()))
        .await
        .unwrap();
    (dir, db)
}

#[tokio::test]
async fn opt_out_cap_quiet_hours_and_duplicates() {
    let (_d, db) = db().await;
    let mut cfg = SmsConfig {
        daily_cap_per_phone: 3,
        quiet_start: "00:00".into(),
        quiet_end: "00:00".into(),
        ..SmsConfig::default()
    };
    let mut c = db.pool().acquire().await.unwrap();
    // The same event twice is one notice.
    assert!(matches!(
        outbox::enqueue(&mut c, &cfg, &notice("ev:1", "13800000001", "accepted"))
            .await
            .unwrap(),
        Enqueued::Queued(_)
    ));
    assert_eq!(
        outbox::enqueue(&mut c, &cfg, &notice("ev:1", "13800000001", "accepted"))
            .await
            .unwrap(),
        Enqueued::Duplicate
    );
    // Daily cap: the 4th notice of the day to one phone is held back, others unaffected.
    for k in 2..=3 {
        outbox::enqueue(
            &mut c,
            &cfg,
            &notice(&format!("ev:{k}"), "13800000001", "dispatched"),
        )
        .await
        .unwrap();
    }
    assert!(matches!(
        outbox::enqueue(&mut c, &cfg, &notice("ev:4", "13800000001", "resolved"))
            .await
            .unwrap(),
        Enqueued::Suppressed(_)
    ));
    assert!(matches!(
        outbox::enqueue(&mut c, &cfg, &notice("ev:5", "13800000002", "resolved"))
            .await
            .unwrap(),
        Enqueued::Queued(_)
    ));
    // TD: non-essential notices stop, essential ones (the answer) still go.
    outbox::opt_out(&db, "13800000003").await.unwrap();
    assert!(matches!(
        outbox::enqueue(&mut c, &cfg, &notice("ev:6", "13800000003", "dispatched"))
            .await
            .unwrap(),
        Enqueued::Suppressed(_)
    ));
    assert!(matches!(
        outbox::enqueue(&mut c, &cfg, &notice("ev:7", "13800000003", "resolved"))
            .await
            .unwrap(),
        Enqueued::Queued(_)
    ));
    // Quiet hours all day long: a non-essential notice waits, an essential one does not.
    cfg.quiet_start = "00:00".into();
    cfg.quiet_end = "23:59".into();
    cfg.daily_cap_per_phone = 0;
    let now = now_ms();
    outbox::enqueue(&mut c, &cfg, &notice("ev:8", "13800000004", "follow_up"))
        .await
        .unwrap();
    outbox::enqueue(&mut c, &cfg, &notice("ev:9", "13800000004", "accepted"))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT dedup_key, not_before, state FROM sms_outbox WHERE phone = '13800000004' ORDER BY id")
        .fetch_all(&mut *c)
        .await
        .unwrap();
    let follow_up_at: i64 = rows[0].try_get(1).unwrap();
    let accepted_at: i64 = rows[1].try_get(1).unwrap();
    let local_minute = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%H:%M")
        .to_string();
    if local_minute.as_str() < "23:59" {
        assert!(
            follow_up_at > now,
            "non-essential notice waits for the end of quiet hours"
        );
    }
    assert!(
        accepted_at <= now_ms(),
        "the receipt of a request is not held back"
    );
    let suppressed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox WHERE state = 'suppressed'")
            .fetch_one(&mut *c)
            .await
            .unwrap();
    assert_eq!(suppressed, 2);
}
