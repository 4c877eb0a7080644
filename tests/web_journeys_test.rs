//! The console's main journeys through real HTTP, as a browser posts forms: an operator
//! dispatches, a department signs/returns/resolves, a supervisor grants an extension, a
//! resident checks the status — each change in the audit trail with the acting user.

mod web_support;

use hotline::tickets::{Action, Actor, DepartmentId, State};
use hotline::web::accounts::Role;
use web_support::*;

async fn dispatched_to(
    site: &Site,
    phone: &str,
    text: &str,
    dept: &str,
) -> hotline::tickets::Ticket {
    let t = site.ticket(phone, text).await;
    site.tickets
        .transition(
            t.id,
            Action::Dispatch {
                department: DepartmentId(dept.into()),
            },
            &Actor::System,
        )
        .await
        .expect("dispatch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_corrects_and_dispatches_a_call_ticket() {
    let site = start_sqlite().await;
    site.add_user("op1", Role::Operator, None).await;
    let t = site
        .ticket("13800001234", "小区门口的路灯坏了一个星期了")
        .await;
    // Back to the operator's queue state regardless of the demo routing.
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
    let mut op = site.login("op1").await;
    let list = op.get("/console").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(t.number.as_str()),
        "queue shows the new ticket"
    );
    let seen = visible_text(&list.body);
    for code in [
        "accepted",
        "returned",
        "urban_management",
        "complaint",
        "call",
    ] {
        assert!(
            !seen.contains(code),
            "code name `{code}` visible on the console"
        );
    }

    let page = op.get(&format!("/tickets/{}", t.id)).await;
    assert!(page.body.contains("派单"));
    let r = op
        .submit(
            &format!("/tickets/{}/dispatch", t.id),
            &[("kind", "complaint"), ("department", "urban_management")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let after = site.tickets.get(t.id).await.unwrap();
    assert_eq!(after.state, State::Dispatched);
    assert_eq!(
        after.department,
        Some(DepartmentId("urban_management".into()))
    );
    let trail = site.tickets.audit_trail(t.id).await.unwrap();
    assert!(
        trail
            .iter()
            .any(|a| a.action == "dispatch" && a.actor.contains("op1")),
        "audit names the operator: {trail:?}"
    );
    let page = op.get(&format!("/tickets/{}?done=dispatch", t.id)).await;
    assert!(page.body.contains("已派单"), "confirmation shown");
    assert!(page.body.contains("市城市管理局"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_signs_returns_and_resolves_and_sees_only_its_own() {
    let site = start_sqlite().await;
    site.add_user("water1", Role::Department, Some("water"))
        .await;
    let a = dispatched_to(&site, "13900002222", "家里停水两天了", "water").await;
    let b = dispatched_to(&site, "13900003333", "水表漏水", "water").await;
    let other = dispatched_to(&site, "13900004444", "占道经营", "urban_management").await;
    let mut d = site.login("water1").await;

    let list = d.get("/console").await;
    assert!(list.body.contains(a.number.as_str()) && list.body.contains(b.number.as_str()));
    assert!(
        !list.body.contains(other.number.as_str()),
        "another department's ticket is not listed"
    );
    assert_eq!(d.get(&format!("/tickets/{}", other.id)).await.status, 404);
    let r = d.submit(&format!("/tickets/{}/sign", other.id), &[]).await;
    assert_eq!(
        r.status, 404,
        "acting on another department's ticket is 404"
    );

    // Sign and resolve A.
    assert_eq!(
        d.submit(&format!("/tickets/{}/sign", a.id), &[])
            .await
            .status,
        303
    );
    assert_eq!(
        d.submit(
            &format!("/tickets/{}/note", a.id),
            &[("text", "已安排维修人员")]
        )
        .await
        .status,
        303
    );
    let r = d
        .submit(
            &format!("/tickets/{}/resolve", a.id),
            &[("answer", "管道已修复，已恢复供水。")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let a2 = site.tickets.get(a.id).await.unwrap();
    assert_eq!(a2.state, State::Resolved);
    assert_eq!(a2.answer.as_deref(), Some("管道已修复，已恢复供水。"));

    // Return B with a reason; without one it is refused.
    let r = d
        .submit(&format!("/tickets/{}/return", b.id), &[("reason", "")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("退单须填写理由"), "{}", r.body);
    let r = d
        .submit(
            &format!("/tickets/{}/return", b.id),
            &[("reason", "属于物业管理范围")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(site.tickets.get(b.id).await.unwrap().state, State::Returned);

    // A state the lifecycle does not allow is a 409 with a Chinese reason.
    let r = d.submit(&format!("/tickets/{}/sign", a.id), &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("不能执行"), "{}", r.body);

    let trail = site.tickets.audit_trail(a.id).await.unwrap();
    for act in ["sign", "note", "resolve"] {
        assert!(
            trail
                .iter()
                .any(|e| e.action == act && e.actor.contains("water1")),
            "{act} by water1 in {trail:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_grants_an_extension_the_department_asked_for() {
    let site = start_sqlite().await;
    site.add_user("gas1", Role::Department, Some("gas")).await;
    site.add_user("sup1", Role::Supervisor, None).await;
    let t = dispatched_to(&site, "13700005555", "燃气管道需要改造", "gas").await;
    let mut d = site.login("gas1").await;
    d.submit(&format!("/tickets/{}/sign", t.id), &[]).await;
    let r = d
        .submit(
            &format!("/tickets/{}/extension", t.id),
            &[("days", "5"), ("reason", "需要协调施工队")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let before = site.tickets.get(t.id).await.unwrap();
    assert_eq!(before.state, State::ExtensionRequested);
    // The department cannot grant its own extension.
    assert_eq!(
        d.submit(&format!("/tickets/{}/grant", t.id), &[])
            .await
            .status,
        403
    );

    let mut s = site.login("sup1").await;
    let board = s.get("/board").await;
    assert_eq!(board.status, 200);
    assert!(
        board.body.contains(t.number.as_str()),
        "extension request on the board"
    );
    assert!(
        board.body.contains("考核指标")
            && board.body.contains("满意度")
            && board.body.contains("按时办结率"),
        "the scorecard is on the board"
    );
    let r = s.submit(&format!("/tickets/{}/grant", t.id), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let after = site.tickets.get(t.id).await.unwrap();
    assert_eq!(after.state, State::InProgress);
    assert!(after.deadline > before.deadline, "deadline moved");
    let trail = site.tickets.audit_trail(t.id).await.unwrap();
    assert!(trail
        .iter()
        .any(|e| e.action == "grant_extension" && e.actor.contains("sup1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_sees_state_with_number_and_last_four_digits_only() {
    let site = start_sqlite().await;
    let t = dispatched_to(
        &site,
        "13612345678",
        "噪音扰民，晚上施工",
        "ecology_environment",
    )
    .await;
    let mut r = site.anon();
    let page = r.get("/status").await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    let ok = r
        .post(
            "/status",
            &[
                ("csrf", &csrf),
                ("number", t.number.as_str()),
                ("last4", "5678"),
            ],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("已派单"));
    assert!(ok.body.contains("市生态环境局"));
    assert!(
        !ok.body.contains("13612345678") && !ok.body.contains("噪音扰民"),
        "no phone, no text"
    );
    let wrong = r
        .post(
            "/status",
            &[
                ("csrf", &csrf),
                ("number", t.number.as_str()),
                ("last4", "0000"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 404);
    assert!(!wrong.body.contains("已派单"));
    let missing = r
        .post(
            "/status",
            &[
                ("csrf", &csrf),
                ("number", "209901010001"),
                ("last4", "5678"),
            ],
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        wrong.body.replace(t.number.as_str(), "N"),
        missing.body.replace("209901010001", "N"),
        "a wrong number and wrong digits look the same"
    );
    // Staff who are logged in can use the public page too.
    site.add_user("op_status", Role::Operator, None).await;
    let mut staff = site.login("op_status").await;
    let form = staff.get("/status").await;
    let token = csrf_of(&form.body);
    let seen = staff
        .post(
            "/status",
            &[
                ("csrf", &token),
                ("number", t.number.as_str()),
                ("last4", "5678"),
            ],
        )
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    // Without the CSRF token the form is refused.
    let r2 = r
        .post(
            "/status",
            &[("number", t.number.as_str()), ("last4", "5678")],
        )
        .await;
    assert_eq!(r2.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_guessing_is_rate_limited() {
    let cfg = hotline::web::WebConfig {
        status_per_minute: 100,
        status_failures_per_hour: 5,
        ..Default::default()
    };
    let site = start_sqlite_with(cfg, None).await;
    let t = site.ticket("13612349999", "测试").await;
    let mut r = site.anon();
    let csrf = csrf_of(&r.get("/status").await.body);
    for i in 0..5 {
        let d = format!("{:04}", i);
        let x = r
            .post(
                "/status",
                &[
                    ("csrf", &csrf),
                    ("number", t.number.as_str()),
                    ("last4", &d),
                ],
            )
            .await;
        assert_eq!(x.status, 404);
    }
    // Even the right digits are refused now.
    let x = r
        .post(
            "/status",
            &[
                ("csrf", &csrf),
                ("number", t.number.as_str()),
                ("last4", "9999"),
            ],
        )
        .await;
    assert_eq!(x.status, 429, "{}", x.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_throttled_and_forms_need_csrf() {
    let cfg = hotline::web::WebConfig {
        login_max_failures: 3,
        ..Default::default()
    };
    let site = start_sqlite_with(cfg, None).await;
    site.add_user("op2", Role::Operator, None).await;
    let mut b = site.anon();
    let csrf = csrf_of(&b.get("/login").await.body);
    // No CSRF: refused before the password is even looked at.
    let r = b
        .post("/login", &[("name", "op2"), ("password", &password("op2"))])
        .await;
    assert_eq!(r.status, 403);
    for _ in 0..3 {
        let r = b
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("name", "op2"),
                    ("password", "wrong-password!"),
                ],
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("name", "op2"),
                ("password", &password("op2")),
            ],
        )
        .await;
    assert_eq!(
        r.status, 429,
        "locked out after 3 failures even with the right password"
    );

    // A logged-in session's forms need the session's token, not any token.
    site.add_user("op3", Role::Operator, None).await;
    let mut op = site.login("op3").await;
    let t = site.ticket("13800009999", "咨询办理居住证").await;
    let r = op
        .post(
            &format!("/tickets/{}/note", t.id),
            &[("csrf", &csrf), ("text", "x")],
        )
        .await;
    assert_eq!(r.status, 403, "someone else's token is refused");
    // Cookie flags.
    let mut fresh = site.anon();
    let page = fresh.get("/login").await;
    let csrf2 = csrf_of(&page.body);
    let res = client()
        .post(format!("{}/login", site.base))
        .header("cookie", format!("hotline_csrf={csrf2}"))
        .form(&[
            ("csrf", csrf2.as_str()),
            ("name", "op3"),
            ("password", &password("op3")),
        ])
        .send()
        .await
        .unwrap();
    let set = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let page = op.get("/console").await;
    assert_eq!(page.status, 200);
    let res = client()
        .get(format!("{}/console", site.base))
        .header(
            "cookie",
            op.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_answers_a_consultation_and_merges_a_duplicate_and_creates_by_hand() {
    struct Calls;
    impl hotline::web::ActiveCalls for Calls {
        fn callers(&self) -> Vec<String> {
            vec!["13511112222".into()]
        }
    }
    let site = start_sqlite_with(Default::default(), Some(std::sync::Arc::new(Calls))).await;
    site.add_user("op4", Role::Operator, None).await;
    let mut op = site.login("op4").await;
    let form = op.get("/tickets/new").await;
    assert!(
        form.body.contains("value=\"13511112222\""),
        "caller's number pre-filled"
    );
    assert!(form.body.contains("正在通话"));
    let r = op
        .submit(
            "/tickets",
            &[
                ("phone", "13511112222"),
                ("kind", "consultation"),
                ("text", "请问居住证怎么办理？"),
                ("address", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.location.unwrap();
    let id: i64 = loc
        .trim_start_matches("/tickets/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let t = site
        .tickets
        .get(hotline::tickets::TicketId(id))
        .await
        .unwrap();
    assert_eq!(t.phone.as_str(), "13511112222");
    if t.state == State::Accepted || t.state == State::Returned {
        let r = op
            .submit(
                &format!("/tickets/{id}/answer"),
                &[("answer", "携带身份证到派出所办理。")],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(site.tickets.get(t.id).await.unwrap().state, State::Closed);
    }
    // Merge a duplicate.
    let first = site.ticket("13522223333", "井盖丢失").await;
    let dup = site.ticket("13522223333", "井盖丢失了").await;
    let dup = if dup.state == State::Accepted
        || dup.state == State::Dispatched
        || dup.state == State::Returned
    {
        dup
    } else {
        panic!("unexpected state {:?}", dup.state)
    };
    let r = op
        .submit(
            &format!("/tickets/{}/merge", dup.id),
            &[("into", first.number.as_str())],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let d2 = site.tickets.get(dup.id).await.unwrap();
    assert_eq!(d2.merged_into, Some(first.id));
    // The earlier tickets of the caller are on the ticket page.
    let page = op.get(&format!("/tickets/{}", first.id)).await;
    assert!(
        page.body.contains(dup.number.as_str()),
        "caller's earlier tickets listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_streams_changes_live() {
    use futures::StreamExt;
    let site = start_sqlite().await;
    site.add_user("op5", Role::Operator, None).await;
    let op = site.login("op5").await;
    let res = op.open("/console/stream").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = res.bytes_stream();
    let t = site.ticket("13800112233", "新来电").await;
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !got.contains(t.number.as_str()) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("event within 30 s")
            .expect("stream open")
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.contains("event: ticket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_accounts_and_every_change_is_logged() {
    let site = start_sqlite().await;
    site.add_user("admin1", Role::Admin, None).await;
    let mut a = site.login("admin1").await;
    let r = a
        .submit(
            "/admin/accounts",
            &[
                ("name", "hr1"),
                ("display_name", "王五"),
                ("role", "department"),
                ("department", "hr_social_security"),
                ("password", "a-long-password-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let weak = a
        .submit(
            "/admin/accounts",
            &[
                ("name", "x2"),
                ("role", "operator"),
                ("department", ""),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    let page = a.get("/admin/accounts").await;
    assert!(page.body.contains("hr1") && page.body.contains("新建账号"));
    assert!(page.body.contains("admin1"), "audit names the admin");
    // The new account can log in and sees its department.
    let mut b = site.anon();
    let csrf = csrf_of(&b.get("/login").await.body);
    let r = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("name", "hr1"),
                ("password", "a-long-password-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    // Token shown once.
    let list = hotline::web::accounts::list(site.tickets.db())
        .await
        .unwrap();
    let hr = list.iter().find(|x| x.name == "hr1").unwrap();
    let r = a
        .submit(
            "/admin/tokens",
            &[("account_id", &hr.id.to_string()), ("label", "对接")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("hl_"));
    // Disabling ends the account's sessions.
    let r = a
        .submit(
            &format!("/admin/accounts/{}/active", hr.id),
            &[("active", "0")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        b.get("/console").await.status,
        303,
        "disabled account's session is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_changes_and_idle_sessions_end_access() {
    let site = start_sqlite().await;
    site.add_user("root1", Role::Admin, None).await;
    site.add_user("op6", Role::Operator, None).await;
    let mut op = site.login("op6").await;
    assert_eq!(op.get("/console").await.status, 200);
    let mut admin = site.login("root1").await;
    let id = hotline::web::accounts::list(site.tickets.db())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "op6")
        .unwrap()
        .id;
    // A department role needs a department.
    let r = admin
        .submit(
            &format!("/admin/accounts/{id}/role"),
            &[("role", "department"), ("department", "")],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = admin
        .submit(
            &format!("/admin/accounts/{id}/role"),
            &[("role", "department"), ("department", "transport")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        op.get("/console").await.status,
        303,
        "the old session ends with the role change"
    );
    let mut now_dept = site.login("op6").await;
    assert_eq!(now_dept.get("/tickets/new").await.status, 403);
    let page = admin.get("/admin/accounts").await;
    assert!(page.body.contains("变更角色"));

    // A session idle longer than idle_minutes is over.
    sqlx::query("UPDATE web_sessions SET last_seen_at = last_seen_at - 86400000")
        .execute(site.tickets.db().pool())
        .await
        .unwrap();
    assert_eq!(now_dept.get("/console").await.status, 303);
    assert_eq!(admin.get("/admin/accounts").await.status, 303);
}
