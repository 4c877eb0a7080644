//! The live streams (SSE) of the real `hotline serve`, the console's and the agent desk's,
//! end once the account that opened them is disabled or its session logged out: a stream
//! opened before the change must not keep delivering.

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

/// Reads `stream` until it ends; whether it did within 15 s (well within its 20 s
/// keep-alive) instead of waiting for more.
async fn ends(stream: &mut reqwest::Response) -> bool {
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .is_ok()
}

/// The next event of `stream` within 10 s, as text.
async fn next_event(stream: &mut reqwest::Response) -> String {
    let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("the stream is open");
    String::from_utf8_lossy(&chunk).into_owned()
}

/// The agent desk's stream (my state, my screen pops): one agent's account is disabled,
/// another logs out; both their desks stop receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_stream_stops_for_a_disabled_agent_and_after_logout() {
    let s = Served::start(&[("HOTLINE__WEB__LIVE_RECHECK_SECS", "1".into())]).await;
    s.add_user("admin", Role::Admin, None).await;
    s.add_user("ag1", Role::Operator, None).await;
    s.add_user("ag2", Role::Operator, None).await;
    let mut ag1 = s.login("ag1").await;
    let mut ag2 = s.login("ag2").await;
    let mut admin = s.login("admin").await;
    let mut desk1 = ag1.open("/console/desk/stream").await;
    let mut desk2 = ag2.open("/console/desk/stream").await;
    for desk in [&desk1, &desk2] {
        assert_eq!(desk.status(), 200);
        assert!(desk.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
    }

    // Live: each agent's desk shows their own change of state.
    for (agent, b, desk) in [("ag1", &mut ag1, &mut desk1), ("ag2", &mut ag2, &mut desk2)] {
        let r = b
            .submit(
                &format!("/console/agents/{agent}/state"),
                &[("state", "ready")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let e = next_event(desk).await;
        assert!(e.contains("event: agent"), "{e}");
    }

    let id = accounts::list(s.tickets.db())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "ag1")
        .unwrap()
        .id;
    let r = admin
        .submit(&format!("/admin/accounts/{id}/active"), &[("active", "0")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = ag2.submit("/logout", &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);

    let (ended1, ended2) = tokio::join!(ends(&mut desk1), ends(&mut desk2));
    assert!(
        ended1,
        "the desk stream still runs after the account was disabled"
    );
    assert!(
        ended2,
        "the desk stream still runs after its session logged out"
    );
    // The server logs each end as it notices it, which may be just after the client does.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let ends_logged = loop {
        let n = s
            .hotline
            .log()
            .matches("live stream ended: session no longer valid")
            .count();
        if n >= 2 || std::time::Instant::now() > until {
            break n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(ends_logged, 2, "{}", s.hotline.log());
}
