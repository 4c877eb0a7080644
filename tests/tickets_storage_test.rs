//! The ticket core against real databases: the embedded SQLite file and a real PostgreSQL
//! server, with several "nodes" (connection pools or processes) sharing one PostgreSQL.

mod common;

use std::collections::HashSet;

use common::*;
use hotline::store::now_ms;
use hotline::tickets::events::claim_batch;
use hotline::tickets::supervision;
use hotline::tickets::*;

fn new_ticket(text: &str) -> NewTicket {
    NewTicket {
        channel: Channel::Call,
        kind: None,
        phone: "13800000000".parse().unwrap(),
        text: text.into(),
        address: None,
        area: None,
        recording_path: None,
        language: None,
    }
}

fn op() -> Actor {
    Actor::Operator("张敏".into())
}

/// Runs the same scenario on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (_dir, url) = fresh_sqlite();
                ($body)(url).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let url = fresh_pg().await;
                ($body)(url).await;
            }
        }
    };
}

on_both!(create_routes_numbers_and_audits, |url: String| async move {
    let t = tickets_at(&url).await;
    let tk = t
        .create(new_ticket("解放路的路灯坏了三天了"), &op())
        .await
        .unwrap();
    let today = chrono::Utc::now()
        .with_timezone(&t.tz())
        .format("%Y%m%d")
        .to_string();
    assert_eq!(tk.number.as_str(), format!("{today}0001"));
    assert_eq!(tk.department.as_ref().unwrap().as_str(), "urban_management");
    assert_eq!(
        tk.state,
        State::Dispatched,
        "confident routes are dispatched at once"
    );
    assert_eq!(tk.sla, "utilities");
    assert!(tk.deadline > tk.created_at);
    let again = t.by_number(&tk.number).await.unwrap();
    assert_eq!(again, tk);
    let trail = t.audit_trail(tk.id).await.unwrap();
    let steps: Vec<_> = trail.iter().map(|a| (a.action.as_str(), a.to)).collect();
    assert_eq!(
        steps,
        vec![("create", State::Accepted), ("dispatch", State::Dispatched)]
    );
    assert_eq!(trail[0].actor, "operator:张敏");

    let second = t
        .create(new_ticket("你好，我想问个事情"), &op())
        .await
        .unwrap();
    assert!(second.number.as_str().ends_with("0002"));
    assert_eq!(
        second.state,
        State::Accepted,
        "unroutable tickets wait for an operator"
    );
    assert!(second.needs_review);
    let review = t
        .list(&TicketFilter {
            needs_review: Some(true),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(review.len(), 1);
    assert_eq!(review[0].number, second.number);
});

on_both!(
    full_lifecycle_writes_events_in_order,
    |url: String| async move {
        let t = tickets_at(&url).await;
        let tk = t
            .create(new_ticket("小区门口垃圾堆了好几天没人清运"), &op())
            .await
            .unwrap();
        let dept = Actor::Department(DepartmentId("urban_management".into()), "李强".into());
        t.transition(tk.id, Action::Sign, &dept).await.unwrap();
        t.transition(
            tk.id,
            Action::RequestExtension {
                days: 3,
                reason: "需协调环卫车辆".into(),
            },
            &dept,
        )
        .await
        .unwrap();
        let granted = t
            .transition(
                tk.id,
                Action::GrantExtension,
                &Actor::Supervisor("王督查".into()),
            )
            .await
            .unwrap();
        assert!(
            granted.deadline > tk.deadline,
            "a granted extension moves the deadline"
        );
        assert_eq!(granted.state, State::InProgress);
        t.transition(
            tk.id,
            Action::Resolve {
                answer: "已清运完毕".into(),
            },
            &dept,
        )
        .await
        .unwrap();
        t.transition(tk.id, Action::FollowUp, &Actor::System)
            .await
            .unwrap();
        let closed = t
            .transition(
                tk.id,
                Action::Rate {
                    satisfaction: Satisfaction::Satisfied,
                },
                &Actor::Resident(tk.phone.clone()),
            )
            .await
            .unwrap();
        assert_eq!(closed.state, State::Closed);
        assert_eq!(closed.satisfaction, Some(Satisfaction::Satisfied));
        assert_eq!(closed.answer.as_deref(), Some("已清运完毕"));

        // An illegal action is an error and changes nothing.
        let err = t.transition(tk.id, Action::Sign, &dept).await.unwrap_err();
        assert!(matches!(err, TicketsError::Transition(_)), "{err}");
        assert_eq!(t.get(tk.id).await.unwrap().version, closed.version);

        let mut batch = claim_batch(t.db(), "test", 100).await.unwrap();
        let kinds: Vec<EventKind> = batch.events.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(
            kinds,
            vec![
                Accepted,
                Dispatched,
                InProgress,
                ExtensionRequested,
                ExtensionGranted,
                Resolved,
                FollowUp,
                Closed
            ]
        );
        let resolved = &batch.events[5].payload;
        assert_eq!(resolved.answer.as_deref(), Some("已清运完毕"));
        assert_eq!(resolved.department_name.as_deref(), Some("市城市管理局"));
        let _ = batch.conn();
        batch.commit().await.unwrap();
        let next = claim_batch(t.db(), "test", 100).await.unwrap();
        assert!(
            next.events.is_empty(),
            "a committed batch is not handed out again"
        );
    }
);

on_both!(
    unsatisfied_resident_reopens_as_supervised,
    |url: String| async move {
        let t = tickets_at(&url).await;
        let tk = t
            .create(new_ticket("楼下饭店卖过期食品"), &op())
            .await
            .unwrap();
        let d = Actor::Department(DepartmentId("market_regulation".into()), "赵".into());
        t.transition(tk.id, Action::Sign, &d).await.unwrap();
        t.transition(
            tk.id,
            Action::Resolve {
                answer: "已责令整改".into(),
            },
            &d,
        )
        .await
        .unwrap();
        t.transition(tk.id, Action::FollowUp, &Actor::System)
            .await
            .unwrap();
        let r = t
            .transition(
                tk.id,
                Action::Rate {
                    satisfaction: Satisfaction::Unsatisfied,
                },
                &Actor::Resident(tk.phone.clone()),
            )
            .await
            .unwrap();
        assert_eq!(r.state, State::Supervised);
        assert!(r.supervised);
        // The department must act again, and can.
        let r = t
            .transition(
                tk.id,
                Action::Resolve {
                    answer: "已复查并罚款".into(),
                },
                &d,
            )
            .await
            .unwrap();
        assert_eq!(r.state, State::Resolved);
    }
);

on_both!(
    a_stored_ticket_survives_reopening_the_database,
    |url: String| async move {
        let number = {
            let t = tickets_at(&url).await;
            let tk = t.create(new_ticket("家里停水了"), &op()).await.unwrap();
            t.db().close().await;
            tk.number
        };
        let t = tickets_at(&url).await;
        let tk = t.by_number(&number).await.unwrap();
        assert_eq!(tk.text, "家里停水了");
        let next = t.create(new_ticket("又停水了"), &op()).await.unwrap();
        assert_ne!(
            next.number, number,
            "the sequence continues after a restart"
        );
    }
);

on_both!(
    supervision_fires_once_per_point_across_nodes,
    |url: String| async move {
        let a = tickets_at(&url).await;
        let b = tickets_at(&url).await; // a second node on the same database
        let tk = a.create(new_ticket("出租车拒载"), &op()).await.unwrap();
        let start = tk.clock_start.timestamp_millis();
        let due = tk.deadline.timestamp_millis();
        let at_80 = start + (due - start) * 8 / 10;
        let (x, y) = tokio::join!(
            supervision::tick(&a, &[0.75], at_80),
            supervision::tick(&b, &[0.75], at_80)
        );
        assert_eq!(x.unwrap() + y.unwrap(), 1, "one warning between two nodes");
        assert_eq!(
            supervision::tick(&a, &[0.75], at_80 + 1000).await.unwrap(),
            0,
            "and never again"
        );

        let late = due + 60_000;
        let (x, y) = tokio::join!(
            supervision::tick(&a, &[0.75], late),
            supervision::tick(&b, &[0.75], late)
        );
        assert_eq!(
            x.unwrap() + y.unwrap(),
            1,
            "one overdue mark between two nodes"
        );
        let after = a.get(tk.id).await.unwrap();
        assert_eq!(after.state, State::Supervised);
        assert!(after.supervised);
        assert_eq!(
            supervision::tick(&b, &[0.75], late + now_ms() % 1000)
                .await
                .unwrap(),
            0
        );

        let batch = claim_batch(a.db(), "test", 100).await.unwrap();
        let kinds: Vec<EventKind> = batch.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == EventKind::DeadlineWarning)
                .count(),
            1
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == EventKind::Overdue).count(),
            1
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == EventKind::Supervised)
                .count(),
            1
        );
    }
);

