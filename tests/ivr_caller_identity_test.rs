//! Who may hear a ticket's status on the phone, against the real `hotline serve` and real
//! SIPp callers: the From header proves nothing; a P-Asserted-Identity does, but only from
//! a `[sip] trusted_peers` carrier; wrong last-four tries are counted across calls and lock
//! the ticket on the phone and on the public status page alike; what callers type is not
//! in the log.

mod common;

use std::time::{Duration, Instant};

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use hotline::tickets::*;
use sqlx::Row;

/// The prompts of the finished call from `caller`.
async fn prompts_of(db: &Db, caller: &str) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let row = sqlx::query(
            "SELECT prompts FROM calls WHERE caller = $1 AND ended_at IS NOT NULL
             ORDER BY id DESC LIMIT 1",
        )
        .bind(caller)
        .fetch_optional(db.pool())
        .await
        .expect("query calls");
        if let Some(r) = row {
            let p: String = r.get(0);
            return serde_json::from_str(&p).expect("prompts json");
        }
        assert!(Instant::now() < until, "no finished call from {caller}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One SIPp call from `caller` that types `keys` (RFC 4733) over the greeting, with
/// `header` added to its INVITE, then ends with `end`.
fn call(h: &Hotline, caller: &str, header: Option<&str>, keys: &str, end: Vec<Step>) {
    let dir = h.dir.path();
    let tag = rand::random::<u32>();
    let k = dir.join(format!("keys-{tag}.pcap"));
    pcap::dtmf(&k, keys, 120, 101);
    let mut x = scenario(
        caller,
        &[vec![Step::Pause(800), Step::Pcap(k)], end].concat(),
    );
    if let Some(hd) = header {
        x = x.replacen(
            "Max-Forwards: 70\nContent-Type: application/sdp",
            &format!("Max-Forwards: 70\n{hd}\nContent-Type: application/sdp"),
            1,
        );
        assert!(x.contains(hd), "header placed in the INVITE");
    }
    let file = dir.join(format!("scenario-{caller}-{tag}.xml"));
    std::fs::write(&file, x).expect("scenario");
    let (ok, out) = sipp(h, &file, "12345", &[]);
    assert!(ok, "SIPp call failed:\n{out}\n--- log ---\n{}", h.log());
}

async fn ticket_from(h: &Hotline, phone: PhoneNumber) -> Ticket {
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let tickets = Tickets::from_config(db, &common::tickets_config()).expect("rules");
    tickets
        .create(
            NewTicket {
                channel: Channel::Web,
                kind: Some(Kind::Complaint),
                phone,
                text: "解放路的路灯坏了三天了".into(),
                address: None,
                area: None,
                recording_path: None,
                language: None,
            },
            &Actor::Operator("test".into()),
        )
        .await
        .expect("ticket")
}

/// Waits for the menus to say goodbye and hang up.
fn hotline_hangs_up() -> Vec<Step> {
    vec![Step::AwaitBye(90_000)]
}

/// Listens for a while, then hangs up.
fn caller_hangs_up() -> Vec<Step> {
    vec![Step::Pause(20_000), Step::Bye]
}

fn told_status(prompts: &[String]) -> bool {
    prompts.iter().any(|p| p.starts_with("state_"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_from_header_nor_an_untrusted_asserted_identity_proves_the_caller() {
    // The log level a city runs with: the config's default, no RUST_LOG.
    let h = Hotline::start(&[("RUST_LOG", String::new())]);
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let t = ticket_from(&h, "13800138011".parse().unwrap()).await;

    // From names the ticket's phone: still asked for the last four digits, told nothing.
    call(
        &h,
        "13800138011",
        None,
        &format!("1{}#", t.number),
        hotline_hangs_up(),
    );
    let p = prompts_of(&db, "13800138011").await;
    assert!(p.contains(&"enter_last4".to_string()), "{p:?}");
    assert!(!told_status(&p), "a From header opens nothing: {p:?}");

    // An asserted identity from an address that is not a trusted peer is ignored.
    call(
        &h,
        "13700000001",
        Some("P-Asserted-Identity: <tel:+8613800138011>"),
        &format!("1{}#", t.number),
        hotline_hangs_up(),
    );
    let p = prompts_of(&db, "13700000001").await;
    assert!(p.contains(&"enter_last4".to_string()), "{p:?}");
    assert!(!told_status(&p), "{p:?}");

    // The typed ticket number and the callers' numbers stay out of the log.
    let log = h.log();
    assert!(
        log.contains("ivr call finished"),
        "the log is being written"
    );
    for secret in [t.number.as_str(), "13800138011", "13700000001"] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            lines.is_empty(),
            "`{secret}` is in the log:\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_carriers_asserted_number_opens_its_own_ticket_without_digits() {
    let h = Hotline::start(&[("HOTLINE__SIP__TRUSTED_PEERS", r#"["127.0.0.1/32"]"#.into())]);
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let t = ticket_from(&h, "13800138012".parse().unwrap()).await;
    call(
        &h,
        "13700000002",
        Some("P-Asserted-Identity: \"Resident\" <sip:+8613800138012@carrier.example;user=phone>"),
        &format!("1{}#", t.number),
        hotline_hangs_up(),
    );
    let p = prompts_of(&db, "13700000002").await;
    assert!(!p.contains(&"enter_last4".to_string()), "{p:?}");
    assert!(p.contains(&"state_dispatched".to_string()), "{p:?}");

    // The carrier asserting another number: asked for the digits like anyone.
    call(
        &h,
        "13700000003",
        Some("P-Asserted-Identity: <tel:+8613912345678>"),
        &format!("1{}#", t.number),
        hotline_hangs_up(),
    );
    let p = prompts_of(&db, "13700000003").await;
    assert!(p.contains(&"enter_last4".to_string()), "{p:?}");
    assert!(!told_status(&p), "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_digits_across_calls_lock_the_ticket_on_the_phone_and_the_status_page() {
    let h = Hotline::start(&[(
        "HOTLINE__TICKETS__STATUS_LOOKUP__TICKET_FAILURES",
        "2".into(),
    )]);
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let t = ticket_from(&h, "13800138013".parse().unwrap()).await;
    // Two strangers, one wrong guess each, in separate calls.
    for (caller, guess) in [("13700000011", "1111"), ("13700000012", "2222")] {
        call(
            &h,
            caller,
            None,
            &format!("1{}#{guess}", t.number),
            caller_hangs_up(),
        );
        let p = prompts_of(&db, caller).await;
        assert!(p.contains(&"denied".to_string()), "{p:?}");
    }
    // The right digits now get nowhere: the ticket is locked, the caller is sent to a person.
    call(
        &h,
        "13700000013",
        None,
        &format!("1{}#8013", t.number),
        hotline_hangs_up(),
    );
    let p = prompts_of(&db, "13700000013").await;
    assert!(p.contains(&"locked".to_string()), "{p:?}");
    assert!(!told_status(&p), "{p:?}");

    // The status page counts the same tries: right digits, still refused.
    let web = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", h.http_port);
    let got = web
        .get(format!("{base}/status"))
        .send()
        .await
        .expect("status page");
    // The form's double-submit token comes as a cookie too.
    let cookie: Vec<String> = got
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .collect();
    let page = got.text().await.expect("body");
    let key = "name=\"csrf\" value=\"";
    let i = page.find(key).expect("form token") + key.len();
    let csrf = &page[i..i + page[i..].find('"').expect("token end")];
    let r = web
        .post(format!("{base}/status"))
        .header("cookie", cookie.join("; "))
        .form(&[
            ("csrf", csrf),
            ("number", t.number.as_str()),
            ("last4", "8013"),
        ])
        .send()
        .await
        .expect("lookup");
    assert_eq!(r.status().as_u16(), 429);
    assert!(!r.text().await.expect("body").contains("已派单"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_from_a_withheld_number_cannot_be_opened_with_zeros() {
    let h = Hotline::start(&[]);
    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let t = ticket_from(&h, PhoneNumber::anonymous()).await;
    call(
        &h,
        "13700000021",
        None,
        &format!("1{}#0000", t.number),
        caller_hangs_up(),
    );
    let p = prompts_of(&db, "13700000021").await;
    assert!(p.contains(&"denied".to_string()), "{p:?}");
    assert!(!told_status(&p), "{p:?}");
}
