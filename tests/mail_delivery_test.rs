//! Department mail against a real SMTP server on loopback (aiosmtpd writing a Maildir):
//! the right recipient, subject and body on dispatch; SMTP down then up: delivered once; a
//! relay slower than the outbox lease, with two nodes on one PostgreSQL: delivered once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hotline::mail::{self, MailConfig};
use hotline::store::Db;
use hotline::tickets::{Actor, Channel, NewTicket, Ticket, Tickets, TicketsConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use common::free_port;

struct Smtp {
    child: Child,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp(port: u16, maildir: &Path) -> Smtp {
    start_smtp_with(port, maildir, "aiosmtpd.handlers.Mailbox", &[])
}

/// aiosmtpd with the handler class `handler` (which takes the Maildir) and `env`.
fn start_smtp_with(port: u16, maildir: &Path, handler: &str, env: &[(&str, String)]) -> Smtp {
    let child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            handler,
        ])
        .arg(maildir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 with aiosmtpd (pip install aiosmtpd==1.4.6) is needed");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Smtp {
        child,
        maildir: maildir.to_path_buf(),
    }
}

/// Every mail in the Maildir, decoded by Python's email package as a mail reader would.
fn read_mails(maildir: &Path) -> Vec<Value> {
    const PY: &str = r#"
import email, json, mailbox, sys
from email.header import decode_header, make_header
out = []
for m in mailbox.Maildir(sys.argv[1], factory=None):
    out.append({
        "rcpt": m.get("X-RcptTo", ""),
        "from": str(make_header(decode_header(m.get("From", "")))),
        "subject": str(make_header(decode_header(m.get("Subject", "")))),
        "message_id": m.get("Message-ID", ""),
        "body": m.get_payload(decode=True).decode(m.get_content_charset() or "utf-8"),
    })
print(json.dumps(out, ensure_ascii=False))
"#;
    if !maildir.join("new").exists() {
        return vec![];
    }
    let out = Command::new("python3")
        .args(["-c", PY])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn cfg(port: u16) -> MailConfig {
    MailConfig {
        enabled: true,
        port,
        security: "none".into(),
        poll_ms: 50,
        retry_base_ms: 200,
        retry_max_ms: 1_000,
        timeout_secs: 5,
        portal_url: "http://127.0.0.1:8080/portal".into(),
        ..MailConfig::default()
    }
}

async fn setup(
    port: u16,
) -> (
    Db,
    Tickets,
    mail::MailHandle,
    CancellationToken,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect_url(&format!("sqlite://{}/h.db", dir.path().display()))
        .await
        .unwrap();
    let tickets = Tickets::from_config(db.clone(), &TicketsConfig::default()).unwrap();
    let stop = CancellationToken::new();
    let h = mail::start(cfg(port), db.clone(), tickets.clone(), stop.clone());
    (db, tickets, h, stop, dir)
}

async fn street_light(tickets: &Tickets, phone: &str) -> Ticket {
    let t = tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: None,
                phone: phone.parse().unwrap(),
                text: "解放路的路灯坏了三天了，晚上很黑".into(),
                address: Some("解放路88号".into()),
                area: Some("运河街道".into()),
                recording_path: None,
                language: None,
            },
            &Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(
        t.department.as_ref().map(|d| d.as_str()),
        Some("urban_management"),
        "routing sends street lights to 城管"
    );
    t
}

