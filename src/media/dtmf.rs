//! DTMF digits from three sources: RFC 4733 telephone-events, SIP INFO (injected by the SIP
//! layer) and in-band tones found with the Goertzel algorithm.

use std::fmt;
use std::time::{Duration, Instant};

/// One DTMF key: `0-9`, `*`, `#`, `A-D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(char);

impl Digit {
    /// Accepts `0-9 * # A-D` (lower-case letters too). Anything else is `None`.
    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Digit(c))
    }

    /// RFC 4733 event code (0-9, 10 = `*`, 11 = `#`, 12-15 = A-D).
    pub fn from_event(code: u8) -> Option<Digit> {
        let c = match code {
            0..=9 => (b'0' + code) as char,
            10 => '*',
            11 => '#',
            12..=15 => (b'A' + code - 12) as char,
            _ => return None,
        };
        Some(Digit(c))
    }

    /// The RFC 4733 event code of this digit.
    pub fn event_code(self) -> u8 {
        match self.0 {
            '0'..='9' => self.0 as u8 - b'0',
            '*' => 10,
            '#' => 11,
            c => c as u8 - b'A' + 12,
        }
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0
    }

    /// Row and column frequencies (Hz) of the tone pair.
    pub fn frequencies(self) -> (f32, f32) {
        let (r, c) = match self.0 {
            '1' => (0, 0),
            '2' => (0, 1),
            '3' => (0, 2),
            'A' => (0, 3),
            '4' => (1, 0),
            '5' => (1, 1),
            '6' => (1, 2),
            'B' => (1, 3),
            '7' => (2, 0),
            '8' => (2, 1),
            '9' => (2, 2),
            'C' => (2, 3),
            '*' => (3, 0),
            '0' => (3, 1),
            '#' => (3, 2),
            _ => (3, 3),
        };
        (ROWS[r], COLS[c])
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a digit came from (for deduplication and statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// SIP INFO (application/dtmf-relay or application/dtmf), injected with `push_digit`.
    SipInfo,
    /// Tones detected in the decoded audio.
    Inband,
}

// ---------------------------------------------------------------------------------------
// RFC 4733 telephone-event
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |     event     |E|R| volume    |          duration             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// All packets of one key press share one RTP timestamp; the end packet (E=1) is usually
// sent three times. A digit is reported once per timestamp: at its first end packet, or,
// if the end packets were lost, when the next event starts or the event goes quiet.
// ---------------------------------------------------------------------------------------

/// One parsed telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-15 are DTMF).
    pub event: u8,
    /// End bit.
    pub end: bool,
    /// Volume in -dBm0 (0-63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parse a payload; `None` when shorter than 4 bytes.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        if payload.len() < 4 {
            return None;
        }
        Some(TelephoneEvent {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3F,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    /// Serialise as a 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// Packets of one event are never this far apart; the same RTP timestamp seen again after
/// such a gap is a new key press (SIPp's `play_pcap_audio` replays a capture with the very
/// same timestamps and sequence numbers every time a key is "pressed").
pub const REPRESS_GAP: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, Copy)]
struct Press {
    ts: u32,
    event: u8,
    reported: bool,
    last_seen: Instant,
}

/// Turns a stream of telephone-event packets into digits, each key press once.
#[derive(Debug, Default)]
pub struct EventDeduper {
    current: Option<Press>,
    /// The press before `current`, if it was reported: its late retransmissions are ignored.
    previous: Option<Press>,
}

impl EventDeduper {
    /// Feed one packet (its RTP timestamp, payload and arrival time). Returns digits to
    /// report: at most two (a previous press whose end was lost, and this one).
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        ev: TelephoneEvent,
        now: Instant,
    ) -> [Option<Digit>; 2] {
        let mut out = [None, None];
        let recent = |p: &Press| now.saturating_duration_since(p.last_seen) < REPRESS_GAP;
        match self.current.as_mut() {
            Some(c) if c.ts == timestamp && recent(c) => c.last_seen = now,
            _ => {
                // A late (reordered) packet of the press before: ignore it.
                if let Some(p) = self.previous.as_mut() {
                    if p.ts == timestamp && recent(p) {
                        p.last_seen = now;
                        return out;
                    }
                }
                // A new press. A previous one that never ended is reported now.
                if let Some(c) = self.current.take() {
                    if c.reported {
                        self.previous = Some(c);
                    } else {
                        out[0] = Digit::from_event(c.event);
                        self.previous = None;
                    }
                }
                self.current = Some(Press {
                    ts: timestamp,
                    event: ev.event,
                    reported: false,
                    last_seen: now,
                });
            }
        }
        if ev.end {
            if let Some(c) = self.current.as_mut() {
                if !c.reported {
                    c.reported = true;
                    out[1] = Digit::from_event(c.event);
                }
            }
        }
        out
    }

    /// The event went quiet without an end packet: report it if it was never reported.
    pub fn on_quiet(&mut self) -> Option<Digit> {
        match self.current.as_mut() {
            Some(c) if !c.reported => {
                c.reported = true;
                Digit::from_event(c.event)
            }
            _ => None,
        }
    }

    /// Whether an event is in progress and not yet reported.
    pub fn pending(&self) -> bool {
        self.current.is_some_and(|c| !c.reported)
    }
}

