//! One browser's leg: the str0m state machine, its UDP socket, and the loopback relay to
//! the leg's own `MediaSession`, all driven by one task.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtp_rs::{RtpPacketBuilder, RtpReader};
use str0m::change::SdpOffer;
use str0m::format::{Codec as RtcCodec, FormatParams};
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::{reachable, WebRtcError};
use crate::media::{Codec, MediaSession, PortPool, StreamParams};

/// A browser that answered but whose ICE and DTLS do not complete by then is gone.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// A connected browser sends RTP every 20 ms while it has audio and ICE consent checks
/// every few seconds (RFC 7675) whatever it sends, muted or not: when nothing at all comes
/// for this long its network is gone, even if its WebSocket lingers. str0m as an ICE-lite
/// agent gives up only after 15 s without a consent check.
pub(super) const SILENT_LIMIT: Duration = Duration::from_secs(5);

/// An answered browser leg. Dropping it ends the leg.
#[derive(Debug)]
pub struct BrowserLeg {
    media: MediaSession,
    handle: LegHandle,
}

/// Watches and ends a leg from elsewhere (the WebSocket that carried its signalling).
#[derive(Debug, Clone)]
pub struct LegHandle {
    end: CancellationToken,
    lost: Arc<AtomicBool>,
}

impl LegHandle {
    /// The person hung up on the page.
    pub fn hang_up(&self) {
        self.end.cancel();
    }

    /// The browser is gone (its WebSocket closed, its network died): the leg ends as lost.
    pub fn lose(&self) {
        if !self.end.is_cancelled() {
            self.lost.store(true, Ordering::SeqCst);
        }
        self.end.cancel();
    }

    /// Resolves when the leg ends, for whatever reason.
    pub async fn ended(&self) {
        self.end.cancelled().await
    }

    pub fn is_ended(&self) -> bool {
        self.end.is_cancelled()
    }

    /// Whether the leg ended because the browser was lost rather than hung up.
    pub fn was_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl BrowserLeg {
    /// The leg's audio as a media session (what the browser says comes in, what is played
    /// or bridged to it goes out).
    pub fn media(&self) -> &MediaSession {
        &self.media
    }

    pub fn handle(&self) -> LegHandle {
        self.handle.clone()
    }

    pub async fn ended(&self) {
        self.handle.ended().await
    }

    pub fn is_ended(&self) -> bool {
        self.handle.is_ended()
    }

    /// Whether the browser was lost (tab closed, network gone, no ICE consent).
    pub fn was_lost(&self) -> bool {
        self.handle.was_lost()
    }

    /// Ends the leg from our side.
    pub fn hangup(self) {
        drop(self)
    }
}

impl Drop for BrowserLeg {
    fn drop(&mut self) {
        self.handle.end.cancel();
        self.media.close();
    }
}

pub(super) fn answer(
    pool: &PortPool,
    candidate_ip: IpAddr,
    offer_sdp: &str,
) -> Result<(BrowserLeg, String), WebRtcError> {
    let offer =
        SdpOffer::from_sdp_string(offer_sdp).map_err(|e| WebRtcError::Offer(e.to_string()))?;
    let mut config = RtcConfig::new()
        .set_ice_lite(true)
        .clear_codecs()
        .enable_pcmu(true, false)
        .enable_pcma(true, false);
    // The page's keypad sends RFC 4733 events (RTCDTMFSender), relayed like the audio.
    config.codec_config().add_config(
        Pt::from(101),
        None,
        RtcCodec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams {
            telephone_event_max: Some(15),
            ..FormatParams::default()
        },
    );
    let mut rtc = config.build(Instant::now());
    let (leg_sock, _) = pool.bind_pair()?;
    let local = leg_sock.local_addr()?;
    let host = SocketAddr::new(candidate_ip, local.port());
    let candidate =
        Candidate::host(host, "udp").map_err(|e| WebRtcError::Offer(format!("candidate: {e}")))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| WebRtcError::Offer(e.to_string()))?;
    // The audio the offer brings (str0m announces it only once connected), and the G.711
    // we both speak.
    let mid =
        audio_mid(offer_sdp).ok_or_else(|| WebRtcError::Offer("no audio in the offer".into()))?;
    let (pt, codec) = rtc
        .writer(mid)
        .and_then(|w| {
            w.payload_params().find_map(|p| match p.spec().codec {
                RtcCodec::PCMU => Some((p.pt(), Codec::Pcmu)),
                RtcCodec::PCMA => Some((p.pt(), Codec::Pcma)),
                _ => None,
            })
        })
        .ok_or_else(|| WebRtcError::Offer("no PCMU or PCMA in the offer".into()))?;
    let tele_pt = rtc.writer(mid).and_then(|w| {
        w.payload_params()
            .find(|p| p.spec().codec.is_tele() && p.spec().clock_rate == Frequency::EIGHT_KHZ)
            .map(|p| p.pt())
    });

    // The relay: our side of the leg's own media session, on a pair from the range too.
    let (relay_sock, relay_rtcp) = pool.bind_pair()?;
    let relay_addr = reachable(relay_sock.local_addr()?);
    let media = MediaSession::open(pool)?;
    let session_addr = reachable(media.local_addr());
    media.start(StreamParams {
        dtmf_payload_type: tele_pt.map(|pt| *pt),
        ..StreamParams::new(relay_addr, codec)
    });

