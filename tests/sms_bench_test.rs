//! Benchmarks, not tests: ignored by default, run by bench/sms_bench.sh, print figures and
//! assert nothing about time.

#[path = "smsc/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::Smsc;
use hotline::sms::link::{OutPart, SmppLink, SmsLink};
use hotline::sms::outbox::{self, Notice};
use hotline::sms::{self, SmsConfig};
use hotline::store::Db;
use hotline::tickets::{Actor, Channel, NewTicket, Tickets, TicketsConfig};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

fn cfg(port: u16, window: usize) -> SmsConfig {
    SmsConfig {
        enabled: true,
        port,
        window,
        rate_per_sec: 0,
        request_receipts: false,
        quiet_start: "00:00".into(),
        quiet_end: "00:00".into(),
        daily_cap_per_phone: 0,
        poll_ms: 20,
        ..SmsConfig::default()
    }
}

fn n() -> usize {
    std::env::var("SMS_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/sms_bench.sh"]
async fn bench_link_submit_throughput() {
    let n = n();
    for window in [1usize, 10, 50] {
        let smsc = Smsc::start_on(0, "hotline", "secret", &["--quiet-submits"]);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let stop = CancellationToken::new();
        let link = SmppLink::start(cfg(smsc.port, window), tx, stop.clone());
        assert!(link.wait_bound(Duration::from_secs(30)).await);
        let part = OutPart {
            dest: "13800000000".into(),
            data_coding: 8,
            esm_class: 0,
            bytes: "您的诉求已受理"
                .encode_utf16()
                .flat_map(|u| u.to_be_bytes())
                .collect(),
        };
        let t0 = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(window * 2));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let p = sem.clone().acquire_owned().await.unwrap();
            let link = link.clone();
            let part = part.clone();
            set.spawn(async move {
                let r = link.submit(&part).await;
                drop(p);
                r.is_ok()
            });
        }
        let mut ok = 0;
        while let Some(r) = set.join_next().await {
            ok += r.unwrap_or(false) as usize;
        }
        let secs = t0.elapsed().as_secs_f64();
        println!("BENCH link window={window:>3}: {ok}/{n} submit_sm acknowledged in {secs:.2} s = {:.0}/s", ok as f64 / secs);
        stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/sms_bench.sh"]
async fn bench_outbox_throughput_and_event_latency() {
    let n = n();
    let smsc = Smsc::start_on(0, "hotline", "secret", &["--quiet-submits"]);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect_url(&format!("sqlite://{}/h.db", dir.path().display()))
        .await
        .unwrap();
    let tickets = Tickets::from_config(db.clone(), &TicketsConfig::default()).unwrap();
    let c = cfg(smsc.port, 50);
    // 1. Throughput of the durable sender: n notices already in the outbox.
    {
        let mut tx = db.pool().begin().await.unwrap();
        for i in 0..n {
            let notice = Notice {
                dedup_key: format!("bench:{i}"),
                ticket_id: None,
                event_id: None,
                phone: format!("139{i:08}"),
                kind: "accepted".into(),
                body: format!(
                    "【12345】您的诉求已受理，工单号2026112600{i:02}。回复CX可查询办理进度。"
                ),
                event_at: None,
            };
            outbox::enqueue(&mut tx, &c, &notice).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let stop = CancellationToken::new();
    let t0 = Instant::now();
    let h = sms::start(c.clone(), db.clone(), tickets.clone(), stop.clone());
    assert!(h.link.wait_bound(Duration::from_secs(30)).await);
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox WHERE state = 'pending'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("BENCH outbox (SQLite, window 50): {n} notices submitted and recorded in {secs:.2} s = {:.0}/s", n as f64 / secs);
    // 2. Latency from the ticket event to submit_sm, tickets created at a steady pace.
    let k = 300usize;
    for i in 0..k {
        let new = NewTicket {
            channel: Channel::Call,
            kind: None,
            phone: format!("137{i:08}").parse().unwrap(),
            text: "解放路的路灯坏了".into(),
            address: None,
            area: None,
            recording_path: None,
            language: None,
        };
        let _ = tickets.create(new, &Actor::System).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = sqlx::query(
        "SELECT p.submitted_at - o.event_at FROM sms_outbox o JOIN sms_parts p ON p.outbox_id = o.id
         WHERE o.event_id IS NOT NULL AND p.part_no = 1 ORDER BY 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let lat: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0).unwrap())
        .collect();
    if !lat.is_empty() {
        let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "BENCH latency ticket event → submit_sm over {} notices: p50 {} ms, p99 {} ms, max {} ms",
            lat.len(),
            p(0.5),
            p(0.99),
            lat[lat.len() - 1]
        );
    }
    stop.cancel();
    h.join().await;
}