async fn wait_mails(maildir: &Path, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let m = read_mails(maildir);
        if m.len() >= n {
            return m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "only {} mails arrived",
            m.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_receives_the_dispatched_ticket_by_mail() {
    let port = free_port();
    let md = tempfile::tempdir().unwrap();
    let smtp = start_smtp(port, &md.path().join("Maildir"));
    let (_db, tickets, h, stop, _dir) = setup(port).await;
    let t = street_light(&tickets, "13812345678").await;
    let mails = wait_mails(&smtp.maildir, 1).await;
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m["rcpt"], "cgj@pizhou.example");
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.contains(t.number.as_str()) && subject.contains("前办结"),
        "{subject}"
    );
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("市城市管理局"), "{body}");
    assert!(body.contains("路灯坏了三天"), "{body}");
    assert!(body.contains("运河街道"), "{body}");
    assert!(
        body.contains("138****5678") && !body.contains("13812345678"),
        "phone must be masked: {body}"
    );
    assert!(
        body.contains(&format!(
            "http://127.0.0.1:8080/portal/tickets/{}",
            t.number
        )),
        "{body}"
    );
    stop.cancel();
    h.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_then_up_delivers_once() {
    let port = free_port();
    let (db, tickets, h, stop, _dir) = setup(port).await;
    let t = street_light(&tickets, "13812340000").await;
    // Nobody listens yet: the mail waits with a recorded error.
    let start = Instant::now();
    loop {
        let attempts: Option<i64> =
            sqlx::query_scalar("SELECT MAX(attempts) FROM mail_outbox WHERE state = 'pending'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        if attempts.unwrap_or(0) >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no retry recorded while SMTP is down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let md = tempfile::tempdir().unwrap();
    let smtp = start_smtp(port, &md.path().join("Maildir"));
    let mails = wait_mails(&smtp.maildir, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails2 = read_mails(&smtp.maildir);
    assert_eq!(mails2.len(), 1, "delivered exactly once");
    assert!(mails[0]["subject"]
        .as_str()
        .unwrap()
        .contains(t.number.as_str()));
    let state: String = sqlx::query_scalar("SELECT state FROM mail_outbox")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(state, "sent");
    stop.cancel();
    h.join().await;
}

/// A Maildir relay that takes `delay_secs` over every mail before its 250 (a slow or
/// overloaded relay): aiosmtpd's Mailbox handler with a pause.
fn start_slow_smtp(port: u16, maildir: &Path, delay_secs: f64) -> (Smtp, tempfile::TempDir) {
    let module = tempfile::tempdir().unwrap();
    std::fs::write(
        module.path().join("slow_relay.py"),
        r#"
import asyncio, os
from aiosmtpd.handlers import Mailbox

class SlowMailbox(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(float(os.environ["RELAY_DELAY_SECS"]))
        return await super().handle_DATA(server, session, envelope)
"#,
    )
    .unwrap();
    let smtp = start_smtp_with(
        port,
        maildir,
        "slow_relay.SlowMailbox",
        &[
            ("PYTHONPATH", module.path().display().to_string()),
            ("RELAY_DELAY_SECS", delay_secs.to_string()),
        ],
    );
    (smtp, module)
}

/// Two nodes share the mail outbox on one PostgreSQL; the relay takes 3 s over each mail,
/// longer than the 2 s lease. The node sending a mail (and the one holding the rest of its
/// batch) keeps the leases, so the other node never takes those rows: each department
/// mail arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_held_longer_than_its_lease_is_sent_once_by_two_nodes() {
    let url = common::fresh_pg().await;
    let port = free_port();
    let md = tempfile::tempdir().unwrap();
    let (smtp, _module) = start_slow_smtp(port, &md.path().join("Maildir"), 3.0);
    let cfg = MailConfig {
        lease_secs: 2,
        timeout_secs: 30,
        ..cfg(port)
    };
    let stop = CancellationToken::new();
    let mut nodes = vec![];
    for _ in 0..2 {
        let db = Db::connect_url(&url).await.unwrap();
        let tickets = Tickets::from_config(db.clone(), &TicketsConfig::default()).unwrap();
        let h = mail::start(cfg.clone(), db.clone(), tickets.clone(), stop.clone());
        nodes.push((db, tickets, h));
    }
    let a = street_light(&nodes[0].1, "13812340001").await;
    let b = street_light(&nodes[1].1, "13812340002").await;

    let mails = wait_mails(&smtp.maildir, 2).await;
    // Time for a second copy to arrive, had another node taken a row: a lease and a relay
    // delay, twice over.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mails = {
        let again = read_mails(&smtp.maildir);
        assert!(again.len() >= mails.len());
        again
    };
    let mut subjects: Vec<&str> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    assert_eq!(
        mails.len(),
        2,
        "each ticket's mail once, not again by the other node: {subjects:?}"
    );
    for t in [&a, &b] {
        assert_eq!(
            subjects
                .iter()
                .filter(|s| s.contains(t.number.as_str()))
                .count(),
            1,
            "{subjects:?}"
        );
    }
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE state = 'sent'")
        .fetch_one(nodes[0].0.pool())
        .await
        .unwrap();
    assert_eq!(sent, 2);
    stop.cancel();
    for (db, _, h) in nodes {
        h.join().await;
        db.close().await;
    }
}
