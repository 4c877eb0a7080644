//! SMS against a real SMSC (node-smpp simulator on loopback): binding, the notices of a
//! ticket's lifecycle with their encoding and parts, incoming texts, CX and 1/2/3 replies,
//! and bad input.

#[path = "smsc/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{ucs2_hex, Smsc};
use hotline::sms::{self, LinkState, SmsConfig};
use hotline::store::Db;
use hotline::tickets::{
    Action, Actor, Channel, DepartmentId, NewTicket, State, Tickets, TicketsConfig,
};
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(60);

pub struct World {
    pub db: Db,
    pub tickets: Tickets,
    pub sms: sms::SmsHandle,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

pub fn test_cfg(port: u16, password: &str) -> SmsConfig {
    SmsConfig {
        enabled: true,
        port,
        password: password.into(),
        quiet_start: "00:00".into(),
        quiet_end: "00:00".into(),
        poll_ms: 50,
        reconnect_min_ms: 100,
        reconnect_max_ms: 1_000,
        retry_base_ms: 200,
        retry_max_ms: 2_000,
        enquire_link_secs: 5,
        response_timeout_secs: 5,
        ..SmsConfig::default()
    }
}

async fn world(cfg: SmsConfig) -> World {
    // RUST_LOG=hotline=debug shows what the SMS channel did when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect_url(&format!("sqlite://{}/h.db", dir.path().display()))
        .await
        .unwrap();
    let tickets = Tickets::from_config(db.clone(), &TicketsConfig::default()).unwrap();
    let shutdown = CancellationToken::new();
    let handle = sms::start(cfg, db.clone(), tickets.clone(), shutdown.clone());
    World {
        db,
        tickets,
        sms: handle,
        shutdown,
        _dir: dir,
    }
}

fn op() -> Actor {
    Actor::Operator("test".into())
}

/// Transition, retrying SQLite's "database is locked" on a read→write upgrade (a reader
/// that then writes can lose the race against another writer in WAL mode).
async fn retry_locked(
    w: &World,
    id: hotline::tickets::TicketId,
    a: Action,
) -> hotline::tickets::Ticket {
    for _ in 0..50 {
        match w.tickets.transition(id, a.clone(), &op()).await {
            Ok(t) => return t,
            Err(e) if e.to_string().contains("locked") => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("{a:?}: {e}"),
        }
    }
    panic!("{a:?}: database stayed locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_bind_fails_clearly() {
    let smsc = Smsc::start("hotline", "right-pw");
    let w = world(test_cfg(smsc.port, "wrong-pw")).await;
    let mut state = w.sms.link.state();
    for _ in 0..600 {
        state = w.sms.link.state();
        if matches!(state, LinkState::BindRefused(_)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match &state {
        LinkState::BindRefused(why) => {
            assert!(why.contains("Rbindfail") || why.contains("bind"), "{why}")
        }
        other => panic!("expected a refused bind, got {other:?}"),
    }
    let binds = smsc.events("bind");
    assert!(!binds.is_empty() && binds.iter().all(|b| b["ok"] == false));
    assert!(smsc.events("submit_sm").is_empty());
    w.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_lifecycle_texts_the_resident_at_each_step() {
    let smsc = Smsc::start("hotline", "secret");
    let w = world(test_cfg(smsc.port, "secret")).await;
    assert!(w.sms.link.wait_bound(T).await, "link did not bind");
    let phone = "13800001111";
    let t = w
        .tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: phone.parse().unwrap(),
                text: "解放路的路灯坏了三天了，晚上很黑".into(),
                address: None,
                area: None,
                recording_path: None,
                language: None,
            },
            &op(),
        )
        .await
        .unwrap();
    let number = t.number.to_string();
    let mut t = t;
    if t.state != State::Dispatched {
        t = retry_locked(
            &w,
            t.id,
            Action::Dispatch {
                department: DepartmentId("urban_management".into()),
            },
        )
        .await;
    }
    smsc.wait_for("accepted and dispatched", T, |s| {
        s.messages_to(phone).len() >= 2
    })
    .await;
    for a in [
        Action::Sign,
        Action::RequestExtension {
            days: 2,
            reason: "需要采购灯具".into(),
        },
        Action::GrantExtension,
        Action::Resolve {
            answer: "经现场核查，解放路路灯线路老化，已更换电缆和灯具，恢复照明。".repeat(8),
        },
        Action::FollowUp,
    ] {
        t = retry_locked(&w, t.id, a).await;
    }
    smsc.wait_for("five notices", T, |s| s.messages_to(phone).len() >= 5)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = smsc.messages_to(phone);
    let texts: Vec<&str> = msgs.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        msgs.len(),
        5,
        "{texts:#?} {:?}",
        smsc.acked_to(phone).first()
    );
    for m in &msgs {
        assert!(m.text.starts_with("【12345】"), "{}", m.text);
        assert_eq!(m.data_coding, 8, "Chinese text goes as UCS-2");
        assert!(m.udh_ok);
    }
    assert!(
        texts[0].contains("受理") && texts[0].contains(&number),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("市城市管理局") && texts[1].contains(&number),
        "{}",
        texts[1]
    );
    assert!(texts[2].contains("延期"), "{}", texts[2]);
    assert!(
        texts[3].contains("已办结") && texts[3].contains("更换电缆"),
        "{}",
        texts[3]
    );
    // The long answer is cut at the part limit (4) and ends with the way to ask more.
    assert_eq!(msgs[3].parts, 4);
    assert!(texts[3].ends_with("…详询12345"), "{}", texts[3]);
    assert_eq!(texts[3].encode_utf16().count(), 4 * 67);
    assert!(texts[4].contains("回复1满意"), "{}", texts[4]);
    // Each part of a concatenated message is a UCS-2 submit with esm_class UDHI.
    let parts = smsc.acked_to(phone);
    let multipart: usize = msgs.iter().filter(|m| m.parts > 1).map(|m| m.parts).sum();
    let with_udhi = parts
        .iter()
        .filter(|p| p["esm_class"].as_u64().unwrap_or(0) & 0x40 != 0)
        .count();
    assert_eq!(with_udhi, multipart);
    // Delivery receipts come back and are recorded.
    smsc.wait_for("receipts", T, |s| s.events("receipt").len() >= 8)
        .await;
    let mut delivered = 0i64;
    for _ in 0..200 {
        delivered = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sms_outbox WHERE phone = $1 AND state = 'delivered'",
        )
        .bind(phone)
        .fetch_one(w.db.pool())
        .await
        .unwrap();
        if delivered == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 5);
    w.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_text_becomes_a_ticket_then_cx_and_rating_work() {
    let mut smsc = Smsc::start("hotline", "secret");
    let w = world(test_cfg(smsc.port, "secret")).await;
    assert!(w.sms.link.wait_bound(T).await);
    let phone = "13800002222";
    smsc.deliver_text(phone, "幸福小区门口的路灯坏了好几天了，请尽快修理");
    smsc.wait_for("accepted reply", T, |s| {
        s.messages_to(phone).iter().any(|m| m.text.contains("受理"))
    })
    .await;
    let list = w
        .tickets
        .list_by_phone(&phone.parse().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let t = &list[0];
    assert_eq!(t.channel, Channel::Sms);
    assert!(t.text.contains("路灯"));
    let number = t.number.to_string();
    assert!(smsc.messages_to(phone)[0].text.contains(&number));
    // The SMSC got its deliver_sm_resp with status 0.
    assert!(smsc.events("deliver_resp").iter().any(|r| r["status"] == 0));

    smsc.deliver_text(phone, "CX");
    smsc.wait_for("CX answer", T, |s| {
        s.messages_to(phone).iter().any(|m| {
            m.text.contains("工单")
                && m.text.contains("：")
                && m.text.contains(&number)
                && !m.text.contains("受理，")
        })
    })
    .await;
    smsc.deliver_text(phone, &format!("CX {number}"));
    smsc.deliver_text("13800009999", &format!("CX {number}"));
    smsc.wait_for("CX of someone else's ticket", T, |s| {
        !s.messages_to("13800009999").is_empty()
    })
    .await;
    assert!(
        !smsc.messages_to("13800009999")[0].text.contains(&number),
        "another phone must not learn the ticket"
    );

    // Rating 3 on the satisfaction question reopens the ticket as supervised.
    let mut tk = w.tickets.get(t.id).await.unwrap();
    if tk.state == State::Accepted {
        tk = retry_locked(
            &w,
            tk.id,
            Action::Dispatch {
                department: DepartmentId("urban_management".into()),
            },
        )
        .await;
    }
    for a in [
        Action::Sign,
        Action::Resolve {
            answer: "已修复。".into(),
        },
        Action::FollowUp,
    ] {
        tk = retry_locked(&w, tk.id, a).await;
    }
    smsc.wait_for("satisfaction question", T, |s| {
        s.messages_to(phone)
            .iter()
            .any(|m| m.text.contains("回复1满意"))
    })
    .await;
    smsc.deliver_text(phone, "3");
    smsc.wait_for("rating thanks", T, |s| {
        s.messages_to(phone)
            .iter()
            .any(|m| m.text.contains("感谢您的评价（不满意）"))
    })
    .await;
    let tk = w.tickets.get(t.id).await.unwrap();
    assert_eq!(tk.state, State::Supervised);
    assert!(tk.supervised);

    // TD: no more non-essential notices.
    smsc.deliver_text(phone, "TD");
    smsc.wait_for("opt-out answer", T, |s| {
        s.messages_to(phone).iter().any(|m| m.text.contains("退订"))
    })
    .await;
    let opted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_optouts WHERE phone = $1")
        .bind(phone)
        .fetch_one(w.db.pool())
        .await
        .unwrap();
    assert_eq!(opted, 1);
    w.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carrier_split_message_is_reassembled_before_use() {
    let mut smsc = Smsc::start("hotline", "secret");
    let w = world(test_cfg(smsc.port, "secret")).await;
    assert!(w.sms.link.wait_bound(T).await);
    let phone = "13800003333";
    let text = "我家楼下的餐馆每天晚上油烟很大，噪音也很大，影响居民休息，已经持续两个多月了，多次和老板沟通都没有用，希望有关部门尽快来处理一下。".repeat(2);
    let units: Vec<u16> = text.encode_utf16().collect();
    let chunks: Vec<&[u16]> = units.chunks(67).collect();
    let total = chunks.len() as u8;
    // Send the parts out of order.
    for i in (0..chunks.len()).rev() {
        let s: String = String::from_utf16(chunks[i]).unwrap();
        let hex = format!("050003a1{:02x}{:02x}{}", total, i + 1, ucs2_hex(&s));
        smsc.deliver_hex(phone, &hex, 8, 0x40);
    }
    smsc.wait_for("accepted reply", T, |s| !s.messages_to(phone).is_empty())
        .await;
    let list = w
        .tickets
        .list_by_phone(&phone.parse().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "one ticket for one message");
    // Tickets normalise punctuation; every character arrived, in order.
    assert_eq!(list[0].text.chars().count(), text.chars().count());
    assert!(list[0].text.starts_with("我家楼下的餐馆") && list[0].text.ends_with("处理一下。"));
    w.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_logged_and_answered_without_a_crash() {
    let mut smsc = Smsc::start("hotline", "secret");
    let mut cfg = test_cfg(smsc.port, "secret");
    cfg.max_incoming_chars = 500;
    let w = world(cfg).await;
    assert!(w.sms.link.wait_bound(T).await);
    // Invalid UCS-2 (odd length, then an unpaired surrogate): polite help.
    smsc.deliver_hex("13800004441", "4f60597d00", 8, 0);
    smsc.deliver_hex("13800004442", "d8000041", 8, 0);
    // Empty text: help.
    smsc.deliver_hex("13800004443", "", 8, 0);
    smsc.wait_for("help replies", T, |s| {
        ["13800004441", "13800004443"]
            .iter()
            .all(|p| s.messages_to(p).iter().any(|m| m.text.contains("CX")))
    })
    .await;
    // An unknown PDU (command_id 0x00000077): answered with generic_nack or the link rebinds.
    smsc.cmd(serde_json::json!({"cmd": "raw", "hex": "00000010000000770000000000000099"}));
    // A 10 000-character message in 150 parts: becomes one ticket, cut to the limit.
    let phone = "13800004444";
    let text: String = "噪".repeat(10_000);
    let units: Vec<u16> = text.encode_utf16().collect();
    let chunks: Vec<&[u16]> = units.chunks(67).collect();
    for (i, c) in chunks.iter().enumerate() {
        let s = String::from_utf16(c).unwrap();
        smsc.deliver_hex(
            phone,
            &format!("0500037b{:02x}{:02x}{}", chunks.len(), i + 1, ucs2_hex(&s)),
            8,
            0x40,
        );
    }
    smsc.wait_for("answer to the long message", T, |s| {
        !s.messages_to(phone).is_empty()
    })
    .await;
    let list = w
        .tickets
        .list_by_phone(&phone.parse().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].text.chars().count(), 500);
    // Still serving after all that.
    smsc.deliver_text("13800004445", "CX");
    smsc.wait_for("CX after bad input", T, |s| {
        !s.messages_to("13800004445").is_empty()
    })
    .await;
    let _ = Arc::new(());
    w.shutdown.cancel();
}
