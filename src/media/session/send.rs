//! The paced sender: one task per session wakes at `anchor + n·ptime`, sends one frame from
//! the current source (plus a supervisor's mix, when monitored), counts one frame into a
//! conversation recording, then lets the receive path take in what arrived.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtp_rs::RtpPacketBuilder;
use tokio::time::Instant;

use super::keys::{KeyFrame, TONE_DBFS};
use super::receive::{drain, on_rtcp, on_rtp, on_tick, RX_PER_ROUND, TIMER_ROUNDS};
use super::state::{Shared, Source, State};
use super::stats::{record_lateness, record_skipped};
use super::MAX_FRAME;
use crate::media::g711::Codec;
use crate::media::rtcp;
use crate::media::tone::{dtmf_fill, ringback_encoded};

/// When the sender wakes later than this, it skips the missed frames (the timestamp jumps)
/// instead of bursting them all out.
const MAX_BURST: Duration = Duration::from_millis(100);

/// Fill `payload` from the current source; returns whether it carries real audio.
fn fill_frame(sh: &Shared, st: &mut State, codec: Codec, payload: &mut [u8]) -> bool {
    let n = payload.len();
    match &mut st.source {
        Source::Silence => {
            payload.fill(codec.silence());
            false
        }
        Source::Prompt { prompt, pos, gen } => {
            let enc = prompt.encoded(codec);
            let take = enc.len().saturating_sub(*pos).min(n);
            payload[..take].copy_from_slice(&enc[*pos..*pos + take]);
            payload[take..].fill(codec.silence());
            *pos += take;
            if *pos >= enc.len() {
                st.play_done_gen = *gen;
                st.source = Source::Silence;
                sh.notify.notify_waiters();
            }
            true
        }
        Source::Ringback { pos } => {
            *pos = ringback_encoded(codec, *pos, payload);
            true
        }
        Source::Bridge => {
            let take = st.bridge_rx.len().min(n);
            for (o, s) in payload.iter_mut().zip(st.bridge_rx.drain(..take)) {
                *o = codec.encode_sample(s);
            }
            payload[take..].fill(codec.silence());
            true
        }
    }
}

/// Fill `payload` from the current source plus the monitoring mix slots, summed in linear
/// PCM with clipping and encoded once (one G.711 quantisation, as for a plain bridge).
/// Always counts as audio: a supervisor hears the call even when comfort silence is off.
fn mix_frame(sh: &Shared, st: &mut State, codec: Codec, payload: &mut [u8]) -> bool {
    let n = payload.len();
    let mut acc = [0i32; MAX_FRAME];
    let acc = &mut acc[..n];
    if matches!(st.source, Source::Bridge) {
        let take = st.bridge_rx.len().min(n);
        for (o, s) in acc.iter_mut().zip(st.bridge_rx.drain(..take)) {
            *o = s.into();
        }
    } else {
        fill_frame(sh, st, codec, payload);
        for (o, &c) in acc.iter_mut().zip(payload.iter()) {
            *o = codec.decode_sample(c).into();
        }
    }
    if let Some(link) = st.monitor.as_mut() {
        for q in link.mix.iter_mut().flatten() {
            let take = q.len().min(n);
            for (o, s) in acc.iter_mut().zip(q.drain(..take)) {
                *o += i32::from(s);
            }
        }
    }
    for (o, &s) in payload.iter_mut().zip(acc.iter()) {
        *o = codec.encode_sample(s.clamp(i16::MIN.into(), i16::MAX.into()) as i16);
    }
    true
}

/// A session's RTP/RTCP sockets. Plain non-blocking sockets, read by polling once per frame:
/// no reactor registration, no wake-up per received packet (what makes thousands of
/// sessions affordable). Owned by the session's task alone, so the port pair is unbound the
/// moment the session ends, however long the call's handle lives on.
pub(super) struct Sockets {
    pub(super) rtp: std::net::UdpSocket,
    pub(super) rtcp: std::net::UdpSocket,
}

