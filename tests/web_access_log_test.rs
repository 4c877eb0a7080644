//! The access log of personal data on the real `hotline serve`, on SQLite and on
//! PostgreSQL: an operator who opens a ticket page (whole number), downloads its recording
//! and reads it over the API leaves rows, with the address they came from, that a
//! supervisor reads at `GET /api/v1/access-log` and on the page `/console/access-log`
//! (filtered by account and day, a page at a time); administrators read it too; operators
//! and departments are refused.

mod web_support;

use hotline::tickets::{Actor, Channel, Kind, NewTicket};
use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::*;

/// Rows of the page's table whose account cell is `name`.
fn rows_of(html: &str, name: &str) -> usize {
    html.matches(&format!("<td class=\"account\">{name}</td>"))
        .count()
}

async fn access_log_case(url: Option<&str>) {
    // Two rows a page, so four openings make two pages.
    let s = Served::start_on(url, &[("HOTLINE__WEB__PAGE_SIZE", "2".into())]).await;
    s.add_user("op1", Role::Operator, None).await;
    s.add_user("boss", Role::Supervisor, None).await;
    s.add_user("root", Role::Admin, None).await;
    s.add_user("w1", Role::Department, Some("water")).await;
    let wav = s.hotline.dir.path().join("msg.wav");
    std::fs::write(&wav, b"RIFF....WAVEfmt ").unwrap();
    let t = s
        .tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: Some(Kind::Complaint),
                phone: "13812345678".parse().unwrap(),
                text: "路灯不亮".into(),
                address: None,
                area: None,
                recording_path: Some(wav.to_string_lossy().to_string()),
                language: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();

    let mut op = s.login("op1").await;
    assert_eq!(op.get(&format!("/tickets/{}", t.id)).await.status, 200);
    assert_eq!(
        op.get(&format!("/tickets/{}/recording", t.id)).await.status,
        200
    );
    let op_token = s.token_for("op1").await;
    let r = client()
        .get(format!("{}/api/v1/tickets/{}", s.base, t.id))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut boss = s.login("boss").await;
    assert_eq!(boss.get(&format!("/tickets/{}", t.id)).await.status, 200);

    let log = |token: String| {
        let url = format!("{}/api/v1/access-log?per_page=50", s.base);
        async move { client().get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(
        log(op_token).await.status(),
        403,
        "operators do not read the log"
    );
    let r = log(s.token_for("boss").await).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let rows: Vec<(String, String, String, i64, String)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap().to_string(),
                r["what"].as_str().unwrap().to_string(),
                r["via"].as_str().unwrap().to_string(),
                r["ticket_id"].as_i64().unwrap(),
                r["from_addr"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for want in [
        ("phone", "page"),
        ("recording", "download"),
        ("phone", "api"),
    ] {
        assert!(
            rows.contains(&(
                "op1".into(),
                want.0.into(),
                want.1.into(),
                t.id.0,
                "127.0.0.1".into()
            )),
            "{want:?} in {rows:?}"
        );
    }

    // The page: operators and departments are refused, administrators read it.
    assert_eq!(op.get("/console/access-log").await.status, 403);
    let mut dept = s.login("w1").await;
    assert_eq!(dept.get("/console/access-log").await.status, 403);
    let mut root = s.login("root").await;
    let p = root.get("/console/access-log").await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("共 <span id=\"total\">4</span> 条"),
        "{}",
        p.body
    );

    // Newest first, two a page: boss's opening, then op1's API read; then the rest.
    let p1 = boss.get("/console/access-log").await;
    assert_eq!(p1.status, 200);
    assert!(p1.body.contains("第 1/2 页"), "{}", p1.body);
    assert_eq!(
        (rows_of(&p1.body, "boss"), rows_of(&p1.body, "op1")),
        (1, 1)
    );
    assert!(p1.body.contains("<td class=\"from\">127.0.0.1</td>"));
    let p2 = boss.get("/console/access-log?page=2").await;
    assert!(p2.body.contains("第 2/2 页"), "{}", p2.body);
    assert_eq!(rows_of(&p2.body, "op1"), 2);
    assert!(p2.body.contains("录音") && p2.body.contains("下载"));

    // Filters: one account; a day with nothing; today (in the hotline's time zone).
    let only = boss.get("/console/access-log?account=op1").await;
    assert!(only.body.contains("共 <span id=\"total\">3</span> 条"));
    assert_eq!(rows_of(&only.body, "boss"), 0);
    let old = boss.get("/console/access-log?date=2001-01-01").await;
    assert!(old.body.contains("共 <span id=\"total\">0</span> 条"));
    assert!(old.body.contains("没有符合条件的查阅记录"));
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let now = boss
        .get(&format!("/console/access-log?account=op1&date={today}"))
        .await;
    assert!(
        now.body.contains("共 <span id=\"total\">3</span> 条"),
        "{}",
        now.body
    );
    let bad = boss.get("/console/access-log?date=yesterday").await;
    assert_eq!(bad.status, 400, "a wrong date is a clear error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openings_of_recordings_and_numbers_are_logged_for_supervisors() {
    access_log_case(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_on_postgres() {
    let url = common::fresh_pg().await;
    access_log_case(Some(&url)).await;
}
