//! The real `hotline` binary killed with SIGKILL under load, and its SMSC and SMTP relay
//! down for a while, with real peers: SIPp callers leaving voice messages, residents
//! texting through the node SMSC simulator, an API client (reqwest) filing tickets, and
//! aiosmtpd taking departments' mail. What a peer was told was taken must be there after
//! the restart, once; every notice and mail is delivered, once.
//!
//! The one repetition SMPP and SMTP leave possible is a submit the peer took in the instant
//! before the kill, whose acknowledgement hotline had not yet stored: at most the parts in
//! flight (`window`) and the mail being sent. The test allows exactly that and names them.
//!
//! `HOTLINE_OUTAGE_SECS` sets the outage (default 20 s; bench/outage.sh runs 300 s).

mod common;
#[path = "smsc/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use harness::Smsc;
use hotline::store::Db;
use hotline::web::accounts::{self, NewAccount, Role};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(90);

struct Smtp(Child);

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_smtp(port: u16, maildir: &Path) -> Smtp {
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with aiosmtpd is needed");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Smtp(child)
}

/// Message-IDs of the mails in the Maildir (one per delivered mail, repeats kept).
fn mail_ids(maildir: &Path) -> Vec<String> {
    let new = maildir.join("new");
    let Ok(dir) = std::fs::read_dir(&new) else {
        return vec![];
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|m| {
            m.lines()
                .find_map(|l| {
                    l.strip_prefix("Message-ID:")
                        .or(l.strip_prefix("Message-Id:"))
                })
                .map(|s| s.trim().to_string())
        })
        .collect()
}

fn env(smsc_port: u16, smtp_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("HOTLINE__SMS__ENABLED", "true".into()),
        ("HOTLINE__SMS__PORT", smsc_port.to_string()),
        ("HOTLINE__SMS__PASSWORD", "secret".into()),
        ("HOTLINE__SMS__QUIET_START", "00:00".into()),
        ("HOTLINE__SMS__QUIET_END", "00:00".into()),
        ("HOTLINE__SMS__POLL_MS", "50".into()),
        ("HOTLINE__SMS__RECONNECT_MIN_MS", "100".into()),
        ("HOTLINE__SMS__RECONNECT_MAX_MS", "1000".into()),
        ("HOTLINE__SMS__LEASE_SECS", "5".into()),
        ("HOTLINE__SMS__DAILY_CAP_PER_PHONE", "0".into()),
        ("HOTLINE__MAIL__ENABLED", "true".into()),
        ("HOTLINE__MAIL__PORT", smtp_port.to_string()),
        ("HOTLINE__MAIL__SECURITY", "none".into()),
        ("HOTLINE__MAIL__POLL_MS", "50".into()),
        ("HOTLINE__MAIL__RETRY_BASE_MS", "200".into()),
        ("HOTLINE__MAIL__RETRY_MAX_MS", "5000".into()),
        ("HOTLINE__MAIL__MAX_ATTEMPTS", "1000".into()),
        ("HOTLINE__MAIL__TIMEOUT_SECS", "30".into()),
        ("HOTLINE__MAIL__LEASE_SECS", "5".into()),
    ]
}

/// An operator's API token, made on the server's database.
async fn token(db: &Db) -> String {
    let tickets = hotline::tickets::Tickets::from_config(db.clone(), &common::tickets_config())
        .expect("rules");
    let a = accounts::add_user(
        db,
        tickets.departments(),
        &NewAccount {
            name: "api_op".into(),
            display_name: String::new(),
            role: Role::Operator,
            department: None,
            password: "pw-api-op-long-enough".into(),
        },
    )
    .await
    .expect("account");
    accounts::create_api_token(db, a.id, "test")
        .await
        .expect("token")
}

/// Files `n` tickets through the API, one every `every`; the numbers of those answered 201.
async fn file_tickets(
    base: String,
    token: String,
    tag: &str,
    n: usize,
    every: Duration,
) -> Vec<String> {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut ok = vec![];
    for i in 0..n {
        let r = c
            .post(format!("{base}/api/v1/tickets"))
            .bearer_auth(&token)
            .json(&json!({"phone": format!("137{:08}", 1000 * tag.len() + i), "text": format!("{tag}{i}号：解放路自来水浑浊发黄")}))
            .send()
            .await;
        if let Ok(r) = r {
            if r.status() == 201 {
                let v: Value = r.json().await.unwrap_or_default();
                ok.push(v["number"].as_str().unwrap_or_default().to_string());
            }
        }
        tokio::time::sleep(every).await;
    }
    ok
}

fn voice_call(h: &Hotline, caller: &str, speech: &Path) -> (bool, String) {
    let file = h.dir.path().join(format!("call-{caller}.xml"));
    std::fs::write(
        &file,
        scenario(
            caller,
            &[
                Step::Pause(300),
                Step::Pcap(speech.to_path_buf()),
                Step::AwaitBye(90_000),
            ],
        ),
    )
    .unwrap();
    sipp(h, &file, "12345", &[])
}

