//! The one WAV reader: finds the format and the samples of a RIFF/WAVE file, for prompts
//! (`media`, which plays 8 kHz mono) and recordings (`speech`, which mixes and resamples for
//! whisper). Each caller decides which formats it accepts and decodes the samples.
//!
//! A leaf under both layers because `hound` cannot read what callers and city staff send
//! (G.711 A-law and μ-law WAVs, and files whose data length runs past the end because the
//! writer was stopped); `hound` still writes every WAV the gateway makes.
//!
//! ```text
//! "RIFF" <len:u32le> "WAVE"
//!   "fmt " <16|18|40> <format:u16> <channels:u16> <rate:u32> <byte_rate:u32> <align:u16> <bits:u16> ...
//!   "data" <len> <samples ...>
//! ```
//! `format`: 1 PCM, 3 IEEE float, 6 A-law, 7 μ-law, 0xFFFE extensible (the real format is
//! then the first two bytes of the sub-format GUID). Chunks are padded to even length.

/// A parsed WAV file: its format and its sample bytes, borrowed from the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wav<'a> {
    /// Format tag (1 PCM, 3 float, 6 A-law, 7 μ-law), extensible already resolved.
    pub format: u16,
    pub channels: u16,
    pub rate: u32,
    pub bits: u16,
    /// The `data` chunk, cut at the end of the file when its length runs past it.
    pub data: &'a [u8],
}

impl Wav<'_> {
    /// What the file holds in words, e.g. "16000 Hz, 2 channels, 16-bit PCM".
    pub fn describe(&self) -> String {
        let kind = match (self.format, self.bits) {
            (1, 16) => "16-bit PCM".to_string(),
            (1, n) => format!("{n}-bit PCM"),
            (3, n) => format!("{n}-bit float"),
            (6, _) => "A-law".to_string(),
            (7, _) => "μ-law".to_string(),
            (f, n) => format!("format tag {f:#06x}, {n} bits"),
        };
        format!(
            "{} Hz, {} channel{}, {kind}",
            self.rate,
            self.channels,
            if self.channels == 1 { "" } else { "s" }
        )
    }
}

/// Why bytes are not a WAV file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotWav(pub String);

/// Finds the `fmt ` chunk and the first `data` chunk after it.
pub fn parse(b: &[u8]) -> Result<Wav<'_>, NotWav> {
    let bad = |m: &str| NotWav(m.to_string());
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let u16le = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32le = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut pos = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32le(pos + 4) as usize;
        let body = pos + 8;
        let end = body.saturating_add(len);
        if id == b"fmt " {
            if len < 16 || end > b.len() {
                return Err(bad("fmt chunk truncated"));
            }
            let mut format = u16le(body);
            let channels = u16le(body + 2);
            let rate = u32le(body + 4);
            let bits = u16le(body + 14);
            if format == 0xFFFE {
                if len < 40 {
                    return Err(bad("extensible fmt chunk truncated"));
                }
                format = u16le(body + 24);
            }
            fmt = Some((format, channels, rate, bits));
        } else if id == b"data" {
            let Some((format, channels, rate, bits)) = fmt else {
                return Err(bad("data chunk before fmt chunk"));
            };
            return Ok(Wav {
                format,
                channels,
                rate,
                bits,
                data: &b[body.min(b.len())..end.min(b.len())],
            });
        }
        pos = end.saturating_add(len & 1);
    }
    Err(bad(if fmt.is_none() {
        "no fmt chunk"
    } else {
        "no data chunk"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&format.to_le_bytes());
        w.extend_from_slice(&channels.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * u32::from(bits / 8)).to_le_bytes());
        w.extend_from_slice(&(bits / 8).to_le_bytes());
        w.extend_from_slice(&bits.to_le_bytes());
        w.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(data.len() as u32 + 100).to_le_bytes());
        w.extend_from_slice(data);
        w
    }

    #[test]
    fn finds_format_and_data_past_other_chunks() {
        let bytes = wav(7, 1, 8000, 8, &[1, 2, 3]);
        let w = parse(&bytes).unwrap();
        assert_eq!((w.format, w.channels, w.rate, w.bits), (7, 1, 8000, 8));
        assert_eq!(w.data, &[1, 2, 3], "a data length past the end is cut");
        assert_eq!(w.describe(), "8000 Hz, 1 channel, μ-law");
    }

    #[test]
    fn refuses_what_is_not_wav() {
        assert_eq!(parse(b"RIFF").unwrap_err().0, "no RIFF/WAVE header");
        assert_eq!(parse(b"RIFF\0\0\0\0WAVE").unwrap_err().0, "no fmt chunk");
        assert_eq!(
            parse(b"RIFF\0\0\0\0WAVEdata\x01\0\0\0\0").unwrap_err().0,
            "data chunk before fmt chunk"
        );
        let mut cut = wav(1, 1, 8000, 16, &[0; 4]);
        cut.truncate(30);
        assert_eq!(parse(&cut).unwrap_err().0, "fmt chunk truncated");
    }
}