on_both!(
    two_consumers_share_events_without_duplicates,
    |url: String| async move {
        let t = tickets_at(&url).await;
        for i in 0..30 {
            t.create(new_ticket(&format!("路灯坏了 {i}")), &op())
                .await
                .unwrap();
        }
        let total = 60; // accepted + dispatched each
        let db1 = t.db().clone();
        let db2 = tickets_at(&url).await.db().clone();
        let take = |db: hotline::store::Db| async move {
            let mut seen = Vec::new();
            loop {
                let batch = claim_batch(&db, "sms-test", 7).await.unwrap();
                if batch.events.is_empty() {
                    break;
                }
                seen.extend(batch.events.iter().map(|e| e.id));
                batch.commit().await.unwrap();
            }
            seen
        };
        let (s1, s2) = tokio::join!(take(db1), take(db2));
        let all: Vec<i64> = s1.iter().chain(s2.iter()).copied().collect();
        let unique: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(all.len(), total, "every event once");
        assert_eq!(unique.len(), total, "no event twice");
    }
);

on_both!(
    concurrent_changes_to_one_ticket_conflict_cleanly,
    |url: String| async move {
        let a = tickets_at(&url).await;
        let b = tickets_at(&url).await;
        let tk = a.create(new_ticket("医院排队太久"), &op()).await.unwrap();
        let d = Actor::Department(DepartmentId("health".into()), "x".into());
        let (r1, r2) = tokio::join!(
            a.transition(tk.id, Action::Sign, &d),
            b.transition(tk.id, Action::Sign, &d)
        );
        let oks = [r1.is_ok(), r2.is_ok()].iter().filter(|x| **x).count();
        assert_eq!(
            oks, 1,
            "exactly one of two simultaneous sign-ins wins: {r1:?} {r2:?}"
        );
        let trail = a.audit_trail(tk.id).await.unwrap();
        assert_eq!(trail.iter().filter(|e| e.action == "sign").count(), 1);
    }
);

