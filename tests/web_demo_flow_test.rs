//! The "done when": an admin creates the accounts, an operator sees the demo's
//! ticket and dispatches it, the department logs in and resolves it — and the resident's SMS
//! for each step is in the SMS outbox (and shown on the ticket page).

mod web_support;

use hotline::sms::SmsConfig;
use hotline::tickets::State;
use hotline::web::accounts::Role;
use sqlx::Row;
use web_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operator_department_and_the_residents_sms() {
    let site = start_sqlite().await;
    site.add_user("admin", Role::Admin, None).await;
    let mut admin = site.login("admin").await;
    for (name, role, dept) in [
        ("op_demo", "operator", ""),
        ("water_demo", "department", "water"),
    ] {
        let pw = password(name);
        let r = admin
            .submit(
                "/admin/accounts",
                &[
                    ("name", name),
                    ("display_name", ""),
                    ("role", role),
                    ("department", dept),
                    ("password", &pw),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }

    let t = site
        .ticket("13912348888", "我家停水了，已经一天没有自来水")
        .await;
    let mut op = site.login("op_demo").await;
    let all = op.get("/console?scope=all").await;
    assert!(all.body.contains(t.number.as_str()));
    if t.state != State::Dispatched {
        let r = op
            .submit(
                &format!("/tickets/{}/dispatch", t.id),
                &[("kind", ""), ("department", "water")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    } else if t.department.as_ref().map(|d| d.as_str()) != Some("water") {
        // Routed elsewhere by the demo rules: the operator corrects it.
        let r = op
            .submit(
                &format!("/tickets/{}/dispatch", t.id),
                &[("kind", ""), ("department", "water")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let mut dept = site.login("water_demo").await;
    assert_eq!(
        dept.submit(&format!("/tickets/{}/sign", t.id), &[])
            .await
            .status,
        303
    );
    let r = dept
        .submit(
            &format!("/tickets/{}/resolve", t.id),
            &[("answer", "供水管道已抢修完毕，现已恢复供水。")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The SMS module's event consumer turns each step into an outbox row for the resident.
    let cfg = SmsConfig::default();
    for _ in 0..20 {
        if hotline::sms::service::consume_once_for(site.tickets.db(), &cfg)
            .await
            .expect("sms consumer")
            == 0
        {
            break;
        }
    }
    let rows =
        sqlx::query("SELECT kind, phone, body FROM sms_outbox WHERE ticket_id = $1 ORDER BY id")
            .bind(t.id.0)
            .fetch_all(site.tickets.db().pool())
            .await
            .unwrap();
    let kinds: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect();
    for r in &rows {
        assert_eq!(r.try_get::<String, _>(1).unwrap(), "13912348888");
    }
    for step in ["accepted", "dispatched", "resolved"] {
        assert!(
            kinds.iter().any(|k| k.contains(step)),
            "an SMS for `{step}` in the outbox: {kinds:?}"
        );
    }
    let page = op.get(&format!("/tickets/{}", t.id)).await;
    assert!(
        page.body.contains("短信记录"),
        "SMS shown on the ticket page"
    );
    let body: String = rows.last().unwrap().try_get(2).unwrap();
    assert!(
        page.body.contains(&super_escape(&body)),
        "last SMS text on the page"
    );
}

fn super_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
