//! The follow-up by text (短信回访) against a real SMSC (the node-smpp simulator): a
//! resolved ticket gets the satisfaction question at the resident's phone once the delay is
//! over, from the follow-up clock alone; the resident answers "3 路灯还是不亮" and the ticket
//! is reopened as supervised with their reason kept in the audit trail.

mod common;
#[path = "smsc/harness.rs"]
mod harness;

use std::time::Duration;

use harness::Smsc;
use hotline::sms::{self, SmsConfig};
use hotline::store::Db;
use hotline::tickets::follow_up;
use hotline::tickets::{
    Action, Actor, Channel, DepartmentId, FollowUpConfig, Kind, NewTicket, Satisfaction, State,
    Tickets,
};
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(60);

fn sms_cfg(port: u16) -> SmsConfig {
    SmsConfig {
        enabled: true,
        port,
        password: "secret".into(),
        quiet_start: "00:00".into(),
        quiet_end: "00:00".into(),
        poll_ms: 50,
        reconnect_min_ms: 100,
        reconnect_max_ms: 1_000,
        ..SmsConfig::default()
    }
}

/// A transition, again while SQLite says another connection holds the write lock.
async fn step(t: &Tickets, id: hotline::tickets::TicketId, a: Action, who: &Actor) {
    for _ in 0..50 {
        match t.transition(id, a.clone(), who).await {
            Ok(_) => return,
            Err(e) if e.to_string().contains("locked") => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{a:?}: {e}"),
        }
    }
    panic!("{a:?}: database stayed locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_ticket_is_asked_by_text_and_3_with_a_reason_reopens_it_supervised() {
    let mut smsc = Smsc::start("hotline", "secret");
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect_url(&format!("sqlite://{}/h.db", dir.path().display()))
        .await
        .unwrap();
    let tickets = Tickets::from_config(db.clone(), &common::tickets_config()).unwrap();
    let shutdown = CancellationToken::new();
    let handle = sms::start(
        sms_cfg(smsc.port),
        db.clone(),
        tickets.clone(),
        shutdown.clone(),
    );
    assert!(handle.link.wait_bound(T).await, "link did not bind");
    let clock = FollowUpConfig {
        interval_secs: 1,
        delay_secs: 2,
        ..FollowUpConfig::default()
    };
    tokio::spawn(follow_up::run(tickets.clone(), clock, shutdown.clone()));

    let phone = "13800138801";
    let t = tickets
        .create(
            NewTicket {
                channel: Channel::Sms,
                kind: Some(Kind::Complaint),
                phone: phone.parse().unwrap(),
                text: "幸福小区门口的路灯坏了".into(),
                address: None,
                area: None,
                recording_path: None,
                language: None,
            },
            &Actor::Resident(phone.parse().unwrap()),
        )
        .await
        .unwrap();
    let urban = DepartmentId("urban_management".into());
    if t.department.as_ref() != Some(&urban) {
        let a = Action::Dispatch {
            department: urban.clone(),
        };
        step(&tickets, t.id, a, &Actor::Operator("ops".into())).await;
    }
    let dept = Actor::Department(urban, "cg".into());
    step(&tickets, t.id, Action::Sign, &dept).await;
    step(
        &tickets,
        t.id,
        Action::Resolve {
            answer: "路灯已修复".into(),
        },
        &dept,
    )
    .await;

    // Nobody clicked anything: the clock asks after the delay.
    smsc.wait_for("the satisfaction question", T, |s| {
        s.messages_to(phone)
            .iter()
            .any(|m| m.text.contains("回复1满意"))
    })
    .await;
    let asked = tickets.get(t.id).await.unwrap();
    assert_eq!(asked.state, State::FollowUp);

    smsc.deliver_text(phone, "3 路灯还是不亮");
    smsc.wait_for("the thanks for the rating", T, |s| {
        s.messages_to(phone)
            .iter()
            .any(|m| m.text.contains("感谢您的评价（不满意）"))
    })
    .await;
    let rated = tickets.get(t.id).await.unwrap();
    assert_eq!(rated.state, State::Supervised);
    assert_eq!(rated.satisfaction, Some(Satisfaction::Unsatisfied));
    let trail = tickets.audit_trail(t.id).await.unwrap();
    let rate = trail.iter().find(|a| a.action == "rate").expect("rated");
    assert!(rate.actor.starts_with("resident:"), "{}", rate.actor);
    assert!(rate.note.contains("路灯还是不亮"), "{}", rate.note);
    // The reason did not become a ticket of its own.
    let mine = tickets
        .list_by_phone(&phone.parse().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    // And the question was asked once.
    let questions = smsc
        .messages_to(phone)
        .iter()
        .filter(|m| m.text.contains("回复1满意"))
        .count();
    assert_eq!(questions, 1);
    shutdown.cancel();
    handle.join().await;
    smsc.kill();
}
