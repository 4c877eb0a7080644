//! A simulated day at the hotline, through real peers, then the scorecard checked against
//! figures this test works out on its own from the raw records the API lists (every call
//! record, every ticket's audit trail): SIPp callers answered by an operator's SIPp desk
//! phone, one who gives up waiting, one who hangs up at once (秒挂), one silent in the menus;
//! a resident's SMS through the SMSC simulator; tickets created, dispatched, returned,
//! resolved and answered directly through the JSON API; follow-up questions answered by SMS.

mod common;
#[path = "smsc/harness.rs"]
mod smsc;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use common::agents::{
    api, caller, cli, operator, phone, phone_done, queues_file, ready, register_phone, token,
    wait_until, Phone,
};
use common::serve::{scenario, sipp, Hotline, Step};
use smsc::Smsc;

const T: Duration = Duration::from_secs(30);

fn ms(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

/// Percent with one decimal, as a director reads it; `None` over nothing.
fn pct(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| (n as f64 * 1000.0 / d as f64).round() / 10.0)
}

fn kpi(row: &Value, code: &str) -> Option<f64> {
    row["kpis"]
        .as_array()
        .and_then(|l| l.iter().find(|k| k["kpi"] == code))
        .unwrap_or_else(|| panic!("{code} in {row}"))["value"]
        .as_f64()
}

