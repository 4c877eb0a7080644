//! Spoofed INVITEs that are never ACKed, against the real `hotline serve` with its default
//! limits: hotline sends no RTP to the address their SDP names (no traffic reflection), a
//! source past `max_unconfirmed_per_ip` setups gets 503, and a real SIPp caller from
//! another address is still answered with audio while the spoofed setups hang.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::attack::{count_datagrams, finals_by_call, invite};
use common::serve::{scenario, Hotline, Step};

/// Loopback addresses the spoofer sends from, and INVITEs from each.
const SPOOFERS: u8 = 6;
const INVITES_EACH: usize = 12;

struct Spoofer {
    sip: UdpSocket,
    rtp: UdpSocket,
}

fn bind(ip: [u8; 4]) -> UdpSocket {
    UdpSocket::bind(SocketAddr::from((ip, 0))).expect("bind on loopback")
}

/// Mean absolute value of the PCMU audio in the RTP packets `sock` receives until `call`
/// has ended (at most `wait`): the whole call, however long SIPp takes to start.
fn loudness_heard<T>(
    sock: &UdpSocket,
    call: &std::thread::JoinHandle<T>,
    wait: Duration,
) -> (usize, f64) {
    let until = std::time::Instant::now() + wait;
    let mut buf = [0u8; 2048];
    let (mut packets, mut sum, mut samples) = (0usize, 0f64, 0usize);
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    while std::time::Instant::now() < until && !call.is_finished() {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if n <= 12 || buf[1] & 0x7f != 0 {
            continue;
        }
        packets += 1;
        for &b in &buf[12..n] {
            sum += f64::from(hotline::media::g711::ulaw_to_linear(b)).abs();
            samples += 1;
        }
    }
    (packets, sum / samples.max(1) as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_spoofed_invites_reflect_nothing_and_do_not_keep_callers_out() {
    let h = Hotline::start(&[]);
    let target: SocketAddr = ([127, 0, 0, 1], h.sip_port).into();
    let spoofers: Vec<Spoofer> = (0..SPOOFERS)
        .map(|i| Spoofer {
            sip: bind([127, 0, 0, 2 + i]),
            rtp: bind([127, 0, 0, 2 + i]),
        })
        .collect();
    for (i, s) in spoofers.iter().enumerate() {
        let from = s.sip.local_addr().expect("addr");
        let media = s.rtp.local_addr().expect("addr");
        for n in 0..INVITES_EACH {
            let call_id = format!("spoof-{i}-{n}@{}", from.ip());
            s.sip
                .send_to(&invite(target, from, media, &call_id), target)
                .expect("send");
        }
    }
    // Every spoofed setup is answered or refused within a few seconds; none is ACKed.
    let finals: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = spoofers
            .iter()
            .map(|s| scope.spawn(|| finals_by_call(&s.sip, Duration::from_secs(4))))
            .collect();
        handles
            .into_iter()
            .map(|t| t.join().expect("reader"))
            .collect()
    });
    for (i, f) in finals.iter().enumerate() {
        let refused = f.values().filter(|c| **c == 503).count();
        let answered = f.values().filter(|c| **c == 200).count();
        assert!(
            refused >= INVITES_EACH - 10,
            "spoofer {i}: past 10 unconfirmed setups the source gets 503 ({f:?})"
        );
        assert!(answered <= 10, "spoofer {i}: {answered} setups answered");
    }
    for (i, s) in spoofers.iter().enumerate() {
        assert_eq!(
            count_datagrams(&s.rtp, Duration::from_millis(200)),
            0,
            "spoofer {i}'s SDP address got RTP before any ACK"
        );
    }

    // A real caller: SIPp signals from 127.0.0.1, its SDP names a socket this test reads.
    let ear = bind([127, 0, 0, 1]);
    let ear_port = ear.local_addr().expect("addr").port();
    let file = h.dir.path().join("caller.xml");
    let xml = scenario("13800138051", &[Step::Pause(4000), Step::Bye])
        .replace("m=audio [media_port]", &format!("m=audio {ear_port}"));
    std::fs::write(&file, xml).expect("scenario");
    let call = std::thread::spawn({
        let (sip_port, dir) = (h.sip_port, h.dir.path().to_path_buf());
        move || {
            let out = std::process::Command::new("sipp")
                .arg(format!("127.0.0.1:{sip_port}"))
                .args(["-sf"])
                .arg(&file)
                .args(["-s", "12345", "-i", "127.0.0.1", "-m", "1", "-nostdin"])
                .args(["-p", &common::free_port().to_string()])
                .args(["-timeout", "60s"])
                .current_dir(dir)
                .output()
                .expect("sipp runs");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    });
    let (packets, loudness) = loudness_heard(&ear, &call, Duration::from_secs(60));
    let (ok, out) = call.join().expect("sipp thread");
    assert!(
        ok,
        "the real call completes:\n{out}\n--- log ---\n{}",
        h.log()
    );
    assert!(
        packets > 50,
        "the real caller hears the hotline ({packets} packets)"
    );
    assert!(
        loudness > 100.0,
        "what it hears is the greeting, not silence (mean level {loudness:.0})"
    );
    for (i, s) in spoofers.iter().enumerate() {
        assert_eq!(
            count_datagrams(&s.rtp, Duration::from_millis(100)),
            0,
            "spoofer {i}'s SDP address never gets RTP"
        );
    }
}
