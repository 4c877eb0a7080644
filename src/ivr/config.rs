use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Section `[ivr]`: which dialplan answers which number, and how prompts are spoken.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IvrConfig {
    /// Every `*.toml` here is a dialplan, named by its file stem.
    pub dialplan_dir: PathBuf,
    /// Prompts every dialplan may use: digits, months, days, ticket states.
    pub catalog_file: PathBuf,
    /// Called number → dialplan name.
    pub numbers: BTreeMap<String, String>,
    /// Dialplan for called numbers not listed; empty refuses them (404).
    pub default_dialplan: String,
    /// Shell command per language that speaks `$HOTLINE_TTS_TEXT` into the WAV file
    /// `$HOTLINE_TTS_OUT` (8 kHz mono 16-bit); run once per text, the result is cached.
    pub tts: BTreeMap<String, String>,
    /// Cache of spoken prompts; empty means `<data_dir>/prompts`.
    pub prompt_cache_dir: PathBuf,
    /// Voice messages; empty means `<data_dir>/recordings`.
    pub recordings_dir: PathBuf,
    /// How often dialplan files are checked for changes (SIGHUP reloads at once).
    pub reload_poll_secs: u64,
    /// Steps one call may take before it is ended (a guard against a dialplan bug).
    pub max_steps: u32,
    /// How long a `transfer` rings before `on_no_answer`, when the node does not say.
    pub ring_secs: u64,
}

impl Default for IvrConfig {
    fn default() -> Self {
        // The synthesiser's own lead-in and trailing silence are cut: a caller hears the
        // greeting at once, and the open question ends on its last word (GB/T 33358 asks
        // for short menus; the demo reaches "speak now" within 8 s).
        let trim = "silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse";
        let zh = format!("espeak-ng -v cmn-latn-pinyin -s 180 --stdout \"$HOTLINE_TTS_TEXT\" | sox -q -t wav - -r 8000 -c 1 -b 16 -e signed-integer \"$HOTLINE_TTS_OUT\" gain -1 {trim}");
        let en = format!("espeak-ng -v en -s 165 --stdout \"$HOTLINE_TTS_TEXT\" | sox -q -t wav - -r 8000 -c 1 -b 16 -e signed-integer \"$HOTLINE_TTS_OUT\" gain -1 {trim}");
        IvrConfig {
            dialplan_dir: "dialplans".into(),
            catalog_file: "dialplans/catalog/pieces.toml".into(),
            numbers: [("12345".to_string(), "12345".to_string())]
                .into_iter()
                .collect(),
            default_dialplan: "12345".into(),
            tts: [("zh".to_string(), zh), ("en".to_string(), en)]
                .into_iter()
                .collect(),
            prompt_cache_dir: PathBuf::new(),
            recordings_dir: PathBuf::new(),
            reload_poll_secs: 2,
            max_steps: 500,
            ring_secs: 20,
        }
    }
}
