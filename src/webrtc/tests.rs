//! A second str0m `Rtc`, full ICE and controlling as a browser is, plays the browser: it
//! offers, [`Gateway::answer`] answers, and the two talk over loopback UDP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec as RtcCodec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;

use super::leg::{audio_mid, SILENT_LIMIT};
use super::{Gateway, WebRtcError};
use crate::media::g711::{linear_to_ulaw, ulaw_to_linear};
use crate::media::{MediaConfig, PortPool, Prompt, RecordOptions};

fn gateway() -> Gateway {
    let cfg = MediaConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        ..MediaConfig::default()
    };
    Gateway::new(Arc::new(PortPool::new(&cfg).expect("ports")))
}

fn tone(freq: f64, secs: f64) -> Vec<i16> {
    (0..(8000.0 * secs) as usize)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * freq / 8000.0).sin() * 8000.0) as i16)
        .collect()
}

/// The pitch of a pure tone, from its zero crossings.
fn pitch(pcm: &[i16]) -> f64 {
    let crossings = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (pcm.len() as f64 / 8000.0)
}

/// An offer from a str0m `Rtc` with only `codecs` enabled and one `kind` section.
fn offer_of(kind: MediaKind, pcmu: bool, opus: bool) -> String {
    let mut cfg = RtcConfig::new().clear_codecs();
    cfg = cfg
        .enable_pcmu(pcmu, false)
        .enable_opus(opus, false)
        .enable_vp8(true);
    let mut rtc = cfg.build(Instant::now());
    let host = Candidate::host("127.0.0.1:9".parse().expect("addr"), "udp").expect("candidate");
    rtc.add_local_candidate(host);
    let mut api = rtc.sdp_api();
    api.add_media(kind, Direction::SendRecv, None, None, None);
    let (offer, _) = api.apply().expect("an offer");
    offer.to_sdp_string()
}

struct FakeBrowser {
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    connected: bool,
    /// What it was sent, decoded.
    heard: Vec<i16>,
    /// Its microphone: a 1 kHz tone, sent 20 ms at a time while `speak`ing.
    said: u64,
}

impl FakeBrowser {
    async fn offer() -> (FakeBrowser, String, SdpPendingOffer) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = sock.local_addr().expect("addr");
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            .enable_pcmu(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let b = FakeBrowser {
            rtc,
            sock,
            local,
            mid,
            connected: false,
            heard: vec![],
            said: 0,
        };
        (b, offer.to_sdp_string(), pending)
    }

    fn accept(&mut self, pending: SdpPendingOffer, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("answer parses");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
    }

    fn pcmu(&mut self) -> Pt {
        self.rtc
            .writer(self.mid)
            .and_then(|w| {
                w.payload_params()
                    .find(|p| p.spec().codec == RtcCodec::PCMU)
                    .map(|p| p.pt())
            })
            .expect("PCMU negotiated")
    }

    /// Runs the browser's side for `d` (or until connected, if `until_connected`).
    async fn run(&mut self, d: Duration, speak: bool, until_connected: bool) {
        let end = Instant::now() + d;
        let mut next_frame = Instant::now();
        let mic = tone(1000.0, 1.0);
        let mut buf = vec![0u8; 2048];
        loop {
            let timeout = loop {
                match self.rtc.poll_output().expect("browser rtc") {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.sock.send_to(&t.contents, t.destination).await;
                    }
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(Event::MediaData(m)) => {
                        self.heard.extend(m.data.iter().map(|&c| ulaw_to_linear(c)))
                    }
                    Output::Event(_) => {}
                }
            };
            let now = Instant::now();
            if now >= end || (until_connected && self.connected) {
                return;
            }
            if speak && self.connected && now >= next_frame {
                let start = (self.said as usize * 160) % (mic.len() - 160);
                let frame: Vec<u8> = mic[start..start + 160]
                    .iter()
                    .map(|&s| linear_to_ulaw(s))
                    .collect();
                let time = MediaTime::new(self.said * 160, Frequency::EIGHT_KHZ);
                let pt = self.pcmu();
                if let Some(w) = self.rtc.writer(self.mid) {
                    w.write(pt, now, time, frame).expect("frame written");
                }
                self.said += 1;
                next_frame += Duration::from_millis(20);
                continue;
            }
            let mut wake = timeout.min(end);
            if speak && self.connected {
                wake = wake.min(next_frame);
            }
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    let (n, source) = r.expect("recv");
                    let rx = Receive::new(Protocol::Udp, source, self.local, &buf[..n]).expect("datagram");
                    self.rtc.handle_input(Input::Receive(Instant::now(), rx)).expect("browser input");
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).expect("browser timer");
                }
            }
        }
    }
}

