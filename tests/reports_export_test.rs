//! Exports of the ticket and call lists (API and console): the XLSX opened with openpyxl and
//! the CSV read back with Python's csv module, as a spreadsheet user would; headers and
//! cells checked against what the test created; a department exports only its own tickets,
//! whatever filter it asks for; callers masked where the list masks them.
//!
//! Needs openpyxl in the test venv (`scripts/setup test`), or `PYTHON` naming a Python
//! that has it.

mod web_support;

use hotline::calls::{CallEnd, Calls, HangupSide, NewCall};
use hotline::tickets::{Actor, Channel, DepartmentId, NewTicket, Ticket};
use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::sheets::{csv_rows, xlsx_rows};
use web_support::*;

async fn get_bytes(c: &reqwest::Client, url: String, token: &str) -> (u16, String, Vec<u8>) {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn ticket(site: &Site, phone: &str, text: &str, address: Option<&str>) -> Ticket {
    site.tickets
        .create(
            NewTicket {
                channel: Channel::Sms,
                kind: None,
                phone: phone.parse().unwrap(),
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

const HEADERS: [&str; 14] = [
    "工单编号",
    "来源",
    "类型",
    "状态",
    "承办单位",
    "受理时间",
    "办结时限",
    "是否超期",
    "督办",
    "来电号码",
    "地址",
    "诉求摘要",
    "办结时间",
    "满意度",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_and_call_lists_export_to_xlsx_and_csv() {
    let site = start_sqlite().await;
    site.add_user("x_op", Role::Operator, None).await;
    site.add_user("x_water", Role::Department, Some("water"))
        .await;
    site.add_user("x_admin", Role::Admin, None).await;
    let op = site.token_for("x_op").await;
    let water = site.token_for("x_water").await;
    let admin = site.token_for("x_admin").await;

    // Two water tickets (one with the characters CSV must quote, one that looks like a
    // formula), one gas ticket: routed and dispatched by the demo rules.
    let w1 = ticket(
        &site,
        "13800001111",
        "家里停水了，已经两天，\"急\"\n请尽快处理",
        Some("解放路12号"),
    )
    .await;
    let w2 = ticket(&site, "13800002222", "=1+1 自来水管道漏水", None).await;
    let g1 = ticket(&site, "13800003333", "燃气表漏气，闻到煤气味", None).await;
    for (t, d) in [(&w1, "water"), (&w2, "water"), (&g1, "gas")] {
        let t = site.tickets.get(t.id).await.unwrap();
        assert_eq!(t.department, Some(DepartmentId(d.into())), "routed to {d}");
    }
    let w1 = site.tickets.get(w1.id).await.unwrap();
    let c = client();
    let url = |p: &str| format!("{}{}", site.base, p);

    // XLSX of every ticket, as an operator: openpyxl reads headers and cells back.
    let (status, ct, body) = get_bytes(&c, url("/api/v1/tickets/export?format=xlsx"), &op).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        ct,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let (sheet, rows) = xlsx_rows(&body);
    assert_eq!(sheet, "工单列表");
    assert_eq!(rows[0], HEADERS.map(Value::from).to_vec());
    assert_eq!(rows.len(), 4, "header and three tickets");
    let row = rows
        .iter()
        .find(|r| r[0] == w1.number.as_str())
        .expect("w1 exported");
    let tz = site.tickets.tz();
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
    };
    assert_eq!(row[1], "短信");
    assert_eq!(row[3], "已派单");
    assert_eq!(
        row[4], "市水务局（自来水公司）",
        "the department's name, not its id"
    );
    assert_eq!(row[5], local(w1.created_at).as_str());
    assert_eq!(row[6], local(w1.deadline).as_str());
    assert_eq!(row[7], "否");
    assert_eq!(
        row[9], "13800001111",
        "operators see numbers whole, as in the list"
    );
    assert_eq!(row[10], "解放路12号");
    let formula = rows.iter().find(|r| r[0] == w2.number.as_str()).unwrap();
    assert!(
        formula[11].as_str().unwrap().starts_with("=1+1"),
        "text stays text in a workbook: {formula:?}"
    );

    // CSV as the water department, asking for gas's: only water's, read back by csv.
    let (status, ct, body) = get_bytes(
        &c,
        url("/api/v1/tickets/export?format=csv&department=gas"),
        &water,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct, "text/csv; charset=utf-8");
    let rows = csv_rows(&body);
    assert_eq!(rows[0], HEADERS.map(String::from).to_vec());
    let mut numbers: Vec<_> = rows[1..].iter().map(|r| r[0].clone()).collect();
    numbers.sort();
    let mut want = vec![w1.number.to_string(), w2.number.to_string()];
    want.sort();
    assert_eq!(numbers, want, "a department exports its own tickets only");
    let quoted = rows[1..]
        .iter()
        .find(|r| r[0] == w1.number.as_str())
        .unwrap();
    assert_eq!(
        quoted[11], w1.summary,
        "commas, quotes and line breaks survive"
    );
    let formula = rows[1..]
        .iter()
        .find(|r| r[0] == w2.number.as_str())
        .unwrap();
    assert!(
        formula[11].starts_with("'=1+1"),
        "a CSV cell never starts a formula: {formula:?}"
    );

    // The console's 导出 links keep the list's filters and the same narrowing.
    let mut b = site.login("x_water").await;
    let r = b.get("/console?scope=all").await;
    assert!(
        r.body.contains("/console/export?scope=all"),
        "export links on the list"
    );
    let r = b.get("/console/export?scope=all&dept=gas&format=csv").await;
    assert_eq!(r.status, 200);
    let rows = csv_rows(r.body.as_bytes());
    assert_eq!(rows.len(), 3, "water's two tickets, not gas's: {rows:?}");
    let mut o = site.login("x_op").await;
    let r = o.get("/console/export?scope=all&dept=gas&format=csv").await;
    let rows = csv_rows(r.body.as_bytes());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][0], g1.number.as_str());

    // Calls: operators see the caller whole, administrators masked, as in the call list.
    let calls = Calls::new(site.tickets.db().clone());
    let id = calls
        .start(&NewCall {
            call_id: "export@test",
            caller: "13912345678",
            called: "12345",
            dialplan: "12345",
        })
        .await
        .unwrap();
    calls.answered(id).await.unwrap();
    calls
        .end(
            id,
            &CallEnd {
                outcome: "completed",
                nodes: &["screen".into(), "welcome".into()],
                prompts: &[],
                digits: "",
                ticket_number: Some(w1.number.as_str()),
                recording_path: None,
                hangup_side: HangupSide::Caller,
                hangup_reason: "bye",
            },
        )
        .await
        .unwrap();
    let (status, _, body) = get_bytes(&c, url("/api/v1/calls/export?format=xlsx"), &op).await;
    assert_eq!(status, 200);
    let (sheet, rows) = xlsx_rows(&body);
    assert_eq!(sheet, "通话记录");
    assert_eq!(rows[0][0], "来电时间");
    assert_eq!(rows[0][1], "来电号码");
    assert_eq!(rows[1][1], "13912345678");
    assert_eq!(rows[1][3], "screen › welcome");
    assert_eq!(rows[1][11], w1.number.as_str());
    let (_, _, body) = get_bytes(&c, url("/api/v1/calls/export?format=csv"), &admin).await;
    let rows = csv_rows(&body);
    assert_eq!(
        rows[1][1], "139****5678",
        "administrators see the caller masked"
    );
    let mut a = site.login("x_admin").await;
    let r = a.get("/console/calls/export?format=csv").await;
    assert_eq!(r.status, 200);
    assert_eq!(csv_rows(r.body.as_bytes())[1][1], "139****5678");
    let r = a.get("/console/calls").await;
    assert!(
        r.body.contains("/console/calls/export?"),
        "export links on the call list"
    );

    // Bad input: a clear 400, never a file or a 500.
    let (status, _, body) = get_bytes(&c, url("/api/v1/tickets/export?format=pdf"), &op).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = get_bytes(&c, url("/api/v1/calls/export?from=yesterday"), &op).await;
    assert_eq!(status, 400);
    let (status, _, _) = get_bytes(&c, url("/api/v1/calls/export"), &water).await;
    assert_eq!(status, 403, "departments read no call records");
    let r = b.get("/console/export?format=doc").await;
    assert_eq!(r.status, 400);

    // The routes are in the OpenAPI document.
    let doc: Value = c
        .get(url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/tickets/export",
        "/api/v1/calls/export",
        "/api/v1/reports/kpis/export",
        "/api/v1/reports/departments",
        "/api/v1/reports/hot-topics",
    ] {
        assert!(
            doc["paths"][p]["get"].is_object(),
            "{p} in the OpenAPI document"
        );
    }
}
