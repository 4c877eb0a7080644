//! The follow-up clock (回访) on both databases: a resolved ticket past the delay gets its
//! satisfaction question once, however many nodes and passes look; a question nobody
//! answered closes the ticket once the configured time is up, with that said in its audit
//! trail; a ticket rated meanwhile is left alone.

mod common;

use common::*;
use hotline::store::now_ms;
use hotline::tickets::follow_up::tick;
use hotline::tickets::{
    Action, Actor, Channel, DepartmentId, FollowUpConfig, Kind, NewTicket, Satisfaction, State,
    Ticket, Tickets,
};

fn cfg() -> FollowUpConfig {
    FollowUpConfig {
        delay_secs: 60,
        close_after_secs: 3 * 86_400,
        ..FollowUpConfig::default()
    }
}

/// A ticket the department has answered (办结).
async fn resolved(t: &Tickets, phone: &str) -> Ticket {
    let k = t
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: Some(Kind::Complaint),
                phone: phone.parse().unwrap(),
                text: "解放路路灯不亮".into(),
                address: None,
                area: None,
                recording_path: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();
    let op = Actor::Operator("ops1".into());
    if k.state == State::Accepted {
        t.transition(
            k.id,
            Action::Dispatch {
                department: DepartmentId("urban_management".into()),
            },
            &op,
        )
        .await
        .unwrap();
    }
    let dept = Actor::Department(DepartmentId("urban_management".into()), "cg".into());
    t.transition(k.id, Action::Sign, &dept).await.unwrap();
    t.transition(
        k.id,
        Action::Resolve {
            answer: "路灯已修复".into(),
        },
        &dept,
    )
    .await
    .unwrap()
}

async fn unanswered_follow_ups_close_once_with_the_reason(url: &str) {
    let node_a = tickets_at(url).await;
    let node_b = tickets_at(url).await;
    let quiet = resolved(&node_a, "13800138501").await;
    let rated = resolved(&node_a, "13800138502").await;
    let now = now_ms();

    // Before the delay nothing is asked.
    assert_eq!(tick(&node_a, &cfg(), now).await.unwrap().asked, 0);
    // After it, each ticket is asked once: a second pass, a second node, change nothing.
    let later = now + 61_000;
    assert_eq!(tick(&node_a, &cfg(), later).await.unwrap().asked, 2);
    assert_eq!(tick(&node_b, &cfg(), later + 1_000).await.unwrap().asked, 0);
    assert_eq!(tick(&node_a, &cfg(), later + 2_000).await.unwrap().asked, 0);
    for id in [quiet.id, rated.id] {
        assert_eq!(node_a.get(id).await.unwrap().state, State::FollowUp);
    }
    let asks = node_a.audit_trail(quiet.id).await.unwrap();
    assert_eq!(
        asks.iter().filter(|a| a.action == "follow_up").count(),
        1,
        "{asks:?}"
    );

    // One resident answers; the other never does.
    node_a
        .transition(
            rated.id,
            Action::Rate {
                satisfaction: Satisfaction::BasicallySatisfied,
            },
            &Actor::Resident("13800138502".parse().unwrap()),
        )
        .await
        .unwrap();
    // Before the close time the question stays open.
    let pass = tick(&node_b, &cfg(), now + 2 * 86_400_000).await.unwrap();
    assert_eq!(pass.closed, 0);
    // After it, the unanswered one is closed once, by whichever node looks first.
    let past = now_ms() + 3 * 86_400_000 + 1_000;
    let c = cfg();
    let (a, b) = tokio::join!(tick(&node_a, &c, past), tick(&node_b, &c, past));
    assert_eq!(a.unwrap().closed + b.unwrap().closed, 1);
    let closed = node_a.get(quiet.id).await.unwrap();
    assert_eq!(closed.state, State::Closed);
    assert_eq!(closed.satisfaction, None);
    let trail = node_a.audit_trail(quiet.id).await.unwrap();
    let close = trail
        .iter()
        .find(|a| a.action == "close")
        .expect("closed in the audit trail");
    assert_eq!(close.actor, "system");
    assert!(
        close.note.contains("逾期未评价自动结案") && close.note.contains("3天"),
        "{}",
        close.note
    );
    assert_eq!(trail.iter().filter(|a| a.action == "close").count(), 1);
    // The rated ticket keeps its rating and was not touched by the close.
    let r = node_a.get(rated.id).await.unwrap();
    assert_eq!(
        (r.state, r.satisfaction),
        (State::Closed, Some(Satisfaction::BasicallySatisfied))
    );
    assert!(!node_a
        .audit_trail(rated.id)
        .await
        .unwrap()
        .iter()
        .any(|a| a.action == "close"));
}

#[tokio::test]
async fn unanswered_follow_ups_close_once_with_the_reason_sqlite() {
    let (_dir, url) = fresh_sqlite();
    unanswered_follow_ups_close_once_with_the_reason(&url).await;
}

#[tokio::test]
async fn unanswered_follow_ups_close_once_with_the_reason_postgres() {
    let url = fresh_pg().await;
    unanswered_follow_ups_close_once_with_the_reason(&url).await;
}