async fn ticket_in(h: &Hotline, tok: &str, phone: &str, text: &str) -> i64 {
    let (st, t) = api(
        h,
        tok,
        "POST",
        "/api/v1/tickets",
        Some(json!({"phone": phone, "text": text})),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    t["id"].as_i64().expect("ticket id")
}

async fn act(h: &Hotline, tok: &str, id: i64, body: Value) {
    let (st, t) = api(
        h,
        tok,
        "POST",
        &format!("/api/v1/tickets/{id}/transitions"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 200, "{body} on ticket {id}: {t}");
}

async fn state_of(h: &Hotline, tok: &str, id: i64) -> Value {
    api(h, tok, "GET", &format!("/api/v1/tickets/{id}"), None)
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_calls_texts_and_tickets_adds_up_to_the_scorecard() {
    let mut sms = Smsc::start("hotline", "secret");
    let dir = tempfile::tempdir().expect("tempdir");
    let q = queues_file(dir.path(), "ring_secs = 10\nwrapup_secs = 1");
    let h = Hotline::start(&[
        ("HOTLINE__ACD__QUEUES_FILE", q.display().to_string()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
        ("HOTLINE__SMS__ENABLED", "true".into()),
        ("HOTLINE__SMS__PORT", sms.port.to_string()),
        ("HOTLINE__SMS__PASSWORD", "secret".into()),
        ("HOTLINE__SMS__QUIET_START", "00:00".into()),
        ("HOTLINE__SMS__QUIET_END", "00:00".into()),
        ("HOTLINE__SMS__POLL_MS", "50".into()),
        // Operators dispatch by hand (and may answer a question directly).
        ("HOTLINE__TICKETS__AUTO_DISPATCH", "false".into()),
    ]);
    for (name, role, dept) in [
        ("sup1", "supervisor", None),
        ("cgj1", "department", Some("urban_management")),
        ("water1", "department", Some("water")),
    ] {
        let mut args = vec!["user", "add", "--name", name, "--role", role];
        if let Some(d) = dept {
            args.extend(["--department", d]);
        }
        cli(&h, &args, "console-pw-123");
    }
    operator(&h, "ops1");
    let (ops, sup, cgj, water) = (
        token(&h, "ops1").await,
        token(&h, "sup1").await,
        token(&h, "cgj1").await,
        token(&h, "water1").await,
    );

    // --- Calls -----------------------------------------------------------------------
    // ops1's desk phone answers two queue calls.
    let port = register_phone(&h, "ops1");
    let desk = phone(port, Phone::Answers, 2);
    ready(&h, "ops1");
    for n in ["13800138201", "13800138202"] {
        let (ok, out) = caller(&h, n, &[Step::Pause(7000), Step::Bye]);
        assert!(ok, "{n}:\n{out}\n{}", h.log());
        wait_until("ops1 ready again after wrap-up", &h, || {
            common::agents::agents(&h)
                .get("ops1")
                .is_some_and(|a| a.0 == "ready")
        });
    }
    let (answered, out) = phone_done(desk);
    assert!(answered, "the desk phone answered twice:\n{out}");
    // ops1 goes to a meeting; the next caller waits 4 s and gives up.
    let out = cli(&h, &["agent", "pause", "ops1", "--reason", "meeting"], "");
    assert!(out.contains("paused"), "{out}");
    let (ok, out) = caller(&h, "13800138203", &[Step::Pause(4000), Step::Bye]);
    assert!(ok, "{out}");
    // One hangs up right after the answer (秒挂), one stays silent in the menus for 6 s.
    for (n, steps) in [
        ("13800138204", vec![Step::Bye]),
        ("13800138205", vec![Step::Pause(6000), Step::Bye]),
    ] {
        let file = h.dir.path().join(format!("c-{n}.xml"));
        std::fs::write(&file, scenario(n, &steps)).expect("scenario");
        let (ok, out) = sipp(&h, &file, "12345", &[]);
        assert!(ok, "{n}:\n{out}");
    }

    // --- Tickets ---------------------------------------------------------------------
    let resident = "13900000001";
    sms.deliver_text(resident, "幸福小区门口的路灯坏了好几天了，请尽快修理");
    sms.wait_for("the accepted SMS", T, |s| {
        !s.messages_to(resident).is_empty()
    })
    .await;
    let (_, list) = api(&h, &sup, "GET", "/api/v1/tickets?per_page=50", None).await;
    let t1 = list["items"]
        .as_array()
        .and_then(|l| l.iter().find(|t| t["channel"] == "sms"))
        .unwrap_or_else(|| panic!("the texted ticket: {list}"))["id"]
        .as_i64()
        .unwrap();
    let t2 = ticket_in(&h, &ops, "13900000002", "解放路人行道上井盖缺失，很危险").await;
    let t3 = ticket_in(&h, &ops, "13900000003", "建设路有商户占道经营").await;
    let t4 = ticket_in(&h, &ops, "13900000004", "请问社保卡在哪里补办").await;

    if state_of(&h, &sup, t1).await["state"] != "dispatched" {
        act(
            &h,
            &ops,
            t1,
            json!({"action": "dispatch", "department": "urban_management"}),
        )
        .await;
    }
    act(
        &h,
        &ops,
        t2,
        json!({"action": "dispatch", "department": "urban_management"}),
    )
    .await;
    act(
        &h,
        &ops,
        t3,
        json!({"action": "dispatch", "department": "water"}),
    )
    .await;
    act(
        &h,
        &water,
        t3,
        json!({"action": "return", "reason": "不属于本单位职责"}),
    )
    .await;
    act(
        &h,
        &ops,
        t3,
        json!({"action": "dispatch", "department": "urban_management"}),
    )
    .await;
    act(
        &h,
        &ops,
        t4,
        json!({"action": "answer_directly", "answer": "请到市民中心社保窗口补办"}),
    )
    .await;
    let t1_dept = state_of(&h, &sup, t1).await["department_id"].clone();
    let t1_tok = if t1_dept == "water" { &water } else { &cgj };
    for (id, tok) in [(t1, t1_tok), (t2, &cgj), (t3, &cgj)] {
        act(&h, tok, id, json!({"action": "sign"})).await;
        act(
            &h,
            tok,
            id,
            json!({"action": "resolve", "answer": "已处理完毕"}),
        )
        .await;
    }
    // The residents of t1 and t2 are asked how it went and answer by SMS.
    for (id, phone, reply, closes) in [(t1, resident, "1", true), (t2, "13900000002", "3", false)] {
        let number = state_of(&h, &sup, id).await["number"]
            .as_str()
            .unwrap()
            .to_string();
        cli(&h, &["ticket", "act", &number, "follow-up"], "");
        sms.wait_for("the satisfaction question", T, |s| {
            s.messages_to(phone).iter().any(|m| m.text.contains("评价"))
        })
        .await;
        sms.deliver_text(phone, reply);
        let want = if closes { "closed" } else { "supervised" };
        let until = std::time::Instant::now() + T;
        while state_of(&h, &sup, id).await["state"] != want {
            assert!(
                std::time::Instant::now() < until,
                "{id} {want}\n{}",
                h.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // --- The scorecard against our own count --------------------------------------------
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let (st, report) = api(
        &h,
        &sup,
        "GET",
        &format!("/api/v1/reports/kpis?period={today}"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{report}");
    let total = &report["total"];

    // Calls: from every record the API lists.
    let (_, calls) = api(&h, &sup, "GET", "/api/v1/calls?per_page=200", None).await;
    let calls = calls["items"].as_array().expect("calls").clone();
    assert_eq!(calls.len(), 5, "{calls:?}");
    let (mut offered, mut short, mut connected, mut asked, mut person, mut in15) =
        (0, 0, 0, 0, 0, 0);
    let (mut gave_up, mut gave_up15, mut wait_sum) = (0, 0, 0);
    for c in &calls {
        let started = ms(&c["started_at"]).unwrap();
        let ended = ms(&c["ended_at"]).expect("every call ended");
        let by_person = !c["agent_answered_at"].is_null();
        if !by_person && ended - started < 3_000 {
            short += 1;
            continue;
        }
        offered += 1;
        if !c["answered_at"].is_null() || by_person {
            connected += 1;
        }
        let wait = c["wait_ms"].as_i64().unwrap_or(0);
        if !c["queue"].is_null() {
            asked += 1;
            if by_person {
                person += 1;
                wait_sum += wait;
                in15 += (wait <= 15_000) as i64;
            } else if c["abandoned"] == true {
                gave_up += 1;
                gave_up15 += (wait <= 15_000) as i64;
            }
        }
    }
    assert_eq!(
        (short, offered, asked, person, gave_up),
        (1, 4, 3, 2, 1),
        "the day as scripted: {calls:?}"
    );
    assert_eq!(total["calls"]["short"], short);
    assert_eq!(total["calls"]["offered"], offered);
    assert_eq!(kpi(total, "connect_rate"), pct(connected, offered));
    assert_eq!(kpi(total, "answered_in_target"), pct(in15, asked));
    assert_eq!(kpi(total, "service_level"), pct(in15, person));
    assert_eq!(
        kpi(total, "service_level2"),
        pct(in15 + gave_up15, person + gave_up)
    );
    assert_eq!(kpi(total, "abandon_rate"), pct(gave_up, asked));
    assert_eq!(
        kpi(total, "average_wait"),
        Some((wait_sum as f64 / person as f64 / 100.0).round() / 10.0)
    );
    assert!(kpi(total, "calls_per_agent_hour").unwrap() > 0.0, "{total}");

    // Tickets: from each ticket's audit trail.
    let mut steps: Vec<(i64, i64, String, String)> = Vec::new();
    let mut deadline: HashMap<i64, i64> = HashMap::new();
    for id in [t1, t2, t3, t4] {
        deadline.insert(
            id,
            ms(&state_of(&h, &sup, id).await["deadline"]).expect("deadline"),
        );
        let (_, audit) = api(
            &h,
            &sup,
            "GET",
            &format!("/api/v1/tickets/{id}/audit"),
            None,
        )
        .await;
        for a in audit.as_array().expect("audit") {
            steps.push((
                ms(&a["at"]).unwrap(),
                id,
                a["action"].as_str().unwrap().to_string(),
                a["to_state"].as_str().unwrap().to_string(),
            ));
        }
    }
    steps.sort();
    let count = |action: &str| steps.iter().filter(|s| s.2 == action).count() as i64;
    let resolutions: Vec<_> = steps
        .iter()
        .filter(|s| s.2 == "resolve" || s.2 == "answer_directly")
        .collect();
    let on_time = resolutions.iter().filter(|s| s.0 <= deadline[&s.1]).count() as i64;
    let asked_after = resolutions
        .iter()
        .filter(|r| {
            steps
                .iter()
                .any(|s| s.1 == r.1 && s.0 >= r.0 && (s.2 == "follow_up" || s.2 == "rate"))
        })
        .count() as i64;
    let rated = count("rate");
    let satisfied = steps
        .iter()
        .filter(|s| s.2 == "rate" && s.3 == "closed")
        .count() as i64;
    let resolved = resolutions.len() as i64;
    assert_eq!(
        (
            resolved,
            count("return"),
            count("answer_directly"),
            rated,
            satisfied
        ),
        (4, 1, 1, 2, 1),
        "the day as scripted: {steps:?}"
    );
    assert_eq!(total["tickets"]["received"], 4);
    assert_eq!(
        kpi(total, "first_contact_resolution"),
        pct(count("answer_directly"), 4)
    );
    assert_eq!(kpi(total, "on_time_rate"), pct(on_time, resolved));
    assert_eq!(
        kpi(total, "return_rate"),
        pct(count("return"), count("dispatch"))
    );
    assert_eq!(kpi(total, "follow_up_rate"), pct(asked_after, resolved));
    assert_eq!(kpi(total, "satisfaction"), pct(satisfied, rated));
    assert_eq!(kpi(total, "overdue"), Some(0.0));

    // By department: the return counts against water, which returned it, and the
    // resolutions for urban management, which did them.
    let (_, by_dept) = api(
        &h,
        &sup,
        "GET",
        &format!("/api/v1/reports/kpis?period={today}&group_by=department"),
        None,
    )
    .await;
    let row = |d: &str| {
        by_dept["rows"]
            .as_array()
            .and_then(|l| l.iter().find(|r| r["key"] == d))
            .unwrap_or_else(|| panic!("{d} in {by_dept}"))
            .clone()
    };
    let w = row("water");
    assert_eq!(
        (
            w["tickets"]["received"].as_i64(),
            w["tickets"]["returned"].as_i64()
        ),
        (Some(1), Some(1)),
        "{w}"
    );
    assert_eq!(kpi(&w, "return_rate"), Some(100.0));
    assert_eq!(kpi(&w, "on_time_rate"), None, "water resolved nothing");
    let u = row("urban_management");
    let u_resolved = if t1_dept == "water" { 2 } else { 3 };
    assert_eq!(u["tickets"]["resolved"], u_resolved, "{u}");
    assert_eq!(u["tickets"]["returned"], 0, "{u}");
    assert!(
        row("gas")["tickets"]["received"] == 0,
        "a department with nothing still ranks"
    );

    // The board's figures reach Prometheus, and a missed target is marked.
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", h.http_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let want = format!(
        "hotline_kpi{{kpi=\"satisfaction\",period=\"today\"}} {}",
        pct(satisfied, rated).unwrap()
    );
    assert!(metrics.contains(&want), "{want} in\n{metrics}");
    let sat = total["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kpi"] == "satisfaction")
        .unwrap();
    assert_eq!(sat["met"], false, "50 % misses the 90 % target: {sat}");
    sms.kill();
}
