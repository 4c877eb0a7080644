//! Operator phones register with the real `hotline serve` (RFC 3261 §10, digest auth):
//! SIPp with the right and a wrong password, a replayed request, too short an expiry, a
//! restart, a phone behind NAT (rung where its REGISTER came from), and baresip, a real
//! softphone.
//! Each test checks what an operator's team would: the bindings in the database.

mod common;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::agents::{cli, cli_in, PHONE_PASSWORD as PASSWORD};
use common::serve::{free_port, sipp, Hotline};
use hotline::store::Db;
use sqlx::Row;

/// `hotline serve` with an operator `ops1` whose phone has a SIP password.
fn hotline_with_operator(env: &[(&str, String)]) -> Hotline {
    let h = Hotline::start(env);
    cli(
        &h,
        &["user", "add", "--name", "ops1", "--role", "operator"],
        "console-pw-123",
    );
    cli(&h, &["user", "sip-password", "ops1"], PASSWORD);
    h
}

/// The unexpired bindings of `aor`: (contact, seconds left, user agent).
async fn bindings(h: &Hotline, aor: &str) -> Vec<(String, i64, String)> {
    let db = Db::open(&h.db_url(), 1).await.expect("open db");
    let now = chrono::Utc::now().timestamp_millis();
    let rows = sqlx::query(
        "SELECT contact, expires_at, user_agent FROM sip_bindings WHERE aor = $1 AND expires_at > $2",
    )
    .bind(aor)
    .bind(now)
    .fetch_all(db.pool())
    .await
    .expect("query bindings");
    db.close().await;
    rows.iter()
        .map(|r| (r.get(0), (r.get::<i64, _>(1) - now + 500) / 1000, r.get(2)))
        .collect()
}

fn scenario(name: &str) -> std::path::PathBuf {
    common::repo().join("tests/sipp").join(name)
}

