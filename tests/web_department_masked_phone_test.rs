//! Department staff of the real `hotline serve` see a resident's number as 138****5678 on
//! every face of a ticket — console list, ticket page, JSON API, CSV export — while the
//! hotline's operators see it whole.

mod web_support;

use hotline::tickets::{Action, Actor, DepartmentId, State};
use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::*;

const PHONE: &str = "13812345678";
const MASKED: &str = "138****5678";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departments_see_masked_numbers_everywhere() {
    let s = Served::start(&[]).await;
    s.add_user("water1", Role::Department, Some("water")).await;
    s.add_user("op1", Role::Operator, None).await;
    let t = s
        .tickets
        .create(
            hotline::tickets::NewTicket {
                channel: hotline::tickets::Channel::Call,
                kind: Some(hotline::tickets::Kind::Complaint),
                phone: PHONE.parse().unwrap(),
                text: "我家停水了，已经一天没有自来水".into(),
                address: None,
                area: None,
                recording_path: None,
                language: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();
    if t.state != State::Dispatched || t.department.as_ref().map(|d| d.as_str()) != Some("water") {
        s.tickets
            .transition(
                t.id,
                Action::Dispatch {
                    department: DepartmentId("water".into()),
                },
                &Actor::System,
            )
            .await
            .unwrap();
    }

    let mut dept = s.login("water1").await;
    let list = dept.get("/console?scope=all").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(t.number.as_str()),
        "the ticket is listed"
    );
    assert!(!list.body.contains(PHONE), "console list");
    let page = dept.get(&format!("/tickets/{}", t.id)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(MASKED) && !page.body.contains(PHONE),
        "ticket page"
    );
    let csv = dept.get("/console/export?scope=all&format=csv").await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(
        csv.body.contains(MASKED) && !csv.body.contains(PHONE),
        "export: {}",
        csv.body
    );

    let token = s.token_for("water1").await;
    let one: Value = client()
        .get(format!("{}/api/v1/tickets/{}", s.base, t.id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["phone"], MASKED, "{one}");
    let many: Value = client()
        .get(format!("{}/api/v1/tickets", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!many.to_string().contains(PHONE), "{many}");

    // The hotline's own operator still reads the whole number.
    let mut op = s.login("op1").await;
    let page = op.get(&format!("/tickets/{}", t.id)).await;
    assert!(page.body.contains(PHONE));
}
