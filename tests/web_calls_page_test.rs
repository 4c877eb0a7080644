//! The console's call records as people read them: an operator finds a call by the caller's
//! number and opens its timeline (IVR path, who was rung, who answered, who hung up, the
//! ticket it made); an administrator sees the number masked; department staff are refused.

mod web_support;

use hotline::calls::{CallEnd, CallEvent, Calls, HangupSide, NewCall, RingResult};
use hotline::web::accounts::Role;
use web_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_read_a_calls_timeline_and_admins_see_the_number_masked() {
    let site = start_sqlite().await;
    site.add_user("c_op", Role::Operator, None).await;
    site.add_user("c_admin", Role::Admin, None).await;
    site.add_user("c_water", Role::Department, Some("water"))
        .await;
    let ticket = site.ticket("13912345678", "小区停水").await;
    let calls = Calls::new(site.tickets.db().clone());
    let id = common::calls::answered_call(
        &calls,
        "page@test",
        "13912345678",
        &[
            CallEvent::QueueEntered {
                queue: "general".into(),
            },
            CallEvent::AgentRung {
                queue: "general".into(),
                agent: "zhang".into(),
                ring_ms: 15_000,
                result: RingResult::NoAnswer,
            },
            CallEvent::AgentAnswered {
                queue: "general".into(),
                agent: "li".into(),
                wait_ms: 21_000,
            },
            CallEvent::AgentCallEnded {
                agent: "li".into(),
                talk_ms: 95_000,
                side: HangupSide::Caller,
            },
        ],
        &CallEnd {
            outcome: "transferred",
            nodes: &["screen".into(), "welcome".into(), "operator".into()],
            prompts: &[],
            digits: "0",
            ticket_number: Some(ticket.number.as_str()),
            recording_path: None,
            hangup_side: HangupSide::Caller,
            hangup_reason: "bye",
        },
    )
    .await;
    // Another caller's call, which the filter must leave out.
    calls
        .start(&NewCall {
            call_id: "other@test",
            caller: "13800000000",
            called: "12345",
            dialplan: "12345",
        })
        .await
        .unwrap();

    let mut op = site.login("c_op").await;
    let home = op.get("/console").await;
    assert!(
        home.body.contains("href=\"/console/calls\""),
        "the navigation links the call records"
    );
    let list = op.get("/console/calls?caller=13912345678").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let text = visible_text(&list.body);
    assert!(text.contains("13912345678"), "{text}");
    assert!(!text.contains("13800000000"), "filtered by caller: {text}");
    assert!(text.contains("screen › welcome › operator"), "{text}");
    assert!(text.contains("li") && text.contains("21 秒"), "{text}");
    assert!(text.contains("来电人挂机"), "{text}");

    let page = op.get(&format!("/console/calls/{}", id.get())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = visible_text(&page.body);
    for want in [
        "13912345678",
        "语音导航路径",
        "振铃 zhang 15 秒，无人接听",
        "li 接听（队列 general，等待 21 秒）",
        "与 li 通话 95 秒，来电人挂机",
        "已转人工",
        ticket.number.as_str(),
    ] {
        assert!(text.contains(want), "`{want}` on the call page: {text}");
    }
    assert!(
        page.body
            .contains(&format!("href=\"/tickets/{}\"", ticket.id.0)),
        "the ticket is linked"
    );

    let bad = op.get("/console/calls?from=yesterday").await;
    assert_eq!(bad.status, 400, "a bad date is refused with a message");
    assert!(visible_text(&bad.body).contains("开始日期应为日期"));

    let mut admin = site.login("c_admin").await;
    let page = admin.get(&format!("/console/calls/{}", id.get())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = visible_text(&page.body);
    assert!(text.contains("139****5678"), "{text}");
    assert!(!text.contains("13912345678"), "masked for admins: {text}");
    assert!(
        !page.body.contains("/tickets/"),
        "admins read no tickets, so no link"
    );

    let mut water = site.login("c_water").await;
    assert_eq!(water.get("/console/calls").await.status, 403);
    assert_eq!(
        water
            .get(&format!("/console/calls/{}", id.get()))
            .await
            .status,
        403
    );
}
