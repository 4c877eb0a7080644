//! The JSON API with API tokens: pagination, JSON errors, role filtering, transitions, and
//! an OpenAPI document that describes every route the router serves.

mod web_support;

use hotline::tickets::{Action, Actor, DepartmentId};
use hotline::web::accounts::Role;
use serde_json::{json, Value};
use web_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_lists_pages_and_changes_tickets_with_tokens() {
    let site = start_sqlite().await;
    site.add_user("api_op", Role::Operator, None).await;
    site.add_user("api_water", Role::Department, Some("water"))
        .await;
    let op = site.token_for("api_op").await;
    let water = site.token_for("api_water").await;
    let c = client();
    let url = |p: &str| format!("{}{}", site.base, p);

    // Create five tickets through the API.
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = c
            .post(url("/api/v1/tickets"))
            .bearer_auth(&op)
            .json(&json!({"phone": format!("1380000{:04}", i), "text": format!("第{i}个问题：自来水浑浊")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["channel"], "web");
        ids.push(v["id"].as_i64().unwrap());
    }
    // Pagination.
    let v: Value = c
        .get(url("/api/v1/tickets?per_page=2&page=2"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 5);
    assert_eq!(v["page"], 2);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    // Bad input: JSON error bodies.
    for bad in [
        "/api/v1/tickets?per_page=0",
        "/api/v1/tickets?state=nonsense",
        "/api/v1/tickets?page=x",
    ] {
        let r = c.get(url(bad)).bearer_auth(&op).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "bad_request");
    }
    let r = c
        .post(url("/api/v1/tickets"))
        .bearer_auth(&op)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );
    let r = c
        .get(url("/api/v1/tickets"))
        .bearer_auth("hl_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(url("/api/v1/nothing-here"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );

    // Dispatch one to water via the API; the water account sees exactly that one.
    let id = ids[0];
    let r = c
        .post(url(&format!("/api/v1/tickets/{id}/transitions")))
        .bearer_auth(&op)
        .json(&json!({"action": "dispatch", "department": "water"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status == 200 || status == 409, "{status} {v}");
    site.tickets
        .transition(
            hotline::tickets::TicketId(id),
            Action::Dispatch {
                department: DepartmentId("water".into()),
            },
            &Actor::System,
        )
        .await
        .ok();
    let mine: Value = c
        .get(url("/api/v1/tickets?department=gas"))
        .bearer_auth(&water)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["department_id"] == "water"),
        "department filter forced: {mine}"
    );
    for t in mine["items"].as_array().unwrap() {
        assert_eq!(t["department_id"], "water");
    }
    let r = c
        .post(url(&format!("/api/v1/tickets/{id}/transitions")))
        .bearer_auth(&water)
        .json(&json!({"action": "sign"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(url(&format!("/api/v1/tickets/{id}/transitions")))
        .bearer_auth(&water)
        .json(&json!({"action": "sign"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "signing twice is a conflict");
    let audit: Value = c
        .get(url(&format!("/api/v1/tickets/{id}/audit")))
        .bearer_auth(&water)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["action"] == "sign" && a["actor"].as_str().unwrap().contains("api_water")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_describes_the_served_routes() {
    let site = start_sqlite().await;
    let r = client()
        .get(format!("{}/api/v1/openapi.json", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["openapi"].as_str().unwrap().starts_with("3."));
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/api/v1/tickets",
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/audit",
        "/api/v1/tickets/{id}/transitions",
        "/api/v1/departments",
        "/api/v1/stats",
        "/api/v1/calls",
        "/api/v1/calls/{id}",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    // A call's events are documented by kind, so clients can read every one.
    let event = serde_json::to_string(&v["components"]["schemas"]["CallEvent"]).unwrap();
    for kind in [
        "queue_entered",
        "agent_answered",
        "abandoned",
        "callback_requested",
    ] {
        assert!(
            event.contains(kind),
            "event kind {kind} documented: {event}"
        );
    }
    assert!(v["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_answer() {
    let site = start_sqlite().await;
    site.ticket("13800000077", "测试指标").await;
    let c = client();
    let m = c
        .get(format!("{}/metrics", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), 200);
    assert!(m.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = m.text().await.unwrap();
    assert!(text.contains("# TYPE hotline_tickets gauge"));
    assert!(text.contains("hotline_database_up 1"));
    let h = c
        .get(format!("{}/healthz", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    let r = c.get(format!("{}/readyz", site.base)).send().await.unwrap();
    // SIP is not started in this test: not ready, and the body says which part.
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["database"], true);
    assert_eq!(v["sip_listening"], false);
}

/// The API, the pages and the CLI share one command layer: refusing an extension needs a
/// reason everywhere (the API once accepted an empty one that the page refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refuses_an_extension_refusal_without_a_reason() {
    let site = start_sqlite().await;
    site.add_user("api_sup", Role::Supervisor, None).await;
    let sup = site.token_for("api_sup").await;
    let t = site.ticket("13800000088", "路灯不亮").await;
    for a in [
        Action::Dispatch {
            department: DepartmentId("water".into()),
        },
        Action::Sign,
        Action::RequestExtension {
            days: 3,
            reason: "需协调".into(),
        },
    ] {
        site.tickets
            .transition(t.id, a, &Actor::System)
            .await
            .unwrap();
    }
    let c = client();
    let url = format!("{}/api/v1/tickets/{}/transitions", site.base, t.id.0);
    for body in [
        json!({"action": "refuse_extension"}),
        json!({"action": "refuse_extension", "reason": ""}),
        json!({"action": "refuse_extension", "reason": "   "}),
    ] {
        let r = c
            .post(&url)
            .bearer_auth(&sup)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "bad_request", "{v}");
        assert_eq!(v["error"]["message"], "驳回延期须填写理由。", "{v}");
    }
    let still = site.tickets.get(t.id).await.unwrap();
    assert_eq!(still.state.code(), "extension_requested");
    let r = c
        .post(&url)
        .bearer_auth(&sup)
        .json(&json!({"action": "refuse_extension", "reason": "理由不充分"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "in_progress");
}
