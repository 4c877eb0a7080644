//! Raw RTP phones on loopback for media tests: a phone talks (a steady tone as paced 20 ms
//! G.711 packets) and listens (decodes what a session sends it); `tone_amplitude` tells
//! which tones a stretch of audio holds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hotline::media::{Codec, StreamParams};
use rtp_rs::{RtpPacketBuilder, RtpReader};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// How long a phone waits for a packet before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// A phone: RTP socket on an even port, RTCP socket on the port above (so a session's
/// sender reports land on a socket of this phone, never on another test's).
pub struct Phone {
    pub rtp: Arc<UdpSocket>,
    _rtcp: UdpSocket,
    pub codec: Codec,
    talking: Option<JoinHandle<()>>,
}

impl Phone {
    pub async fn new(codec: Codec) -> Phone {
        loop {
            let port = 40000 + 2 * (rand::random::<u16>() % 10000);
            let Ok(rtp) = UdpSocket::bind(("127.0.0.1", port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)).await else {
                continue;
            };
            return Phone {
                rtp: Arc::new(rtp),
                _rtcp: rtcp,
                codec,
                talking: None,
            };
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.rtp.local_addr().expect("local addr")
    }

    /// What the session facing this phone negotiates: this phone's address and codec.
    pub fn params(&self) -> StreamParams {
        StreamParams::new(self.addr(), self.codec)
    }

    /// Send a steady `freq` tone at -10 dBFS to `to` until `silence` or drop.
    pub fn talk(&mut self, to: SocketAddr, freq: f64) {
        self.silence();
        let sock = self.rtp.clone();
        let codec = self.codec;
        let ssrc: u32 = rand::random();
        self.talking = Some(tokio::spawn(async move {
            let amp = 32767.0 * 10f64.powf(-10.0 / 20.0);
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut enc = [0u8; 160];
            for n in 0u32.. {
                tick.tick().await;
                for (i, e) in enc.iter_mut().enumerate() {
                    let t = (n as usize * 160 + i) as f64 / 8000.0;
                    let s = amp * (2.0 * std::f64::consts::PI * freq * t).sin();
                    *e = codec.encode_sample(s as i16);
                }
                let pkt = RtpPacketBuilder::new()
                    .payload_type(codec.static_payload_type())
                    .sequence((n as u16).into())
                    .timestamp(n.wrapping_mul(160))
                    .ssrc(ssrc)
                    .payload(&enc)
                    .build()
                    .expect("rtp packet");
                if sock.send_to(&pkt, to).await.is_err() {
                    return;
                }
            }
        }));
    }

    /// Stop talking.
    pub fn silence(&mut self) {
        if let Some(t) = self.talking.take() {
            t.abort();
        }
    }

    /// Forget what was sent to this phone so far.
    pub fn flush(&self) {
        let mut buf = [0u8; 2048];
        while self.rtp.try_recv_from(&mut buf).is_ok() {}
    }

    /// The next `samples` of audio sent to this phone, decoded; the first `skip` samples
    /// are dropped (the path from a change to the ear fills up first).
    pub async fn listen(&self, skip: usize, samples: usize) -> Vec<i16> {
        let mut pcm = Vec::with_capacity(skip + samples);
        let mut buf = [0u8; 2048];
        while pcm.len() < skip + samples {
            let (n, _) = tokio::time::timeout(WAIT, self.rtp.recv_from(&mut buf))
                .await
                .expect("the session keeps sending to the phone")
                .expect("recv");
            let Ok(r) = RtpReader::new(&buf[..n]) else {
                continue;
            };
            assert_eq!(
                r.payload_type(),
                self.codec.static_payload_type(),
                "audio in the phone's codec"
            );
            pcm.extend(r.payload().iter().map(|&c| self.codec.decode_sample(c)));
        }
        pcm.drain(..skip);
        pcm.truncate(samples);
        pcm
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.silence();
    }
}

/// Peak amplitude of the `freq` component of 8 kHz audio (Goertzel over the whole slice):
/// about 10 000 for a -10 dBFS tone, near 0 when the tone is absent.
pub fn tone_amplitude(pcm: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in pcm {
        let s = v as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = (s1 * s1 + s2 * s2 - c * s1 * s2).max(0.0);
    2.0 * power.sqrt() / pcm.len().max(1) as f64
}
