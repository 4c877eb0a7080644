//! The follow-up clock (回访) on both databases: a resolved ticket past the delay gets its
//! satisfaction question once, however many nodes and passes look; a question nobody
//! answered closes the ticket once the configured time is up, with that said in its audit
//! trail; a ticket rated meanwhile is left alone. Survey calls are due only in office hours,
//! each attempt claimed by one node, spaced, and counted.

mod common;

use common::*;
use hotline::store::now_ms;
use hotline::tickets::follow_up::{claim_due_surveys, record_survey, tick, SurveyResult};
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
                language: None,
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

/// The first moment from `after` on (whole hours, Shanghai time) that `pred` accepts.
fn first_hour(t: &Tickets, after: i64, pred: impl Fn(bool) -> bool) -> i64 {
    let mut at = after - after % 3_600_000 + 3_600_000;
    let cal = &t.rules().calendar;
    loop {
        let when = chrono::DateTime::from_timestamp_millis(at).unwrap();
        if pred(cal.is_working_time(when)) {
            return at;
        }
        at += 3_600_000;
    }
}

async fn survey_attempts_are_claimed_once_in_working_hours(url: &str) {
    let node_a = tickets_at(url).await;
    let node_b = tickets_at(url).await;
    let t = resolved(&node_a, "13800138511").await;
    let mut c = cfg();
    c.sms_wait_secs = 600;
    c.survey_call.enabled = true;
    c.survey_call.attempts = 2;
    c.survey_call.retry_secs = 3_600;
    tick(&node_a, &c, now_ms() + 61_000).await.unwrap();
    assert_eq!(node_a.get(t.id).await.unwrap().state, State::FollowUp);
    let due_from = now_ms() + 601_000;

    // Outside office hours nobody is called, however overdue the answer is.
    let night = first_hour(&node_a, due_from, |working| !working);
    assert!(claim_due_surveys(&node_a, &c, night)
        .await
        .unwrap()
        .is_empty());

    // In office hours one node gets the first attempt; the other, at the same moment, none.
    let day = first_hour(&node_a, due_from, |working| working);
    let first = claim_due_surveys(&node_a, &c, day).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].ticket, first[0].attempt), (t.id, 1));
    assert_eq!(first[0].answer.as_deref(), Some("路灯已修复"));
    assert!(claim_due_surveys(&node_b, &c, day)
        .await
        .unwrap()
        .is_empty());
    record_survey(&node_a, &first[0], SurveyResult::NoAnswer, None)
        .await
        .unwrap();
    // The retry comes after the gap, in office hours again; then no more.
    let retry = first_hour(&node_a, day + 3_600_000, |working| working);
    let second = claim_due_surveys(&node_b, &c, retry).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempt, 2);
    record_survey(&node_b, &second[0], SurveyResult::Busy, None)
        .await
        .unwrap();
    let later = first_hour(&node_a, retry + 7_200_000, |working| working);
    assert!(claim_due_surveys(&node_a, &c, later)
        .await
        .unwrap()
        .is_empty());
    let notes: Vec<String> = node_a
        .audit_trail(t.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "survey_call")
        .map(|a| format!("{} {}", a.actor, a.note))
        .collect();
    assert_eq!(
        notes,
        [
            "survey-call 第1次回访电话：无人接听",
            "survey-call 第2次回访电话：占线"
        ]
    );
}

#[tokio::test]
async fn survey_attempts_are_claimed_once_in_working_hours_sqlite() {
    let (_dir, url) = fresh_sqlite();
    survey_attempts_are_claimed_once_in_working_hours(&url).await;
}

#[tokio::test]
async fn survey_attempts_are_claimed_once_in_working_hours_postgres() {
    let url = fresh_pg().await;
    survey_attempts_are_claimed_once_in_working_hours(&url).await;
}
