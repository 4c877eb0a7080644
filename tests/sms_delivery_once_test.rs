//! SMS exactly once across crashes, against the real `hotline` binary and the node SMSC
//! simulator: a text the SMSC hands over twice makes one ticket; a part acknowledged before
//! a `kill -9` is kept, and the whole text becomes one ticket after the restart; notices
//! queued while SMS was off and now too old are expired, not sent; two nodes on one
//! PostgreSQL send each notice once even when a notice waits longer than the lease.

mod common;
#[path = "smsc/harness.rs"]
mod harness;

use std::time::Duration;

use common::serve::Hotline;
use harness::{ucs2_hex, Smsc};
use hotline::store::Db;

const T: Duration = Duration::from_secs(60);

fn sms_env(smsc: &Smsc) -> Vec<(&'static str, String)> {
    vec![
        ("HOTLINE__SMS__ENABLED", "true".into()),
        ("HOTLINE__SMS__PORT", smsc.port.to_string()),
        ("HOTLINE__SMS__PASSWORD", "secret".into()),
        ("HOTLINE__SMS__QUIET_START", "00:00".into()),
        ("HOTLINE__SMS__QUIET_END", "00:00".into()),
        ("HOTLINE__SMS__POLL_MS", "50".into()),
        ("HOTLINE__SMS__RECONNECT_MIN_MS", "100".into()),
        ("HOTLINE__SMS__RECONNECT_MAX_MS", "1000".into()),
    ]
}

