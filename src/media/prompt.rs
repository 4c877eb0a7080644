//! Prompts: WAV files decoded once, shared by every call through `Arc`.
//!
//! Accepted: RIFF/WAVE, 8000 Hz, mono, 16-bit PCM (format 1), A-law (6) or μ-law (7),
//! also inside WAVE_FORMAT_EXTENSIBLE. Anything else is rejected at load with an error that
//! says what was found and how to convert it. The file is read by [`crate::wav`].

use super::g711::Codec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Why a prompt could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file could not be read.
    #[error("prompt {path}: cannot read: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a RIFF/WAVE file, or its chunks are broken.
    #[error("prompt {path}: not a valid WAV file: {reason}")]
    NotWav {
        /// File.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A WAV file in a format calls cannot play.
    #[error(
        "prompt {path}: unsupported format ({found}); need 8000 Hz mono 16-bit PCM, A-law or μ-law \
         (convert with: sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav)"
    )]
    Unsupported {
        /// File.
        path: PathBuf,
        /// What the file holds, e.g. "16000 Hz, 2 channels, 16-bit PCM".
        found: String,
    },
}

/// Decoded audio ready to play: 8 kHz mono linear PCM, plus lazily pre-encoded G.711 so
/// thousands of calls playing the same prompt do not encode it again and again.
#[derive(Debug)]
pub struct Prompt {
    name: String,
    pcm: Arc<[i16]>,
    ulaw: OnceLock<Box<[u8]>>,
    alaw: OnceLock<Box<[u8]>>,
}

impl Prompt {
    /// Load and decode a WAV file (see module docs for accepted formats).
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<Prompt>, PromptError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| PromptError::Io {
            path: path.to_owned(),
            source,
        })?;
        let pcm = decode_wav(&bytes).map_err(|e| match e {
            WavError::NotWav(reason) => PromptError::NotWav {
                path: path.to_owned(),
                reason,
            },
            WavError::Unsupported(found) => PromptError::Unsupported {
                path: path.to_owned(),
                found,
            },
        })?;
        Ok(Arc::new(Prompt::new(path.display().to_string(), pcm)))
    }

    /// A prompt from 8 kHz mono linear samples (generated tones, text-to-speech output).
    pub fn from_pcm(name: impl Into<String>, pcm: Vec<i16>) -> Arc<Prompt> {
        Arc::new(Prompt::new(name.into(), pcm))
    }

    fn new(name: String, pcm: Vec<i16>) -> Prompt {
        Prompt {
            name,
            pcm: pcm.into(),
            ulaw: OnceLock::new(),
            alaw: OnceLock::new(),
        }
    }

    /// Name (file path or the name given to `from_pcm`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Linear samples.
    pub fn pcm(&self) -> &[i16] {
        &self.pcm
    }

    /// Length in samples (8 per millisecond).
    pub fn len(&self) -> usize {
        self.pcm.len()
    }

    /// Whether the prompt has no samples.
    pub fn is_empty(&self) -> bool {
        self.pcm.is_empty()
    }

    /// Playing time.
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.pcm.len() as u64 * 125)
    }

    /// The prompt encoded in `codec` (encoded on first use, then cached).
    pub fn encoded(&self, codec: Codec) -> &[u8] {
        let cell = match codec {
            Codec::Pcmu => &self.ulaw,
            Codec::Pcma => &self.alaw,
        };
        cell.get_or_init(|| self.pcm.iter().map(|&s| codec.encode_sample(s)).collect())
    }
}

/// The samples of a WAV file calls can play, or why it cannot be played.
pub(crate) fn decode_wav(b: &[u8]) -> Result<Vec<i16>, WavError> {
    let wav = crate::wav::parse(b).map_err(|e| WavError::NotWav(e.0))?;
    let supported = matches!((wav.format, wav.bits), (1, 16) | (6, 8) | (7, 8));
    if wav.rate != 8000 || wav.channels != 1 || !supported {
        return Err(WavError::Unsupported(wav.describe()));
    }
    Ok(match wav.format {
        1 => wav
            .data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect(),
        6 => wav
            .data
            .iter()
            .map(|&c| Codec::Pcma.decode_sample(c))
            .collect(),
        _ => wav
            .data
            .iter()
            .map(|&c| Codec::Pcmu.decode_sample(c))
            .collect(),
    })
}

pub(crate) enum WavError {
    NotWav(String),
    Unsupported(String),
}

/// Write 8 kHz mono 16-bit PCM to a WAV file.
pub fn write_wav(path: impl AsRef<Path>, pcm: &[i16]) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    {
        let mut w16 = w.get_i16_writer(pcm.len() as u32);
        for &s in pcm {
            w16.write_sample(s);
        }
        w16.flush()?;
    }
    w.finalize()
}

/// Prompts by file name under one directory, each decoded once and then shared.
#[derive(Debug)]
pub struct PromptCatalog {
    dir: PathBuf,
    cache: Mutex<HashMap<String, Arc<Prompt>>>,
}

