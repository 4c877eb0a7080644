//! RTP over real loopback UDP between a `MediaSession` and raw sockets (or another session):
//! pacing and header continuity, prompts, symmetric latching, garbage dropped and counted,
//! the no-RTP timeout, DTMF three ways (including SIPp's recorded RFC 4733 captures), keys
//! sent as RFC 4733 or tones and passed through a bridge, recording, ringback, bridging
//! with transcoding and RTCP sender reports.
//!
//! No timing is asserted beyond generous bounds: the machine may be loaded.

use hotline::media::dtmf::TelephoneEvent;
use hotline::media::tone::{dtmf_tone, sine};
use hotline::media::*;
use rtp_rs::{RtpPacketBuilder, RtpReader};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(10);

fn config() -> MediaConfig {
    let min = 20000 + 2 * (rand::random::<u16>() % 10000);
    MediaConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        rtp_port_min: min,
        rtp_port_max: min + 1999,
        rtcp_interval_secs: 1,
        ..MediaConfig::default()
    }
}

/// A raw peer: RTP socket on an even port, RTCP socket on the port above.
struct Peer {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

impl Peer {
    async fn new() -> Peer {
        loop {
            let port = 40000 + 2 * (rand::random::<u16>() % 10000);
            let Ok(rtp) = UdpSocket::bind(("127.0.0.1", port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)).await else {
                continue;
            };
            return Peer { rtp, rtcp };
        }
    }
    fn addr(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap()
    }
}

struct Pkt {
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    marker: bool,
    payload: Vec<u8>,
}

async fn recv_pkt(sock: &UdpSocket) -> Option<Pkt> {
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let r = RtpReader::new(&buf[..n]).ok()?;
    Some(Pkt {
        pt: r.payload_type(),
        seq: r.sequence_number().into(),
        ts: r.timestamp(),
        ssrc: r.ssrc(),
        marker: r.mark(),
        payload: r.payload().to_vec(),
    })
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(pt)
        .sequence(seq.into())
        .timestamp(ts)
        .ssrc(ssrc)
        .marked(marker)
        .payload(payload)
        .build()
        .unwrap()
}

/// Send linear audio as paced 20 ms packets (pacing keeps the receiver's view realistic).
async fn send_audio(sock: &UdpSocket, to: SocketAddr, codec: Codec, pcm: &[i16], seq0: u16) -> u16 {
    let mut seq = seq0;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in pcm.chunks(160) {
        tick.tick().await;
        let mut enc = vec![0u8; frame.len()];
        codec.encode(frame, &mut enc);
        let pkt = rtp(
            codec.static_payload_type(),
            seq,
            seq as u32 * 160,
            0xABCD,
            false,
            &enc,
        );
        sock.send_to(&pkt, to).await.unwrap();
        seq = seq.wrapping_add(1);
    }
    seq
}

fn open(cfg: &MediaConfig) -> MediaSession {
    let pool = PortPool::new(cfg).unwrap();
    MediaSession::open(&pool).unwrap()
}

fn target(s: &MediaSession) -> SocketAddr {
    s.local_addr()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_paces_with_continuous_ssrc_seq_and_timestamp() {
    let cfg = config();
    let s = open(&cfg);
    assert_eq!(s.local_addr().port() % 2, 0, "RTP on an even port");
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));

