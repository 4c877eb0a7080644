//! SIP over TCP against the real `hotline serve` with its default limits: one address that
//! opens more connections than `max_tcp_per_ip` has the excess closed at once, and the
//! silent ones closed after `tcp_first_message_secs`, while a real SIPp call over TCP from
//! another address completes.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::serve::{scenario, sipp, Hotline, Step};

/// Default `max_tcp_per_ip`.
const PER_IP: usize = 20;

async fn connect_from(local: [u8; 4], to: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::from((local, 0))).expect("bind");
    let s = sock
        .connect(to)
        .await
        .expect("connect")
        .into_std()
        .expect("std");
    s.set_nonblocking(false).expect("blocking");
    s
}

/// Whether the server closed `s` (end of stream or reset) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_and_silent_tcp_connections_are_closed_and_a_real_call_completes() {
    let h = Hotline::start(&[]);
    let target: SocketAddr = ([127, 0, 0, 1], h.sip_port).into();
    let mut conns: Vec<TcpStream> = vec![];
    for _ in 0..PER_IP + 10 {
        conns.push(connect_from([127, 0, 0, 2], target).await);
    }
    std::thread::sleep(Duration::from_millis(500));
    let closed_at_once = conns
        .iter_mut()
        .map(|c| closed_within(c, Duration::from_millis(50)))
        .filter(|closed| *closed)
        .count();
    assert!(
        closed_at_once >= 10,
        "past {PER_IP} connections from one address the rest are closed ({closed_at_once} of {})",
        conns.len()
    );

    // A real call over TCP from another address goes through meanwhile.
    let file = h.dir.path().join("tcp.xml");
    std::fs::write(
        &file,
        scenario("13800138071", &[Step::Pause(1000), Step::Bye]),
    )
    .expect("scenario");
    let (ok, out) = sipp(&h, &file, "12345", &["-t", "t1"]);
    assert!(
        ok,
        "SIPp call over TCP failed:\n{out}\n--- log ---\n{}",
        h.log()
    );

    // The connections that never said anything are closed after tcp_first_message_secs.
    let silent_since = Instant::now();
    let until = Instant::now() + Duration::from_secs(15);
    let mut open = conns.len();
    while Instant::now() < until && open > 0 {
        open = conns
            .iter_mut()
            .map(|c| closed_within(c, Duration::from_millis(20)))
            .filter(|closed| !closed)
            .count();
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(open, 0, "silent connections are closed");
    assert!(
        silent_since.elapsed() > Duration::from_secs(3),
        "the admitted connections stayed open until their first-message time ran out"
    );
}