/// The default challenges: MD5 first (SIPp reads only the first), then SHA-256.
fn defaults() -> Vec<(&'static str, String)> {
    vec![]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_registers_with_digest_auth_and_unregisters() {
    let h = hotline_with_operator(&defaults());
    let file = scenario("register_auth.xml");
    let runner = {
        let (port, file) = (h.sip_port, file.clone());
        std::thread::spawn(move || {
            let out = Command::new("sipp")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-sf")
                .arg(&file)
                .args(["-s", "ops1", "-au", "ops1", "-ap", PASSWORD])
                .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
                .args(["-m", "1", "-d", "3000", "-nostdin", "-timeout", "60s"])
                .output()
                .expect("sipp runs");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).to_string(),
            )
        })
    };
    // While SIPp pauses between REGISTER and un-REGISTER, the binding is there.
    let until = Instant::now() + Duration::from_secs(20);
    let mut seen = vec![];
    while Instant::now() < until && seen.is_empty() {
        seen = bindings(&h, "ops1").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen.len(), 1, "one binding for ops1: {seen:?}\n{}", h.log());
    assert!(seen[0].0.starts_with("sip:ops1@127.0.0.1:"), "{seen:?}");
    assert!(
        (590..=600).contains(&seen[0].1),
        "expires as asked: {seen:?}"
    );
    assert_eq!(seen[0].2, "SIPp operator phone");
    let (ok, out) = runner.join().expect("sipp thread");
    assert!(
        ok,
        "SIPp registration failed:\n{out}\n--- log ---\n{}",
        h.log()
    );
    assert!(
        bindings(&h, "ops1").await.is_empty(),
        "un-REGISTER removed the binding"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_survive_a_restart() {
    // The data directory outlives the first process.
    let data = tempfile::tempdir().unwrap();
    let mut env = defaults();
    env.push(("HOTLINE__DATA_DIR", data.path().display().to_string()));
    let h = Hotline::start(&env);
    cli_in(
        data.path(),
        &["user", "add", "--name", "ops1", "--role", "operator"],
        "console-pw-123",
    );
    cli_in(data.path(), &["user", "sip-password", "ops1"], PASSWORD);
    let (ok, out) = sipp(
        &h,
        &scenario("register_only.xml"),
        "ops1",
        &["-au", "ops1", "-ap", PASSWORD],
    );
    assert!(ok, "{out}");
    let (status, log) = h.stop();
    assert!(status.success(), "{log}");
    let h = Hotline::start(&env);
    let url = format!("sqlite://{}", data.path().join("hotline.db").display());
    let db = Db::open(&url, 1).await.expect("db");
    let rows = sqlx::query("SELECT contact, expires_at FROM sip_bindings WHERE aor = 'ops1'")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the binding is stored, not kept in memory");
    let left = rows[0].get::<i64, _>(1) - chrono::Utc::now().timestamp_millis();
    assert!(left > 500_000, "still valid after the restart: {left} ms");
    drop(h);
}

#[test]
fn wrong_password_is_refused_then_the_address_is_locked_out() {
    let mut env = defaults();
    env.push(("HOTLINE__SIP__REGISTRAR__LOCKOUT_FAILURES", "3".into()));
    let h = hotline_with_operator(&env);
    let (ok, out) = sipp(
        &h,
        &scenario("register_wrong.xml"),
        "ops1",
        &["-au", "ops1", "-ap", "not-the-password"],
    );
    assert!(
        ok,
        "401, 401, 401, then 403:\n{out}\n--- log ---\n{}",
        h.log()
    );
    assert!(h.log().contains("REGISTER refused"), "logged");
    // Locked out: even the right password is refused from this address for a while.
    let (ok, out) = sipp(
        &h,
        &scenario("register_auth.xml"),
        "ops1",
        &["-au", "ops1", "-ap", PASSWORD],
    );
    assert!(!ok, "a locked-out address cannot register:\n{out}");
    assert!(out.contains("403") || h.log().contains("403"), "{out}");
}

#[test]
fn too_short_an_expiry_gets_423_with_min_expires() {
    let h = hotline_with_operator(&defaults());
    let (ok, out) = sipp(
        &h,
        &scenario("register_brief.xml"),
        "ops1",
        &["-au", "ops1", "-ap", PASSWORD],
    );
    assert!(
        ok,
        "423 with Min-Expires 60:\n{out}\n--- log ---\n{}",
        h.log()
    );
}

/// Sends the phone's own authenticated REGISTER again, byte for byte, from its address.
#[test]
fn a_replayed_register_is_refused() {
    let h = hotline_with_operator(&defaults());
    let trace = h.dir.path().join("sipp-messages.log");
    let (ok, out) = sipp(
        &h,
        &scenario("register_auth.xml"),
        "ops1",
        &[
            "-au",
            "ops1",
            "-ap",
            PASSWORD,
            "-d",
            "100",
            "-trace_msg",
            "-message_file",
            trace.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&trace).expect("SIPp message trace");
    let sent = text
        .split("----------------------------------------------- ")
        .filter(|b| b.contains("message sent"))
        .map(|b| b.split_once("\n\n").map(|(_, m)| m).unwrap_or(""))
        .find(|m| {
            m.starts_with("REGISTER") && m.contains("Authorization:") && m.contains("Expires: 600")
        })
        .expect("the authenticated REGISTER in the trace")
        .trim_end()
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        // Only the branch changes: a new transaction, the same credentials.
        .map(|l| {
            if l.starts_with("Via:") {
                l.replace("branch=z9hG4bK", "branch=z9hG4bKreplay")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n\r\n";
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(sent.as_bytes(), ("127.0.0.1", h.sip_port))
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).expect("an answer to the replay");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(
        answer.starts_with("SIP/2.0 401"),
        "a replayed nonce count is challenged again:\n{answer}\n--- log ---\n{}",
        h.log()
    );
}

/// baresip, a real softphone, registers and un-registers when it quits. baresip 1.x (libre
/// 1.1) gives up on a 401 that carries any challenge it does not know, so this phone is
/// offered MD5 alone, as `[sip.registrar] algorithms` documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_registers_and_unregisters() {
    let h = hotline_with_operator(&[
        (
            "HOTLINE__SIP__REGISTRAR__ALGORITHMS",
            "[\"MD5\"]".to_string(),
        ),
        // Pinged every second: a phone that answers its OPTIONS keeps its binding.
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "1".to_string()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_MISSES", "2".to_string()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "poll_method\t\tpoll\nsip_listen\t\t127.0.0.1:{port}\nmodule_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule_app\t\taccount.so\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:ops1@127.0.0.1:{}>;auth_pass={PASSWORD};regint=600\n",
            h.sip_port
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("contacts"), "").unwrap();
    let child = tokio::process::Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .args(["-t", "8"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("baresip runs (package baresip-core)");
    let until = Instant::now() + Duration::from_secs(6);
    let mut seen = vec![];
    while Instant::now() < until && seen.is_empty() {
        seen = bindings(&h, "ops1").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several pings later the phone, which answers them, is still registered.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let later = bindings(&h, "ops1").await;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("baresip quits")
        .expect("baresip output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        seen.len(),
        1,
        "baresip registered:\n{text}\n--- log ---\n{}",
        h.log()
    );
    assert!(seen[0].2.to_lowercase().contains("baresip"), "{seen:?}");
    assert_eq!(
        later.len(),
        1,
        "answered keep-alives keep the binding:\n{}",
        h.log()
    );
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !bindings(&h, "ops1").await.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        bindings(&h, "ops1").await.is_empty(),
        "baresip un-registered when it quit:\n{text}"
    );
}

/// A phone that registered and then went away (SIPp exits without un-registering, so
/// nothing answers the pings) is dropped after the allowed misses, long before its expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_stops_answering_keepalives_is_dropped() {
    let h = hotline_with_operator(&[
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_SECS", "1".to_string()),
        ("HOTLINE__SIP__REGISTRAR__KEEPALIVE_MISSES", "2".to_string()),
    ]);
    let (ok, out) = sipp(
        &h,
        &scenario("register_only.xml"),
        "ops1",
        &["-au", "ops1", "-ap", PASSWORD],
    );
    assert!(ok, "{out}");
    assert_eq!(bindings(&h, "ops1").await.len(), 1, "registered for 600 s");
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until && !bindings(&h, "ops1").await.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        bindings(&h, "ops1").await.is_empty(),
        "dropped after unanswered pings:\n{}",
        h.log()
    );
    assert!(h.log().contains("phone stopped answering keep-alives"));
}

/// The same phone over TCP: the binding remembers the transport it came on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_registers_over_tcp() {
    let h = hotline_with_operator(&defaults());
    let (ok, out) = sipp(
        &h,
        &scenario("register_only.xml"),
        "ops1",
        &["-au", "ops1", "-ap", PASSWORD, "-t", "t1"],
    );
    assert!(ok, "SIPp over TCP:\n{out}\n--- log ---\n{}", h.log());
    let db = Db::open(&h.db_url(), 1).await.expect("db");
    let source: String = sqlx::query("SELECT source FROM sip_bindings WHERE aor = 'ops1'")
        .fetch_one(db.pool())
        .await
        .expect("a binding")
        .get(0);
    assert!(source.starts_with("tcp:127.0.0.1:"), "{source}");
}

/// A hotline whose `transfer` dialplan rings `[sip.destinations] operators =
/// "account:ops1"`, the phone the operator ops1 registered.
fn hotline_ringing_ops1() -> Hotline {
    hotline_with_operator(&[
        (
            "HOTLINE__SIP__DESTINATIONS__OPERATORS",
            "account:ops1".to_string(),
        ),
        (
            "HOTLINE__IVR__DIALPLAN_DIR",
            common::repo()
                .join("tests/dialplans/transfer")
                .display()
                .to_string(),
        ),
    ])
}

/// The phone registers from `phone_port` with the scenario `file`.
fn register_from(h: &Hotline, file: &str, phone_port: u16) {
    let out = Command::new("sipp")
        .arg(format!("127.0.0.1:{}", h.sip_port))
        .arg("-sf")
        .arg(scenario(file))
        .args(["-s", "ops1", "-au", "ops1", "-ap", PASSWORD])
        .args(["-i", "127.0.0.1", "-p", &phone_port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s"])
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "{}\n--- log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        h.log()
    );
}

/// A caller presses 0 for an operator; SIPp's own UAS answers on `phone_port`, which
/// succeeds only when it is rung there, answers and gets the BYE when the caller hangs up.
fn call_rings_phone_at(h: &Hotline, phone_port: u16) {
    let phone = std::process::Command::new("sipp")
        .args([
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &phone_port.to_string(),
        ])
        .args(["-mp", &free_port().to_string(), "-rtp_echo"])
        .args(["-m", "1", "-nostdin", "-timeout", "90s"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sipp UAS");

    let dir = h.dir.path().to_path_buf();
    let zero = dir.join("zero.pcap");
    common::pcap::dtmf(&zero, "0", 120, 101);
    let caller = dir.join("caller.xml");
    std::fs::write(
        &caller,
        common::serve::scenario(
            "13800138077",
            &[
                common::serve::Step::Pause(800),
                common::serve::Step::Pcap(zero),
                common::serve::Step::Pause(8000),
                common::serve::Step::Bye,
            ],
        ),
    )
    .unwrap();
    let (ok, out) = sipp(h, &caller, "12345", &[]);
    assert!(ok, "caller:\n{out}\n--- log ---\n{}", h.log());
    let out = phone.wait_with_output().expect("sipp UAS ends");
    assert!(
        out.status.success(),
        "the registered phone was rung, answered and got BYE:\n{}\n--- log ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        h.log()
    );
    assert!(h.log().contains("outcome=Completed"), "{}", h.log());
}

/// `[sip.destinations] operators = "account:ops1"`: a `transfer` node rings the phone ops1
/// registered (at the address its REGISTER came from), it answers, and the bridged call
/// ends when the caller hangs up (the phone gets the BYE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_for_an_account_rings_its_registered_phone() {
    let h = hotline_ringing_ops1();
    // The desk phone registers from its port, then answers calls there (SIPp's own UAS).
    let phone_port = free_port();
    register_from(&h, "register_only.xml", phone_port);
    assert_eq!(bindings(&h, "ops1").await.len(), 1, "{}", h.log());
    call_rings_phone_at(&h, phone_port);
}

/// A phone behind NAT: its Via and Contact name its private address, its packets come from
/// the NAT's public one (RFC 3581 `rport`). The 200 tells it where it was seen
/// (`received`, `rport`), the binding keeps its Contact and the source it came from, and a
/// call for its account rings that source: the private address reaches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_behind_nat_is_rung_where_its_register_came_from() {
    let h = hotline_ringing_ops1();
    let phone_port = free_port();
    register_from(&h, "register_nat.xml", phone_port);
    let db = Db::open(&h.db_url(), 1).await.expect("db");
    let rows = sqlx::query("SELECT contact, source FROM sip_bindings WHERE aor = 'ops1'")
        .fetch_all(db.pool())
        .await
        .expect("bindings");
    db.close().await;
    let seen: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        seen,
        vec![(
            "sip:ops1@192.168.1.20:5060".to_string(),
            format!("udp:127.0.0.1:{phone_port}")
        )],
        "the phone's own Contact, reached at its public source"
    );
    call_rings_phone_at(&h, phone_port);
}
