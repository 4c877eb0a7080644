//! The survey call of the follow-up (回访电话) against the real `hotline serve`: a resolved
//! ticket is asked by SMS after the delay; nobody texts back, so once the wait is over the
//! hotline calls the resident through the trunk — a SIPp UAS that answers and presses 1
//! (RFC 2833) — and the key closes the ticket rated 满意, as the survey call. The attempt is
//! kept in `follow_up_calls` and the audit trail, never in `calls` (the inbound record).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pcap;
use common::serve::{free_port, Hotline};
use common::tickets_config;
use hotline::store::Db;
use hotline::tickets::{
    Action, Actor, Channel, DepartmentId, Kind, NewTicket, Satisfaction, State, Tickets,
};
use sqlx::Row;

/// A calendar where every hour of yesterday, today and tomorrow is working time, so the
/// test runs whatever the clock says.
fn always_open_calendar(dir: &std::path::Path) -> std::path::PathBuf {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let days: Vec<String> = [-1i64, 0, 1]
        .iter()
        .map(|d| format!("\"{}\"", today + chrono::Duration::days(*d)))
        .collect();
    let file = dir.join("calendar.toml");
    std::fs::write(
        &file,
        format!(
            "office_hours = [\"00:00-23:59\"]\nworkdays = [{}]\n",
            days.join(", ")
        ),
    )
    .unwrap();
    file
}

