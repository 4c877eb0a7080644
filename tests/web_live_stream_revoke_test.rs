//! The console's live stream (SSE) of the real `hotline serve` ends once the account that
//! opened it is disabled: a stream opened before the change must not keep delivering.

mod web_support;

use std::time::Duration;

use hotline::web::accounts::{self, Role};
use serde_json::json;
use web_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_operator_stops_receiving() {
    let s = Served::start(&[("HOTLINE__WEB__LIVE_RECHECK_SECS", "1".into())]).await;
    s.add_user("admin", Role::Admin, None).await;
    s.add_user("op1", Role::Operator, None).await;
    s.add_user("op2", Role::Operator, None).await;
    let op2_token = s.token_for("op2").await;
    let op1 = s.login("op1").await;
    let mut admin = s.login("admin").await;

    let cookie = op1
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut stream = client()
        .get(format!("{}/console/stream", s.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));

    // Live: a ticket taken in by a colleague arrives as an event.
    let r = client()
        .post(format!("{}/api/v1/tickets", s.base))
        .bearer_auth(&op2_token)
        .json(&json!({"phone": "13800001234", "text": "路灯不亮"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("the stream is open");
    assert!(
        String::from_utf8_lossy(&first).contains("event: ticket"),
        "{first:?}"
    );

    let id = accounts::list(s.tickets.db())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "op1")
        .unwrap()
        .id;
    let r = admin
        .submit(&format!("/admin/accounts/{id}/active"), &[("active", "0")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The stream ends (well within its 20 s keep-alive) instead of waiting for more.
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream still runs after the account was disabled"
    );
    assert!(s
        .hotline
        .log()
        .contains("live stream ended: session no longer valid"));
}
