//! Real SIPp calls through the demo dialplan of the real `hotline serve`, then their records
//! read the ways people read them: `GET /api/v1/calls` (and one record by id), and
//! `hotline calls list --json`. One caller hangs up during the menu; a blocked caller is
//! hung up by the dialplan.

mod common;

use std::process::Command;
use std::time::Duration;

use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use hotline::web::accounts::{self, NewAccount, Role};
use serde_json::Value;

/// An API token of a new account with `role` in the running hotline's database.
async fn token(db: &Db, name: &str, role: Role) -> String {
    let a = accounts::add_user(
        db,
        &[],
        &NewAccount {
            name: name.into(),
            display_name: String::new(),
            role,
            department: None,
            password: format!("pw-{name}-long-enough"),
        },
    )
    .await
    .expect("account");
    accounts::create_api_token(db, a.id, "test")
        .await
        .expect("token")
}

async fn get(h: &Hotline, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}{path}", h.http_port))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

/// The calls list once both calls have ended (the hotline completes a record just after
/// the call's last message).
async fn ended_calls(h: &Hotline, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for _ in 0..100 {
        let (status, body) = get(h, token, "/api/v1/calls?per_page=10").await;
        assert_eq!(status, 200, "{body}");
        items = body["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 2 && items.iter().all(|c| c["ended_at"].is_string()) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "two ended calls expected, got {items:?}\n--- log ---\n{}",
        h.log()
    );
}

fn by_caller<'a>(items: &'a [Value], caller: &str) -> &'a Value {
    items
        .iter()
        .find(|c| c["caller"] == caller)
        .unwrap_or_else(|| panic!("no call from {caller} in {items:?}"))
}

fn path(c: &Value) -> Vec<&str> {
    c["ivr_path"]
        .as_array()
        .expect("ivr_path")
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| *n != "after_hours") // depends on the clock
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_calls_leave_records_read_over_the_api_and_the_cli() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path();

    // A resident who hangs up while the menu plays.
    let hang_up = dir.join("hang_up.xml");
    std::fs::write(
        &hang_up,
        scenario("13800000123", &[Step::Pause(2500), Step::Bye]),
    )
    .unwrap();
    let (ok, out) = sipp(&h, &hang_up, "12345", &[]);
    assert!(ok, "SIPp call failed:\n{out}\n--- log ---\n{}", h.log());
    // A blocked number: the dialplan plays its notice and hangs up.
    let blocked = dir.join("blocked.xml");
    std::fs::write(&blocked, scenario("13000000000", &[Step::AwaitBye(60_000)])).unwrap();
    let (ok, out) = sipp(&h, &blocked, "12345", &[]);
    assert!(ok, "SIPp call failed:\n{out}\n--- log ---\n{}", h.log());

    let db = Db::connect_url(&h.db_url())
        .await
        .expect("the hotline's db");
    let op = token(&db, "api_op", Role::Operator).await;
    let admin = token(&db, "api_admin", Role::Admin).await;

    let items = ended_calls(&h, &op).await;
    assert_eq!(items[0]["caller"], "13000000000", "newest first");
    let c = by_caller(&items, "13800000123");
    assert_eq!(c["called"], "12345");
    assert!(c["answered_at"].is_string(), "the menu answered: {c}");
    assert!(c["started_at"].as_str() <= c["answered_at"].as_str());
    assert_eq!(path(c)[..2], ["screen", "welcome"], "{c}");
    assert_eq!(c["outcome"], "caller_hung_up");
    assert_eq!(c["hangup_side"], "caller");
    assert_eq!(
        c["abandoned"], true,
        "hung up in the menu without a word: a call to return"
    );

    let b = by_caller(&items, "13000000000");
    assert_eq!(path(b), ["screen", "blocked"], "{b}");
    assert_eq!(b["hangup_side"], "system");
    assert_eq!(b["outcome"], "completed");

    // Filters, and one record with its details.
    let (status, body) = get(&h, &op, "/api/v1/calls?caller=13000000000").await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 1, "{body}");
    let (status, one) = get(&h, &op, &format!("/api/v1/calls/{}", c["id"])).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["call"]["caller"], "13800000123");
    assert!(
        one["prompts"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "welcome")),
        "the caller heard the greeting: {one}"
    );
    let (status, err) = get(&h, &op, "/api/v1/calls?from=yesterday").await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "bad_request");

    // Administrators read records, with the number masked.
    let (status, body) = get(&h, &admin, "/api/v1/calls").await;
    assert_eq!(status, 200);
    let callers: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["caller"].as_str())
        .collect();
    assert!(callers.contains(&"138****0123"), "{callers:?}");
    assert!(!callers.contains(&"13800000123"), "{callers:?}");

    // The same records from a shell.
    let out = Command::new(common::hotline_bin())
        .args(["calls", "list", "--json", "--caller", "13800000123"])
        .current_dir(common::repo())
        .env("HOTLINE__DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("hotline calls list runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["caller"], "13800000123");
    assert_eq!(lines[0]["hangup_side"], "caller");
    assert_eq!(path(&lines[0])[..2], ["screen", "welcome"]);
    assert_eq!(lines[0]["answered_at"], c["answered_at"]);

    let out = Command::new(common::hotline_bin())
        .args(["calls", "show", &b["id"].to_string()])
        .current_dir(common::repo())
        .env("HOTLINE__DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("hotline calls show runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("screen > blocked"), "{text}");
    assert!(text.contains("system completed"), "{text}");
}