    let started = Instant::now();
    let first = recv_pkt(&peer.rtp).await.expect("first packet");
    assert!(first.marker, "marker on the first packet of the stream");
    assert_eq!(first.pt, 0);
    assert_eq!(first.ssrc, s.ssrc());
    assert!(first.payload.iter().all(|&b| b == 0xFF), "comfort silence");
    let mut last = first;
    let mut count = 1u32;
    while started.elapsed() < Duration::from_secs(2) {
        let p = recv_pkt(&peer.rtp).await.expect("packet");
        assert_eq!(p.ssrc, last.ssrc);
        assert_eq!(
            p.seq,
            last.seq.wrapping_add(1),
            "no gap in sequence numbers"
        );
        assert_eq!(
            p.ts,
            last.ts.wrapping_add(160),
            "timestamp advances 160 per 20 ms frame"
        );
        assert!(!p.marker);
        assert_eq!(p.payload.len(), 160);
        last = p;
        count += 1;
    }
    let elapsed_frames = started.elapsed().as_millis() as u32 / 20;
    // About one packet per 20 ms: never faster than the clock, and not starved.
    assert!(
        count <= elapsed_frames + 3,
        "{count} packets in {elapsed_frames} frame times"
    );
    assert!(
        count >= elapsed_frames / 2,
        "{count} packets in {elapsed_frames} frame times"
    );
    let st = s.stats();
    assert!(st.packets_out >= count as u64);
    s.close();
    assert_eq!(s.ended().await, EndReason::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_plays_with_marker_and_timestamp_continuity() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcma));
    // Let some comfort silence flow first.
    for _ in 0..5 {
        recv_pkt(&peer.rtp).await.unwrap();
    }
    let pcm = sine(1000.0, 500, -6.0);
    let prompt = Prompt::from_pcm("beep", pcm.clone());
    let player = {
        let s = s.clone();
        let prompt = prompt.clone();
        tokio::spawn(async move { s.play(&prompt, false).await })
    };
    let mut received: Vec<u8> = Vec::new();
    let mut prev: Option<Pkt> = None;
    let mut saw_marker = false;
    // Collect until the prompt has been received and silence follows.
    while received.len() < pcm.len() + 160 * 10 {
        let p = recv_pkt(&peer.rtp).await.unwrap();
        if let Some(q) = &prev {
            assert_eq!(p.seq, q.seq.wrapping_add(1));
            assert_eq!(p.ts, q.ts.wrapping_add(160));
        }
        let is_audio = p.payload.iter().any(|&b| b != 0xD5);
        if is_audio && received.is_empty() {
            assert!(p.marker, "marker on the first packet of the prompt");
            saw_marker = true;
        }
        if is_audio || !received.is_empty() {
            received.extend_from_slice(&p.payload);
        }
        prev = Some(p);
    }
    assert!(saw_marker);
    assert_eq!(player.await.unwrap(), PlayOutcome::Finished);
    let expected: Vec<u8> = pcm.iter().map(|&x| Codec::Pcma.encode_sample(x)).collect();
    assert_eq!(
        &received[..expected.len()],
        &expected[..],
        "prompt arrives intact"
    );
    assert!(received[expected.len()..].iter().all(|&b| b == 0xD5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_behind_nat_latches_once_early_and_resists_strays() {
    let cfg = config();
    let s = open(&cfg);
    // SDP says one address, the caller's packets come from another (NAT).
    let sdp_peer = Peer::new().await;
    let nat = Peer::new().await;
    s.set_latching(Latching::Once { from_ip: None });
    s.start(StreamParams::new(sdp_peer.addr(), Codec::Pcmu));
    assert!(
        recv_pkt(&sdp_peer.rtp).await.is_some(),
        "sends to SDP address first"
    );

    // One packet is not enough: a stray or spoofed packet cannot take the stream.
    nat.rtp
        .send_to(&rtp(0, 1, 160, 7, true, &[0xFF; 160]), target(&s))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.remote_addr(), Some(sdp_peer.addr()));
    for i in 0..3u16 {
        nat.rtp
            .send_to(
                &rtp(0, 2 + i, 320 + i as u32 * 160, 7, false, &[0xFF; 160]),
                target(&s),
            )
            .await
            .unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while s.remote_addr() != Some(nat.addr()) {
        assert!(Instant::now() < deadline, "never latched");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        recv_pkt(&nat.rtp).await.is_some(),
        "RTP now flows to the real source"
    );

    // Once latched, no steady stream from elsewhere moves it again.
    let moved = Peer::new().await;
    for i in 0..10u16 {
        moved
            .rtp
            .send_to(
                &rtp(0, 100 + i, 16000 + i as u32 * 160, 9, false, &[0xFF; 160]),
                target(&s),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.remote_addr(), Some(nat.addr()));
    assert_eq!(s.stats().relatched, 1);
    assert!(s.stats().foreign_dropped >= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_latching_only_the_sdp_address_is_heard() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    let stranger = Peer::new().await;
    s.start(StreamParams {
        dtmf_payload_type: Some(101),
        ..StreamParams::new(peer.addr(), Codec::Pcmu)
    });
    for i in 0..20u16 {
        // Audio, and a key press the stranger would like to make.
        stranger
            .rtp
            .send_to(
                &rtp(0, i, i as u32 * 160, 5, i == 0, &[0xFF; 160]),
                target(&s),
            )
            .await
            .unwrap();
        stranger
            .rtp
            .send_to(
                &rtp(101, 500 + i, 9000, 5, i == 0, &[1, 0x0a, 0, 160]),
                target(&s),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        s.next_digit(Duration::from_millis(800)).await,
        None,
        "a stranger's key press is not heard"
    );
    assert_eq!(s.remote_addr(), Some(peer.addr()));
    assert_eq!(s.stats().foreign_dropped, 40);
    assert!(
        recv_pkt(&peer.rtp).await.is_some(),
        "the peer still hears us"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_before_the_peer_is_confirmed() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.await_confirmation();
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));
    let mut buf = [0u8; 2048];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), peer.rtp.recv_from(&mut buf))
            .await
            .is_err(),
        "no RTP to a claimed address"
    );
    s.confirm();
    assert!(recv_pkt(&peer.rtp).await.is_some(), "RTP once confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_packets_are_dropped_and_counted() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams {
        dtmf_payload_type: Some(101),
        ..StreamParams::new(peer.addr(), Codec::Pcmu)
    });
    let to = target(&s);
    let mut csrc_claims_15 = rtp(0, 1, 1, 1, false, &[]);
    csrc_claims_15[0] |= 0x0F; // 15 CSRCs announced, none present
    let mut bad_version = rtp(0, 2, 2, 1, false, &[0xFF; 20]);
    bad_version[0] = (bad_version[0] & 0x3F) | 0x40; // version 1
    let mut bad_padding = rtp(0, 3, 3, 1, false, &[0xFF; 4]);
    bad_padding[0] |= 0x20; // padding flag with a pad length larger than the packet
    *bad_padding.last_mut().unwrap() = 200;
    let short_event = rtp(101, 4, 4, 1, false, &[5, 0x80]); // telephone-event needs 4 bytes
    let garbage: [&[u8]; 6] = [
        b"",
        b"\x80\x00\x00",
        &csrc_claims_15,
        &bad_version,
        &bad_padding,
        &short_event,
    ];
    for g in garbage {
        peer.rtp.send_to(g, to).await.unwrap();
    }
    // Something valid afterwards still works: a digit.
    for (i, end) in [false, true, true, true].into_iter().enumerate() {
        let ev = TelephoneEvent {
            event: 3,
            end,
            volume: 10,
            duration: 160 * (i as u16 + 1),
        };
        peer.rtp
            .send_to(
                &rtp(101, 10 + i as u16, 8000, 1, i == 0, &ev.to_bytes()),
                to,
            )
            .await
            .unwrap();
    }
    assert_eq!(s.next_digit(WAIT).await, Digit::from_char('3'));
    let deadline = Instant::now() + WAIT;
    while s.stats().packets_in < 10 {
        assert!(Instant::now() < deadline, "{:?}", s.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = s.stats();
    assert_eq!(st.malformed_dropped, 6, "{st:?}");
    assert_eq!(st.packets_in, 10, "{st:?}");
    assert_eq!(st.late_or_duplicate, 0, "{st:?}");
    assert_eq!(st.digits, 1, "{st:?}");
    assert_eq!(s.end_reason(), None, "bad input does not end the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rtp_from_caller_ends_the_session() {
    let cfg = MediaConfig {
        no_rtp_timeout_secs: 1,
        ..config()
    };
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));
    // While the caller sends, the session lives.
    let mut seq = 0;
    for _ in 0..3 {
        seq = send_audio(&peer.rtp, target(&s), Codec::Pcmu, &[0; 8000], seq).await;
        assert_eq!(s.end_reason(), None);
    }
    let r = tokio::time::timeout(WAIT, s.ended())
        .await
        .expect("timeout fired");
    assert_eq!(r, EndReason::RtpTimeout);
    // Pending operations return at once after the end.
    assert_eq!(s.next_digit(WAIT).await, None);
    assert_eq!(
        s.play(&Prompt::from_pcm("x", vec![0; 8000]), true).await,
        PlayOutcome::Ended
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_suspends_the_no_rtp_timer() {
    let cfg = MediaConfig {
        no_rtp_timeout_secs: 1,
        ..config()
    };
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));
    s.set_direction(Direction::SendOnly); // we hold the caller; it may stop sending
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(s.end_reason(), None);
    s.set_direction(Direction::SendRecv);
    let r = tokio::time::timeout(WAIT, s.ended())
        .await
        .expect("timeout fired");
    assert_eq!(r, EndReason::RtpTimeout);
}

/// Extract UDP payloads from a classic little-endian Ethernet/IPv4 pcap file.
fn pcap_udp_payloads(path: &str) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut pos = 24;
    let mut out = Vec::new();
    while pos + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let frame = &b[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
            continue;
        }
        let ihl = (frame[14] & 0x0F) as usize * 4;
        out.push(frame[14 + ihl + 8..].to_vec());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_digits_from_sipp_captures_count_once() {
    let dir = "/usr/share/sip-tester";
    assert!(
        std::path::Path::new(dir).exists(),
        "needs Debian package sip-tester (SIPp's RFC 4733 captures)"
    );
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams {
        dtmf_payload_type: Some(101),
        ..StreamParams::new(peer.addr(), Codec::Pcmu)
    });
    // Every key press, the way SIPp's play_pcap_audio sends it: the capture replayed as
    // is, so pressing "5" twice repeats the very same timestamps and sequence numbers.
    let keys = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound", "5", "5",
    ];
    for k in keys {
        for pkt in pcap_udp_payloads(&format!("{dir}/dtmf_2833_{k}.pcap")) {
            peer.rtp.send_to(&pkt, target(&s)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The pause between two key presses.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut got = String::new();
    while let Some(d) = s.next_digit(Duration::from_secs(2)).await {
        got.push(d.as_char());
    }
    // Each press counts once despite its three end packets, and a repeated key counts
    // again.
    assert_eq!(got, "0123456789*#55");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inband_tones_become_digits_when_no_telephone_event() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcma));
    let mut pcm = Vec::new();
    for c in "42#".chars() {
        pcm.extend(dtmf_tone(Digit::from_char(c).unwrap(), 100, -12.0, 2.0));
        pcm.extend(vec![0i16; 800]);
    }
    send_audio(&peer.rtp, target(&s), Codec::Pcma, &pcm, 0).await;
    let mut got = String::new();
    while let Some(d) = s.next_digit(Duration::from_secs(2)).await {
        got.push(d.as_char());
    }
    assert_eq!(got, "42#");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_info_digit_and_rtp_digit_are_deduplicated() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams {
        dtmf_payload_type: Some(96),
        ..StreamParams::new(peer.addr(), Codec::Pcmu)
    });
    // A phone that sends both INFO and RFC 4733 for one key press.
    s.push_digit(Digit::from_char('7').unwrap());
    let ev = TelephoneEvent {
        event: 7,
        end: true,
        volume: 10,
        duration: 800,
    };
    peer.rtp
        .send_to(&rtp(96, 1, 4000, 1, true, &ev.to_bytes()), target(&s))
        .await
        .unwrap();
    assert_eq!(s.next_digit(WAIT).await, Digit::from_char('7'));
    assert_eq!(s.next_digit(Duration::from_millis(800)).await, None);
    // INFO alone works too.
    s.push_digit(Digit::from_char('8').unwrap());
    assert_eq!(s.next_digit(WAIT).await, Digit::from_char('8'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digit_interrupts_prompt_with_barge_in() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams {
        dtmf_payload_type: Some(101),
        ..StreamParams::new(peer.addr(), Codec::Pcmu)
    });
    let long = Prompt::from_pcm("long", sine(500.0, 20_000, -10.0));
    let player = {
        let s = s.clone();
        tokio::spawn(async move { s.play(&long, true).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ev = TelephoneEvent {
        event: 11,
        end: true,
        volume: 10,
        duration: 800,
    };
    peer.rtp
        .send_to(&rtp(101, 1, 4000, 1, true, &ev.to_bytes()), target(&s))
        .await
        .unwrap();
    let out = tokio::time::timeout(WAIT, player)
        .await
        .expect("prompt stopped")
        .unwrap();
    assert_eq!(
        out,
        PlayOutcome::Interrupted(Digit::from_char('#').unwrap())
    );
    // After the interruption the session sends silence again (skip what was queued).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut buf = [0u8; 2048];
    while peer.rtp.try_recv_from(&mut buf).is_ok() {}
    let mut silent = 0;
    for _ in 0..20 {
        let p = recv_pkt(&peer.rtp).await.unwrap();
        if p.payload.iter().all(|&b| b == 0xFF) {
            silent += 1;
        }
    }
    assert!(silent >= 15, "prompt kept playing after barge-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_ends_on_silence_and_writes_wav() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));
    let rec = {
        let s = s.clone();
        tokio::spawn(async move {
            s.record(RecordOptions {
                max: Duration::from_secs(30),
                silence_end: Some(Duration::from_millis(1500)),
                stop_on_hash: true,
            })
            .await
        })
    };
    let voice = sine(300.0, 1000, -12.0);
    let seq = send_audio(&peer.rtp, target(&s), Codec::Pcmu, &voice, 0).await;
    // Then the caller is quiet (silence packets keep coming).
    let sender = {
        let sock = Arc::new(peer.rtp);
        let to = target(&s);
        tokio::spawn(
            async move { send_audio(&sock, to, Codec::Pcmu, &vec![0; 8 * 6000], seq).await },
        )
    };
    let rec = tokio::time::timeout(WAIT, rec)
        .await
        .expect("ended")
        .unwrap()
        .unwrap();
    sender.abort();
    assert_eq!(rec.ended_by, RecordEnd::Silence);
    assert!(rec.heard_voice);
    // Voice plus at most the 200 ms tail kept after it.
    assert!(
        rec.pcm.len() >= 8000 && rec.pcm.len() <= 8000 + 1600 + 160,
        "{}",
        rec.pcm.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msg.wav");
    rec.write_wav(&path).unwrap();
    let back = Prompt::load(&path).unwrap();
    assert_eq!(back.pcm(), &rec.pcm[..]);
    let loud = back.pcm()[..8000].iter().filter(|s| s.abs() > 1000).count();
    assert!(loud > 4000, "the recorded tone is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_stops_on_hash_and_at_max_length() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));
    let opts = RecordOptions {
        max: Duration::from_millis(1500),
        silence_end: None,
        stop_on_hash: true,
    };
    // Nobody sends: the wall clock still bounds the recording.
    let rec = tokio::time::timeout(WAIT, s.record(opts))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.ended_by, RecordEnd::MaxLength);
    assert!(!rec.heard_voice);

    let hash = {
        let s = s.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.push_digit(Digit::from_char('#').unwrap());
        }
    };
    let (rec, _) = tokio::join!(
        s.record(RecordOptions {
            max: Duration::from_secs(20),
            ..opts
        }),
        hash
    );
    assert_eq!(rec.unwrap().ended_by, RecordEnd::Hash);
    assert_eq!(
        s.next_digit(Duration::from_millis(100)).await,
        None,
        "# consumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_replayed_g711a_capture_from_sipp() {
    let path = "/usr/share/sip-tester/g711a.pcap";
    assert!(
        std::path::Path::new(path).exists(),
        "needs Debian package sip-tester"
    );
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcma));
    let pkts = pcap_udp_payloads(path);
    let audio_samples: usize = pkts
        .iter()
        .filter_map(|p| RtpReader::new(p).ok())
        .filter(|r| r.payload_type() == 8)
        .map(|r| r.payload().len())
        .sum();
    assert!(audio_samples > 8000);
    let rec = {
        let s = s.clone();
        tokio::spawn(async move {
            s.record(RecordOptions {
                max: Duration::from_secs(60),
                silence_end: None,
                stop_on_hash: true,
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    for p in &pkts {
        peer.rtp.send_to(p, target(&s)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.push_digit(Digit::from_char('#').unwrap());
    let rec = rec.await.unwrap().unwrap();
    assert_eq!(rec.ended_by, RecordEnd::Hash);
    assert!(rec.heard_voice);
    // Every audio packet of the capture is in the recording.
    assert_eq!(rec.pcm.len(), audio_samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringback_then_bridge_transcodes_both_ways_until_one_side_ends() {
    let cfg = config();
    let pool = PortPool::new(&cfg).unwrap();
    let caller = MediaSession::open(&pool).unwrap();
    let operator = MediaSession::open(&pool).unwrap();
    let pc = Peer::new().await; // caller's phone, μ-law
    let po = Peer::new().await; // operator's phone, A-law
    caller.start(StreamParams::new(pc.addr(), Codec::Pcmu));
    operator.start(StreamParams::new(po.addr(), Codec::Pcma));

    // Ringback to the caller while the operator's phone rings: 425 Hz bursts.
    caller.start_ringback();
    let mut tone = Vec::new();
    while tone.len() < 8000 {
        let p = recv_pkt(&pc.rtp).await.unwrap();
        tone.extend(p.payload.iter().map(|&c| Codec::Pcmu.decode_sample(c)));
    }
    let crossings = tone.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    assert!(
        (700..=900).contains(&crossings),
        "≈425 Hz ringback, {crossings} crossings/s"
    );

    let bridged = {
        let (a, b) = (caller.clone(), operator.clone());
        tokio::spawn(async move { bridge(&a, &b).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Forget what the phones were sent before the bridge (ringback, silence).
    let mut buf = [0u8; 2048];
    while pc.rtp.try_recv_from(&mut buf).is_ok() {}
    while po.rtp.try_recv_from(&mut buf).is_ok() {}
    let caller_to = target(&caller);
    let operator_to = target(&operator);
    // Caller speaks a 1 kHz tone (μ-law); the operator hears it in A-law.
    let send_c = {
        let sock = Arc::new(pc.rtp);
        let s2 = sock.clone();
        (
            tokio::spawn(async move {
                send_audio(&s2, caller_to, Codec::Pcmu, &sine(1000.0, 3000, -10.0), 0).await
            }),
            sock,
        )
    };
    // Operator speaks 400 Hz (A-law); the caller hears it in μ-law.
    let send_o = {
        let sock = Arc::new(po.rtp);
        let s2 = sock.clone();
        (
            tokio::spawn(async move {
                send_audio(&s2, operator_to, Codec::Pcma, &sine(400.0, 3000, -10.0), 0).await
            }),
            sock,
        )
    };
    let heard_by = |sock: Arc<UdpSocket>, codec: Codec, pt: u8| async move {
        // Skip the first half second, then measure frequency over one second.
        let mut pcm = Vec::new();
        let mut skipped = 0;
        while pcm.len() < 8000 {
            let p = recv_pkt(&sock).await.unwrap();
            assert_eq!(p.pt, pt);
            skipped += 1;
            if skipped > 25 {
                pcm.extend(p.payload.iter().map(|&c| codec.decode_sample(c)));
            }
        }
        pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count() / 2
    };
    let (f_op, f_caller) = tokio::join!(
        heard_by(send_o.1.clone(), Codec::Pcma, 8),
        heard_by(send_c.1.clone(), Codec::Pcmu, 0)
    );
    assert!(
        (900..=1100).contains(&f_op),
        "operator hears the caller's 1 kHz: {f_op} Hz"
    );
    assert!(
        (350..=450).contains(&f_caller),
        "caller hears the operator's 400 Hz: {f_caller} Hz"
    );
    send_c.0.await.unwrap();
    send_o.0.await.unwrap();

    operator.close();
    let end = tokio::time::timeout(WAIT, bridged)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(end, BridgeEnd::SecondEnded(EndReason::Closed));
    assert_eq!(
        caller.end_reason(),
        None,
        "the caller's leg lives on (e.g. back to the menu)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_sender_reports_are_sent_and_incoming_rtcp_is_ignored() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));
    let mut buf = [0u8; 512];
    let (n, from) = tokio::time::timeout(WAIT, peer.rtcp.recv_from(&mut buf))
        .await
        .expect("an RTCP packet")
        .unwrap();
    assert_eq!(
        from.port(),
        s.local_addr().port() + 1,
        "RTCP from the odd port"
    );
    assert_eq!(buf[1], 200, "sender report");
    assert_eq!(&buf[4..8], &s.ssrc().to_be_bytes());
    assert!(n >= 28);
    // The peer's receiver report is accepted and ignored; garbage is counted.
    let rr = [0x80u8, 201, 0, 1, 0, 0, 0, 1];
    let rtcp_to = SocketAddr::new(from.ip(), from.port());
    peer.rtcp.send_to(&rr, rtcp_to).await.unwrap();
    peer.rtcp.send_to(b"junk", rtcp_to).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let st = s.stats();
        if st.rtcp_in == 1 && st.rtcp_malformed == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.stats().rtcp_out >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_come_from_the_range_and_are_released_on_close() {
    let cfg = MediaConfig {
        rtp_port_max: 0,
        ..config()
    };
    let cfg = MediaConfig {
        rtp_port_max: cfg.rtp_port_min + 3, // two pairs only
        ..cfg
    };
    let pool = PortPool::new(&cfg).unwrap();
    let a = MediaSession::open(&pool).unwrap();
    let b = MediaSession::open(&pool).unwrap();
    for s in [&a, &b] {
        let p = s.local_addr().port();
        assert!(p >= cfg.rtp_port_min && p < cfg.rtp_port_max && p % 2 == 0);
    }
    assert!(matches!(
        MediaSession::open(&pool),
        Err(MediaError::NoFreePort { .. })
    ));
    let port_a = a.local_addr().port();
    drop(a); // last handle gone: the session ends and its sockets close
    let deadline = Instant::now() + WAIT;
    let c = loop {
        if let Ok(c) = MediaSession::open(&pool) {
            break c;
        }
        assert!(Instant::now() < deadline, "port never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(c.local_addr().port(), port_a);
    assert!(PortPool::new(&MediaConfig {
        rtp_port_min: 3000,
        rtp_port_max: 3000,
        ..cfg
    })
    .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_durations_do_not_overflow() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcmu));
    let closer = {
        let s = s.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.close();
        }
    };
    let opts = RecordOptions {
        max: Duration::MAX,
        silence_end: None,
        stop_on_hash: false,
    };
    let (d, r, _) = tokio::join!(s.next_digit(Duration::MAX), s.record(opts), closer);
    assert_eq!(d, None);
    assert_eq!(r.unwrap().ended_by, RecordEnd::SessionEnded);
}

/// Packets a peer receives within `within`.
async fn recv_for(sock: &UdpSocket, within: Duration) -> Vec<Pkt> {
    let until = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    while let Ok(Some(p)) = tokio::time::timeout_at(until, recv_pkt(sock)).await {
        got.push(p);
    }
    got
}

/// One telephone-event packet: marker, end bit, duration.
type EventPkt = (bool, bool, u16);

/// Telephone-events among `pkts` (payload type `pt`), one entry per key press: the event
/// code and its packets, all checked to share one timestamp.
fn presses(pkts: &[Pkt], pt: u8) -> Vec<(u8, Vec<EventPkt>)> {
    let mut out: Vec<(u32, u8, Vec<EventPkt>)> = Vec::new();
    for p in pkts.iter().filter(|p| p.pt == pt) {
        let ev = TelephoneEvent::parse(&p.payload).expect("a 4-byte event");
        match out.last_mut() {
            Some((ts, code, v)) if *ts == p.ts => {
                assert_eq!(*code, ev.event, "one event per timestamp");
                v.push((p.marker, ev.end, ev.duration));
            }
            _ => out.push((p.ts, ev.event, vec![(p.marker, ev.end, ev.duration)])),
        }
    }
    out.into_iter().map(|(_, code, v)| (code, v)).collect()
}

fn tones_in(pkts: &[Pkt], codec: Codec) -> String {
    let pcm: Vec<i16> = pkts
        .iter()
        .filter(|p| p.pt == codec.static_payload_type())
        .flat_map(|p| p.payload.iter().map(|&c| codec.decode_sample(c)))
        .collect();
    let mut keys = String::new();
    dtmf::ToneDetector::new().feed(&pcm, |d| keys.push(d.as_char()));
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_sent_as_telephone_events_when_negotiated() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams {
        dtmf_payload_type: Some(101),
        ..StreamParams::new(peer.addr(), Codec::Pcmu)
    });
    recv_pkt(&peer.rtp).await.expect("the stream runs");
    for c in "5#5".chars() {
        s.send_digit(Digit::from_char(c).unwrap());
    }
    let pkts = recv_for(&peer.rtp, Duration::from_millis(1200)).await;
    let got = presses(&pkts, 101);
    let codes: Vec<u8> = got.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [5, 11, 5], "each key once, in order");
    for (_, p) in &got {
        assert_eq!(
            p,
            &[
                (true, false, 160),
                (false, false, 320),
                (false, false, 480),
                (false, false, 640),
                (false, true, 800),
                (false, true, 800),
                (false, true, 800),
            ],
            "marker on the first, growing durations, the end three times"
        );
    }
    // One stream: the events take their place in the sequence numbers, and the audio after
    // a key keeps the timestamps of the frames the key took.
    for w in pkts.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].ssrc, w[0].ssrc);
    }
    let audio: Vec<&Pkt> = pkts.iter().filter(|p| p.pt == 0).collect();
    assert!(audio
        .windows(2)
        .all(|w| w[1].ts.wrapping_sub(w[0].ts) % 160 == 0));
    assert_eq!(
        tones_in(&pkts, Codec::Pcmu),
        "",
        "no tones besides the events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_sent_as_tones_without_telephone_event() {
    let cfg = config();
    let s = open(&cfg);
    let peer = Peer::new().await;
    s.start(StreamParams::new(peer.addr(), Codec::Pcma));
    // Over ringback: the key's tone replaces it while it sounds.
    s.start_ringback();
    recv_pkt(&peer.rtp).await.expect("the stream runs");
    for c in "1#1*".chars() {
        s.send_digit(Digit::from_char(c).unwrap());
    }
    let pkts = recv_for(&peer.rtp, Duration::from_millis(1200)).await;
    assert!(pkts.iter().all(|p| p.pt == 8), "audio only");
    assert_eq!(tones_in(&pkts, Codec::Pcma), "1#1*");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_passes_keys_on_as_the_other_side_takes_them() {
    let cfg = config();
    let pool = PortPool::new(&cfg).unwrap();
    let caller = MediaSession::open(&pool).unwrap();
    let agent = MediaSession::open(&pool).unwrap();
    let pc = Peer::new().await; // the caller's phone: PCMU, no telephone-event
    let pa = Peer::new().await; // the agent's phone: PCMA with telephone-event 96
    caller.start(StreamParams::new(pc.addr(), Codec::Pcmu));
    agent.start(StreamParams {
        dtmf_payload_type: Some(96),
        ..StreamParams::new(pa.addr(), Codec::Pcma)
    });
    let bridged = {
        let (a, b) = (caller.clone(), agent.clone());
        tokio::spawn(async move { bridge(&a, &b).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The agent's phone presses 7 (RFC 4733): the caller hears its tones.
    let to_agent = target(&agent);
    for (i, (end, dur)) in [
        (false, 160),
        (false, 320),
        (true, 480),
        (true, 480),
        (true, 480),
    ]
    .into_iter()
    .enumerate()
    {
        let ev = TelephoneEvent {
            event: 7,
            end,
            volume: 10,
            duration: dur,
        };
        let pkt = rtp(96, i as u16, 8000, 9, i == 0, &ev.to_bytes());
        pa.rtp.send_to(&pkt, to_agent).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The caller presses 3 by SIP INFO: the agent's phone gets telephone-events.
    caller.push_digit(Digit::from_char('3').unwrap());
    let (to_caller, to_agent) = tokio::join!(
        recv_for(&pc.rtp, Duration::from_millis(1000)),
        recv_for(&pa.rtp, Duration::from_millis(1000))
    );
    assert_eq!(tones_in(&to_caller, Codec::Pcmu), "7");
    let got = presses(&to_agent, 96);
    assert_eq!(got.len(), 1, "one key: {got:?}");
    assert_eq!(got[0].0, 3);
    assert_eq!(got[0].1.iter().filter(|(_, end, _)| *end).count(), 3);
    // Digits heard are still queued on their own session (a menu after the bridge).
    assert_eq!(agent.next_digit(WAIT).await, Digit::from_char('7'));
    assert_eq!(caller.next_digit(WAIT).await, Digit::from_char('3'));
    bridged.abort();
}