/// The session's one task: every frame time, send a frame, then take in whatever the
/// peer sent since the last frame; every half second, RTCP and timers.
pub(super) async fn run_loop(sh: Arc<Shared>, sockets: Sockets) {
    // Futures registered once and polled each round: re-creating them per packet costs
    // more than the packet itself when thousands of sessions run.
    let mut ended_rx = sh.ended.subscribe();
    let ended = async move {
        let _ = ended_rx.wait_for(|e| e.is_some()).await;
    };
    tokio::pin!(ended);
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut buf = [0u8; 12 + MAX_FRAME];
    let mut payload = [0u8; MAX_FRAME];
    let mut rx = [0u8; 1500];
    let mut round: u32 = 0;
    let mut rtcp_buf = [0u8; 128];
    let cname = format!("hotline@{}", sh.local);
    let mut ptime = Duration::from_millis(20);
    let mut anchor = Instant::now();
    let mut n: u32 = 0;
    let rtcp_every = Duration::from_secs(sh.cfg.rtcp_interval_secs.max(1));
    let mut next_rtcp = anchor + rtcp_every;
    loop {
        let deadline = anchor + ptime * n;
        sleep.as_mut().reset(deadline);
        tokio::select! {
            biased;
            _ = &mut ended => break,
            _ = sleep.as_mut() => {}
        }
        let now = Instant::now();
        let late = now.saturating_duration_since(deadline);
        let mut out: Option<(usize, SocketAddr)> = None;
        let mut sr: Option<(usize, SocketAddr)> = None;
        {
            let mut guard = sh.lock();
            let st = &mut *guard;
            record_lateness(&mut st.stats, &sh.metrics, late);
            let params = st.params;
            let samples = params.map(|p| p.frame_samples()).unwrap_or(160);
            let want = Duration::from_millis(samples as u64 / 8);
            if want != ptime {
                // Packet time changed (re-INVITE): re-anchor the schedule.
                ptime = want;
                anchor = deadline;
                n = 0;
            }
            n += 1;
            let mut skip = 0;
            if late > MAX_BURST {
                skip = (late.as_micros() / ptime.as_micros()) as u32;
                n += skip;
                st.ts = st.ts.wrapping_add(skip * samples as u32);
                record_skipped(&mut st.stats, &sh.metrics, skip as u64);
            }
            if let Some(tap) = st.conversation.as_mut() {
                // Skipped frames count too: the recording follows the clock, not the packets.
                tap.tick(samples * (1 + skip as usize));
            }
            let codec = params.map(|p| p.codec).unwrap_or(Codec::Pcmu);
            let mixing = st.monitor.as_ref().is_some_and(|m| m.mixing());
            let mut audio = if mixing {
                mix_frame(&sh, st, codec, &mut payload[..samples])
            } else {
                fill_frame(&sh, st, codec, &mut payload[..samples])
            };
            // A key being sent takes the frame (the source above still moved on a frame).
            let event_pt = params.and_then(|p| p.dtmf_payload_type);
            let mut event = None;
            match st.keys.next(st.ts, samples as u32, event_pt) {
                None => {}
                Some(KeyFrame::Tone { digit, pos }) => {
                    let mut pcm = [0i16; MAX_FRAME];
                    dtmf_fill(digit, pos, TONE_DBFS, 0.0, &mut pcm[..samples]);
                    codec.encode(&pcm[..samples], &mut payload[..samples]);
                    audio = true;
                }
                Some(KeyFrame::Quiet) => {
                    payload[..samples].fill(codec.silence());
                    audio = true;
                }
                Some(KeyFrame::Event {
                    payload_type,
                    timestamp,
                    marker,
                    payload,
                }) => {
                    event = Some((payload_type, timestamp, marker, payload));
                    audio = true;
                }
            }
            let send_ok = params.is_some()
                && st.confirmed
                && st.direction.sends()
                && st.remote.is_some()
                && (audio || sh.cfg.comfort_silence);
            if let (true, Some(p), Some(remote)) = (send_ok, params, st.remote) {
                let (pt, ts, marker, body) = match &event {
                    Some((pt, ts, marker, ev)) => (*pt, *ts, *marker, &ev[..]),
                    None => (
                        p.payload_type,
                        st.ts,
                        std::mem::take(&mut st.marker_next),
                        &payload[..samples],
                    ),
                };
                let built = RtpPacketBuilder::new()
                    .payload_type(pt)
                    .ssrc(st.ssrc)
                    .sequence(st.seq.into())
                    .timestamp(ts)
                    .marked(marker)
                    .payload(body)
                    .build_into(&mut buf);
                if let Ok(len) = built {
                    st.seq = st.seq.wrapping_add(1);
                    st.stats.packets_out += 1;
                    sh.metrics.packets_out.increment(1);
                    st.stats.octets_out += body.len() as u64;
                    out = Some((len, remote));
                }
            } else if !audio || params.is_none() || !st.direction.sends() || !st.confirmed {
                st.marker_next = true;
            }
            st.ts = st.ts.wrapping_add(samples as u32);
            if now >= next_rtcp {
                next_rtcp = now + rtcp_every;
                if let (Some(dst), true) = (st.remote_rtcp, st.stats.packets_out > 0) {
                    let len = rtcp::build_sender_report(
                        &mut rtcp_buf,
                        st.ssrc,
                        st.ts,
                        st.stats.packets_out as u32,
                        st.stats.octets_out as u32,
                        &cname,
                    );
                    st.stats.rtcp_out += 1;
                    sr = Some((len, dst));
                }
            }
        }
        if let Some((len, remote)) = out {
            // Non-blocking: a full send buffer drops this frame, like loss on the wire.
            if let Err(e) = sockets.rtp.send_to(&buf[..len], remote) {
                tracing::debug!(%remote, error = %e, "rtp send failed");
            }
        }
        if let Some((len, dst)) = sr {
            if let Err(e) = sockets.rtcp.send_to(&rtcp_buf[..len], dst) {
                tracing::debug!(%dst, error = %e, "rtcp send failed");
            }
        }
        drain(&sockets.rtp, &mut rx, RX_PER_ROUND, |data, from| {
            on_rtp(&sh, data, from)
        });
        round = round.wrapping_add(1);
        if round.is_multiple_of(TIMER_ROUNDS) {
            drain(&sockets.rtcp, &mut rx, RX_PER_ROUND, |data, from| {
                on_rtcp(&sh, data, from)
            });
            on_tick(&sh);
        }
    }
}
