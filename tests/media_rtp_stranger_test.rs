//! A stranger who sprays RTP and RFC 4733 key presses at every port of the hotline's RTP
//! range during a real SIPp call (with RTP) to the real `hotline serve`: it hears nothing
//! of the call and its key presses and noise are not acted upon.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::attack::{rtp, rtp_range};
use common::pcap;
use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

const CALLER: &str = "13800138061";

/// Sends, every 40 ms to every even port of `ports`, three packets of a loud 1 kHz tone and
/// a key press "0" (RFC 4733, PT 101), until `stop`; returns how many datagrams came back.
fn spray(sock: &UdpSocket, ports: std::ops::RangeInclusive<u16>, stop: &AtomicBool) -> usize {
    sock.set_nonblocking(true).expect("nonblocking");
    let tone: Vec<u8> = (0..160)
        .map(|i| {
            let s = 12_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin();
            hotline::media::g711::linear_to_ulaw(s as i16)
        })
        .collect();
    let mut heard = 0;
    let mut buf = [0u8; 2048];
    let (mut seq, mut ts) = (0u16, 0u32);
    let mut event_ts = 0u32;
    let mut event_dur = 0u16;
    while !stop.load(Ordering::Relaxed) {
        // A new key press every 400 ms (with its own timestamp), growing in between.
        if event_dur >= 3200 {
            event_ts = ts;
            event_dur = 0;
        }
        event_dur += 320;
        let end = if event_dur >= 3200 { 0x80 } else { 0 };
        let key = rtp(
            101,
            seq,
            event_ts,
            0x5eed,
            event_dur == 320,
            &[0, end | 10, (event_dur >> 8) as u8, event_dur as u8],
        );
        // Three packets in a row and more: enough to move a call that re-latches to any
        // steady source.
        let audio: Vec<Vec<u8>> = (0..3u16)
            .map(|k| {
                rtp(
                    0,
                    seq.wrapping_add(1 + k),
                    ts + 160 * u32::from(k),
                    0x5eed,
                    false,
                    &tone,
                )
            })
            .collect();
        for port in ports.clone().step_by(2) {
            let to = SocketAddr::from(([127, 0, 0, 1], port));
            for a in &audio {
                let _ = sock.send_to(a, to);
            }
            let _ = sock.send_to(&key, to);
        }
        seq = seq.wrapping_add(4);
        ts = ts.wrapping_add(480);
        loop {
            match sock.recv_from(&mut buf) {
                Ok(_) => heard += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // Port unreachable from the ports nobody listens on.
                Err(_) => continue,
            }
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    heard
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_spraying_rtp_hears_nothing_and_presses_no_keys() {
    let h = Hotline::start(&[]);
    let dir = h.dir.path().to_path_buf();
    // The caller's phone sends quiet room noise the whole call and presses nothing.
    let quiet = dir.join("quiet.pcap");
    pcap::speech(&quiet, &vec![0i16; 8000 * 7]);
    let file = dir.join("caller.xml");
    std::fs::write(
        &file,
        scenario(CALLER, &[Step::Pcap(quiet), Step::Pause(7000), Step::Bye]),
    )
    .expect("scenario");

    let stranger = UdpSocket::bind("127.0.0.2:0").expect("bind");
    let stop = Arc::new(AtomicBool::new(false));
    let ports = rtp_range(h.sip_port);
    let sprayer = std::thread::spawn({
        let stop = stop.clone();
        move || spray(&stranger, ports, &stop)
    });
    let (ok, out) = sipp(&h, &file, "12345", &[]);
    stop.store(true, Ordering::Relaxed);
    let heard = sprayer.join().expect("sprayer");
    assert!(ok, "SIPp call failed:\n{out}\n--- log ---\n{}", h.log());
    assert_eq!(heard, 0, "the stranger received the call's audio");

    let db = Db::connect_url(&h.db_url()).await.expect("db");
    let until = Instant::now() + Duration::from_secs(30);
    let (nodes, prompts, ticket): (String, String, Option<String>) = loop {
        let row = sqlx::query(
            "SELECT nodes, prompts, ticket_number FROM calls
             WHERE caller = $1 AND ended_at IS NOT NULL",
        )
        .bind(CALLER)
        .fetch_optional(db.pool())
        .await
        .expect("calls");
        if let Some(r) = row {
            break (r.get(0), r.get(1), r.get(2));
        }
        assert!(Instant::now() < until, "the call was recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !prompts.contains("transferring") && !nodes.contains("operator"),
        "the stranger's key 0 was acted upon: nodes {nodes}, prompts {prompts}"
    );
    assert!(
        ticket.is_none(),
        "the stranger's tone was taken as the caller's message: ticket {ticket:?}"
    );
}
