//! The scorecard reads the same figures from PostgreSQL as from SQLite: the same calls and
//! ticket steps written through the domain services into each database give the same
//! report, by total and by department (the audit rows keep the department on both).

mod common;

use hotline::calls::{CallEnd, CallEvent, Calls, HangupSide, NewCall};
use hotline::scorecard::{GroupBy, Kpi, Report, Scorecard, ScorecardConfig};
use hotline::store::Db;
use hotline::tickets::{Action, Actor, Channel, DepartmentId, NewTicket, Satisfaction};

async fn a_morning(url: &str) -> (Report, Report) {
    let mut cfg = common::tickets_config();
    cfg.auto_dispatch = false;
    let tickets =
        hotline::tickets::Tickets::from_config(Db::connect_url(url).await.expect("db"), &cfg)
            .expect("demo rules");
    let calls = Calls::new(Db::connect_url(url).await.expect("db"));
    for (n, queue_wait, person) in [
        ("1", Some(4_000), true),
        ("2", Some(30_000), false),
        ("3", None, false),
    ] {
        let id = calls
            .start(&NewCall {
                call_id: &format!("{n}@pg"),
                caller: "13800000000",
                called: "12345",
                dialplan: "12345",
            })
            .await
            .expect("start");
        if let Some(wait_ms) = queue_wait {
            calls
                .event(
                    id,
                    &CallEvent::QueueEntered {
                        queue: "operators".into(),
                    },
                )
                .await
                .expect("queue");
            let ev = if person {
                CallEvent::AgentAnswered {
                    queue: "operators".into(),
                    agent: "ops1".into(),
                    wait_ms,
                }
            } else {
                CallEvent::Abandoned {
                    queue: "operators".into(),
                    wait_ms,
                }
            };
            calls.event(id, &ev).await.expect("event");
        }
        tokio::time::sleep(std::time::Duration::from_millis(if n == "3" {
            0
        } else {
            3_100
        }))
        .await;
        calls
            .end(
                id,
                &CallEnd {
                    outcome: "completed",
                    hangup_side: HangupSide::Caller,
                    hangup_reason: "bye",
                    nodes: &[],
                    prompts: &[],
                    digits: "",
                    ticket_number: None,
                    recording_path: None,
                },
            )
            .await
            .expect("end");
    }
    let op = Actor::Operator("ops1".into());
    let water = Actor::Department(DepartmentId("water".into()), "w".into());
    let cgj = Actor::Department(DepartmentId("urban_management".into()), "c".into());
    let mut ids = Vec::new();
    for phone in ["13900000011", "13900000012"] {
        let t = tickets
            .create(
                NewTicket {
                    channel: Channel::Call,
                    kind: None,
                    phone: phone.parse().expect("phone"),
                    text: "建设路有商户占道经营".into(),
                    address: None,
                    area: Some("运河街道".into()),
                    recording_path: None,
                    language: None,
                },
                &op,
            )
            .await
            .expect("ticket");
        ids.push(t.id);
    }
    let dispatch = |d: &str| Action::Dispatch {
        department: DepartmentId(d.into()),
    };
    for (id, action, who) in [
        (ids[0], dispatch("water"), &op),
        (
            ids[0],
            Action::Return {
                reason: "不属于本单位".into(),
            },
            &water,
        ),
        (ids[0], dispatch("urban_management"), &op),
        (ids[0], Action::Sign, &cgj),
        (
            ids[0],
            Action::Resolve {
                answer: "已处理".into(),
            },
            &cgj,
        ),
        (ids[0], Action::FollowUp, &Actor::System),
        (
            ids[0],
            Action::Rate {
                satisfaction: Satisfaction::Unsatisfied,
            },
            &Actor::System,
        ),
        (
            ids[1],
            Action::AnswerDirectly {
                answer: "已答复".into(),
            },
            &op,
        ),
        (
            ids[1],
            Action::Rate {
                satisfaction: Satisfaction::Satisfied,
            },
            &Actor::System,
        ),
    ] {
        if let Err(e) = tickets.transition(id, action.clone(), who).await {
            panic!("{action:?} on {id}: {e}");
        }
    }
    let sc = Scorecard::new(tickets, ScorecardConfig::default());
    let today = sc.today();
    (
        sc.report(&today, GroupBy::Total).await.expect("total"),
        sc.report(&today, GroupBy::Department)
            .await
            .expect("by department"),
    )
}

fn values(r: &Report) -> Vec<(String, Kpi, Option<f64>)> {
    r.rows
        .iter()
        .chain(std::iter::once(&r.total))
        .flat_map(|row| row.kpis.iter().map(|k| (row.key.clone(), k.kpi, k.value)))
        .filter(|(_, k, _)| *k != Kpi::CallsPerAgentHour)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_sqlite_give_the_same_scorecard() {
    let (_dir, sqlite) = common::fresh_sqlite();
    let pg = common::fresh_pg().await;
    let (lite_total, lite_dept) = a_morning(&sqlite).await;
    let (pg_total, pg_dept) = a_morning(&pg).await;
    let t = &pg_total.total;
    assert_eq!(
        (
            t.calls.offered,
            t.calls.short,
            t.calls.person_answered,
            t.calls.abandoned
        ),
        (2, 1, 1, 1),
        "{t:?}"
    );
    assert_eq!(t.kpi(Kpi::ServiceLevel2).and_then(|k| k.value), Some(50.0));
    assert_eq!(t.tickets.received, 2);
    assert_eq!(t.kpi(Kpi::Satisfaction).and_then(|k| k.value), Some(50.0));
    let water = pg_dept
        .rows
        .iter()
        .find(|r| r.key == "water")
        .expect("water");
    assert_eq!((water.tickets.received, water.tickets.returned), (1, 1));
    assert_eq!(values(&pg_total), values(&lite_total));
    assert_eq!(values(&pg_dept), values(&lite_dept));
}
