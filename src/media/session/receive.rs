//! The receive path, run by the session's task after each frame it sends: RTP (latching to
//! the peer's real address, telephone-events and in-band tones to digits, audio to a
//! recording, a conversation recording, a bridged peer and a monitor's mix), RTCP, and the
//! timers (lost RFC 4733 ends, no-RTP timeout).

use std::net::SocketAddr;
use std::sync::Weak;
use std::time::Duration;

use rtp_rs::RtpReader;
use tokio::time::Instant;

use super::state::{push_capped, queue_cap, Shared, Source, State};
use super::types::Latching;
use super::EndReason;
use crate::media::dtmf::{Digit, DigitSource, TelephoneEvent};
use crate::media::rtcp;

/// An RFC 4733 event with no packet for this long counts as ended (its end packets were lost).
const EVENT_QUIET: Duration = Duration::from_millis(600);
/// Audio with old sequence numbers after this long a pause is a restarted stream, not a
/// late packet.
const STREAM_RESTART_GAP: Duration = Duration::from_millis(300);

/// At most this many datagrams are read per socket per frame (bounds the work a flood can
/// cause; the rest waits in the socket buffer or is dropped by the kernel).
pub(super) const RX_PER_ROUND: usize = 64;
/// RTCP, the no-RTP timer and lost RFC 4733 ends are looked at every this many frames.
pub(super) const TIMER_ROUNDS: u32 = 25;

pub(super) fn drain(
    sock: &std::net::UdpSocket,
    buf: &mut [u8],
    max: usize,
    mut on_packet: impl FnMut(&[u8], SocketAddr),
) {
    for _ in 0..max {
        match sock.recv_from(buf) {
            Ok((len, from)) => on_packet(&buf[..len], from),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            // ICMP errors (port unreachable) surface here on Linux; they carry no packet.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => {
                tracing::debug!(error = %e, "media recv error");
                return;
            }
        }
    }
}

pub(super) fn on_tick(sh: &Shared) {
    let now = Instant::now();
    let mut st = sh.lock();
    if st.events.pending() && now.duration_since(st.last_event_rx) >= EVENT_QUIET {
        if let Some(d) = st.events.on_quiet() {
            if sh.queue_digit(&mut st, d, DigitSource::Rfc4733) {
                drop(st);
                sh.pass_on(d);
                st = sh.lock();
            }
        }
    }
    let timeout = sh.cfg.no_rtp_timeout_secs;
    if timeout > 0
        && st.params.is_some()
        && st.direction.receives()
        && now.duration_since(st.last_rx) >= Duration::from_secs(timeout)
    {
        drop(st);
        tracing::info!(local = %sh.local, "no RTP for {timeout} s, ending session");
        sh.finish(EndReason::RtpTimeout);
    }
}

pub(super) fn on_rtcp(sh: &Shared, data: &[u8], from: SocketAddr) {
    let mut st = sh.lock();
    if !rtcp::is_valid_rtcp(data) {
        st.stats.rtcp_malformed += 1;
        return;
    }
    st.stats.rtcp_in += 1;
    // Sender reports go where the peer's RTCP comes from, once, and only from the peer's IP.
    let from_peer = st.remote.is_some_and(|r| r.ip() == from.ip());
    if from_peer && st.params.is_some() && !st.rtcp_learned {
        st.remote_rtcp = Some(from);
        st.rtcp_learned = true;
    }
}

/// Whether a packet from `from` (not the current address) may move the stream there.
fn may_latch(st: &State, from: SocketAddr, now: Instant) -> bool {
    match st.latching {
        Latching::Off => false,
        Latching::Once { from_ip } => {
            !st.latched && now < st.latch_until && from_ip.is_none_or(|ip| ip == from.ip())
        }
    }
}