impl PromptCatalog {
    /// A catalog of the files under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PromptCatalog {
            dir: dir.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The prompt `name` (a path relative to the directory, e.g. `"welcome.wav"`), loaded
    /// on first use. Paths escaping the directory are refused.
    pub fn get(&self, name: &str) -> Result<Arc<Prompt>, PromptError> {
        if let Some(p) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(p.clone());
        }
        let rel = Path::new(name);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(PromptError::NotWav {
                path: rel.to_owned(),
                reason: "prompt names must stay inside the prompt directory".into(),
            });
        }
        let p = Prompt::load(self.dir.join(rel))?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), p.clone());
        Ok(p)
    }

    /// Load every name now, so a bad file fails at start-up rather than mid-call.
    pub fn preload<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<(), PromptError> {
        for n in names {
            self.get(n)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVE");
        v.extend_from_slice(b"fmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&format.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        let align = channels * bits / 8;
        v.extend_from_slice(&(rate * align as u32).to_le_bytes());
        v.extend_from_slice(&align.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        // An unrelated chunk of odd length, to exercise padding.
        v.extend_from_slice(b"LIST");
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3, 0]);
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn loads_pcm16_alaw_and_ulaw() {
        let dir = tempfile::tempdir().unwrap();
        let pcm: Vec<u8> = [1000i16, -1000, 0]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let p = Prompt::load(write(dir.path(), "a.wav", &wav_bytes(1, 1, 8000, 16, &pcm))).unwrap();
        assert_eq!(p.pcm(), &[1000, -1000, 0]);
        let p = Prompt::load(write(
            dir.path(),
            "b.wav",
            &wav_bytes(6, 1, 8000, 8, &[0xD5, 0xAA]),
        ))
        .unwrap();
        assert_eq!(p.pcm(), &[8, 32256]);
        let p = Prompt::load(write(
            dir.path(),
            "c.wav",
            &wav_bytes(7, 1, 8000, 8, &[0xFF, 0x80]),
        ))
        .unwrap();
        assert_eq!(p.pcm(), &[0, 32124]);
        assert_eq!(p.encoded(Codec::Pcmu), &[0xFF, 0x80]);
    }

    #[test]
    fn rejects_16khz_stereo_8bit_and_float_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                wav_bytes(1, 1, 16000, 16, &[0; 4]),
                "16000 Hz, 1 channel, 16-bit PCM",
            ),
            (
                wav_bytes(1, 2, 8000, 16, &[0; 8]),
                "8000 Hz, 2 channels, 16-bit PCM",
            ),
            (
                wav_bytes(1, 1, 8000, 8, &[0; 4]),
                "8000 Hz, 1 channel, 8-bit PCM",
            ),
            (
                wav_bytes(3, 1, 8000, 32, &[0; 8]),
                "8000 Hz, 1 channel, 32-bit float",
            ),
        ];
        for (i, (bytes, want)) in cases.iter().enumerate() {
            let path = write(dir.path(), &format!("{i}.wav"), bytes);
            let err = Prompt::load(&path).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, PromptError::Unsupported { .. }), "{msg}");
            assert!(msg.contains(want), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
    }

    #[test]
    fn rejects_garbage_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "x.wav", b"this is not audio at all");
        assert!(matches!(
            Prompt::load(&path),
            Err(PromptError::NotWav { .. })
        ));
        let mut truncated = wav_bytes(1, 1, 8000, 16, &[0; 4]);
        truncated.truncate(30);
        let path = write(dir.path(), "t.wav", &truncated);
        assert!(matches!(
            Prompt::load(&path),
            Err(PromptError::NotWav { .. })
        ));
        assert!(matches!(
            Prompt::load(dir.path().join("missing.wav")),
            Err(PromptError::Io { .. })
        ));
    }

    #[test]
    fn reads_what_sox_writes() {
        if std::process::Command::new("sox")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("sox not installed; skipping");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.wav");
        let st = std::process::Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-e", "a-law"])
            .arg(&ok)
            .args(["synth", "0.5", "sine", "425"])
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(Prompt::load(&ok).unwrap().len(), 4000);
        let wide = dir.path().join("wide.wav");
        let st = std::process::Command::new("sox")
            .args(["-n", "-r", "16000", "-c", "2", "-b", "16"])
            .arg(&wide)
            .args(["synth", "0.5", "sine", "425"])
            .status()
            .unwrap();
        assert!(st.success());
        let msg = Prompt::load(&wide).unwrap_err().to_string();
        assert!(msg.contains("16000 Hz, 2 channels"), "{msg}");
    }

    #[test]
    fn catalog_decodes_once_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "hi.wav", &wav_bytes(7, 1, 8000, 8, &[0xFF; 80]));
        let cat = PromptCatalog::new(dir.path());
        let a = cat.get("hi.wav").unwrap();
        let b = cat.get("hi.wav").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(cat.get("../etc/passwd").is_err());
        assert!(cat.preload(["hi.wav", "nope.wav"]).is_err());
    }

    #[test]
    fn written_wav_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.wav");
        write_wav(&p, &[1, -2, 3]).unwrap();
        assert_eq!(Prompt::load(&p).unwrap().pcm(), &[1, -2, 3]);
    }
}