// ---------------------------------------------------------------------------------------
// In-band detection (Goertzel)
// ---------------------------------------------------------------------------------------

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Block length: 205 samples at 8 kHz (25.6 ms) separates the 8 frequencies well.
const BLOCK: usize = 205;
/// Each tone must be above about -36 dBm0 (a sine of peak 360): quieter is noise.
const MIN_TONE_POWER: f32 = 6.0e4;
/// A tone pair must hold most of the block energy: speech spreads it over many partials.
const MIN_TONE_SHARE: f32 = 0.70;
/// Normal twist (column louder than row) and reverse twist limits, as power ratios.
const MAX_TWIST_NORMAL: f32 = 6.3; // 8 dB
const MAX_TWIST_REVERSE: f32 = 2.5; // 4 dB
/// The strongest tone in a group must beat the next one by this power ratio.
const MIN_GROUP_DOMINANCE: f32 = 6.3; // 8 dB

fn coeff(freq: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * freq / 8000.0).cos()
}

/// Goertzel power of one frequency over a block (mean-square scaled like the signal power).
fn goertzel(block: &[f32], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in block {
        let s0 = x + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// Streaming in-band DTMF detector for 8 kHz linear audio.
///
/// A digit is reported once when two consecutive 25.6 ms blocks show the same valid tone
/// pair (about 40 ms of tone, the Q.24 minimum), and again only after a block without it.
#[derive(Debug)]
pub struct ToneDetector {
    buf: [i16; BLOCK],
    fill: usize,
    last_block: Option<char>,
    reported: Option<char>,
    coeffs: [f32; 8],
}

impl Default for ToneDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl ToneDetector {
    /// A fresh detector.
    pub fn new() -> Self {
        let mut coeffs = [0.0; 8];
        for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
            coeffs[i] = coeff(*f);
        }
        ToneDetector {
            buf: [0; BLOCK],
            fill: 0,
            last_block: None,
            reported: None,
            coeffs,
        }
    }

    /// Feed samples; `on_digit` is called for each detected key press.
    pub fn feed(&mut self, mut pcm: &[i16], mut on_digit: impl FnMut(Digit)) {
        while !pcm.is_empty() {
            let n = (BLOCK - self.fill).min(pcm.len());
            self.buf[self.fill..self.fill + n].copy_from_slice(&pcm[..n]);
            self.fill += n;
            pcm = &pcm[n..];
            if self.fill == BLOCK {
                self.fill = 0;
                let hit = self.analyse_block();
                match hit {
                    Some(c) if self.last_block == Some(c) && self.reported != Some(c) => {
                        self.reported = Some(c);
                        if let Some(d) = Digit::from_char(c) {
                            on_digit(d);
                        }
                    }
                    Some(_) => {}
                    None => self.reported = None,
                }
                if hit.is_some() && hit != self.reported && self.reported.is_some() {
                    // A different valid pair without a gap: allow it after confirmation.
                    self.reported = None;
                }
                self.last_block = hit;
            }
        }
    }

    fn analyse_block(&self) -> Option<char> {
        let mut block = [0.0f32; BLOCK];
        let mut energy = 0.0f32;
        for (o, &s) in block.iter_mut().zip(self.buf.iter()) {
            *o = s as f32;
            energy += *o * *o;
        }
        if energy / (BLOCK as f32) < MIN_TONE_POWER {
            return None;
        }
        let mut p = [0.0f32; 8];
        for (i, c) in self.coeffs.iter().enumerate() {
            // Normalise so a full-block sinusoid of amplitude A gives A²/2 (its power).
            p[i] = goertzel(&block, *c) * 2.0 / (BLOCK as f32 * BLOCK as f32);
        }
        let best = |g: &[f32]| {
            let mut idx = 0;
            for i in 1..4 {
                if g[i] > g[idx] {
                    idx = i;
                }
            }
            let second = (0..4)
                .filter(|&i| i != idx)
                .map(|i| g[i])
                .fold(0.0f32, f32::max);
            (idx, g[idx], second)
        };
        let (ri, rp, r2) = best(&p[..4]);
        let (ci, cp, c2) = best(&p[4..]);
        let mean_power = energy / BLOCK as f32;
        // Energy: each tone loud enough.
        if rp < MIN_TONE_POWER || cp < MIN_TONE_POWER {
            return None;
        }
        // Twist.
        if cp > rp * MAX_TWIST_NORMAL || rp > cp * MAX_TWIST_REVERSE {
            return None;
        }
        // One clear tone per group.
        if rp < r2 * MIN_GROUP_DOMINANCE || cp < c2 * MIN_GROUP_DOMINANCE {
            return None;
        }
        // The pair carries most of the energy (rejects speech and music).
        if rp + cp < MIN_TONE_SHARE * mean_power {
            return None;
        }
        Some(KEYS[ri][ci])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::dtmf_tone;

    fn detect(pcm: &[i16]) -> String {
        let mut d = ToneDetector::new();
        let mut out = String::new();
        for chunk in pcm.chunks(160) {
            d.feed(chunk, |dg| out.push(dg.as_char()));
        }
        out
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    #[test]
    fn digit_codes_round_trip() {
        for c in "0123456789*#ABCD".chars() {
            let d = Digit::from_char(c).unwrap();
            assert_eq!(Digit::from_event(d.event_code()), Some(d));
        }
        assert_eq!(Digit::from_char('x'), None);
        assert_eq!(Digit::from_event(16), None);
        assert_eq!(Digit::from_char('a').unwrap().as_char(), 'A');
    }

    #[test]
    fn detects_every_key_once() {
        let keys = "123A456B789C*0#D";
        let mut pcm = Vec::new();
        for c in keys.chars() {
            pcm.extend(dtmf_tone(Digit::from_char(c).unwrap(), 80, -10.0, 0.0));
            pcm.extend(silence(60));
        }
        assert_eq!(detect(&pcm), keys);
    }

    #[test]
    fn repeated_key_with_gaps_counts_each_press() {
        let mut pcm = Vec::new();
        for _ in 0..3 {
            pcm.extend(dtmf_tone(Digit::from_char('5').unwrap(), 100, -10.0, 0.0));
            pcm.extend(silence(60));
        }
        assert_eq!(detect(&pcm), "555");
    }

    #[test]
    fn long_key_press_counts_once() {
        let pcm = dtmf_tone(Digit::from_char('9').unwrap(), 2000, -10.0, 0.0);
        assert_eq!(detect(&pcm), "9");
    }

    #[test]
    fn too_quiet_tones_are_ignored() {
        let pcm = dtmf_tone(Digit::from_char('1').unwrap(), 200, -50.0, 0.0);
        assert_eq!(detect(&pcm), "");
    }

    #[test]
    fn twist_limits() {
        let d = Digit::from_char('8').unwrap();
        // 4 dB normal twist is fine; 12 dB is not; 8 dB reverse twist is not.
        assert_eq!(detect(&dtmf_tone(d, 200, -10.0, 4.0)), "8");
        assert_eq!(detect(&dtmf_tone(d, 200, -10.0, 12.0)), "");
        assert_eq!(detect(&dtmf_tone(d, 200, -10.0, -8.0)), "");
    }

    #[test]
    fn too_short_tones_are_ignored() {
        // 20 ms is below the Q.24 minimum of 40 ms.
        let mut pcm = silence(13);
        pcm.extend(dtmf_tone(Digit::from_char('3').unwrap(), 20, -10.0, 0.0));
        pcm.extend(silence(100));
        assert_eq!(detect(&pcm), "");
    }

    #[test]
    fn tone_survives_g711_and_light_noise() {
        use crate::media::g711::Codec;
        let mut pcm = dtmf_tone(Digit::from_char('#').unwrap(), 120, -15.0, 2.0);
        let mut seed = 12345u32;
        for s in pcm.iter_mut() {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            let noise = ((seed >> 16) as i32 % 200) - 100;
            let v = Codec::Pcma.decode_sample(Codec::Pcma.encode_sample(*s)) as i32 + noise;
            *s = v.clamp(-32768, 32767) as i16;
        }
        assert_eq!(detect(&pcm), "#");
    }

    /// A voiced, vowel-like signal: many harmonics of a gliding pitch under formants, as
    /// speech has. Some harmonics land on DTMF frequencies, but never only two of them.
    fn speech_like(ms: usize, f0: f32) -> Vec<i16> {
        let n = ms * 8;
        let formants = [(700.0f32, 130.0f32), (1220.0, 70.0), (2600.0, 160.0)];
        let mut out = Vec::with_capacity(n);
        let mut phase = [0.0f32; 30];
        for i in 0..n {
            let t = i as f32 / 8000.0;
            let pitch = f0 * (1.0 + 0.1 * (2.0 * std::f32::consts::PI * 3.0 * t).sin());
            let mut v = 0.0;
            for (h, ph) in phase.iter_mut().enumerate() {
                let f = pitch * (h + 1) as f32;
                if f > 3800.0 {
                    break;
                }
                *ph += 2.0 * std::f32::consts::PI * f / 8000.0;
                let gain: f32 = formants
                    .iter()
                    .map(|(fc, bw)| 1.0 / (1.0 + ((f - fc) / bw).powi(2)))
                    .sum();
                v += gain * ph.sin();
            }
            out.push((v * 3000.0).clamp(-32000.0, 32000.0) as i16);
        }
        out
    }

    #[test]
    fn speech_like_signal_gives_no_digits() {
        for f0 in [90.0, 110.0, 120.0, 150.0, 200.0, 240.0] {
            assert_eq!(detect(&speech_like(2000, f0)), "", "pitch {f0}");
        }
    }

    #[test]
    fn single_tone_is_not_a_digit() {
        let pcm = crate::media::tone::sine(941.0, 300, -10.0);
        assert_eq!(detect(&pcm), "");
    }

    fn ev(event: u8, end: bool, dur: u16) -> TelephoneEvent {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration: dur,
        }
    }

    fn run(d: &mut EventDeduper, pkts: &[(u64, u32, TelephoneEvent)]) -> String {
        let t0 = Instant::now();
        let mut got = String::new();
        for &(ms, ts, e) in pkts {
            let r = d.on_packet(ts, e, t0 + Duration::from_millis(ms));
            got.extend(r.into_iter().flatten().map(|d| d.as_char()));
        }
        got
    }

    #[test]
    fn rfc4733_end_packets_counted_once() {
        let mut d = EventDeduper::default();
        let got = run(
            &mut d,
            &[
                (0, 1000, ev(5, false, 160)),
                (20, 1000, ev(5, false, 320)),
                (40, 1000, ev(5, true, 480)),
                (45, 1000, ev(5, true, 480)),
                (50, 1000, ev(5, true, 480)),
                // Second press of the same key: new timestamp.
                (500, 2000, ev(5, false, 160)),
                (520, 2000, ev(5, true, 320)),
                (525, 2000, ev(5, true, 320)),
            ],
        );
        assert_eq!(got, "55");
        assert!(!d.pending());
    }

    #[test]
    fn same_timestamp_after_a_pause_is_a_new_press() {
        // SIPp replays one capture per key press: identical timestamps every time.
        let press = |t: u64| {
            [
                (t, 13280, ev(1, false, 320)),
                (t + 20, 13280, ev(1, false, 640)),
                (t + 40, 13280, ev(1, true, 960)),
                (t + 41, 13280, ev(1, true, 960)),
                (t + 42, 13280, ev(1, true, 960)),
            ]
        };
        let mut pkts = Vec::new();
        pkts.extend(press(0));
        pkts.extend(press(1000));
        pkts.extend(press(1500));
        // A retransmitted end 100 ms later is still the same press.
        pkts.push((1642, 13280, ev(1, true, 960)));
        let mut d = EventDeduper::default();
        assert_eq!(run(&mut d, &pkts), "111");
    }

    #[test]
    fn rfc4733_lost_end_is_reported_by_next_event_or_quiet() {
        let mut d = EventDeduper::default();
        let got = run(
            &mut d,
            &[
                (0, 100, ev(1, false, 160)),
                // Next press begins, the end of "1" was lost.
                (200, 900, ev(2, false, 160)),
            ],
        );
        assert_eq!(got, "1");
        assert_eq!(d.on_quiet(), Digit::from_char('2'));
        assert_eq!(d.on_quiet(), None);
    }

    #[test]
    fn late_end_of_previous_press_is_ignored() {
        let mut d = EventDeduper::default();
        let got = run(
            &mut d,
            &[
                (0, 100, ev(3, true, 800)),
                (60, 900, ev(4, false, 160)),
                // Reordered retransmission of the end of "3".
                (70, 100, ev(3, true, 800)),
                (90, 900, ev(4, true, 480)),
            ],
        );
        assert_eq!(got, "34");
    }

    #[test]
    fn telephone_event_wire_format() {
        let ev = TelephoneEvent::parse(&[11, 0x8A, 0x03, 0x20]).unwrap();
        assert_eq!(ev.event, 11);
        assert!(ev.end);
        assert_eq!(ev.volume, 10);
        assert_eq!(ev.duration, 800);
        assert_eq!(ev.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert!(TelephoneEvent::parse(&[1, 2, 3]).is_none());
    }
}
