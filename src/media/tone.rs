//! Tone generation: ringback (China: 425 Hz, 1 s on, 4 s off) and DTMF / sine test tones.

use super::dtmf::Digit;
use super::g711::Codec;
use std::sync::OnceLock;

/// Ringback frequency (GB/T 15279, China): 425 Hz.
pub const RINGBACK_HZ: f32 = 425.0;
/// Ringback cadence: 1 s tone …
pub const RINGBACK_ON_SAMPLES: usize = 8000;
/// … in a 5 s period (4 s off).
pub const RINGBACK_PERIOD_SAMPLES: usize = 40000;
/// 425 Hz repeats exactly every 320 samples at 8 kHz (17 cycles), so one table suffices.
const RINGBACK_TABLE_LEN: usize = 320;

fn amplitude(dbfs: f32) -> f32 {
    32767.0 * 10f32.powf(dbfs / 20.0)
}

/// A sine of `freq` Hz for `ms` milliseconds at `dbfs` peak level.
pub fn sine(freq: f32, ms: usize, dbfs: f32) -> Vec<i16> {
    let a = amplitude(dbfs);
    (0..ms * 8)
        .map(|i| (a * (2.0 * std::f32::consts::PI * freq * i as f32 / 8000.0).sin()) as i16)
        .collect()
}

/// A DTMF tone pair: each tone at `dbfs` peak, the column tone `twist_db` louder than the
/// row tone (negative = reverse twist).
pub fn dtmf_tone(digit: Digit, ms: usize, dbfs: f32, twist_db: f32) -> Vec<i16> {
    let mut out = vec![0; ms * 8];
    dtmf_fill(digit, 0, dbfs, twist_db, &mut out);
    out
}

/// Samples `pos..pos + out.len()` of the tone pair [`dtmf_tone`] makes: a sender that makes
/// a key's tone frame by frame needs no buffer of its own.
pub fn dtmf_fill(digit: Digit, pos: usize, dbfs: f32, twist_db: f32, out: &mut [i16]) {
    let (fr, fc) = digit.frequencies();
    let ar = amplitude(dbfs - twist_db / 2.0);
    let ac = amplitude(dbfs + twist_db / 2.0);
    for (i, o) in out.iter_mut().enumerate() {
        let t = (pos + i) as f32 / 8000.0;
        let v = ar * (2.0 * std::f32::consts::PI * fr * t).sin()
            + ac * (2.0 * std::f32::consts::PI * fc * t).sin();
        *o = v.clamp(-32767.0, 32767.0) as i16;
    }
}

struct RingbackTables {
    pcm: [i16; RINGBACK_TABLE_LEN],
    ulaw: [u8; RINGBACK_TABLE_LEN],
    alaw: [u8; RINGBACK_TABLE_LEN],
}

fn tables() -> &'static RingbackTables {
    static T: OnceLock<RingbackTables> = OnceLock::new();
    T.get_or_init(|| {
        // About -13 dBFS peak, a comfortable ringback level.
        let a = amplitude(-13.0);
        let pcm: [i16; RINGBACK_TABLE_LEN] = std::array::from_fn(|i| {
            (a * (2.0 * std::f32::consts::PI * RINGBACK_HZ * i as f32 / 8000.0).sin()) as i16
        });
        RingbackTables {
            pcm,
            ulaw: std::array::from_fn(|i| Codec::Pcmu.encode_sample(pcm[i])),
            alaw: std::array::from_fn(|i| Codec::Pcma.encode_sample(pcm[i])),
        }
    })
}

/// Linear ringback sample at position `pos` (samples since ringback started).
pub fn ringback_sample(pos: usize) -> i16 {
    if pos % RINGBACK_PERIOD_SAMPLES < RINGBACK_ON_SAMPLES {
        tables().pcm[pos % RINGBACK_TABLE_LEN]
    } else {
        0
    }
}

/// Fill `out` with encoded ringback starting at `pos`; returns the next position.
pub fn ringback_encoded(codec: Codec, pos: usize, out: &mut [u8]) -> usize {
    let t = tables();
    let table = match codec {
        Codec::Pcmu => &t.ulaw,
        Codec::Pcma => &t.alaw,
    };
    for (i, o) in out.iter_mut().enumerate() {
        let p = pos + i;
        *o = if p % RINGBACK_PERIOD_SAMPLES < RINGBACK_ON_SAMPLES {
            table[p % RINGBACK_TABLE_LEN]
        } else {
            codec.silence()
        };
    }
    (pos + out.len()) % RINGBACK_PERIOD_SAMPLES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ringback_cadence_is_one_second_on_four_off() {
        let on = (0..RINGBACK_PERIOD_SAMPLES * 2)
            .filter(|&p| ringback_sample(p) != 0)
            .count();
        // 2 s of tone in 10 s (a few zero crossings land exactly on 0).
        assert!((15_500..=16_000).contains(&on), "{on}");
        assert!((8000..40000).all(|p| ringback_sample(p) == 0));
    }

    #[test]
    fn ringback_is_425_hz() {
        // Count zero crossings over the 1 s burst: 2 per cycle.
        let s: Vec<i16> = (0..8000).map(ringback_sample).collect();
        let crossings = s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((845..=855).contains(&crossings), "{crossings}");
    }

    #[test]
    fn encoded_ringback_matches_linear() {
        let mut out = [0u8; 160];
        let mut pos = 7920;
        pos = ringback_encoded(Codec::Pcma, pos, &mut out);
        assert_eq!(pos, 8080);
        for (i, &c) in out.iter().enumerate() {
            let lin = ringback_sample(7920 + i);
            if lin == 0 {
                assert!(Codec::Pcma.decode_sample(c).abs() <= 8);
            } else {
                assert_eq!(c, Codec::Pcma.encode_sample(lin));
            }
        }
    }
}
