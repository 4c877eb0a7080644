//! One call centre across two real `hotline serve` nodes on one fresh PostgreSQL: an
//! operator whose desk phone (SIPp, digest auth) registered at node B answers a caller
//! (SIPp pressing 0) held on node A; two callers on two nodes and one free operator: the
//! one who waited longer is served first, the other waits and is served next, and the
//! operator never rings for both at once. Plus the claim itself: two claims of one free
//! agent at the same moment, exactly one wins. The operator's conversation is recorded on
//! the node that bridged it, kept in object storage (`s3s-fs`) and played from the other;
//! the operator hangs up from the desk on the node that does not hold the call.

mod web_support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::acd::{AcdStore, Agent, AgentState, CallStep, Request};
use hotline::store::Db;
use serde_json::json;
use sqlx::Row;
use web_support::common::agents::{
    api, caller, cli_env, events_in, kinds, operator_pg, phone, phone_done, queues_file,
    register_phone, token_at, Phone,
};
use web_support::common::s3::{S3, SECRET};
use web_support::common::serve::{Hotline, Step};
use web_support::{client, common, login_as, password, Browser};

/// A node on the shared database with the test's queue.
fn node(url: &str, queues: &Path) -> Hotline {
    node_with(url, queues, Vec::new())
}

fn node_with(url: &str, queues: &Path, mut env: Vec<(&'static str, String)>) -> Hotline {
    env.extend([
        ("HOTLINE__DATABASE__URL", url.to_string()),
        ("HOTLINE__ACD__QUEUES_FILE", queues.display().to_string()),
        // SIPp's answering scenarios take only INVITEs.
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "3600".into()),
    ]);
    Hotline::start(&env)
}

/// `ops1` sets their state at their desk, served by node `h` only.
async fn at_desk(h: &Hotline, token: &str, state: serde_json::Value) {
    let (status, body) = api(h, token, "POST", "/api/v1/agents/ops1/state", Some(state)).await;
    assert_eq!(status, 200, "{body}");
}