pub(super) fn on_rtp(sh: &Shared, data: &[u8], from: SocketAddr) {
    let now = Instant::now();
    let mut guard = sh.lock();
    let st = &mut *guard;
    st.stats.packets_in += 1;
    sh.metrics.packets_in.increment(1);
    let rd = match RtpReader::new(data) {
        Ok(rd) => rd,
        Err(_) => {
            st.stats.malformed_dropped += 1;
            return;
        }
    };
    let Some(params) = st.params else {
        st.stats.unexpected_dropped += 1;
        return;
    };
    let pt = rd.payload_type();
    let is_audio = pt == params.payload_type;
    let is_event = Some(pt) == params.dtmf_payload_type;
    if !is_audio && !is_event {
        st.stats.unexpected_dropped += 1;
        return;
    }
    // Only the peer is heard: packets from any other address are dropped unless this stream
    // may still latch to them (a caller behind NAT, early in the call, see `Latching`).
    if st.remote != Some(from) {
        if !may_latch(st, from, now) {
            st.stats.foreign_dropped += 1;
            st.stats.unexpected_dropped += 1;
            return;
        }
        let count = match st.candidate {
            Some((addr, c)) if addr == from => c + 1,
            _ => 1,
        };
        if count < sh.cfg.latch_probation_packets.max(1) {
            st.candidate = Some((from, count));
            st.stats.unexpected_dropped += 1;
            return;
        }
        tracing::info!(%from, "latching RTP to the caller's real source");
        st.remote = Some(from);
        if !st.rtcp_learned {
            st.remote_rtcp = Some(SocketAddr::new(from.ip(), from.port().wrapping_add(1)));
        }
        st.latched = true;
        st.candidate = None;
        st.stats.relatched += 1;
        st.remote_ssrc = None;
        st.highest_seq = None;
    } else {
        st.candidate = None;
    }
    st.last_rx = now;
    let payload = rd.payload();
    if is_event {
        // No sequence check here: the deduper works on timestamps and arrival times (SIPp
        // replays captures with the same sequence numbers for every key press).
        st.last_event_rx = now;
        match TelephoneEvent::parse(payload) {
            Some(ev) => {
                let mut heard: [Option<Digit>; 2] = [None; 2];
                for (d, h) in st
                    .events
                    .on_packet(rd.timestamp(), ev, now.into_std())
                    .into_iter()
                    .zip(heard.iter_mut())
                {
                    *h = d.filter(|&d| sh.queue_digit(st, d, DigitSource::Rfc4733));
                }
                drop(guard);
                for d in heard.into_iter().flatten() {
                    sh.pass_on(d);
                }
            }
            None => st.stats.malformed_dropped += 1,
        }
        return;
    }
    // Late and duplicate audio (no jitter buffer: audio is used in arrival order). Old
    // sequence numbers after a pause mean the stream started over (a replayed capture).
    let ssrc = rd.ssrc();
    let seq: u16 = rd.sequence_number().into();
    if st.remote_ssrc != Some(ssrc) {
        st.remote_ssrc = Some(ssrc);
        st.highest_seq = None;
    }
    if let Some(h) = st.highest_seq {
        let d = seq.wrapping_sub(h) as i16;
        if d <= 0 && d > -1000 && now.duration_since(st.last_audio_rx) < STREAM_RESTART_GAP {
            st.stats.late_or_duplicate += 1;
            st.stats.unexpected_dropped += 1;
            sh.metrics.packets_late.increment(1);
            return;
        }
        if d > 1 && d < 1000 {
            // A gap in the sequence: these packets were lost (or come later, too late).
            sh.metrics.packets_lost.increment((d - 1) as u64);
        }
    }
    st.highest_seq = Some(seq);
    st.last_audio_rx = now;
    if !st.direction.receives() || payload.is_empty() {
        return;
    }
    let peer = st.bridge_peer.as_ref().and_then(Weak::upgrade);
    // Monitoring: the supervisor hears this party, or a party hears the supervisor.
    let forward = st.monitor.as_ref().map(|m| {
        m.forward
            .each_ref()
            .map(|f| f.as_ref().and_then(|(w, slot)| Some((w.upgrade()?, *slot))))
    });
    if st.tones.is_none()
        && st.recording.is_none()
        && st.tape.is_none()
        && st.conversation.is_none()
        && peer.is_none()
        && forward.is_none()
    {
        return;
    }
    let mut pcm = [0i16; 1500];
    let pcm = &mut pcm[..payload.len().min(1500)];
    params.codec.decode(payload, pcm);
    let cap = queue_cap(&sh.cfg);
    if let Some(tap) = st.conversation.as_mut() {
        push_capped(&mut tap.rx, pcm, cap);
    }
    if let Some(det) = st.tones.as_mut() {
        let mut found: [Option<Digit>; 4] = [None; 4];
        let mut k = 0;
        det.feed(pcm, |d| {
            if k < found.len() {
                found[k] = Some(d);
                k += 1;
            }
        });
        for d in found.into_iter().flatten() {
            sh.queue_digit(st, d, DigitSource::Inband);
        }
    }
    if let Some(tape) = st.tape.as_deref_mut() {
        if tape.feed(pcm, now) {
            tracing::debug!(local = %sh.local, "caller started speaking");
            sh.notify.notify_waiters();
        }
    }
    if let Some(sink) = st.recording.as_mut() {
        for frame in pcm.chunks(160) {
            sink.pcm.extend_from_slice(frame);
            if super::tape::frame_power(frame) > sink.threshold_ms {
                sink.heard_voice = true;
                sink.voiced_samples += frame.len();
                sink.last_voice = now;
                sink.voice_end_sample = sink.pcm.len();
            }
        }
        if sink.pcm.len() >= sink.max_samples {
            sh.notify.notify_waiters();
        }
    }
    drop(guard);
    // One lock at a time: ours is released before a peer's is taken (no lock order needed).
    if let Some(peer) = peer {
        let mut pst = peer.lock();
        if matches!(pst.source, Source::Bridge) {
            push_capped(&mut pst.bridge_rx, pcm, queue_cap(&peer.cfg));
        }
    }
    for (to, slot) in forward.into_iter().flatten().flatten() {
        let mut tst = to.lock();
        if let Some(q) = tst
            .monitor
            .as_mut()
            .and_then(|m| m.mix.get_mut(slot))
            .and_then(Option::as_mut)
        {
            push_capped(q, pcm, queue_cap(&to.cfg));
        }
    }
}