async fn scalar(db: &Db, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(arg.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn tickets_of(db: &Db, phone: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT text FROM tickets WHERE phone = $1 ORDER BY id")
        .bind(phone.to_string())
        .fetch_all(db.pool())
        .await
        .unwrap()
}

fn answered_ok(smsc: &Smsc, from: &str) -> usize {
    smsc.events("deliver_resp")
        .iter()
        .filter(|v| v["from"] == from && v["status"] == 0)
        .count()
}

/// The "accepted" notices the SMSC took for `phone`.
fn accepted_notices(smsc: &Smsc, phone: &str) -> Vec<String> {
    smsc.messages_to(phone)
        .into_iter()
        .map(|m| m.text)
        .filter(|t| t.contains("已受理"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_the_smsc_hands_over_twice_makes_one_ticket() {
    let mut smsc = Smsc::start("hotline", "secret");
    let h = Hotline::start(&sms_env(&smsc));
    h.wait_for_log("SMPP bound as transceiver", T);
    let phone = "13800007001";
    smsc.deliver_text(phone, "解放路的路灯坏了三天了，晚上很黑");
    smsc.wait_for("the text acknowledged", T, |s| answered_ok(s, phone) == 1)
        .await;
    // The SMSC did not see that answer in time and delivers the same message again.
    smsc.cmd(serde_json::json!({"cmd": "redeliver"}));
    smsc.wait_for("the copy acknowledged", T, |s| answered_ok(s, phone) == 2)
        .await;
    smsc.wait_for("the accepted notice", T, |s| {
        !accepted_notices(s, phone).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let db = Db::connect_url(&h.db_url()).await.unwrap();
    assert_eq!(tickets_of(&db, phone).await.len(), 1, "{}", h.log());
    assert_eq!(
        accepted_notices(&smsc, phone).len(),
        1,
        "one receipt of the request"
    );
    assert!(h.log().contains("already handled"), "the copy is logged");
}

/// UCS-2 part `seq` of `total` of a concatenated text, as the SMSC hands it over.
fn part(reference: u8, total: u8, seq: u8, text: &str) -> String {
    format!(
        "050003{reference:02x}{total:02x}{seq:02x}{}",
        ucs2_hex(text)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_acknowledged_before_kill_9_is_kept_and_the_whole_text_is_one_ticket() {
    let mut smsc = Smsc::start("hotline", "secret");
    let env = sms_env(&smsc);
    let mut h = Hotline::start(&env);
    h.wait_for_log("SMPP bound as transceiver", T);
    let phone = "13800007002";
    let (first, second) = ("人民路和解放路路口的红绿灯", "坏了一整天车辆乱行很危险");
    smsc.deliver_hex(phone, &part(0x2a, 2, 1, first), 8, 0x40);
    smsc.wait_for("part 1 acknowledged", T, |s| answered_ok(s, phone) == 1)
        .await;

    h.kill9();
    h.restart(&env);
    h.wait_for_log("SMPP bound as transceiver", T);
    smsc.deliver_hex(phone, &part(0x2a, 2, 2, second), 8, 0x40);
    smsc.wait_for("part 2 acknowledged", T, |s| answered_ok(s, phone) == 2)
        .await;
    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while tickets_of(&db, phone).await.is_empty() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tickets = tickets_of(&db, phone).await;
    assert_eq!(
        tickets,
        vec![format!("{first}{second}")],
        "one ticket with the whole text:\n{}",
        h.log()
    );

    // A carrier may hand a part over again later: still one message.
    smsc.deliver_hex(phone, &part(0x2a, 2, 1, first), 8, 0x40);
    smsc.wait_for("the copy of part 1 acknowledged", T, |s| {
        answered_ok(s, phone) == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(tickets_of(&db, phone).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_older_than_their_max_age_expire_instead_of_being_sent() {
    // SMS off: the ticket's notices queue in the outbox.
    let mut h = Hotline::start(&[]);
    let old_phone = "13800007003";
    let out = std::process::Command::new(common::hotline_bin())
        .args([
            "ticket",
            "create",
            "--phone",
            old_phone,
            "--kind",
            "complaint",
        ])
        .args(["--text", "解放路的路灯坏了三天了"])
        .current_dir(common::repo())
        .env("HOTLINE__DATA_DIR", h.dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let queued = "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND state = 'pending'";
    let until = std::time::Instant::now() + T;
    while scalar(&db, queued, old_phone).await < 2 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        scalar(&db, queued, old_phone).await,
        2,
        "accepted and dispatched queued"
    );

    // SMS comes on long after (here: the max ages are 3 s and the notices are older).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut smsc = Smsc::start("hotline", "secret");
    let mut env = sms_env(&smsc);
    env.push(("HOTLINE__SMS__MAX_AGE_SECS", "3".into()));
    env.push(("HOTLINE__SMS__ESSENTIAL_MAX_AGE_SECS", "3".into()));
    h.restart(&env);
    h.wait_for_log("SMPP bound as transceiver", T);
    // A fresh request is answered at once: the link works.
    let new_phone = "13800007004";
    smsc.deliver_text(new_phone, "运河街道的井盖丢了，很危险");
    smsc.wait_for("the fresh notice", T, |s| {
        !accepted_notices(s, new_phone).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert!(
        smsc.acked_to(old_phone).is_empty(),
        "stale notices are not sent"
    );
    let expired = "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND state = 'expired'";
    assert_eq!(scalar(&db, expired, old_phone).await, 2);
    assert!(h.log().contains("expired unsent"), "{}", h.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_send_each_notice_once_when_notices_wait_longer_than_the_lease() {
    let url = common::fresh_pg().await;
    let mut smsc = Smsc::start("hotline", "secret");
    let mut env = sms_env(&smsc);
    env.push(("HOTLINE__DATABASE__URL", url.clone()));
    // One notice a second per node, a 2-second lease: one phone's notices wait in line
    // far longer than the lease.
    env.push(("HOTLINE__SMS__RATE_PER_SEC", "1".into()));
    env.push(("HOTLINE__SMS__LEASE_SECS", "2".into()));
    let a = Hotline::start(&env);
    let b = Hotline::start(&env);
    a.wait_for_log("SMPP bound as transceiver", T);
    b.wait_for_log("SMPP bound as transceiver", T);
    let phone = "13800007005";
    let texts: Vec<String> = (1..=6)
        .map(|i| format!("第{i}号楼门口的路灯坏了，晚上很黑"))
        .collect();
    for t in &texts {
        smsc.deliver_text(phone, t);
    }
    let db = Db::connect_url(&url).await.unwrap();
    let until = std::time::Instant::now() + T;
    while tickets_of(&db, phone).await.len() < texts.len() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(tickets_of(&db, phone).await.len(), texts.len());
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox WHERE phone = $1")
        .bind(phone)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let sent =
        "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND state IN ('sent', 'delivered')";
    let until = std::time::Instant::now() + Duration::from_secs(90);
    while scalar(&db, sent, phone).await < notices && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(scalar(&db, sent, phone).await, notices, "every notice sent");

    let got: Vec<String> = smsc
        .messages_to(phone)
        .into_iter()
        .map(|m| m.text)
        .collect();
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        got.len(),
        unique.len(),
        "each notice once at the SMSC: {got:#?}"
    );
    assert_eq!(got.len() as i64, notices);
}