/// Polls the shared database until `sql` (one BIGINT) gives `want`.
async fn until_count(db: &Db, sql: &str, want: i64, h: &[&Hotline]) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(db.pool())
            .await
            .expect("query");
        if n == want {
            return;
        }
        assert!(
            Instant::now() < until,
            "`{sql}` stays {n}, not {want}\n--- a ---\n{}\n--- b ---\n{}",
            h[0].log(),
            h[1].log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `ops1` (account at node a) with a phone registered at node b that answers one call,
/// made ready at b's desk; waits until the shared table says ready. The phone and a token.
async fn ops1_ready_at_b(
    url: &str,
    db: &Db,
    a: &Hotline,
    b: &Hotline,
) -> (std::process::Child, String) {
    operator_pg(a, url, "ops1");
    let port = register_phone(b, "ops1");
    let desk = phone(port, Phone::Answers, 1);
    let ops1 = token_at(url, "ops1").await;
    at_desk(b, &ops1, json!({"state": "ready"})).await;
    until_count(
        db,
        "SELECT COUNT(*) FROM acd_agents WHERE name = 'ops1' AND state = 'ready'",
        1,
        &[a, b],
    )
    .await;
    (desk, ops1)
}

/// The agent `ops1`'s state changes, oldest first.
async fn states(db: &Db) -> Vec<String> {
    sqlx::query_scalar("SELECT state FROM acd_agent_log WHERE agent = 'ops1' ORDER BY id")
        .fetch_all(db.pool())
        .await
        .expect("agent log")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registered_at_one_node_answers_a_caller_held_on_the_other() {
    let url = common::fresh_pg().await;
    let dir = tempfile::tempdir().unwrap();
    let q = queues_file(dir.path(), "ring_secs = 10\nwrapup_secs = 1");
    let s3 = S3::start();
    let a = node_with(&url, &q, s3.node_env(&url, SECRET));
    let b = node_with(&url, &q, s3.node_env(&url, SECRET));
    let db = Db::open(&url, 1).await.unwrap();

    // Ready at the desk on node b: only the shared state tells node a.
    let (desk, ops1) = ops1_ready_at_b(&url, &db, &a, &b).await;

    // The operator's desk is on node b, the call on node a: ops1 hangs up from the desk.
    let desk_hangup = {
        let (db, token, port) = (db.clone(), ops1.clone(), b.http_port);
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(30);
            loop {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM acd_agents WHERE name = 'ops1' AND state = 'talking'",
                )
                .fetch_one(db.pool())
                .await
                .expect("query");
                if n == 1 || Instant::now() > until {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let r = reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}/api/v1/agents/ops1/call"))
                .bearer_auth(token)
                .json(&json!({"action": "hangup"}))
                .send()
                .await
                .expect("node b answers");
            r.status().as_u16()
        })
    };
    let (ok, out) = caller(&a, "13800138201", &[Step::AwaitBye(30_000)]);
    assert!(
        ok,
        "the caller on a got the BYE of ops1's hang-up at b's desk:\n{out}\n--- a ---\n{}\n--- b ---\n{}",
        a.log(),
        b.log()
    );
    assert_eq!(
        desk_hangup.await.unwrap(),
        202,
        "node b took the desk command"
    );
    let (answered, out) = phone_done(desk);
    assert!(
        answered,
        "ops1's phone (registered at b) answered the call held on a and got its BYE:\n{out}\n--- a ---\n{}",
        a.log()
    );

    let ev = events_in(&url, "13800138201", &a).await;
    assert_eq!(
        kinds(&ev),
        [
            "queue_entered",
            "agent_rung",
            "agent_answered",
            "recorded",
            "agent_call_ended"
        ],
        "{ev:?}"
    );
    assert_eq!(ev[1].1["agent"], "ops1");
    assert_eq!(ev[2].1["agent"], "ops1");
    assert_eq!(ev[4].1["side"], "agent", "{ev:?}");
    let row = sqlx::query(
        "SELECT agent, queue, agent_answered_at FROM calls WHERE caller = '13800138201'",
    )
    .fetch_one(db.pool())
    .await
    .expect("the call's record");
    assert_eq!(row.get::<Option<String>, _>(0).as_deref(), Some("ops1"));
    assert_eq!(
        row.get::<Option<String>, _>(1).as_deref(),
        Some("operators")
    );
    assert!(
        row.get::<Option<i64>, _>(2).is_some(),
        "answered by the agent"
    );
    // The conversation, recorded on node a, is in the shared store and plays from node b.
    let stored = ev[3].1["path"].as_str().unwrap_or_default().to_string();
    let key = stored
        .strip_prefix("object:")
        .unwrap_or_else(|| panic!("recorded as {stored:?}, not as an object"));
    assert!(key.starts_with("conversations/"), "{key}");
    let object = std::fs::read(s3.bucket_dir().join(key)).expect("the object is in the bucket");
    let call_id: i64 = sqlx::query_scalar("SELECT id FROM calls WHERE caller = '13800138201'")
        .fetch_one(db.pool())
        .await
        .expect("the call's id");
    hotline::web::accounts::add_user(
        &db,
        &[],
        &hotline::web::accounts::NewAccount {
            name: "sup1".into(),
            display_name: String::new(),
            role: hotline::web::accounts::Role::Supervisor,
            department: None::<hotline::tickets::DepartmentId>,
            password: password("sup1"),
        },
    )
    .await
    .expect("add supervisor");
    let at_b = Browser {
        client: client(),
        base: format!("http://127.0.0.1:{}", b.http_port),
        cookies: Vec::new(),
        csrf: String::new(),
    };
    let mut sup = login_as(at_b, "sup1").await;
    let (status, body) = sup
        .get_bytes(&format!("/console/calls/{call_id}/recordings/0"))
        .await;
    assert_eq!(status, 200, "--- b ---\n{}", b.log());
    assert!(
        body.starts_with(b"RIFF") && body.len() > 8000,
        "{} bytes",
        body.len()
    );
    assert!(
        body == object,
        "node b served other bytes than the store holds"
    );

    // Node a rang the phone; node b (where it registered) had no part in the call.
    assert!(a.log().contains("caller joined the queue"));
    assert!(!b.log().contains("caller joined the queue"));
    // After the call the agent is free again, for every node.
    until_count(
        &db,
        "SELECT COUNT(*) FROM acd_agents WHERE name = 'ops1' AND state = 'ready' AND claimed_by IS NULL",
        1,
        &[&a, &b],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_free_agent_serves_callers_on_two_nodes_one_after_the_other() {
    let url = common::fresh_pg().await;
    let dir = tempfile::tempdir().unwrap();
    let q = queues_file(dir.path(), "ring_secs = 10\nwrapup_secs = 1");
    let a = node(&url, &q);
    let b = node(&url, &q);
    let db = Db::open(&url, 1).await.unwrap();

    operator_pg(&a, &url, "ops1");
    cli_env(
        a.dir.path(),
        &[("HOTLINE__DATABASE__URL", &url)],
        &["user", "add", "--name", "sup1", "--role", "supervisor"],
        "console-pw-123",
    );
    let port = register_phone(&b, "ops1");
    let desk = phone(port, Phone::Answers, 2);
    // Logged in but paused: callers may join, nobody is offered yet.
    let ops1 = token_at(&url, "ops1").await;
    at_desk(&b, &ops1, json!({"state": "paused", "reason": "break"})).await;
    until_count(
        &db,
        "SELECT COUNT(*) FROM acd_agents WHERE name = 'ops1' AND state = 'paused'",
        1,
        &[&a, &b],
    )
    .await;

    let (a, b) = (Arc::new(a), Arc::new(b));
    let first = {
        let a = a.clone();
        tokio::task::spawn_blocking(move || {
            caller(&a, "13800138211", &[Step::Pause(9000), Step::Bye])
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = {
        let b = b.clone();
        tokio::task::spawn_blocking(move || {
            caller(&b, "13800138212", &[Step::Pause(22_000), Step::Bye])
        })
    };
    until_count(
        &db,
        "SELECT COUNT(*) FROM acd_waiting WHERE status = 'waiting'",
        2,
        &[&a, &b],
    )
    .await;
    // A supervisor on either node sees both callers in one queue.
    let token = token_at(&url, "sup1").await;
    for h in [&a, &b] {
        let (status, board) = api(h, &token, "GET", "/api/v1/queues", None).await;
        assert_eq!(status, 200, "{board}");
        let waiting = board["waiting"].as_array().cloned().unwrap_or_default();
        assert_eq!(waiting.len(), 2, "the whole queue on each node: {board}");
        assert_eq!(board["queues"][0]["queue"]["waiting"], 2, "{board}");
    }
    // Ready at the desk on node b, which holds the caller who came second.
    at_desk(&b, &ops1, json!({"state": "ready"})).await;
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert!(
        first.0,
        "first caller:\n{}\n--- a ---\n{}",
        first.1,
        a.log()
    );
    assert!(
        second.0,
        "second caller:\n{}\n--- b ---\n{}",
        second.1,
        b.log()
    );
    let (answered, out) = phone_done(desk);
    assert!(answered, "ops1 answered both calls:\n{out}");

    let mut answered_at = Vec::new();
    for (number, h) in [("13800138211", &a), ("13800138212", &b)] {
        let ev = events_in(&url, number, h).await;
        let rung: Vec<_> = ev.iter().filter(|(k, _)| k == "agent_rung").collect();
        assert_eq!(rung.len(), 1, "rung once, answered: {ev:?}");
        assert_eq!(rung[0].1["result"], "answered", "{ev:?}");
        let row = sqlx::query("SELECT agent, agent_answered_at FROM calls WHERE caller = $1")
            .bind(number)
            .fetch_one(db.pool())
            .await
            .expect("the call's record");
        assert_eq!(row.get::<Option<String>, _>(0).as_deref(), Some("ops1"));
        answered_at.push(row.get::<Option<i64>, _>(1).expect("answered"));
    }
    // The longer-waiting caller (on a) first, the other (on b) next.
    assert!(answered_at[0] < answered_at[1], "{answered_at:?}");
    // One call at a time: every ring of the agent is followed by talk before the next ring.
    let log = states(&db).await;
    let rings: Vec<usize> = (0..log.len()).filter(|i| log[*i] == "ringing").collect();
    assert_eq!(rings.len(), 2, "{log:?}");
    for i in rings {
        assert_eq!(
            log.get(i + 1).map(String::as_str),
            Some("talking"),
            "{log:?}"
        );
    }
}

/// Two nodes take the same free agent at the same moment: one conditional write each, and
/// exactly one of them gets the agent, however often it is tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_claims_of_one_free_agent_exactly_one_wins() {
    let url = common::fresh_pg().await;
    let setup = AcdStore::new(Db::connect_url(&url).await.unwrap());
    let node_a = AcdStore::new(Db::open(&url, 2).await.unwrap());
    let node_b = AcdStore::new(Db::open(&url, 2).await.unwrap());
    let mut ready = Agent::new("ops1", 1);
    ready.request(Request::Ready, 1);
    for round in 0..30 {
        setup.save_agent(&ready, None).await.unwrap();
        let mut ringing = ready.clone();
        ringing.step(CallStep::Offered, 0, 2 + round);
        let (x, y) = tokio::join!(
            node_a.claim_agent(&ringing, &[AgentState::Ready]),
            node_b.claim_agent(&ringing, &[AgentState::Ready]),
        );
        let won = [x.unwrap(), y.unwrap()];
        assert_eq!(
            won.iter().filter(|w| w.is_some()).count(),
            1,
            "round {round}: {won:?}"
        );
        let winner = won.into_iter().flatten().next().unwrap();
        assert_eq!(winner.state, AgentState::Ringing);
    }
    // A paused agent is nobody's to take.
    let mut paused = ready.clone();
    paused.request(Request::Pause(hotline::acd::PauseReason::Meal), 100);
    setup.save_agent(&paused, None).await.unwrap();
    let mut ringing = ready.clone();
    ringing.step(CallStep::Offered, 0, 101);
    assert!(node_a
        .claim_agent(&ringing, &[AgentState::Ready])
        .await
        .unwrap()
        .is_none());
}

/// The node holding an agent's call dies (`kill -9`): the agent is not left talking for
/// ever; once the dead node's hold lapses the other node frees them, and its desk and
/// wallboard show them ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_in_a_call_on_a_node_that_dies_is_freed_by_the_other() {
    let url = common::fresh_pg().await;
    let dir = tempfile::tempdir().unwrap();
    let q = queues_file(dir.path(), "ring_secs = 10\nwrapup_secs = 1");
    let a = Arc::new(node(&url, &q));
    let b = node(&url, &q);
    let db = Db::open(&url, 1).await.unwrap();

    let (desk, ops1) = ops1_ready_at_b(&url, &db, &a, &b).await;
    // The caller's SIPp outlives the dead node (its BYE goes unanswered): not waited for.
    {
        let a = a.clone();
        std::thread::spawn(move || caller(&a, "13800138221", &[Step::Pause(8000), Step::Bye]));
    }
    until_count(
        &db,
        "SELECT COUNT(*) FROM acd_agents WHERE name = 'ops1' AND state = 'talking'",
        1,
        &[&a, &b],
    )
    .await;
    a.kill9();
    common::agents::hang_up_phone(desk);

    until_count(
        &db,
        "SELECT COUNT(*) FROM acd_agents WHERE name = 'ops1' AND state = 'ready' AND claimed_by IS NULL",
        1,
        &[&a, &b],
    )
    .await;
    let freed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM acd_agent_log WHERE agent = 'ops1' AND by_whom = 'node lost'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(freed, 1, "{}", b.log());
    assert!(b
        .log()
        .contains("agent freed: the node holding their call stopped"));
    let (_, list) = api(&b, &ops1, "GET", "/api/v1/agents", None).await;
    let state = list
        .as_array()
        .and_then(|l| l.iter().find(|x| x["name"] == "ops1"))
        .map(|x| x["state"].clone());
    assert_eq!(state, Some(json!("ready")), "{list}");
}
