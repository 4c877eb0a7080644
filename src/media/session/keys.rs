//! Key presses a session sends to its peer (its own, or a bridged party's passed on): RFC
//! 4733 telephone-events when the peer negotiated them, else the tone pair in the audio.
//!
//! One key at a time, timed on the sender's RTP clock: every packet of one event carries
//! the RTP timestamp of its first frame and a duration that grows by a frame each packet;
//! the first has the marker bit, the last (end bit set) goes out three times, as RFC 4733
//! §2.5.1 asks. In-band, the tone pair replaces the audio, then a short silence separates
//! it from the next key (so the same key twice is heard twice).

use std::collections::VecDeque;

use crate::media::dtmf::{Digit, TelephoneEvent};

/// How long each key sounds (Q.24 asks at least 40 ms) …
pub(super) const TONE_SAMPLES: u32 = 100 * 8;
/// … and the pause after it before the next key (Q.24: at least 40 ms).
pub(super) const GAP_SAMPLES: u32 = 80 * 8;
/// Each tone of an in-band pair, peak dBFS (about -13 dBm0 each, the usual sending level).
pub(super) const TONE_DBFS: f32 = -10.0;
/// Power announced in the events, -dBm0 (the same level as the tones).
const EVENT_VOLUME: u8 = 13;
/// Times the end packet is sent.
const END_REPEATS: u8 = 3;
/// Keys waiting to be sent beyond this are dropped: a flood of presses must not queue up
/// seconds of tones.
const MAX_QUEUED: usize = 32;

/// What the sender does with one frame while a key is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyFrame {
    /// Send this telephone-event packet instead of the audio frame.
    Event {
        payload_type: u8,
        /// The RTP timestamp of the event's first frame.
        timestamp: u32,
        marker: bool,
        payload: [u8; 4],
    },
    /// Replace the audio with the key's tone pair, from sample `pos` of the tone.
    Tone { digit: Digit, pos: usize },
    /// Silence between two in-band keys.
    Quiet,
}

#[derive(Debug)]
struct Sending {
    digit: Digit,
    /// The telephone-event payload type, or `None` for in-band.
    event_pt: Option<u8>,
    start_ts: u32,
    first: bool,
    ends_sent: u8,
    /// The duration in the end packets, fixed by the first of them.
    end_duration: u16,
    /// Samples since `start_ts` after which the next key may start.
    done_at: u32,
}

/// The keys waiting to be sent and the one being sent.
#[derive(Debug, Default)]
pub(super) struct KeySender {
    queue: VecDeque<Digit>,
    current: Option<Sending>,
}

impl KeySender {
    pub(super) fn push(&mut self, digit: Digit) {
        if self.queue.len() < MAX_QUEUED {
            self.queue.push_back(digit);
        } else {
            tracing::debug!(%digit, "too many keys waiting to be sent; dropped");
        }
    }

