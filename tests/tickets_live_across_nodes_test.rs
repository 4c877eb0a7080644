//! Two real `hotline serve` nodes on one PostgreSQL: a console open on node B shows, live, a
//! ticket filed through node A's API — once, as node A's own console does — and goes on
//! doing so after B's listening connection is cut by the database.

mod web_support;

use std::time::Duration;

use futures::StreamExt;
use hotline::web::accounts::Role;
use serde_json::{json, Value};
use web_support::*;

/// An open `/console/stream` of `b`, read as text.
struct Stream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    seen: String,
}

impl Stream {
    async fn open(b: &Browser) -> Stream {
        let res = b.open("/console/stream").await;
        assert_eq!(res.status(), 200);
        Stream {
            body: Box::pin(res.bytes_stream().map(|c| c.map(|b| b.to_vec()))),
            seen: String::new(),
        }
    }

    /// Reads until `needle` has been seen, or panics after 30 s.
    async fn until(&mut self, needle: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !self.seen.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("{needle} not shown within 30 s:\n{}", self.seen))
                .expect("stream open")
                .unwrap();
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads whatever comes within `window`.
    async fn drain(&mut self, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, self.body.next()).await {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn file_ticket(base: &str, token: &str, phone: &str) -> String {
    let r = client()
        .post(format!("{base}/api/v1/tickets"))
        .bearer_auth(token)
        .json(&json!({"phone": phone, "text": "小区门口的路灯坏了一个星期"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_one_node_shows_a_ticket_made_on_another() {
    let url = common::fresh_pg().await;
    let env = [("HOTLINE__DATABASE__URL", url.clone())];
    let a = Served::start(&env).await;
    let b = Served::start(&env).await;
    a.hotline
        .wait_for_log("SIP listening (UDP)", Duration::from_secs(60));
    a.add_user("op_a", Role::Operator, None).await;
    a.add_user("op_b", Role::Operator, None).await;
    let token = a.token_for("op_a").await;
    let mut on_a = Stream::open(&a.login("op_a").await).await;
    let mut on_b = Stream::open(&b.login("op_b").await).await;

    let first = file_ticket(&a.base, &token, "13800138001").await;
    on_b.until(&first).await;
    on_a.until(&first).await;
    // Node A's own screen got it straight after the commit, and not a second time from
    // the announcement.
    on_a.drain(Duration::from_secs(2)).await;
    let lines: Vec<&str> = on_a
        .seen
        .lines()
        .filter(|l| l.starts_with("data:") && l.contains(&first))
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let times = lines.iter().filter(|m| *m == l).count();
        assert_eq!(times, 1, "{l} twice:\n{}", on_a.seen);
    }

    // The database drops B's listening connection; a ticket made meanwhile still shows.
    let admin = hotline::store::Db::open(&url, 1).await.unwrap();
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%hotline_ticket_events%'",
    )
    .fetch_one(admin.pool())
    .await
    .unwrap();
    assert_eq!(
        cut, 2,
        "each node listens for ticket events on one connection"
    );
    let second = file_ticket(&a.base, &token, "13800138002").await;
    on_b.until(&second).await;
    let third = file_ticket(&a.base, &token, "13800138003").await;
    on_b.until(&third).await;
}
