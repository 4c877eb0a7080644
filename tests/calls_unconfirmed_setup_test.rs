//! Setups answered but never acknowledged (what spoofed INVITEs look like) against the real
//! `hotline serve`: SIPp sends INVITEs and never ACKs the 200. They leave no call record and
//! count nowhere in the scorecard, while a real caller's call beside them is recorded and
//! offered as usual.

mod common;

use std::path::Path;
use std::time::Duration;

use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use hotline::web::accounts::{self, NewAccount, Role};
use serde_json::Value;

const UNACKED: usize = 3;

async fn token(db: &Db) -> String {
    let a = accounts::add_user(
        db,
        &[],
        &NewAccount {
            name: "kpi_sup".into(),
            display_name: String::new(),
            role: Role::Supervisor,
            department: None,
            password: "pw-kpi-sup-long-enough".into(),
        },
    )
    .await
    .expect("account");
    accounts::create_api_token(db, a.id, "test")
        .await
        .expect("token")
}

async fn get(h: &Hotline, token: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}{path}", h.http_port))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.expect("JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_never_acked_leave_no_call_record_and_no_kpi() {
    // A short ACK wait keeps the test short; long enough that a kept record would not
    // be a "short" (秒挂) call but an offered one.
    let h = Hotline::start(&[("HOTLINE__SIP__ACK_TIMEOUT_SECS", "4".into())]);
    let unacked = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/invite_no_ack.xml");
    let (ok, out) = sipp(&h, &unacked, "12345", &["-m", &UNACKED.to_string()]);
    assert!(ok, "SIPp got its 200s:\n{out}\n--- log ---\n{}", h.log());

    // A real resident meanwhile: ACKs, listens, hangs up.
    let real = h.dir.path().join("real.xml");
    std::fs::write(
        &real,
        scenario("13800000321", &[Step::Pause(4500), Step::Bye]),
    )
    .expect("scenario");
    let (ok, out) = sipp(&h, &real, "12345", &[]);
    assert!(ok, "the real call:\n{out}\n--- log ---\n{}", h.log());

    // Every unacknowledged setup has been given up by now (4 s, the real call took longer),
    // and the dialplan task behind it has finished.
    let mut gone = 0;
    for _ in 0..200 {
        gone = h.log().matches("no ACK for our 2xx").count();
        if gone >= UNACKED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        gone,
        UNACKED,
        "each unacked setup given up once:\n{}",
        h.log()
    );

    let db = Db::connect_url(&h.db_url())
        .await
        .expect("the hotline's db");
    let sup = token(&db).await;
    let mut items = vec![];
    for _ in 0..100 {
        let body = get(&h, &sup, "/api/v1/calls?per_page=50").await;
        items = body["items"].as_array().cloned().unwrap_or_default();
        let ended = items
            .iter()
            .any(|c| c["caller"] == "13800000321" && c["ended_at"].is_string());
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
            .fetch_one(db.pool())
            .await
            .expect("count");
        if ended && rows == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        items.len(),
        1,
        "only the real call is a call: {items:?}\n--- log ---\n{}",
        h.log()
    );
    assert_eq!(items[0]["caller"], "13800000321");
    assert!(
        items.iter().all(|c| c["caller"] != "13900000999"),
        "no record of the unacked setups"
    );

    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let report = get(&h, &sup, &format!("/api/v1/reports/kpis?period={today}")).await;
    let calls = &report["total"]["calls"];
    assert_eq!(
        calls["offered"], 1,
        "only the real call is offered: {report}"
    );
    assert_eq!(calls["short"], 0, "{report}");
    let abandoned = get(&h, &sup, "/api/v1/calls/abandoned?status=all").await;
    assert!(
        abandoned["items"]
            .as_array()
            .is_none_or(|a| a.iter().all(|c| c["caller"] != "13900000999")),
        "no unacked setup is owed a call back: {abandoned}"
    );
}