#[test]
fn audio_mid_is_the_first_audio_sections() {
    let sdp = "v=0\r\na=mid:session\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v0\r\n\
               m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:a1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n\
               a=mid:a2\r\n";
    assert_eq!(audio_mid(sdp), Some(Mid::from("a1")));
    let video_only = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n";
    assert_eq!(audio_mid(video_only), None);
    assert_eq!(audio_mid(""), None);
}

#[tokio::test]
async fn offers_we_cannot_answer_are_refused_with_the_reason() {
    let gw = gateway();
    let refused = |r: Result<_, WebRtcError>| match r {
        Ok(_) => panic!("answered"),
        Err(WebRtcError::Offer(why)) => why,
        Err(e) => panic!("refused for another reason: {e}"),
    };
    let why = refused(gw.answer("hello").map(|_| ()));
    assert!(!why.is_empty());
    let why = refused(
        gw.answer(&offer_of(MediaKind::Video, true, false))
            .map(|_| ()),
    );
    assert!(why.contains("no audio"), "{why}");
    let why = refused(
        gw.answer(&offer_of(MediaKind::Audio, false, true))
            .map(|_| ()),
    );
    assert!(why.contains("no PCMU or PCMA"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_connects_talks_both_ways_and_is_lost_when_it_falls_silent() {
    let gw = gateway();
    let (mut browser, offer, pending) = FakeBrowser::offer().await;
    let (leg, answer) = gw.answer(&offer).expect("answered");
    browser.accept(pending, &answer);
    let t0 = Instant::now();
    browser.run(Duration::from_secs(5), false, true).await;
    assert!(browser.connected, "ICE and DTLS completed");
    eprintln!("connected in {:?}", t0.elapsed());

    // Both ways at once: the leg's session records the browser and plays it 440 Hz.
    let media = leg.media().clone();
    let recording = tokio::spawn(async move {
        media
            .record(RecordOptions {
                max: Duration::from_millis(1500),
                silence_end: None,
                stop_on_hash: false,
            })
            .await
    });
    let media = leg.media().clone();
    let playing = tokio::spawn(async move {
        media
            .play(&Prompt::from_pcm("a", tone(440.0, 1.5)), false)
            .await
    });
    browser.run(Duration::from_millis(2000), true, false).await;
    let rec = recording.await.expect("task").expect("recorded");
    playing.await.expect("task");
    assert!(
        rec.voiced >= Duration::from_millis(800),
        "the session heard the browser for {:?}",
        rec.voiced
    );
    let voiced: Vec<i16> = rec
        .pcm
        .iter()
        .copied()
        .skip_while(|s| s.abs() < 1000)
        .collect();
    let f = pitch(&voiced[..voiced.len().min(4000)]);
    assert!((f - 1000.0).abs() < 50.0, "the session heard {f} Hz");
    assert!(
        browser.heard.len() >= 8000,
        "the browser heard {} samples",
        browser.heard.len()
    );
    let loud: Vec<i16> = browser
        .heard
        .iter()
        .copied()
        .skip_while(|s| s.abs() < 1000)
        .collect();
    let f = pitch(&loud[..loud.len().min(4000)]);
    assert!((f - 440.0).abs() < 25.0, "the browser heard {f} Hz");

    // Quiet but present (muted, on hold): its consent checks alone keep the leg.
    browser
        .run(SILENT_LIMIT + Duration::from_secs(2), false, false)
        .await;
    assert!(!leg.is_ended(), "a quiet browser is not lost");

    // Its network dies: nothing more comes.
    let gone = Instant::now();
    drop(browser);
    tokio::time::timeout(SILENT_LIMIT + Duration::from_secs(3), leg.ended())
        .await
        .expect("the leg ends once the browser falls silent");
    assert!(leg.was_lost(), "a silent browser is lost, not hung up");
    eprintln!("silent browser lost after {:?}", gone.elapsed());
}