/// A caller in mid-message when the server dies: SIPp runs in the background.
fn cut_call(h: &Hotline, caller: &str, speech: &Path) -> Child {
    let file = h.dir.path().join(format!("call-{caller}.xml"));
    std::fs::write(
        &file,
        scenario(
            caller,
            &[
                Step::Pause(300),
                Step::Pcap(speech.to_path_buf()),
                Step::AwaitBye(8_000),
            ],
        ),
    )
    .unwrap();
    Command::new("sipp")
        .arg(format!("127.0.0.1:{}", h.sip_port))
        .arg("-sf")
        .arg(&file)
        .args([
            "-s",
            "12345",
            "-i",
            "127.0.0.1",
            "-p",
            &common::free_port().to_string(),
        ])
        .args([
            "-mp",
            &common::free_port().to_string(),
            "-nostdin",
            "-m",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs")
}

fn speech_pcap(dir: &Path) -> PathBuf {
    let speech = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_01.wav"));
    let mut audio = vec![0i16; 8000];
    audio.extend_from_slice(&speech);
    let p = dir.join("speech.pcap");
    pcap::speech(&p, &audio);
    p
}

async fn rows(db: &Db, sql: &str) -> Vec<(String, i64)> {
    use sqlx::Row;
    sqlx::query(sql)
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect()
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Texts per notice body at the SMSC that came more than once.
fn repeated(smsc: &Smsc) -> Vec<(String, usize)> {
    let mut n: HashMap<String, usize> = HashMap::new();
    for v in smsc.events("submit_sm") {
        if v["acked"] == true && v["status"] == 0 {
            *n.entry(format!("{}|{}|{}", v["dest"], v["udh"], v["text"]))
                .or_default() += 1;
        }
    }
    n.into_iter().filter(|(_, c)| *c > 1).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_and_repeats_nothing() {
    let mut smsc = Smsc::start("hotline", "secret");
    let mail_tmp = tempfile::tempdir().unwrap();
    // aiosmtpd makes the Maildir (with tmp/, new/, cur/) when the path does not exist yet.
    let mail_dir = mail_tmp.path().join("mail");
    let smtp_port = common::free_port();
    let _smtp = start_smtp(smtp_port, &mail_dir);
    let env = env(smsc.port, smtp_port);
    let mut h = Hotline::start(&env);
    h.wait_for_log("SMPP bound as transceiver", T);
    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let token = token(&db).await;
    let speech = speech_pcap(h.dir.path());

    // A caller leaves a voice message and hears its number: taken.
    let (done, out) = voice_call(&h, "13800139001", &speech);
    assert!(done, "{out}\n{}", h.log());

    // Load: a caller in mid-message, residents texting, an API client filing tickets; the
    // kill comes in the middle of it.
    let h_ref = &h;
    let texts: Vec<String> = (0..30).map(|i| format!("139{:08}", 5000 + i)).collect();
    let base = format!("http://127.0.0.1:{}", h.http_port);
    let (in_flight, web_ok) = std::thread::scope(|s| {
        let mut call = cut_call(h_ref, "13800139002", &speech);
        let web = s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(file_tickets(
                    base,
                    token.clone(),
                    "甲",
                    30,
                    Duration::from_millis(60),
                ))
        });
        for (i, p) in texts.iter().enumerate() {
            if i == 20 {
                h_ref.kill9();
            }
            smsc.deliver_text(p, &format!("{p}反映：运河街道的井盖丢了，很危险"));
            std::thread::sleep(Duration::from_millis(100));
        }
        // SIPp may wait for an answer to its INVITE for good once the server is gone.
        std::thread::sleep(Duration::from_secs(3));
        let _ = call.kill();
        let status = call.wait().unwrap();
        (status, web.join().unwrap())
    });
    assert!(
        !in_flight.success(),
        "the call in flight was cut by the kill"
    );
    assert!(!web_ok.is_empty());

    h.restart(&env);
    h.wait_for_log("SMPP bound as transceiver", T);

    // Every text is answered at last (the SMSC redelivers what was never answered), and
    // each made one ticket.
    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let sms_tickets = "SELECT phone, COUNT(*) FROM tickets WHERE channel = 'sms' GROUP BY phone";
    wait_until("a ticket for every text", T, || async {
        rows(&db, sms_tickets).await.len() == texts.len()
    })
    .await;
    let per_phone = rows(&db, sms_tickets).await;
    assert!(per_phone.iter().all(|(_, n)| *n == 1), "{per_phone:?}");

    // Every ticket the API answered 201 for is there, once.
    let web = rows(
        &db,
        "SELECT number, COUNT(*) FROM tickets WHERE channel = 'web' GROUP BY number",
    )
    .await;
    for n in &web_ok {
        assert!(
            web.iter().any(|(w, _)| w == n),
            "ticket {n} answered 201 is lost"
        );
    }
    let web_texts = rows(
        &db,
        "SELECT text, COUNT(*) FROM tickets WHERE channel = 'web' GROUP BY text",
    )
    .await;
    assert!(web_texts.iter().all(|(_, n)| *n == 1), "{web_texts:?}");
    assert!(
        web.len() <= web_ok.len() + 1,
        "only a request in flight at the kill may be unanswered"
    );

    // The finished call: its record, its ticket, its recording; the cut call: one record.
    let calls = rows(&db, "SELECT caller, COUNT(*) FROM calls GROUP BY caller").await;
    assert!(calls.iter().all(|(_, n)| *n == 1), "{calls:?}");
    use sqlx::Row;
    let done_call = sqlx::query(
        "SELECT c.ticket_number, t.recording_path FROM calls c JOIN tickets t ON t.number = c.ticket_number
         WHERE c.caller = '13800139001'",
    )
    .fetch_one(db.pool())
    .await
    .expect("the finished call's record and ticket");
    let rec: String = done_call.get(1);
    assert!(Path::new(&rec).exists(), "its recording {rec}");
    let call_tickets = rows(
        &db,
        "SELECT phone, COUNT(*) FROM tickets WHERE channel = 'call' GROUP BY phone",
    )
    .await;
    assert!(
        call_tickets.iter().all(|(_, n)| *n == 1),
        "{call_tickets:?}"
    );

    // Every notice reaches the SMSC; a repeat only for a part in flight at the kill.
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox WHERE state <> 'suppressed'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    let sent = "SELECT state, COUNT(*) FROM sms_outbox WHERE state IN ('sent', 'delivered') GROUP BY state";
    wait_until("every notice sent", T, || async {
        rows(&db, sent).await.iter().map(|r| r.1).sum::<i64>() == total
    })
    .await;
    let reps = repeated(&smsc);
    assert!(reps.len() <= 10, "repeats beyond the window: {reps:#?}");
    // Mail: every department mail once (by its stable Message-ID), a repeat only for the
    // mail being sent at the kill.
    let mails: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(db.pool())
        .await
        .unwrap();
    wait_until("every mail sent", T, || async {
        let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE state = 'sent'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        sent == mails
    })
    .await;
    let mut ids = mail_ids(&mail_dir);
    let n = ids.len();
    ids.sort();
    let all = ids.clone();
    ids.dedup();
    assert_eq!(ids.len() as i64, mails, "every mail arrived");
    assert!(
        n - ids.len() <= 1,
        "{} repeated mails: {all:#?}\n{}",
        n - ids.len(),
        h.log()
            .lines()
            .filter(|l| l.contains("mail"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "kill -9 under load: {} texts, {} API tickets answered 201, {} notices ({} repeated), {} mails ({} repeated)",
        texts.len(),
        web_ok.len(),
        total,
        reps.len(),
        mails,
        n - ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsc_and_smtp_down_then_up_deliver_every_notice_and_mail_once() {
    let outage = Duration::from_secs(
        std::env::var("HOTLINE_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    let mut smsc = Smsc::start("hotline", "secret");
    let smsc_port = smsc.port;
    let mail_tmp = tempfile::tempdir().unwrap();
    // aiosmtpd makes the Maildir (with tmp/, new/, cur/) when the path does not exist yet.
    let mail_dir = mail_tmp.path().join("mail");
    let smtp_port = common::free_port();
    let smtp = start_smtp(smtp_port, &mail_dir);
    let h = Hotline::start(&env(smsc_port, smtp_port));
    h.wait_for_log("SMPP bound as transceiver", T);
    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let token = token(&db).await;

    smsc.kill();
    drop(smtp);
    let filed = file_tickets(
        format!("http://127.0.0.1:{}", h.http_port),
        token,
        "乙乙",
        8,
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(
        filed.len(),
        8,
        "the API works while the SMSC and the relay are down"
    );
    tokio::time::sleep(outage).await;

    let smsc = Smsc::start_on(smsc_port, "hotline", "secret", &[]);
    let _smtp = start_smtp(smtp_port, &mail_dir);
    let notices: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sms_outbox WHERE state <> 'suppressed'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    let mails: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(
        notices >= 8 && mails >= 1,
        "notices {notices}, mails {mails}"
    );
    let started = Instant::now();
    wait_until("every notice at the SMSC", T, || async {
        smsc.events("submit_sm")
            .iter()
            .filter(|v| v["acked"] == true && v["status"] == 0)
            .count() as i64
            >= notices
    })
    .await;
    wait_until("every mail at the relay", T, || async {
        mail_ids(&mail_dir).len() as i64 >= mails
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(repeated(&smsc).is_empty(), "{:#?}", repeated(&smsc));
    let mut ids = mail_ids(&mail_dir);
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (n as i64, ids.len() as i64),
        (mails, mails),
        "each mail once"
    );
    eprintln!(
        "outage of {outage:?}: {notices} notices and {mails} mails delivered once, the last {:.1} s after the peers came back",
        started.elapsed().as_secs_f64()
    );
}