    /// The frame that starts at RTP timestamp `ts` and lasts `samples`: `None` when it
    /// carries the ordinary audio. `event_pt` is the peer's telephone-event payload type,
    /// looked at when a key starts.
    pub(super) fn next(&mut self, ts: u32, samples: u32, event_pt: Option<u8>) -> Option<KeyFrame> {
        loop {
            let s = match &mut self.current {
                Some(s) => s,
                None => {
                    let digit = self.queue.pop_front()?;
                    tracing::debug!(%digit, rfc4733 = event_pt.is_some(), "sending key");
                    self.current.insert(Sending {
                        digit,
                        event_pt,
                        start_ts: ts,
                        first: true,
                        ends_sent: 0,
                        end_duration: 0,
                        done_at: 0,
                    })
                }
            };
            let elapsed = ts.wrapping_sub(s.start_ts);
            match s.event_pt {
                Some(payload_type) if s.ends_sent < END_REPEATS => {
                    let so_far = elapsed.saturating_add(samples);
                    if s.ends_sent == 0 && so_far >= TONE_SAMPLES {
                        s.end_duration = u16::try_from(so_far).unwrap_or(u16::MAX);
                    }
                    let end = s.ends_sent > 0 || so_far >= TONE_SAMPLES;
                    let duration = if end {
                        s.ends_sent += 1;
                        s.end_duration
                    } else {
                        u16::try_from(so_far).unwrap_or(u16::MAX)
                    };
                    if s.ends_sent == END_REPEATS {
                        s.done_at = so_far.saturating_add(GAP_SAMPLES);
                    }
                    let ev = TelephoneEvent {
                        event: s.digit.event_code(),
                        end,
                        volume: EVENT_VOLUME,
                        duration,
                    };
                    return Some(KeyFrame::Event {
                        payload_type,
                        timestamp: s.start_ts,
                        marker: std::mem::take(&mut s.first),
                        payload: ev.to_bytes(),
                    });
                }
                // Between two events the ordinary audio goes on.
                Some(_) if elapsed < s.done_at => return None,
                Some(_) => {}
                None if elapsed < TONE_SAMPLES => {
                    return Some(KeyFrame::Tone {
                        digit: s.digit,
                        pos: elapsed as usize,
                    })
                }
                None if elapsed < TONE_SAMPLES + GAP_SAMPLES => return Some(KeyFrame::Quiet),
                None => {}
            }
            self.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::ToneDetector;
    use crate::media::g711::Codec;
    use crate::media::tone::dtmf_fill;

    fn key(c: char) -> Digit {
        Digit::from_char(c).expect("a key")
    }

    /// Runs the sender over `frames` frames of 20 ms from timestamp `ts0`.
    fn frames(k: &mut KeySender, ts0: u32, frames: u32, pt: Option<u8>) -> Vec<Option<KeyFrame>> {
        (0..frames)
            .map(|n| k.next(ts0.wrapping_add(n * 160), 160, pt))
            .collect()
    }

    #[test]
    fn an_event_has_one_timestamp_a_marker_first_growing_durations_and_three_ends() {
        let mut k = KeySender::default();
        k.push(key('5'));
        // Close to the wrap of the RTP clock: timestamps wrap, durations do not.
        let ts0 = u32::MAX - 300;
        let got = frames(&mut k, ts0, 14, Some(101));
        let events: Vec<_> = got
            .iter()
            .flatten()
            .map(|f| match *f {
                KeyFrame::Event {
                    payload_type,
                    timestamp,
                    marker,
                    payload,
                } => {
                    let ev = TelephoneEvent::parse(&payload).expect("4 bytes");
                    assert_eq!((payload_type, timestamp, ev.event), (101, ts0, 5));
                    assert_eq!(ev.volume, EVENT_VOLUME);
                    (marker, ev.end, ev.duration)
                }
                other => panic!("in-band frame {other:?} with telephone-event negotiated"),
            })
            .collect();
        assert_eq!(
            events,
            [
                (true, false, 160),
                (false, false, 320),
                (false, false, 480),
                (false, false, 640),
                (false, true, 800),
                (false, true, 800),
                (false, true, 800),
            ]
        );
        // The events come first, one a frame; then the audio goes on.
        assert!(got[..7].iter().all(Option::is_some));
        assert!(got[7..].iter().all(Option::is_none), "{got:?}");
        assert!(k.current.is_none() && k.queue.is_empty());
    }

    #[test]
    fn keys_queue_up_and_each_is_a_new_event_after_a_pause() {
        let mut k = KeySender::default();
        for c in "1#1".chars() {
            k.push(key(c));
        }
        let got = frames(&mut k, 1000, 40, Some(96));
        let starts: Vec<(usize, u32, u8)> = got
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match f {
                Some(KeyFrame::Event {
                    marker: true,
                    timestamp,
                    payload,
                    ..
                }) => Some((i, *timestamp, payload[0])),
                _ => None,
            })
            .collect();
        // 7 frames of events and 4 of audio (80 ms) per key.
        assert_eq!(
            starts,
            [
                (0, 1000, 1),
                (11, 1000 + 11 * 160, 11),
                (22, 1000 + 22 * 160, 1)
            ]
        );
        assert!(got[7..11].iter().all(Option::is_none));
    }

    #[test]
    fn inband_tones_are_heard_by_the_detector_in_order() {
        let mut k = KeySender::default();
        for c in "15#55*0".chars() {
            k.push(key(c));
        }
        // What the peer hears: the sender's frames, through G.711 and with a quiet voice
        // underneath where no key sounds.
        let mut heard = Vec::new();
        let mut quiet_frames = 0;
        for n in 0..80u32 {
            let mut frame = [0i16; 160];
            match k.next(n * 160, 160, None) {
                Some(KeyFrame::Tone { digit, pos }) => {
                    dtmf_fill(digit, pos, TONE_DBFS, 0.0, &mut frame)
                }
                Some(KeyFrame::Quiet) => quiet_frames += 1,
                Some(e @ KeyFrame::Event { .. }) => panic!("{e:?} without telephone-event"),
                None => frame.fill(300),
            }
            heard.extend(
                frame
                    .iter()
                    .map(|&s| Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(s))),
            );
        }
        let mut det = ToneDetector::new();
        let mut keys = String::new();
        det.feed(&heard, |d| keys.push(d.as_char()));
        assert_eq!(keys, "15#55*0");
        assert_eq!(quiet_frames, 7 * 4, "80 ms of silence after each key");
        assert!(k.current.is_none() && k.queue.is_empty());
    }

    #[test]
    fn a_flood_of_keys_is_capped() {
        let mut k = KeySender::default();
        for _ in 0..1000 {
            k.push(key('9'));
        }
        assert_eq!(k.queue.len(), MAX_QUEUED);
    }
}
