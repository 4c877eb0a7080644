//! The whisper models the hotline supports (`[speech] model`): each one's file, size,
//! checksum and where it comes from. A catalogue with no behaviour, so the config can name
//! a model and `model.rs` can fetch and check it without either importing the other.

use std::path::{Path, PathBuf};

use super::SpeechError;

/// A model the hotline can make and check by itself (`[speech] model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ModelName {
    /// whisper base, float16, converted from the pinned packages.
    #[serde(rename = "base")]
    Base,
    /// whisper base with its weight matrices in ggml's 8-bit blocks.
    #[serde(rename = "base-q8_0")]
    BaseQ8_0,
    /// whisper base with its weight matrices in ggml's 5-bit blocks.
    #[serde(rename = "base-q5_1")]
    BaseQ5_1,
}

/// Where a supported model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Downloaded as pinned packages and converted (`scripts/model/fetch_base.py`).
    Converted,
    /// Quantised on this machine from another supported model.
    Quantized { from: ModelName, to: Quant },
}

/// ggml block quantisations whisper.cpp reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    Q8_0,
    Q5_1,
}

/// One row of [`MODELS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: ModelName,
    /// File name under `<data_dir>/models/`.
    pub file: &'static str,
    pub bytes: u64,
    pub sha256: &'static str,
    pub source: Source,
}

/// The supported models. Sizes and checksums are what `hotline model fetch` produces; both
/// are checked when a model is fetched and when it is loaded.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: ModelName::Base,
        file: "ggml-base.bin",
        bytes: BASE_SIZE,
        sha256: BASE_SHA256,
        source: Source::Converted,
    },
    ModelSpec {
        name: ModelName::BaseQ8_0,
        file: "ggml-base-q8_0.bin",
        bytes: 81_768_585,
        sha256: "81cfccb75eb8eb4eecf9829be7448c60e3d4abcb5bdb0f00e2c8a726f7ae2f25",
        source: Source::Quantized {
            from: ModelName::Base,
            to: Quant::Q8_0,
        },
    },
    ModelSpec {
        name: ModelName::BaseQ5_1,
        file: "ggml-base-q5_1.bin",
        bytes: 59_707_625,
        sha256: "ee4332cc5b3f700877fc8d00730b9c7a464a1265188d821bfc09e55d6dc5163c",
        source: Source::Quantized {
            from: ModelName::Base,
            to: Quant::Q5_1,
        },
    },
];

impl ModelName {
    /// Its row of [`MODELS`].
    pub fn spec(self) -> &'static ModelSpec {
        MODELS
            .iter()
            .find(|m| m.name == self)
            .expect("every ModelName has a row in MODELS")
    }

    /// The name used in the config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::Base => "base",
            ModelName::BaseQ8_0 => "base-q8_0",
            ModelName::BaseQ5_1 => "base-q5_1",
        }
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelName {
    type Err = SpeechError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MODELS
            .iter()
            .map(|m| m.name)
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = MODELS.iter().map(|m| m.name.as_str()).collect();
                SpeechError::Model(format!(
                    "unknown model `{s}`; supported: {}",
                    names.join(", ")
                ))
            })
    }
}

/// sha256 of the ggml whisper base model our conversion produces.
pub const BASE_SHA256: &str = "c0db470711f9496ec80feedb59b0916f10a0c301218e7254a61e7d3d1890dc6d";
/// Its size in bytes (the same as an upstream ggml-base.bin).
pub const BASE_SIZE: u64 = 147_951_465;

/// `<data_dir>/models/<file of model>`.
pub fn default_model_path(data_dir: &Path, model: ModelName) -> PathBuf {
    data_dir.join("models").join(model.spec().file)
}
