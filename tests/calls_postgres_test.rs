//! Call records on PostgreSQL: the summary kept by each event, the list's filters and one
//! record with its events read back the same as on SQLite.

mod common;

use hotline::calls::{
    CallEnd, CallEvent, CallFilter, Calls, HangupSide, NewCall, Page, RingResult,
};
use hotline::store::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_events_and_filters_work_on_postgres() {
    let url = common::fresh_pg().await;
    let calls = Calls::new(Db::connect_url(&url).await.expect("connect and migrate"));
    let answered = common::calls::answered_call(
        &calls,
        "pg1@test",
        "13800000001",
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
                wait_ms: 12_000,
            },
            CallEvent::AgentCallEnded {
                agent: "li".into(),
                talk_ms: 50_000,
                side: HangupSide::Agent,
            },
            CallEvent::CallbackPlaced {
                queue: "general".into(),
                agent: "li".into(),
                answered: true,
            },
        ],
        &CallEnd {
            outcome: "transferred",
            nodes: &["screen".into(), "operator".into()],
            prompts: &["welcome".into()],
            digits: "0",
            ticket_number: None,
            recording_path: None,
            hangup_side: HangupSide::Agent,
            hangup_reason: "bye",
        },
    )
    .await;
    let abandoned = calls
        .start(&NewCall {
            call_id: "pg2@test",
            caller: "13800000002",
            called: "12345",
            dialplan: "12345",
        })
        .await
        .unwrap();
    calls
        .event(
            abandoned,
            &CallEvent::Abandoned {
                queue: "general".into(),
                wait_ms: 40_000,
            },
        )
        .await
        .unwrap();

    let d = calls.get(answered).await.unwrap().expect("the record");
    assert_eq!(d.call.agent.as_deref(), Some("li"));
    assert_eq!(d.call.wait_ms, Some(12_000));
    assert_eq!(d.call.talk_ms, Some(50_000));
    assert_eq!(d.call.hangup_side, Some(HangupSide::Agent));
    assert!(d.call.callback && !d.call.abandoned);
    assert_eq!(d.call.ivr_path, ["screen", "operator"]);
    assert_eq!(d.events.len(), 5);

    let page = Page {
        number: 1,
        size: 10,
    };
    let only_abandoned = calls
        .list(
            &CallFilter {
                abandoned: Some(true),
                queue: Some("general".into()),
                ..Default::default()
            },
            page,
        )
        .await
        .unwrap();
    assert_eq!(only_abandoned.len(), 1);
    assert_eq!(only_abandoned[0].caller, "13800000002");
    assert_eq!(only_abandoned[0].wait_ms, Some(40_000));
    assert!(only_abandoned[0].answered_at.is_none());
    let by_agent = CallFilter {
        agent: Some("li".into()),
        ..Default::default()
    };
    assert_eq!(calls.count(&by_agent).await.unwrap(), 1);
    let all = calls.list(&CallFilter::default(), page).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, abandoned.get(), "newest first");

    // The wallboard's service level: answered after 12 s (within 15 s), one abandoned.
    let levels = calls.service_levels(0, 15_000).await.unwrap();
    assert_eq!(levels.len(), 1);
    assert_eq!(
        (
            levels[0].queue.as_str(),
            levels[0].answered_in_target,
            levels[0].answered,
            levels[0].abandoned,
            levels[0].percent
        ),
        ("general", 1, 1, 1, Some(50))
    );
    // The ticket made during the call stays linked after the call ended.
    assert!(calls.link_ticket(answered, "202401010009").await.unwrap());
    let d = calls.get(answered).await.unwrap().expect("the record");
    assert_eq!(d.call.ticket_number.as_deref(), Some("202401010009"));
}

/// The abandoned list and the call-back claim on PostgreSQL: two operators clicking at the
/// same moment (two connections) get one call-back; a later answered call from the number
/// takes another entry off the to-do list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_calls_and_one_call_back_at_a_time_on_postgres() {
    use hotline::calls::{AbandonedFilter, CallBackRefused, CallBackStatus};
    let url = common::fresh_pg().await;
    let calls = Calls::new(Db::connect_url(&url).await.expect("connect and migrate"));
    let mut ids = Vec::new();
    for (n, (caller, ev)) in [
        (
            "13800000011",
            CallEvent::Abandoned {
                queue: "general".into(),
                wait_ms: 30_000,
            },
        ),
        (
            "13800000012",
            CallEvent::Abandoned {
                queue: "general".into(),
                wait_ms: 8_000,
            },
        ),
        (
            "13800000012",
            CallEvent::AgentAnswered {
                queue: "general".into(),
                agent: "li".into(),
                wait_ms: 3_000,
            },
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = calls
            .start(&NewCall {
                call_id: &format!("pg-ab{n}@test"),
                caller,
                called: "12345",
                dialplan: "12345",
            })
            .await
            .unwrap();
        calls.event(id, &ev).await.unwrap();
        ids.push(id);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let page = Page {
        number: 1,
        size: 10,
    };
    let todo = calls
        .abandoned(
            &AbandonedFilter {
                todo_only: true,
                ..Default::default()
            },
            page,
        )
        .await
        .unwrap();
    assert_eq!(
        todo.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[0].get()],
        "{todo:?}"
    );
    let all = calls
        .abandoned(&AbandonedFilter::default(), page)
        .await
        .unwrap();
    assert_eq!(all[0].status, CallBackStatus::CalledAgain, "{all:?}");
    assert_eq!(all[0].called_again_call, Some(ids[2].get()));

    let other = Calls::new(Db::connect_url(&url).await.expect("second connection"));
    let (a, b) = tokio::join!(
        calls.claim_call_back(ids[0], "ops1"),
        other.claim_call_back(ids[0], "ops2")
    );
    let won = [a.is_ok(), b.is_ok()];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{a:?} {b:?}");
    let refused = if a.is_ok() { b } else { a };
    assert!(
        matches!(refused, Err(CallBackRefused::InProgress(_))),
        "{refused:?}"
    );
    let by = if won[0] { "ops1" } else { "ops2" };
    calls
        .event(
            ids[0],
            &CallEvent::CalledBack {
                by: by.into(),
                answered: true,
            },
        )
        .await
        .unwrap();
    let e = &calls
        .abandoned(&AbandonedFilter::default(), page)
        .await
        .unwrap()[1];
    assert_eq!(
        (
            e.status,
            e.called_back_by.as_deref(),
            e.calling_back.as_deref()
        ),
        (CallBackStatus::CalledBack, Some(by), None)
    );
}
