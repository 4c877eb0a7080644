//! The agent desk and the wallboard pages over a real site (in-process, SQLite, a call
//! centre without phones): an operator changes their state at the desk and sees it, a
//! ticket taken in from the screen pop's form is linked to the call's record, and the
//! wallboard shows the queue with today's service level and the agents with their states.

mod web_support;

use hotline::calls::{CallEvent, Calls, NewCall};
use hotline::web::accounts::Role;
use web_support::*;

/// The page's text as read, runs of blanks as one space.
fn read(html: &str) -> String {
    visible_text(html)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_changes_state_and_links_the_ticket_to_the_call() {
    let site = start_sqlite().await;
    site.add_user("d_op", Role::Operator, None).await;
    let mut op = site.login("d_op").await;
    let desk = op.get("/console/desk").await;
    assert_eq!(desk.status, 200);
    assert!(
        read(&desk.body).contains("当前状态：未签入"),
        "{}",
        desk.body
    );

    let r = op
        .submit(
            "/console/agents/d_op/state",
            &[("state", "paused"), ("reason", "meal")],
        )
        .await;
    assert_eq!(r.status, 303);
    let text = read(&op.get("/console/desk").await.body);
    assert!(text.contains("当前状态：示忙 用餐"), "{text}");
    // hotline's own reason is not a person's to choose.
    let r = op
        .submit(
            "/console/agents/d_op/state",
            &[("state", "paused"), ("reason", "no_answer")],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = op
        .submit("/console/agents/d_op/state", &[("state", "ready")])
        .await;
    assert_eq!(r.status, 303);
    assert!(read(&op.get("/console/desk").await.body).contains("当前状态：就绪"));
    // Not in a call: the call buttons say so.
    let r = op
        .submit("/console/agents/d_op/call", &[("action", "hold")])
        .await;
    assert_eq!(r.status, 409);
    assert!(read(&r.body).contains("不在通话中"));

    // The screen pop's form carries the call's record: the ticket is linked to it.
    let calls = Calls::new(site.tickets.db().clone());
    let call = calls
        .start(&NewCall {
            call_id: "desk@test",
            caller: "13800000077",
            called: "12345",
            dialplan: "12345",
        })
        .await
        .expect("call record");
    let id = call.get().to_string();
    let r = op
        .submit(
            "/tickets",
            &[
                ("phone", "13800000077"),
                ("text", "小区门口路灯不亮"),
                ("call", id.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let ticket_id: i64 = r
        .location
        .as_deref()
        .and_then(|l| l.strip_prefix("/tickets/"))
        .and_then(|l| l.split('?').next())
        .and_then(|l| l.parse().ok())
        .expect("redirect to the new ticket");
    let t = site
        .tickets
        .get(hotline::tickets::TicketId(ticket_id))
        .await
        .unwrap();
    let record = calls.get(call).await.unwrap().expect("the call's record");
    assert_eq!(record.call.ticket_number, Some(t.number.to_string()));
    // The ticket's page lists the call, which leads to its record and recordings.
    let page = op.get(&format!("/tickets/{ticket_id}")).await;
    assert!(page.body.contains("相关通话"), "{}", page.body);
    assert!(
        page.body.contains(&format!("/console/calls/{id}")),
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_shows_queues_service_level_and_agents() {
    let site = start_sqlite().await;
    site.add_user("w_op", Role::Operator, None).await;
    site.add_user("w_sup", Role::Supervisor, None).await;
    let mut op = site.login("w_op").await;
    op.submit("/console/agents/w_op/state", &[("state", "ready")])
        .await;
    // Today: one caller answered after 5 s, one after 40 s, one gave up.
    let calls = Calls::new(site.tickets.db().clone());
    for (i, ev) in [
        CallEvent::AgentAnswered {
            queue: "operators".into(),
            agent: "w_op".into(),
            wait_ms: 5_000,
        },
        CallEvent::AgentAnswered {
            queue: "operators".into(),
            agent: "w_op".into(),
            wait_ms: 40_000,
        },
        CallEvent::Abandoned {
            queue: "operators".into(),
            wait_ms: 20_000,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let id = calls
            .start(&NewCall {
                call_id: &format!("wb{i}@test"),
                caller: "13800000088",
                called: "12345",
                dialplan: "12345",
            })
            .await
            .unwrap();
        calls
            .event(
                id,
                &CallEvent::QueueEntered {
                    queue: "operators".into(),
                },
            )
            .await
            .unwrap();
        calls.event(id, &ev).await.unwrap();
    }

    let mut sup = site.login("w_sup").await;
    let page = sup.get("/console/wallboard").await;
    assert_eq!(page.status, 200);
    let text = read(&page.body);
    assert!(text.contains("人工服务"), "{text}");
    assert!(text.contains("33%（1/3）"), "service level today: {text}");
    assert!(
        text.contains("w_op就绪"),
        "the agent and their state: {text}"
    );
    assert!(text.contains("没有排队的来电"), "{text}");
    let live = sup.get("/console/wallboard/live").await;
    assert_eq!(live.status, 200);
    assert!(read(&live.body).contains("33%（1/3）"));
    // A supervisor pauses an agent from the wallboard; an operator may not touch others.
    let r = sup
        .submit(
            "/console/agents/w_op/state",
            &[("state", "paused"), ("reason", "meeting")],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_deref()),
        (303, Some("/console/wallboard"))
    );
    assert!(read(&sup.get("/console/wallboard").await.body).contains("w_op示忙会议"));
    let r = op
        .submit("/console/agents/w_sup/state", &[("state", "logged_out")])
        .await;
    assert_eq!(r.status, 403);
    // The operator has no wallboard.
    assert_eq!(op.get("/console/wallboard").await.status, 403);
}
