//! The reports over the API and on the pages: the department ranking (考核排名) with every
//! figure checked against what the test itself did to the tickets, hot topics (热点诉求) with
//! the burst rule, the KPI report export opened with openpyxl, the ranking sorted on the
//! server, the board's charts and the monthly report; on SQLite and on PostgreSQL.

mod web_support;

use hotline::tickets::{Action, Actor, Channel, DepartmentId, NewTicket, Satisfaction, Ticket};
use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::sheets::xlsx_rows;
use web_support::*;

async fn ticket(site: &Site, text: &str, address: Option<&str>) -> Ticket {
    site.tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: "13800005555".parse().unwrap(),
                text: text.into(),
                address: address.map(String::from),
                area: None,
                recording_path: None,
                language: None,
            },
            &Actor::System,
        )
        .await
        .expect("ticket")
}

async fn act(site: &Site, t: &Ticket, dept: &str, actions: Vec<Action>) {
    let who = Actor::Department(DepartmentId(dept.into()), "办事员".into());
    for a in actions {
        site.tickets
            .transition(t.id, a, &who)
            .await
            .expect("transition");
    }
}

fn resolve() -> Vec<Action> {
    vec![
        Action::Sign,
        Action::Resolve {
            answer: "已处理".into(),
        },
    ]
}

fn rated(s: Satisfaction) -> Vec<Action> {
    let mut v = resolve();
    v.extend([Action::FollowUp, Action::Rate { satisfaction: s }]);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranking_hot_topics_and_kpi_export_match_what_happened() {
    reports_match_what_happened(start_sqlite().await).await;
}

/// The same figures from PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_read_the_same_on_postgres() {
    let url = common::fresh_pg().await;
    reports_match_what_happened(start_at(&url, Default::default(), None).await).await;
}

