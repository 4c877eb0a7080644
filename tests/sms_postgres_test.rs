//! Two hotline nodes on one PostgreSQL, both bound to the SMSC: every notice goes out once
//! (`FOR UPDATE SKIP LOCKED` on the outbox, a locked cursor per consumer), and an incoming
//! text still becomes one ticket.

#[path = "common/mod.rs"]
mod common;
#[path = "smsc/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use harness::Smsc;
use hotline::sms::{self, SmsConfig};
use hotline::store::Db;
use hotline::tickets::{Actor, Channel, NewTicket, Tickets};
use tokio_util::sync::CancellationToken;

fn cfg(port: u16) -> SmsConfig {
    SmsConfig {
        enabled: true,
        port,
        quiet_start: "00:00".into(),
        quiet_end: "00:00".into(),
        poll_ms: 50,
        daily_cap_per_phone: 0,
        rate_per_sec: 0,
        ..SmsConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_send_each_notice_once() {
    let url = common::fresh_pg().await;
    let mut smsc = Smsc::start("hotline", "secret");
    let db1 = Db::connect_url(&url).await.unwrap();
    let db2 = Db::connect_url(&url).await.unwrap();
    let t1 = Tickets::from_config(db1.clone(), &common::tickets_config()).unwrap();
    let t2 = Tickets::from_config(db2.clone(), &common::tickets_config()).unwrap();
    let stop = CancellationToken::new();
    let h1 = sms::start(cfg(smsc.port), db1.clone(), t1.clone(), stop.clone());
    let h2 = sms::start(cfg(smsc.port), db2.clone(), t2.clone(), stop.clone());
    assert!(h1.link.wait_bound(Duration::from_secs(60)).await);
    assert!(h2.link.wait_bound(Duration::from_secs(60)).await);
    let n = 60;
    for i in 0..n {
        let t = if i % 2 == 0 { &t1 } else { &t2 };
        t.create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: format!("1390060{i:04}").parse().unwrap(),
                text: "小区门口垃圾没人清运".into(),
                address: None,
                area: None,
                recording_path: None,
                language: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();
    }
    let start = Instant::now();
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox WHERE state = 'pending'")
                .fetch_one(db1.pool())
                .await
                .unwrap();
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox")
            .fetch_one(db1.pool())
            .await
            .unwrap();
        if total >= n && pending == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{pending} of {total} still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One outbox row per event, one acknowledged submit per row.
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox")
        .fetch_one(db1.pool())
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ticket_events WHERE kind IN ('accepted','dispatched')",
    )
    .fetch_one(db1.pool())
    .await
    .unwrap();
    assert_eq!(rows, events, "each event became exactly one notice");
    let mut per: HashMap<(String, String), usize> = HashMap::new();
    for v in smsc.events("submit_sm") {
        if v["acked"] == true {
            *per.entry((v["dest"].to_string(), v["text"].to_string()))
                .or_default() += 1;
        }
    }
    assert_eq!(per.len() as i64, rows, "every notice reached the SMSC");
    assert!(per.values().all(|&c| c == 1), "a notice went out twice");
    // An incoming text reaches one node (the SMSC picks a session) and becomes one ticket.
    smsc.deliver_text("13900070000", "解放路的路灯坏了三天了");
    let start = Instant::now();
    loop {
        let list = t1
            .list_by_phone(&"13900070000".parse().unwrap(), 10)
            .await
            .unwrap();
        if !list.is_empty() {
            assert_eq!(list.len(), 1);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no ticket from the text"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    h1.join().await;
    h2.join().await;
}
