//! The follow-up by hand (人工回访): an operator who phoned the resident enters their rating
//! through the API (200) and a supervisor closes another ticket from its page; a department
//! account is refused both ways (403), because the one rule table says so for every
//! channel. A 不满意 with the resident's reason reopens the ticket as supervised, and the
//! reason is on the ticket page and in the API's audit trail.

mod web_support;

use hotline::tickets::{Action, Actor, DepartmentId, State, Ticket};
use hotline::web::accounts::Role;
use serde_json::{json, Value};
use web_support::*;

/// A ticket answered by the water company, waiting for its rating.
async fn resolved(site: &Site, phone: &str) -> Ticket {
    let t = site.ticket(phone, "小区停水两天了").await;
    let tk = &site.tickets;
    if t.department != Some(DepartmentId("water".into())) {
        tk.transition(
            t.id,
            Action::Dispatch {
                department: DepartmentId("water".into()),
            },
            &Actor::Operator("ops".into()),
        )
        .await
        .unwrap();
    }
    let dept = Actor::Department(DepartmentId("water".into()), "w".into());
    tk.transition(t.id, Action::Sign, &dept).await.unwrap();
    tk.transition(
        t.id,
        Action::Resolve {
            answer: "管道已抢修，已恢复供水".into(),
        },
        &dept,
    )
    .await
    .unwrap()
}

async fn post_json(site: &Site, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", site.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_rate_and_close_by_hand_departments_are_refused() {
    let site = start_sqlite().await;
    site.add_user("f_op", Role::Operator, None).await;
    site.add_user("f_sup", Role::Supervisor, None).await;
    site.add_user("f_water", Role::Department, Some("water"))
        .await;
    let (op, water) = (
        site.token_for("f_op").await,
        site.token_for("f_water").await,
    );
    let t = resolved(&site, "13800138601").await;
    let path = format!("/api/v1/tickets/{}/transitions", t.id.0);

    // The department that answered may not ask or rate its own work.
    for body in [
        json!({"action": "follow_up"}),
        json!({"action": "rate", "satisfaction": "satisfied"}),
        json!({"action": "close"}),
    ] {
        let (st, v) = post_json(&site, &water, &path, body.clone()).await;
        assert_eq!(st, 403, "{body} as the department: {v}");
    }
    // The operator asks, then enters what the resident said on the phone.
    let (st, v) = post_json(&site, &op, &path, json!({"action": "follow_up"})).await;
    assert_eq!((st, &v["state"]), (200, &json!("follow_up")), "{v}");
    let (st, v) = post_json(&site, &op, &path, json!({"action": "rate"})).await;
    assert_eq!(st, 400, "a rating needs its satisfaction: {v}");
    let (st, v) = post_json(
        &site,
        &op,
        &path,
        json!({"action": "rate", "satisfaction": "unsatisfied", "reason": "水压还是很低"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["state"], &v["satisfaction"]),
        (&json!("supervised"), &json!("unsatisfied"))
    );
    // The reason is in the audit trail, with who entered it.
    let r = client()
        .get(format!("{}/api/v1/tickets/{}/audit", site.base, t.id.0))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    let audit: Value = r.json().await.unwrap();
    let rate = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "rate")
        .cloned()
        .expect("the rating in the audit trail");
    assert_eq!(rate["actor"], "operator:f_op");
    assert!(
        rate["note"].as_str().unwrap().contains("水压还是很低"),
        "{rate}"
    );
    // … and on the ticket page.
    let mut sup = site.login("f_sup").await;
    let page = sup.get(&format!("/tickets/{}", t.id.0)).await;
    assert!(visible_text(&page.body).contains("水压还是很低"));

    // A supervisor closes another answered ticket from its page, without a rating.
    let other = resolved(&site, "13800138602").await;
    let page = sup.get(&format!("/tickets/{}", other.id.0)).await;
    assert!(
        page.body.contains("不经评价结案"),
        "the close button is shown"
    );
    let r = sup
        .submit(&format!("/tickets/{}/close", other.id.0), &[])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        site.tickets.get(other.id).await.unwrap().state,
        State::Closed
    );
    // The department's page shows none of the follow-up forms, and posting is refused.
    let third = resolved(&site, "13800138603").await;
    let mut w = site.login("f_water").await;
    let page = w.get(&format!("/tickets/{}", third.id.0)).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/rate\"") && !page.body.contains("不经评价结案"));
    let r = w
        .submit(
            &format!("/tickets/{}/rate", third.id.0),
            &[("satisfaction", "satisfied")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        site.tickets.get(third.id).await.unwrap().state,
        State::Resolved
    );
}