/// Two nodes numbering tickets at the same time on one PostgreSQL never hand out a number
/// twice and lose no ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_is_unique_across_nodes_on_postgres() {
    let url = fresh_pg().await;
    let a = tickets_at(&url).await;
    let b = tickets_at(&url).await;
    let run = |t: Tickets| async move {
        let mut out = Vec::new();
        for i in 0..40 {
            out.push(
                t.create(new_ticket(&format!("噪音扰民 {i}")), &op())
                    .await
                    .unwrap()
                    .number,
            );
        }
        out
    };
    let (na, nb) = tokio::join!(run(a.clone()), run(b));
    let all: HashSet<String> = na.iter().chain(nb.iter()).map(|n| n.to_string()).collect();
    assert_eq!(all.len(), 80);
    let stored = a
        .count(&TicketFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored, 80);
    let mut seqs: Vec<u32> = all.iter().map(|n| n[8..].parse().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=80).collect::<Vec<_>>(), "no gaps, no repeats");
}

/// The same with two real `hotline` processes started at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_create_tickets_at_once_on_postgres() {
    let url = fresh_pg().await;
    tickets_at(&url).await; // migrate once
    let spawn = |who: &str| {
        let script = format!(
            "for i in 1 2 3 4 5 6 7 8; do {bin} ticket create --phone 13900000000 --text \"{who} 路灯坏了 $i\" >/dev/null || exit 1; done",
            bin = hotline_bin().display()
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(repo())
            .env("HOTLINE__DATABASE__URL", &url)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap()
    };
    let mut p1 = spawn("甲");
    let mut p2 = spawn("乙");
    assert!(p1.wait().unwrap().success());
    assert!(p2.wait().unwrap().success());
    let t = tickets_at(&url).await;
    let list = t
        .list(&TicketFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 16);
    let numbers: HashSet<_> = list.iter().map(|t| t.number.clone()).collect();
    assert_eq!(numbers.len(), 16);
}
