//! A caller's RTP/RTCP port pair goes back to the pool when the caller hangs up, not when
//! the dialplan is done with the call: a dialplan may run on for long after the BYE (the
//! ticket of a voice message, a slow database), and ports held that long run a busy node out
//! of them.
//!
//! The real binary on PostgreSQL with a range of one port pair; a SIPp caller speaks and
//! hangs up while the ticket table is locked, so the dialplan waits in its ticket step.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::pcap;
use common::serve::{sipp, Hotline, Step};
use hotline::store::Db;

/// An even port pair nothing else on this machine uses (the tests' RTP ranges start at 20000).
fn free_pair() -> u16 {
    for _ in 0..200 {
        let p = 15000 + 2 * (rand::random::<u16>() % 2000);
        if UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
    panic!("no free port pair");
}

fn pair_free(port: u16) -> bool {
    UdpSocket::bind(("0.0.0.0", port)).is_ok() && UdpSocket::bind(("0.0.0.0", port + 1)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_ports_are_free_once_the_caller_hangs_up_while_the_dialplan_runs_on() {
    let url = common::fresh_pg().await;
    let port = free_pair();
    let hotline = Hotline::start(&[
        ("HOTLINE__DATABASE__URL", url.clone()),
        (
            "HOTLINE__IVR__DIALPLAN_DIR",
            common::repo()
                .join("tests/dialplans/message")
                .display()
                .to_string(),
        ),
        ("HOTLINE__MEDIA__RTP_PORT_MIN", port.to_string()),
        ("HOTLINE__MEDIA__RTP_PORT_MAX", (port + 1).to_string()),
    ]);

    // Tickets cannot be written until this transaction ends: the dialplan's ticket step
    // waits on it, after the caller is gone.
    let db = Db::open(&url, 1).await.expect("PostgreSQL");
    let mut lock = db.pool().begin().await.expect("begin");
    sqlx::query("LOCK TABLE tickets IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock the tickets");

    // The caller speaks and hangs up while still speaking.
    let work = tempfile::tempdir().expect("tempdir");
    let sp = work.path().join("speech.pcap");
    let mut audio = pcap::wav_8k(&common::repo().join("tests/fixtures/speech/zh_02.wav"));
    audio.truncate(16_000);
    pcap::speech(&sp, &audio);
    let file = work.path().join("caller.xml");
    let xml = common::serve::scenario(
        "13800138051",
        &[Step::Pcap(sp), Step::Pause(1500), Step::Bye],
    );
    std::fs::write(&file, xml).expect("scenario");
    // The one pair of the range is the call's: SIPp's call fails without it.
    let (ok, out) = sipp(&hotline, &file, "12345", &[]);
    assert!(ok, "the call succeeds:\n{out}\n{}", hotline.log());
    hotline.wait_for_log("voice message kept", Duration::from_secs(10));

    // The dialplan is still in its ticket step; the ports are free all the same.
    let until = Instant::now() + Duration::from_secs(10);
    while !pair_free(port) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !hotline.log().contains("ticket created from call"),
        "the dialplan is still waiting for the ticket table:\n{}",
        hotline.log()
    );
    assert!(
        pair_free(port),
        "RTP port pair {port}/{} still bound after the caller's BYE:\n{}",
        port + 1,
        hotline.log()
    );

    // The dialplan was running all along: it finishes once the table is free.
    lock.rollback().await.expect("unlock");
    hotline.wait_for_log("ticket created from call", Duration::from_secs(20));
    db.close().await;
}
