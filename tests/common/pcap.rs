//! Writes pcap files of RTP that SIPp replays into a call (`play_pcap_audio`): key presses
//! as RFC 4733 telephone-events with a fresh timestamp per press (SIPp's own pcaps reuse one
//! timestamp, so a repeated key would look like a retransmission), and speech as PCMU.
#![allow(dead_code)]

use std::path::Path;

use hotline::media::g711::linear_to_ulaw;

struct Writer {
    out: Vec<u8>,
    seq: u16,
    ssrc: u32,
    t_us: u64,
}

impl Writer {
    fn new() -> Writer {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        Writer {
            out,
            seq: 1000,
            ssrc: 0x1234_5678,
            t_us: 0,
        }
    }

    fn rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let mut rtp = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        rtp.extend_from_slice(&self.seq.to_be_bytes());
        rtp.extend_from_slice(&ts.to_be_bytes());
        rtp.extend_from_slice(&self.ssrc.to_be_bytes());
        rtp.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&40000u16.to_be_bytes());
        frame.extend_from_slice(&40002u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&rtp);
        self.out
            .extend_from_slice(&((self.t_us / 1_000_000) as u32).to_le_bytes());
        self.out
            .extend_from_slice(&((self.t_us % 1_000_000) as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&frame);
    }
}

/// Key presses (`0-9*#`), each 100 ms long with `gap_ms` between, as RFC 4733 events at
/// payload type `pt`; three end packets per press, as phones send them.
pub fn dtmf(path: &Path, keys: &str, gap_ms: u64, pt: u8) {
    let mut w = Writer::new();
    let mut ts: u32 = 16000;
    for k in keys.chars() {
        let ev = match k {
            '0'..='9' => k as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => panic!("not a key: {k}"),
        };
        for i in 1..=5u16 {
            let dur = i * 160;
            w.rtp(pt, i == 1, ts, &[ev, 10, (dur >> 8) as u8, dur as u8]);
            w.t_us += 20_000;
        }
        for _ in 0..3 {
            w.rtp(
                pt,
                false,
                ts,
                &[ev, 0x80 | 10, (800u16 >> 8) as u8, 800u16 as u8],
            );
            w.t_us += 5_000;
        }
        w.t_us += gap_ms * 1000;
        ts = ts.wrapping_add(((100 + gap_ms + 15) * 8) as u32);
    }
    std::fs::write(path, w.out).expect("write pcap");
}

/// 8 kHz speech as PCMU packets every 20 ms.
pub fn speech(path: &Path, pcm: &[i16]) {
    let mut w = Writer::new();
    let mut ts: u32 = 0;
    for (i, chunk) in pcm.chunks(160).enumerate() {
        let mut payload: Vec<u8> = chunk.iter().map(|s| linear_to_ulaw(*s)).collect();
        payload.resize(160, 0xff);
        w.rtp(0, i == 0, ts, &payload);
        ts = ts.wrapping_add(160);
        w.t_us += 20_000;
    }
    std::fs::write(path, w.out).expect("write pcap");
}

/// Reads a WAV file as 8 kHz mono samples (converting with sox when it is not).
pub fn wav_8k(path: &Path) -> Vec<i16> {
    let tmp = tempfile::Builder::new()
        .suffix(".wav")
        .tempfile()
        .expect("tmp");
    let ok = std::process::Command::new("sox")
        .arg(path)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(tmp.path())
        .status()
        .expect("sox runs")
        .success();
    assert!(ok, "sox converts {}", path.display());
    let mut r = hound::WavReader::open(tmp.path()).expect("wav");
    r.samples::<i16>().map(|s| s.expect("sample")).collect()
}
