//! Every page route and API route × every role (and nobody): the expected allow or deny,
//! checked on the server. A department account asking for another department's ticket gets
//! 404, never 403 (it must not learn the ticket exists).

mod web_support;

use hotline::calls::{CallRecordId, Calls, NewCall};
use hotline::tickets::{Action, Actor, DepartmentId};
use hotline::web::accounts::Role;
use web_support::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    Operator,
    Department,
    OtherDepartment,
    Supervisor,
    Admin,
}

/// Method, path, form fields, who may.
type PageRoute = (
    &'static str,
    String,
    Vec<(&'static str, &'static str)>,
    Vec<Who>,
);
/// Method, path, JSON body, who may.
type ApiRoute = (&'static str, String, Option<serde_json::Value>, Vec<Who>);

const ALL: [Who; 6] = [
    Who::Nobody,
    Who::Operator,
    Who::Department,
    Who::OtherDepartment,
    Who::Supervisor,
    Who::Admin,
];

/// A call record for the call routes to read.
async fn a_call(site: &Site) -> CallRecordId {
    Calls::new(site.tickets.db().clone())
        .start(&NewCall {
            call_id: "matrix@test",
            caller: "13800000099",
            called: "12345",
            dialplan: "12345",
        })
        .await
        .expect("call record")
}

/// Allowed means the server did not refuse on authorization: not 303-to-login, 401, 403
/// or (for hidden tickets) 404.
fn allowed(status: u16, location: Option<&str>) -> bool {
    !(status == 401
        || status == 403
        || status == 404
        || (status == 303 && location == Some("/login")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_route_for_every_role() {
    let site = start_sqlite().await;
    site.add_user("m_op", Role::Operator, None).await;
    site.add_user("m_water", Role::Department, Some("water"))
        .await;
    site.add_user("m_gas", Role::Department, Some("gas")).await;
    site.add_user("m_sup", Role::Supervisor, None).await;
    site.add_user("m_admin", Role::Admin, None).await;
    site.add_user("m_spare", Role::Operator, None).await;
    let t = site.ticket("13800000001", "停水").await;
    let t = site
        .tickets
        .transition(
            t.id,
            Action::Dispatch {
                department: DepartmentId("water".into()),
            },
            &Actor::System,
        )
        .await
        .unwrap();
    let id = t.id.0;
    let cid = a_call(&site).await.get();
    let mut browsers = Vec::new();
    for w in ALL {
        let b = match w {
            Who::Nobody => {
                let mut b = site.anon();
                let p = b.get("/login").await;
                b.csrf = csrf_of(&p.body);
                b
            }
            Who::Operator => site.login("m_op").await,
            Who::Department => site.login("m_water").await,
            Who::OtherDepartment => site.login("m_gas").await,
            Who::Supervisor => site.login("m_sup").await,
            Who::Admin => site.login("m_admin").await,
        };
        browsers.push((w, b));
    }
    use Who::*;
    // (method, path, form, who may)
    let tp = |s: &str| format!("/tickets/{id}{s}");
    let routes: Vec<PageRoute> = vec![
        (
            "GET",
            "/console".into(),
            vec![],
            vec![Operator, Department, OtherDepartment, Supervisor],
        ),
        (
            "GET",
            "/console/rows".into(),
            vec![],
            vec![Operator, Department, OtherDepartment, Supervisor],
        ),
        (
            "GET",
            tp(""),
            vec![],
            vec![Operator, Department, Supervisor],
        ),
        ("GET", tp("/recording"), vec![], vec![]), // no recording: 404 for everyone
        ("GET", "/tickets/new".into(), vec![], vec![Operator]),
        (
            "POST",
            "/tickets".into(),
            vec![("phone", "13800000002"), ("text", "手工建单")],
            vec![Operator],
        ),
        (
            "POST",
            tp("/note"),
            vec![("text", "进展")],
            vec![Operator, Department, Supervisor],
        ),
        (
            "POST",
            tp("/supervise"),
            vec![("text", "请加快办理")],
            vec![Supervisor],
        ),
        // The follow-up steps by hand: operators and supervisors, never departments (the
        // ticket is not resolved, so the allowed ones get 409 from the lifecycle).
        ("POST", tp("/follow-up"), vec![], vec![Operator, Supervisor]),
        (
            "POST",
            tp("/rate"),
            vec![("satisfaction", "satisfied")],
            vec![Operator, Supervisor],
        ),
        ("POST", tp("/close"), vec![], vec![Operator, Supervisor]),
        ("POST", tp("/sign"), vec![], vec![Department]),
        (
            "POST",
            tp("/extension"),
            vec![("days", "2"), ("reason", "协调")],
            vec![Department],
        ),
        (
            "POST",
            tp("/refuse"),
            vec![("reason", "不同意")],
            vec![Supervisor],
        ),
        (
            "POST",
            tp("/return"),
            vec![("reason", "非本单位")],
            vec![Department],
        ),
        (
            "POST",
            tp("/dispatch"),
            vec![("kind", ""), ("department", "water")],
            vec![Operator, Supervisor],
        ),
        (
            "POST",
            tp("/resolve"),
            vec![("answer", "已处理")],
            vec![Department],
        ),
        ("POST", tp("/grant"), vec![], vec![Supervisor]),
        (
            "POST",
            tp("/merge"),
            vec![("into", "209901010001")],
            vec![Operator],
        ),
        (
            "POST",
            tp("/answer"),
            vec![("answer", "答复")],
            vec![Operator],
        ),
        ("GET", "/board".into(), vec![], vec![Supervisor]),
        (
            "GET",
            "/console/access-log".into(),
            vec![],
            vec![Supervisor, Admin],
        ),
        ("GET", "/console/desk".into(), vec![], vec![Operator]),
        (
            "POST",
            "/console/agents/m_op/state".into(),
            vec![("state", "ready")],
            vec![Operator, Supervisor, Admin],
        ),
        (
            "GET",
            "/console/wallboard".into(),
            vec![],
            vec![Supervisor, Admin],
        ),
        (
            "GET",
            "/console/wallboard/live".into(),
            vec![],
            vec![Supervisor, Admin],
        ),
        // Someone else's state: supervisors and administrators only.
        (
            "POST",
            "/console/agents/m_spare/state".into(),
            vec![("state", "paused"), ("reason", "break")],
            vec![Supervisor, Admin],
        ),
        // m_op is an agent now (ready above) but in no call: allowed answers 409.
        (
            "POST",
            "/console/agents/m_op/call".into(),
            vec![("action", "hold")],
            vec![Operator, Supervisor, Admin],
        ),
        (
            "POST",
            "/console/agents/m_op/call".into(),
            vec![("action", "listen")],
            vec![Supervisor],
        ),
        (
            "GET",
            "/console/calls".into(),
            vec![],
            vec![Operator, Supervisor, Admin],
        ),
        (
            "GET",
            format!("/console/calls/{cid}"),
            vec![],
            vec![Operator, Supervisor, Admin],
        ),
        // No recording: 404 for everyone.
        (
            "GET",
            format!("/console/calls/{cid}/recordings/0"),
            vec![],
            vec![],
        ),
        (
            "GET",
            "/console/abandoned".into(),
            vec![],
            vec![Operator, Supervisor, Admin],
        ),
        // Not an abandoned call (and no SIP stack here): allowed answers 409.
        (
            "POST",
            format!("/console/abandoned/{cid}/call-back"),
            vec![],
            vec![Operator, Supervisor],
        ),
        ("GET", "/admin/accounts".into(), vec![], vec![Admin]),
        (
            "POST",
            "/admin/tokens".into(),
            vec![("account_id", "1"), ("label", "x")],
            vec![Admin],
        ),
        (
            "POST",
            "/admin/accounts/6/role".into(),
            vec![("role", "supervisor"), ("department", "")],
            vec![Admin],
        ),
        (
            "POST",
            "/admin/accounts/1/password".into(),
            vec![("password", "another-long-password")],
            vec![Admin],
        ),
        ("GET", "/status".into(), vec![], ALL.to_vec()),
        ("GET", "/healthz".into(), vec![], ALL.to_vec()),
        ("GET", "/metrics".into(), vec![], ALL.to_vec()),
        ("GET", "/api/v1/openapi.json".into(), vec![], ALL.to_vec()),
    ];
    let mut failures = Vec::new();
    for (method, path, form, may) in &routes {
        for (w, b) in browsers.iter_mut() {
            // Department users must not be logged out by the admin's password reset.
            let r = match *method {
                "GET" => b.get(path).await,
                _ => b.submit(path, form).await,
            };
            let ok = allowed(r.status, r.location.as_deref());
            let expect = may.contains(w);
            if ok != expect {
                failures.push(format!(
                    "{method} {path} as {w:?}: status {} (expected {})",
                    r.status,
                    if expect { "allow" } else { "deny" }
                ));
            }
            if !expect
                && *w == OtherDepartment
                && path.starts_with("/tickets/")
                && r.status != 404
                && *w != Nobody
            {
                // Other department: hidden, so 404 — unless the role lacks the permission at all (403).
                if r.status != 403 {
                    failures.push(format!(
                        "{method} {path} as OtherDepartment: {} not 404/403",
                        r.status
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix:\n{}",
        failures.join("\n")
    );

    // The other department sees the ticket as not existing at all.
    let (_, gas) = browsers
        .iter_mut()
        .find(|(w, _)| *w == OtherDepartment)
        .unwrap();
    assert_eq!(gas.get(&tp("")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_for_every_role() {
    let site = start_sqlite().await;
    site.add_user("a_op", Role::Operator, None).await;
    site.add_user("a_water", Role::Department, Some("water"))
        .await;
    site.add_user("a_gas", Role::Department, Some("gas")).await;
    site.add_user("a_sup", Role::Supervisor, None).await;
    site.add_user("a_admin", Role::Admin, None).await;
    let t = site.ticket("13800000011", "停水").await;
    site.tickets
        .transition(
            t.id,
            Action::Dispatch {
                department: DepartmentId("water".into()),
            },
            &Actor::System,
        )
        .await
        .unwrap();
    let id = t.id.0;
    let cid = a_call(&site).await.get();
    let mut tokens = vec![(Who::Nobody, String::new())];
    for (w, n) in [
        (Who::Operator, "a_op"),
        (Who::Department, "a_water"),
        (Who::OtherDepartment, "a_gas"),
        (Who::Supervisor, "a_sup"),
        (Who::Admin, "a_admin"),
    ] {
        tokens.push((w, site.token_for(n).await));
    }
    use serde_json::json;
    use Who::*;
    let routes: Vec<ApiRoute> = vec![
        (
            "GET",
            "/api/v1/tickets".into(),
            None,
            vec![Operator, Department, OtherDepartment, Supervisor],
        ),
        (
            "GET",
            format!("/api/v1/tickets/{id}"),
            None,
            vec![Operator, Department, Supervisor],
        ),
        (
            "GET",
            format!("/api/v1/tickets/{id}/audit"),
            None,
            vec![Operator, Department, Supervisor],
        ),
        (
            "GET",
            "/api/v1/departments".into(),
            None,
            vec![Operator, Department, OtherDepartment, Supervisor, Admin],
        ),
        ("GET", "/api/v1/stats".into(), None, vec![Supervisor]),
        (
            "GET",
            "/api/v1/calls".into(),
            None,
            vec![Operator, Supervisor, Admin],
        ),
        (
            "GET",
            format!("/api/v1/calls/{cid}"),
            None,
            vec![Operator, Supervisor, Admin],
        ),
        (
            "GET",
            "/api/v1/calls/abandoned".into(),
            None,
            vec![Operator, Supervisor, Admin],
        ),
        (
            "GET",
            "/api/v1/access-log".into(),
            None,
            vec![Supervisor, Admin],
        ),
        // Not an abandoned call (and no SIP stack here): allowed answers 409 or 503.
        (
            "POST",
            format!("/api/v1/calls/{cid}/call-back"),
            None,
            vec![Operator, Supervisor],
        ),
        (
            "POST",
            "/api/v1/tickets".into(),
            Some(json!({"phone": "13800000012", "text": "接口建单"})),
            vec![Operator],
        ),
        (
            "POST",
            format!("/api/v1/tickets/{id}/transitions"),
            Some(json!({"action": "note", "text": "进展"})),
            vec![Operator, Department, Supervisor],
        ),
        (
            "POST",
            format!("/api/v1/tickets/{id}/transitions"),
            Some(json!({"action": "supervise", "text": "督办"})),
            vec![Supervisor],
        ),
        (
            "POST",
            format!("/api/v1/tickets/{id}/transitions"),
            Some(json!({"action": "follow_up"})),
            vec![Operator, Supervisor],
        ),
        (
            "POST",
            format!("/api/v1/tickets/{id}/transitions"),
            Some(json!({"action": "rate", "satisfaction": "unsatisfied", "reason": "还是不亮"})),
            vec![Operator, Supervisor],
        ),
        (
            "POST",
            format!("/api/v1/tickets/{id}/transitions"),
            Some(json!({"action": "close"})),
            vec![Operator, Supervisor],
        ),
        (
            "GET",
            "/api/v1/agents".into(),
            None,
            vec![Operator, Supervisor, Admin],
        ),
        (
            "POST",
            "/api/v1/agents/a_op/state".into(),
            Some(json!({"state": "ready"})),
            vec![Operator, Supervisor, Admin],
        ),
        // Operators change only their own state.
        (
            "POST",
            "/api/v1/agents/a_sup/state".into(),
            Some(json!({"state": "paused", "reason": "meal"})),
            vec![Supervisor, Admin],
        ),
        // a_op is an agent now but in no call: allowed answers 409.
        (
            "POST",
            "/api/v1/agents/a_op/call".into(),
            Some(json!({"action": "hold"})),
            vec![Operator, Supervisor, Admin],
        ),
        (
            "POST",
            "/api/v1/agents/a_op/call".into(),
            Some(json!({"action": "barge"})),
            vec![Supervisor],
        ),
        (
            "GET",
            "/api/v1/queues".into(),
            None,
            vec![Operator, Supervisor, Admin],
        ),
    ];
    let c = client();
    let mut failures = Vec::new();
    for (method, path, body, may) in &routes {
        for (w, tok) in &tokens {
            let mut rq = match *method {
                "GET" => c.get(format!("{}{}", site.base, path)),
                _ => c.post(format!("{}{}", site.base, path)),
            };
            if !tok.is_empty() {
                rq = rq.bearer_auth(tok);
            }
            if let Some(b) = body {
                rq = rq.json(b);
            }
            let r = rq.send().await.unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let ok = allowed(status, None);
            let expect = may.contains(w);
            if ok != expect {
                failures.push(format!("{method} {path} as {w:?}: {status}"));
            }
            if !ok {
                assert!(
                    ct.starts_with("application/json"),
                    "JSON error body for {path}: {ct}"
                );
                let v: serde_json::Value = r.json().await.unwrap();
                assert!(v["error"]["code"].is_string(), "{v}");
            }
            if *w == OtherDepartment
                && may.contains(&Department)
                && path.contains(&format!("/tickets/{id}"))
            {
                assert_eq!(
                    status, 404,
                    "{method} {path}: another department's ticket is 404"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "API authorization matrix:\n{}",
        failures.join("\n")
    );
}