    let handle = LegHandle {
        end: CancellationToken::new(),
        lost: Arc::new(AtomicBool::new(false)),
    };
    let driver = Driver {
        rtc,
        sock: UdpSocket::from_std(leg_sock)?,
        local,
        relay: UdpSocket::from_std(relay_sock)?,
        _relay_rtcp: relay_rtcp,
        session_addr,
        mid,
        pt,
        tele_pt,
        handle: handle.clone(),
        media: media.clone(),
        out_seq: rand::random(),
        out_ssrc: rand::random(),
    };
    tokio::spawn(driver.run());
    metrics::counter!("hotline_webrtc_legs_total").increment(1);
    Ok((BrowserLeg { media, handle }, answer.to_sdp_string()))
}

/// The `a=mid` of the offer's first audio section.
pub(super) fn audio_mid(sdp: &str) -> Option<Mid> {
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio ");
        } else if let Some(mid) = line.strip_prefix("a=mid:").filter(|_| in_audio) {
            return Some(Mid::from(mid));
        }
    }
    None
}

struct Driver {
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    relay: UdpSocket,
    /// Held so the session's RTCP finds a bound port (and no stranger's).
    _relay_rtcp: std::net::UdpSocket,
    session_addr: SocketAddr,
    mid: Mid,
    pt: Pt,
    /// The browser's telephone-event payload type, if it offered one.
    tele_pt: Option<Pt>,
    handle: LegHandle,
    media: MediaSession,
    out_seq: u16,
    out_ssrc: u32,
}

/// How a leg's task ended.
#[derive(Debug)]
enum Stop {
    Ended,
    Lost(&'static str),
}

impl Driver {
    async fn run(mut self) {
        let stop = self.drive().await;
        match stop {
            Stop::Ended => tracing::info!("browser leg ended"),
            Stop::Lost(why) => {
                tracing::info!(why, "browser leg lost");
                // A page that hung up first and then closed its connection was not lost.
                self.handle.lose();
            }
        }
        self.rtc.disconnect();
        self.handle.end.cancel();
        self.media.close();
    }

    async fn drive(&mut self) -> Stop {
        let started = Instant::now();
        let mut connected = false;
        // The last datagram str0m took as the browser's (strangers' do not count).
        let mut last_heard = started;
        let mut buf = vec![0u8; 2048];
        let mut rbuf = vec![0u8; 1500];
        loop {
            let timeout = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.sock.send_to(&t.contents, t.destination).await;
                    }
                    Ok(Output::Event(ev)) => match ev {
                        Event::Connected => {
                            connected = true;
                            last_heard = Instant::now();
                            tracing::info!(
                                ms = started.elapsed().as_millis() as u64,
                                "browser leg connected"
                            );
                        }
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            return Stop::Lost("ice disconnected");
                        }
                        Event::MediaData(d) => self.relay_to_session(d.pt, &d.data, d.time).await,
                        _ => {}
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "browser leg failed");
                        return Stop::Lost("rtc error");
                    }
                }
            };
            if !self.rtc.is_alive() {
                return Stop::Lost("rtc closed");
            }
            if !connected && started.elapsed() > CONNECT_WITHIN {
                return Stop::Lost("never connected");
            }
            if connected && last_heard.elapsed() > SILENT_LIMIT {
                return Stop::Lost("browser silent");
            }
            let wait = timeout
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1));
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    let Ok((n, source)) = r else { continue };
                    let Ok(rx) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) else {
                        continue;
                    };
                    let input = Input::Receive(Instant::now(), rx);
                    if self.rtc.accepts(&input) {
                        last_heard = Instant::now();
                    }
                    if let Err(e) = self.rtc.handle_input(input) {
                        tracing::debug!(error = %e, "browser leg: datagram refused");
                    }
                }
                r = self.relay.recv_from(&mut rbuf) => {
                    let Ok((n, from)) = r else { continue };
                    if from == self.session_addr && connected {
                        self.send_to_browser(n, &rbuf);
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        tracing::warn!(error = %e, "browser leg timer failed");
                        return Stop::Lost("rtc error");
                    }
                }
                _ = self.handle.end.cancelled() => return Stop::Ended,
                _ = self.media.ended() => return Stop::Ended,
            }
        }
    }

    /// The session's RTP, unwrapped and handed to str0m (which packetises and encrypts it).
    fn send_to_browser(&mut self, n: usize, rbuf: &[u8]) {
        let Ok(rd) = RtpReader::new(&rbuf[..n]) else {
            return;
        };
        // Keys passed on from the other party come as telephone-events, which browsers
        // do not play.
        if rd.payload_type() != *self.pt {
            return;
        }
        let time = MediaTime::new(rd.timestamp() as u64, Frequency::EIGHT_KHZ);
        let payload = rd.payload().to_vec();
        if let Some(w) = self.rtc.writer(self.mid) {
            if let Err(e) = w.write(self.pt, Instant::now(), time, payload) {
                tracing::debug!(error = %e, "browser leg: frame not sent");
            }
        }
    }

    /// The browser's audio and key presses, as plain RTP to the leg's session.
    async fn relay_to_session(&mut self, pt: Pt, data: &[u8], time: MediaTime) {
        if pt != self.pt && Some(pt) != self.tele_pt {
            return;
        }
        let mut out = [0u8; 1500];
        let built = RtpPacketBuilder::new()
            .payload_type(*pt)
            .ssrc(self.out_ssrc)
            .sequence(self.out_seq.into())
            .timestamp(time.numer() as u32)
            .payload(data)
            .build_into(&mut out);
        if let Ok(len) = built {
            self.out_seq = self.out_seq.wrapping_add(1);
            let _ = self.relay.send_to(&out[..len], self.session_addr).await;
        }
    }
}
