//! G.711 μ-law (PCMU, PT 0) and A-law (PCMA, PT 8), ITU-T G.711 segment coding.
//!
//! Decoding goes through 256-entry tables; encoding is a few bit operations per sample.
//! Both laws map every 8-bit code to a 16-bit linear sample and back exactly
//! (except μ-law's "negative zero" 0x7F, which encodes back as 0xFF).

use std::sync::OnceLock;

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// μ-law code for silence.
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code for silence (the smallest positive value; 0xD5 is what gateways send).
pub const ALAW_SILENCE: u8 = 0xD5;

/// Encode one linear sample to μ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = sample as i32;
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS;
    // Segment = position of the highest set bit above bit 7.
    let exponent = (31 - (pcm as u32).leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

fn ulaw_to_linear_calc(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let t = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -t as i16
    } else {
        t as i16
    }
}

/// Encode one linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3; // 13-bit magnitude domain
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let seg = SEG_END.iter().position(|&end| pcm <= end).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut aval = (seg as i32) << 4;
    if seg < 2 {
        aval |= (pcm >> 1) & 0x0F;
    } else {
        aval |= (pcm >> seg) & 0x0F;
    }
    (aval as u8) ^ mask
}

fn alaw_to_linear_calc(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

fn ulaw_table() -> &'static [i16; 256] {
    static T: OnceLock<[i16; 256]> = OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|i| ulaw_to_linear_calc(i as u8)))
}

fn alaw_table() -> &'static [i16; 256] {
    static T: OnceLock<[i16; 256]> = OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|i| alaw_to_linear_calc(i as u8)))
}

/// Decode one μ-law code.
pub fn ulaw_to_linear(code: u8) -> i16 {
    ulaw_table()[code as usize]
}

/// Decode one A-law code.
pub fn alaw_to_linear(code: u8) -> i16 {
    alaw_table()[code as usize]
}

/// The two G.711 laws. Negotiated in SDP as PCMU/8000 and PCMA/8000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, static payload type 0 (North America, Japan).
    Pcmu,
    /// A-law, static payload type 8 (China, Europe).
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Encoding name as written in an SDP `a=rtpmap` line.
    pub fn rtpmap_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Parse an `a=rtpmap` encoding name (case-insensitive).
    pub fn from_rtpmap_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// The codec of a static payload type (0 or 8).
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The code for silence in this law.
    pub fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => ULAW_SILENCE,
            Codec::Pcma => ALAW_SILENCE,
        }
    }

    /// Encode one sample.
    #[inline]
    pub fn encode_sample(self, s: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(s),
            Codec::Pcma => linear_to_alaw(s),
        }
    }

    /// Decode one code.
    #[inline]
    pub fn decode_sample(self, c: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(c),
            Codec::Pcma => alaw_to_linear(c),
        }
    }

    /// Encode `pcm` into `out` (same length; extra output is left untouched).
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        for (o, &s) in out.iter_mut().zip(pcm) {
            *o = self.encode_sample(s);
        }
    }

    /// Decode `codes` into `out` (same length; extra output is left untouched).
    pub fn decode(self, codes: &[u8], out: &mut [i16]) {
        let table = match self {
            Codec::Pcmu => ulaw_table(),
            Codec::Pcma => alaw_table(),
        };
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = table[c as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from the ITU-T G.711 tables (and the classic Sun g711.c).
    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(ulaw_to_linear(0xEF), 132);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(alaw_to_linear(0xD4), 24);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(32767), 0xAA);
        assert_eq!(linear_to_alaw(-32768), 0x2A);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(linear_to_alaw(-1000), 0x7A);
    }

    #[test]
    fn every_code_round_trips() {
        for c in 0..=255u8 {
            let back = linear_to_ulaw(ulaw_to_linear(c));
            if c == 0x7F {
                assert_eq!(back, 0xFF, "μ-law negative zero");
            } else {
                assert_eq!(back, c, "μ-law code {c:#04x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "A-law code {c:#04x}");
        }
    }

    #[test]
    fn encoding_is_monotonic_and_error_bounded() {
        // Quantisation error of G.711 stays within half a step of the segment (< 3 %
        // of the value above the smallest segments).
        for s in (-32768i32..=32767).step_by(7) {
            let s = s as i16;
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let back = codec.decode_sample(codec.encode_sample(s)) as i32;
                let err = (back - s as i32).abs();
                let allowed = (s as i32).abs() / 16 + 16;
                assert!(err <= allowed, "{codec:?} {s} -> {back}");
            }
        }
    }

    #[test]
    fn ulaw_to_alaw_transcoding_keeps_the_signal() {
        for c in 0..=255u8 {
            let lin = ulaw_to_linear(c) as i32;
            let via_a = alaw_to_linear(linear_to_alaw(lin as i16)) as i32;
            assert!((lin - via_a).abs() <= lin.abs() / 16 + 16, "{c:#04x}");
        }
    }
}
