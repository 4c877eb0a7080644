//! The web's own tables (accounts, sessions, API tokens, Open311 tokens, account audit) on
//! PostgreSQL: log in, act, use a token, post an Open311 request, disable an account.

mod web_support;

use hotline::tickets::{Action, Actor, DepartmentId, State};
use hotline::web::accounts::Role;
use web_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_sessions_and_tokens_work_on_postgres() {
    let url = common::fresh_pg().await;
    let site = start_at(&url, Default::default(), None).await;
    site.add_user("pg_op", Role::Operator, None).await;
    site.add_user("pg_water", Role::Department, Some("water"))
        .await;
    site.add_user("pg_admin", Role::Admin, None).await;
    let t = site.ticket("13800005555", "停水").await;
    let t = if t.state == State::Accepted {
        t
    } else {
        site.tickets
            .transition(
                t.id,
                Action::Return {
                    reason: "测试".into(),
                },
                &Actor::System,
            )
            .await
            .unwrap()
    };
    let mut op = site.login("pg_op").await;
    let r = op
        .submit(
            &format!("/tickets/{}/dispatch", t.id),
            &[("kind", ""), ("department", "water")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut d = site.login("pg_water").await;
    assert_eq!(
        d.submit(&format!("/tickets/{}/sign", t.id), &[])
            .await
            .status,
        303
    );
    assert_eq!(
        site.tickets.get(t.id).await.unwrap().department,
        Some(DepartmentId("water".into()))
    );

    let token = site.token_for("pg_op").await;
    let c = client();
    let r = c
        .post(format!("{}/open311/v2/requests.json", site.base))
        .form(&[
            ("api_key", token.as_str()),
            ("service_code", "help"),
            ("address_string", "运河街道"),
            ("phone", "13800006666"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let tok = v[0]["token"].as_str().unwrap();
    let back: serde_json::Value = c
        .get(format!("{}/open311/v2/tokens/{tok}.json", site.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(back[0]["service_request_id"], v[0]["service_request_id"]);

    // Disabling an account ends its sessions and revokes its tokens (booleans on PostgreSQL).
    let mut a = site.login("pg_admin").await;
    let list = hotline::web::accounts::list(site.tickets.db())
        .await
        .unwrap();
    let opid = list.iter().find(|x| x.name == "pg_op").unwrap().id;
    let r = a
        .submit(
            &format!("/admin/accounts/{opid}/active"),
            &[("active", "0")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(op.get("/console").await.status, 303);
    let r = c
        .get(format!("{}/api/v1/tickets", site.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let page = a.get("/admin/accounts").await;
    assert!(page.body.contains("停用账号"), "account change logged");
}