async fn reports_match_what_happened(site: Site) {
    site.add_user("r_sup", Role::Supervisor, None).await;
    site.add_user("r_op", Role::Operator, None).await;
    let sup = site.token_for("r_sup").await;
    let op = site.token_for("r_op").await;

    // A water outage this week: six tickets on 解放路, routed to water by rule 供水; two
    // water tickets of the week before; two gas leaks.
    let route = site.tickets.route("家里停水了", None, None);
    assert!(route.reason.starts_with("rule:供水"), "{}", route.reason);
    let mut water = Vec::new();
    for i in 0..6 {
        water.push(
            ticket(
                &site,
                &format!("家里停水了，第{i}户"),
                Some(&format!("解放路{i}号")),
            )
            .await,
        );
    }
    let mut old = Vec::new();
    for _ in 0..2 {
        old.push(ticket(&site, "自来水水压太低", None).await);
    }
    let gas = [
        ticket(&site, "燃气表漏气，闻到煤气味", None).await,
        ticket(&site, "燃气灶打不着，燃气公司不管", None).await,
    ];
    for t in water.iter().chain(&old) {
        let t = site.tickets.get(t.id).await.unwrap();
        assert_eq!(t.department, Some(DepartmentId("water".into())));
    }
    for t in &gas {
        let t = site.tickets.get(t.id).await.unwrap();
        assert_eq!(t.department, Some(DepartmentId("gas".into())));
    }
    // The week before: those two were taken in eight days ago.
    let eight_days = 8 * 24 * 3600 * 1000_i64;
    for t in &old {
        sqlx::query("UPDATE tickets SET created_at = created_at - $1 WHERE id = $2")
            .bind(eight_days)
            .bind(t.id.0)
            .execute(site.tickets.db().pool())
            .await
            .unwrap();
    }

    // Water: three resolved before their deadline, two of them rated (满意, 不满意), one
    // returned. Gas: one resolved and rated 满意.
    act(&site, &water[0], "water", rated(Satisfaction::Satisfied)).await;
    act(&site, &water[1], "water", rated(Satisfaction::Unsatisfied)).await;
    act(&site, &water[2], "water", resolve()).await;
    act(
        &site,
        &water[3],
        "water",
        vec![Action::Return {
            reason: "不属于本单位".into(),
        }],
    )
    .await;
    act(&site, &gas[0], "gas", rated(Satisfaction::Satisfied)).await;

    // What the test expects, from what it did.
    let (w_received, w_resolved, w_on_time, w_returned, w_rated, w_satisfied) = (8, 3, 3, 1, 2, 1);
    let (g_received, g_resolved, g_rated, g_satisfied) = (2, 1, 1, 1);
    let pct = |a: i64, b: i64| (a as f64 * 1000.0 / b as f64).round() / 10.0;

    let c = client();
    let url = |p: &str| format!("{}{}", site.base, p);
    let get = |p: &str, token: &str| {
        let r = c.get(url(p)).bearer_auth(token.to_string()).send();
        async move {
            let r = r.await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    let (s, v) = get("/api/v1/reports/departments", &sup).await;
    assert_eq!(s, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        site.tickets.departments().len(),
        "every department ranked"
    );
    let row = |id: &str| {
        items
            .iter()
            .find(|r| r["department"] == id)
            .unwrap()
            .clone()
    };
    let w = row("water");
    assert_eq!(w["received"], w_received);
    assert_eq!(w["resolved"], w_resolved);
    assert_eq!(w["resolved_on_time"], w_on_time);
    assert_eq!(w["returned"], w_returned);
    assert_eq!(w["overdue"], 0);
    assert_eq!(w["rated"], w_rated);
    assert_eq!(w["satisfied"], w_satisfied);
    assert_eq!(w["on_time_rate"], pct(w_on_time, w_resolved));
    assert_eq!(w["satisfaction"], pct(w_satisfied, w_rated));
    assert_eq!(w["return_rate"], pct(w_returned, w_received));
    let g = row("gas");
    assert_eq!(g["received"], g_received);
    assert_eq!(g["resolved"], g_resolved);
    assert_eq!(g["satisfaction"], pct(g_satisfied, g_rated));
    // Rank rule: both on time throughout, gas more satisfied: gas first, water second.
    assert_eq!(items[0]["department"], "gas");
    assert_eq!(items[0]["rank"], 1);
    assert_eq!(items[1]["department"], "water");
    assert_eq!(
        items[2]["on_time_rate"],
        Value::Null,
        "no rate after those with one"
    );

    // Sorted by a column on the server; bad input is a 400.
    let (_, v) = get("/api/v1/reports/departments?sort=received&dir=desc", &sup).await;
    assert_eq!(v["items"][0]["department"], "water");
    assert_eq!(v["items"][0]["rank"], 2, "sorting keeps the rank");
    for bad in [
        "/api/v1/reports/departments?sort=drop",
        "/api/v1/reports/departments?month=2026-13",
        "/api/v1/reports/departments?dir=sideways",
    ] {
        let (s, v) = get(bad, &sup).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "bad_request");
    }
    let (s, _) = get("/api/v1/reports/departments", &op).await;
    assert_eq!(s, 403, "rankings are for supervisors");

    // Hot topics: 供水 six this week against two, a burst; 解放路 the place.
    let (s, v) = get("/api/v1/reports/hot-topics", &sup).await;
    assert_eq!(s, 200, "{v}");
    let first = &v["matters"][0];
    assert_eq!(first["name"], "供水");
    assert_eq!(first["count"], 6);
    assert_eq!(first["previous"], 2);
    assert_eq!(first["burst"], true);
    let gas_topic = v["matters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "燃气")
        .expect("燃气 listed");
    assert_eq!(gas_topic["count"], 2);
    assert_eq!(gas_topic["burst"], false, "two is too few for a burst");
    assert_eq!(v["places"][0]["name"], "解放路");
    assert_eq!(v["places"][0]["count"], 6);
    let (s, _) = get("/api/v1/reports/hot-topics", &op).await;
    assert_eq!(s, 403);

    // The KPI report by department as a workbook: the same figures.
    let r = c
        .get(url(
            "/api/v1/reports/kpis/export?group_by=department&format=xlsx",
        ))
        .bearer_auth(&sup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (sheet, rows) = xlsx_rows(&r.bytes().await.unwrap());
    assert!(sheet.starts_with("考核指标"), "{sheet}");
    let col = |h: &str| {
        rows[0]
            .iter()
            .position(|c| c == h)
            .unwrap_or_else(|| panic!("{h} in {:?}", rows[0]))
    };
    let water_row = rows
        .iter()
        .find(|r| r[0] == "市水务局（自来水公司）")
        .unwrap();
    assert_eq!(water_row[col("受理量")], w_received);
    assert_eq!(water_row[col("退单")], w_returned);
    assert_eq!(water_row[col("按时办结")], w_on_time);
    assert_eq!(water_row[col("满意度(%)")], pct(w_satisfied, w_rated));
    assert_eq!(rows.last().unwrap()[0], "合计");

    // The pages: ranking sorted by a header link, the board's charts, the monthly report.
    let mut b = site.login("r_sup").await;
    let r = b.get("/reports/departments?sort=received&dir=desc").await;
    assert_eq!(r.status, 200);
    let text = visible_text(&r.body);
    let (wi, gi) = (
        text.find("市水务局").unwrap(),
        text.find(
            site.tickets
                .department(&DepartmentId("gas".into()))
                .unwrap()
                .name
                .as_str(),
        )
        .unwrap(),
    );
    assert!(wi < gi, "most received first");
    assert!(
        r.body.contains("sort=received&amp;dir=asc") || r.body.contains("sort=received&dir=asc"),
        "clicking again flips the order"
    );
    let r = b
        .get("/reports/departments/export?sort=received&dir=desc&format=xlsx")
        .await;
    assert_eq!(r.status, 200);
    let r = b.get("/reports/departments?month=13").await;
    assert_eq!(r.status, 400);
    let r = b.get("/board").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body.matches("<svg").count(),
        8,
        "four trends by day, four by month"
    );
    assert!(
        r.body.contains(r#"data-points="30""#),
        "thirty days of calls"
    );
    assert!(r.body.contains(r#"data-points="12""#), "twelve months");
    assert!(
        visible_text(&r.body).contains("突增"),
        "the outage is flagged"
    );
    let r = b.get("/reports/monthly").await;
    assert_eq!(r.status, 200);
    assert!(r.body.matches("<svg").count() >= 8);
    assert!(visible_text(&r.body).contains("热点诉求"));
    assert!(visible_text(&r.body).contains("承办单位考核排名"));
    let mut o = site.login("r_op").await;
    assert_eq!(o.get("/reports/monthly").await.status, 403);
}
