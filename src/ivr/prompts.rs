//! Turning a dialplan's prompt definitions into audio: recorded files are loaded, texts are
//! spoken once by the configured TTS command and cached by a hash of command and text, so a
//! city can change wording without recording and a restart costs nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::media::Prompt;

use super::format::PromptDef;

#[derive(Debug, thiserror::Error)]
pub enum PromptBuildError {
    #[error("prompt `{name}`: no TTS command for language `{lang}` ([ivr.tts])")]
    NoTts { name: String, lang: String },
    #[error("prompt `{name}`: the TTS command failed: {detail}")]
    Tts { name: String, detail: String },
    #[error("prompt `{name}`: {source}")]
    Load {
        name: String,
        source: crate::media::PromptError,
    },
}

/// Speaks and loads prompts, sharing results between dialplans and reloads.
#[derive(Debug)]
pub struct PromptBuilder {
    cache_dir: PathBuf,
    tts: HashMap<String, String>,
    loaded: std::sync::Mutex<HashMap<PathBuf, Arc<Prompt>>>,
}

impl PromptBuilder {
    pub fn new(cache_dir: PathBuf, tts: HashMap<String, String>) -> PromptBuilder {
        PromptBuilder {
            cache_dir,
            tts,
            loaded: Default::default(),
        }
    }

    /// The audio for one prompt in one language. Blocking (runs the TTS command): call it
    /// off the async runtime.
    pub fn build(
        &self,
        name: &str,
        def: &PromptDef,
        lang: &str,
        file_dir: &Path,
    ) -> Result<Arc<Prompt>, PromptBuildError> {
        let path = match (&def.file, def.text(lang)) {
            (Some(f), _) => file_dir.join(f),
            (None, Some(text)) => self.speak(name, text, lang)?,
            (None, None) => {
                return Err(PromptBuildError::NoTts {
                    name: name.into(),
                    lang: lang.into(),
                });
            }
        };
        if let Some(p) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&path)
        {
            return Ok(p.clone());
        }
        let p = Prompt::load(&path).map_err(|source| PromptBuildError::Load {
            name: name.into(),
            source,
        })?;
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path, p.clone());
        Ok(p)
    }

    fn speak(&self, name: &str, text: &str, lang: &str) -> Result<PathBuf, PromptBuildError> {
        let cmd = self.tts.get(lang).ok_or_else(|| PromptBuildError::NoTts {
            name: name.into(),
            lang: lang.into(),
        })?;
        let mut h = Sha256::new();
        h.update(cmd.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        let hash: String = h
            .finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect();
        let out = self.cache_dir.join(format!("{lang}-{hash}.wav"));
        if out.exists() {
            return Ok(out);
        }
        let fail = |detail: String| PromptBuildError::Tts {
            name: name.into(),
            detail,
        };
        std::fs::create_dir_all(&self.cache_dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", self.cache_dir.display())))?;
        let tmp = self
            .cache_dir
            .join(format!(".{lang}-{hash}.{}.wav", std::process::id()));
        let res = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("HOTLINE_TTS_TEXT", text)
            .env("HOTLINE_TTS_OUT", &tmp)
            .output()
            .map_err(|e| fail(e.to_string()))?;
        if !res.status.success() || !tmp.exists() {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(format!(
                "exit {}: {}",
                res.status,
                String::from_utf8_lossy(&res.stderr).trim()
            )));
        }
        // Rename last, so a crash mid-synthesis never leaves a truncated prompt in the cache.
        std::fs::rename(&tmp, &out).map_err(|e| fail(e.to_string()))?;
        tracing::debug!(prompt = name, lang, file = %out.display(), "prompt spoken");
        Ok(out)
    }
}
