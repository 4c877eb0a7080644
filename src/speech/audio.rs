//! Audio for whisper: read a recorded WAV (PCM, float, G.711 μ-law or A-law), mix to mono and
//! resample to the 16 kHz whisper needs.
//!
//! Resampling uses rubato's FFT resampler (band-limited, windowed): plain sample doubling
//! would mirror the 0–4 kHz telephone band into 4–8 kHz, which whisper hears as hiss.
//!
//! The file is read by [`crate::wav`], the reader prompts use too; this file decodes its
//! samples (PCM 8/16/32-bit, float, μ-law, A-law) and mixes channels down.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use std::path::Path;

/// Sample rate whisper expects.
pub const WHISPER_RATE: u32 = 16_000;

/// Mono audio in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub rate: u32,
    pub samples: Vec<f32>,
}

impl Audio {
    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / self.rate as f64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a WAV file we can read: {0}")]
    Format(String),
    #[error("resampling failed: {0}")]
    Resample(String),
}

/// Read a WAV file into mono f32 at its own sample rate.
pub fn read_wav(path: &Path) -> Result<Audio, AudioError> {
    let bytes = std::fs::read(path).map_err(|source| AudioError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_wav(&bytes)
}

/// Parse WAV bytes into mono f32.
pub fn parse_wav(b: &[u8]) -> Result<Audio, AudioError> {
    let wav = crate::wav::parse(b).map_err(|e| AudioError::Format(e.0))?;
    let (format, channels, rate, bits, data) =
        (wav.format, wav.channels, wav.rate, wav.bits, wav.data);
    if channels == 0 || rate == 0 {
        return Err(AudioError::Format("zero channels or sample rate".into()));
    }
    let interleaved: Vec<f32> = match (format, bits) {
        (1, 16) => data
            .chunks_exact(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0)
            .collect(),
        (1, 8) => data.iter().map(|&s| (s as f32 - 128.0) / 128.0).collect(),
        (1, 32) => data
            .chunks_exact(4)
            .map(|s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0)
            .collect(),
        (3, 32) => data
            .chunks_exact(4)
            .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .collect(),
        (7, 8) => data
            .iter()
            .map(|&s| ulaw_to_linear(s) as f32 / 32768.0)
            .collect(),
        (6, 8) => data
            .iter()
            .map(|&s| alaw_to_linear(s) as f32 / 32768.0)
            .collect(),
        (f, bits) => {
            return Err(AudioError::Format(format!(
                "unsupported WAV format {f} with {bits} bits"
            )))
        }
    };
    let ch = channels as usize;
    let samples = if ch == 1 {
        interleaved
    } else {
        interleaved
            .chunks_exact(ch)
            .map(|f| f.iter().sum::<f32>() / ch as f32)
            .collect()
    };
    Ok(Audio { rate, samples })
}

/// G.711 μ-law byte to 16-bit linear (ITU-T G.711).
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// 16-bit linear to G.711 μ-law (used by the benchmark to make telephone-quality audio).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// G.711 A-law byte to 16-bit linear.
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let sign = a & 0x80;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Resample mono audio with a band-limited FFT resampler. Same rate: returned as is.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let err = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
    let mut r = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| err(&e))?;
    let out_len = r.process_all_needed_output_len(samples.len());
    let mut out = vec![0.0f32; out_len];
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| err(&e))?;
    let mut output = InterleavedSlice::new_mut(&mut out, 1, out_len).map_err(|e| err(&e))?;
    let (_, written) = r
        .process_all_into_buffer(&input, &mut output, samples.len(), None)
        .map_err(|e| err(&e))?;
    out.truncate(written);
    Ok(out)
}

/// Audio ready for whisper: mono, 16 kHz.
pub fn to_whisper(audio: &Audio) -> Result<Vec<f32>, AudioError> {
    resample(&audio.samples, audio.rate, WHISPER_RATE)
}

/// Read a recording and make it whisper input.
pub fn load_for_whisper(path: &Path) -> Result<(Vec<f32>, f64), AudioError> {
    let a = read_wav(path)?;
    let d = a.duration_secs();
    Ok((to_whisper(&a)?, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Power of `freq` in `x` (Goertzel), normalised by length.
    fn power(x: &[f32], freq: f32, rate: u32) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq as f64 / rate as f64;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &v in x {
            let s = v as f64 + c * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
    }

    #[test]
    fn resampling_8k_to_16k_keeps_length_and_tone_without_image() {
        let x = sine(1000.0, 8000, 1.0);
        let y = resample(&x, 8000, 16000).unwrap();
        assert!((y.len() as i64 - 16000).abs() <= 2, "len {}", y.len());
        let tone = power(&y[1000..15000], 1000.0, 16000);
        let image = power(&y[1000..15000], 7000.0, 16000);
        // The 1 kHz tone survives at its level (0.5 amplitude → 0.0625 power with this norm)…
        assert!(tone > 0.05, "tone power {tone}");
        // …and its mirror at 8 − 1 = 7 kHz is at least 60 dB below (sample doubling: ~ −17 dB).
        assert!(image < tone * 1e-6, "image {image} vs tone {tone}");
        // Sample doubling, for comparison, fails this check.
        let doubled: Vec<f32> = x.iter().flat_map(|&s| [s, s]).collect();
        assert!(power(&doubled[1000..15000], 7000.0, 16000) > tone * 1e-3);
    }

    #[test]
    fn resampling_keeps_time_alignment() {
        // A click at 0.5 s stays at 0.5 s (the resampler's delay is trimmed).
        let mut x = vec![0.0f32; 8000];
        x[4000] = 1.0;
        let y = resample(&x, 8000, 16000).unwrap();
        let peak = y
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert!((peak as i64 - 8000).abs() <= 2, "peak at {peak}");
    }

    #[test]
    fn g711_round_trips_within_quantisation() {
        for s in [-32000i16, -1000, -1, 0, 1, 100, 1000, 8000, 32000] {
            let back = ulaw_to_linear(linear_to_ulaw(s));
            let tol = (s as i32).abs() / 16 + 8;
            assert!((back as i32 - s as i32).abs() <= tol, "{s} -> {back}");
        }
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
    }

    #[test]
    fn parses_mulaw_and_pcm_wavs_and_rejects_garbage() {
        let ulaw: Vec<u8> = [0i16, 1000, -1000, 20000]
            .iter()
            .map(|&s| linear_to_ulaw(s))
            .collect();
        let mut w = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        w.extend_from_slice(&18u32.to_le_bytes());
        for v in [7u16, 1] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&8000u32.to_le_bytes());
        for v in [1u16, 8, 0] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        w.extend_from_slice(b"data");
        w.extend_from_slice(&4u32.to_le_bytes());
        w.extend_from_slice(&ulaw);
        let a = parse_wav(&w).unwrap();
        assert_eq!(a.rate, 8000);
        assert_eq!(a.samples.len(), 4);
        assert!((a.samples[3] - 20000.0 / 32768.0).abs() < 0.03);

        assert!(parse_wav(b"RIFF").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEdata\xff\xff\xff\xff").is_err());
        assert!(parse_wav(&[0u8; 3]).is_err());
    }

    #[test]
    fn reads_the_committed_fixture() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speech/zh_01.wav");
        let a = read_wav(&p).unwrap();
        assert_eq!(a.rate, 8000);
        assert!(a.duration_secs() > 2.0 && a.duration_secs() < 8.0);
    }
}