/// The resident's phone behind the trunk: answers with telephone-event 101, presses
/// `keys` after `after_ms`, then waits for the hotline's BYE.
fn resident_phone(
    dir: &std::path::Path,
    port: u16,
    keys: &str,
    after_ms: u64,
) -> std::process::Child {
    let dtmf = dir.join("keys.pcap");
    pcap::dtmf(&dtmf, keys, 300, 101);
    let xml = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="resident answers the survey">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]R[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:resident@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=resident 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
]]></send>
  <recv request="ACK"/>
  <pause milliseconds="{after_ms}"/>
  <nop><action><exec play_pcap_audio="{}"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#,
        dtmf.display()
    );
    let file = dir.join("resident.xml");
    std::fs::write(&file, xml).unwrap();
    Command::new("sipp")
        .arg("-sf")
        .arg(&file)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "120s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp UAS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_who_does_not_text_back_is_called_and_presses_1() {
    let dir = tempfile::tempdir().unwrap();
    let trunk_port = free_port();
    let calendar = always_open_calendar(dir.path());
    let h = Hotline::start(&[
        (
            "HOTLINE__TICKETS__CALENDAR_FILE",
            calendar.display().to_string(),
        ),
        ("HOTLINE__TICKETS__FOLLOW_UP__INTERVAL_SECS", "1".into()),
        ("HOTLINE__TICKETS__FOLLOW_UP__DELAY_SECS", "1".into()),
        ("HOTLINE__TICKETS__FOLLOW_UP__SMS_WAIT_SECS", "2".into()),
        (
            "HOTLINE__TICKETS__FOLLOW_UP__CLOSE_AFTER_SECS",
            "3600".into(),
        ),
        (
            "HOTLINE__TICKETS__FOLLOW_UP__SURVEY_CALL__ENABLED",
            "true".into(),
        ),
        (
            "HOTLINE__TICKETS__FOLLOW_UP__SURVEY_CALL__TRUNK",
            "residents".into(),
        ),
        (
            "HOTLINE__TICKETS__FOLLOW_UP__SURVEY_CALL__RING_SECS",
            "10".into(),
        ),
        (
            "HOTLINE__SIP__DESTINATIONS__RESIDENTS",
            format!("sip:{{number}}@127.0.0.1:{trunk_port}"),
        ),
    ]);
    h.wait_for_log("survey calls on", Duration::from_secs(30));
    let phone = resident_phone(dir.path(), trunk_port, "1", 1500);

    // A ticket the department has answered (the test's own connection to the database).
    let mut cfg = tickets_config();
    cfg.calendar_file = calendar.clone();
    let db = Db::open(&h.db_url(), 1).await.unwrap();
    let tickets = Tickets::from_config(db.clone(), &cfg).unwrap();
    let number = "13800138701";
    let t = tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: Some(Kind::Complaint),
                phone: number.parse().unwrap(),
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
    let urban = DepartmentId("urban_management".into());
    if t.department.as_ref() != Some(&urban) {
        tickets
            .transition(
                t.id,
                Action::Dispatch {
                    department: urban.clone(),
                },
                &Actor::Operator("ops".into()),
            )
            .await
            .unwrap();
    }
    let dept = Actor::Department(urban, "cg".into());
    tickets.transition(t.id, Action::Sign, &dept).await.unwrap();
    tickets
        .transition(
            t.id,
            Action::Resolve {
                answer: "路灯已修复".into(),
            },
            &dept,
        )
        .await
        .unwrap();

    // Asked, not answered by text, called, rated by the key.
    let until = Instant::now() + Duration::from_secs(90);
    let closed = loop {
        let now = tickets.get(t.id).await.unwrap();
        if now.state == State::Closed {
            break now;
        }
        assert!(
            Instant::now() < until,
            "ticket still {} — log:\n{}",
            now.state,
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(closed.satisfaction, Some(Satisfaction::Satisfied));
    let out = phone.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the resident's phone: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        h.log()
    );

    // The SMS question went out first (queued: no SMSC here), then the call.
    let asked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sms_outbox WHERE ticket_id = $1 AND kind = 'follow_up'",
    )
    .bind(t.id.0)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(asked, 1);
    // The key closes the ticket during the call; how the call ended is kept once it has
    // ended, a moment later.
    let until = Instant::now() + Duration::from_secs(15);
    let trail = loop {
        let trail = tickets.audit_trail(t.id).await.unwrap();
        if trail.iter().any(|a| a.action == "survey_call") {
            break trail;
        }
        assert!(
            Instant::now() < until,
            "the attempt in the audit trail: {trail:?}\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rate = trail.iter().find(|a| a.action == "rate").expect("rated");
    assert_eq!(rate.actor, "survey-call");
    let attempt = trail
        .iter()
        .find(|a| a.action == "survey_call")
        .expect("found above");
    assert!(
        attempt.note.contains("第1次")
            && attempt.note.contains("已接听")
            && attempt.note.contains("按键1"),
        "{}",
        attempt.note
    );
    // One attempt, answered with 1, and no inbound call record for it.
    let rows =
        sqlx::query("SELECT attempt, result, pressed FROM follow_up_calls WHERE ticket_id = $1")
            .bind(t.id.0)
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    let (n, result, pressed): (i64, String, Option<String>) = (
        rows[0].try_get::<i64, _>(0).unwrap(),
        rows[0].try_get(1).unwrap(),
        rows[0].try_get(2).unwrap(),
    );
    assert_eq!(
        (n, result.as_str(), pressed.as_deref()),
        (1, "answered", Some("1"))
    );
    let calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(calls, 0, "a survey call is not an inbound call");
    // The department's answer was read out before the question.
    assert!(h.log().contains("prompt=speak:answer"), "{}", h.log());
    db.close().await;
    let (status, log) = h.stop();
    assert!(status.success(), "{log}");
}

/// A survey call switched on with a trunk nobody configured is a mistake `hotline check`
/// names (and `hotline serve` refuses), not a call that silently never happens.
#[test]
fn hotline_check_names_a_survey_trunk_that_is_not_a_destination() {
    let check = |trunk: &str| {
        Command::new(common::hotline_bin())
            .arg("check")
            .current_dir(common::repo())
            .env("HOTLINE__TICKETS__FOLLOW_UP__SURVEY_CALL__ENABLED", "true")
            .env("HOTLINE__TICKETS__FOLLOW_UP__SURVEY_CALL__TRUNK", trunk)
            .output()
            .unwrap()
    };
    let bad = check("carrier");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(
            "[tickets.follow_up.survey_call] trunk `carrier` is not in [sip.destinations]"
        ),
        "{err}"
    );
    let ok = check("trunk");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
