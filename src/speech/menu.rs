//! Speech menus: a dialplan's gather-speech step says its choices as phrases ("查询进度",
//! "人工服务"); the caller's short utterance is transcribed on the menu lane and matched
//! against them at pinyin level, so 茶询进度 or 人工伏务 still pick the right branch.

use super::audio::{self, Audio};
use super::engine::Transcriber;
use super::pinyin;
use super::SpeechError;

/// The phrase a caller's words matched.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MenuMatch {
    /// Index into the phrases given.
    pub index: usize,
    pub phrase: String,
    /// 0..1: syllable similarity of the best-matching stretch, weighted by how much of the
    /// phrase it covers.
    pub score: f32,
    /// What whisper heard.
    pub heard: String,
}

/// Default acceptance: most syllables of a phrase heard (near-)right.
pub const DEFAULT_MIN_SCORE: f32 = 0.7;

const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

fn normalise(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => DIGITS[d as usize],
            None => c,
        })
        .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !"，。？！、".contains(*c))
        .collect()
}

/// Best phrase for what was heard, if one scores at least `min_score`.
pub fn match_phrases(heard: &str, phrases: &[&str], min_score: f32) -> Option<MenuMatch> {
    let h = pinyin::syllables(&normalise(heard));
    let mut best: Option<MenuMatch> = None;
    for (index, phrase) in phrases.iter().enumerate() {
        let p = pinyin::syllables(&normalise(phrase));
        if p.is_empty() || h.is_empty() {
            continue;
        }
        // The best stretch of the phrase (two syllables or more) found in what was heard;
        // a caller who says only part of a phrase ("投诉" for "投诉举报") gets partial credit.
        let mut score: Option<f32> = None;
        for k in (2.min(p.len())..=p.len()).rev() {
            let coverage = k as f32 / p.len() as f32;
            for w in p.windows(k) {
                if let Some((_, sim)) = pinyin::find(&h, w) {
                    if sim >= pinyin::threshold(k) {
                        let s = sim * (0.5 + 0.5 * coverage);
                        score = Some(score.map_or(s, |b: f32| b.max(s)));
                    }
                }
            }
        }
        let Some(score) = score else { continue };
        if score >= min_score && best.as_ref().is_none_or(|b| score > b.score) {
            best = Some(MenuMatch {
                index,
                phrase: phrase.to_string(),
                score,
                heard: heard.to_string(),
            });
        }
    }
    best
}

/// Best phrase for words heard in `language`: Mandarin phrases match Mandarin at pinyin
/// level, English phrases (plain ASCII) match English words in order, case aside ("I want
/// an operator, please" says "operator").
pub fn match_in(
    heard: &str,
    language: &str,
    phrases: &[&str],
    min_score: f32,
) -> Option<MenuMatch> {
    if language != "en" {
        let own: Vec<&str> = phrases
            .iter()
            .map(|p| if p.is_ascii() { "" } else { p })
            .collect();
        return match_phrases(heard, &own, min_score);
    }
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let said = words(heard);
    phrases
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_ascii())
        .filter_map(|(index, p)| {
            let want = words(p);
            let found = !want.is_empty() && said.windows(want.len()).any(|w| w == want.as_slice());
            found.then(|| MenuMatch {
                index,
                phrase: p.to_string(),
                score: 1.0,
                heard: heard.to_string(),
            })
        })
        // The longest phrase said wins ("check my ticket" over "ticket").
        .max_by_key(|m| m.phrase.len())
}

/// Transcribe an utterance (any rate; e.g. 8 kHz from the call) and match it.
/// `Ok(None)`: heard something that matches no phrase; the dialplan's no-match branch.
pub async fn gather_speech(
    engine: &Transcriber,
    utterance: &Audio,
    phrases: &[&str],
    min_score: f32,
) -> Result<Option<MenuMatch>, SpeechError> {
    let pcm = audio::to_whisper(utterance)?;
    // Menu phrases are in the city's language: no detection pass in the caller's wait.
    let t = engine
        .transcribe_utterance(pcm, Some(engine.primary_language()))
        .await?;
    Ok(match_phrases(&t.text, phrases, min_score))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MENU: &[&str] = &["查询进度", "人工服务", "投诉举报", "咨询政策"];

    #[test]
    fn matches_exact_and_near_homophones() {
        assert_eq!(
            match_phrases("查询进度", MENU, DEFAULT_MIN_SCORE)
                .unwrap()
                .index,
            0
        );
        assert_eq!(
            match_phrases("我要查询进度。", MENU, DEFAULT_MIN_SCORE)
                .unwrap()
                .index,
            0
        );
        assert_eq!(
            match_phrases("茶询进度", MENU, DEFAULT_MIN_SCORE)
                .unwrap()
                .index,
            0
        );
        assert_eq!(
            match_phrases("人工伏务", MENU, DEFAULT_MIN_SCORE)
                .unwrap()
                .index,
            1
        );
        assert_eq!(
            match_phrases("轉人工服務", MENU, DEFAULT_MIN_SCORE)
                .unwrap()
                .index,
            1
        );
        assert_eq!(
            match_phrases("我要投訴", MENU, DEFAULT_MIN_SCORE)
                .unwrap()
                .index,
            2
        );
        assert!(match_phrases("今天天气不错", MENU, DEFAULT_MIN_SCORE).is_none());
        assert!(match_phrases("", MENU, DEFAULT_MIN_SCORE).is_none());
    }

    #[test]
    fn english_phrases_match_english_words_and_only_those() {
        let menu = ["查询进度", "人工服务", "check my ticket", "operator"];
        let m = |heard, lang| match_in(heard, lang, &menu, DEFAULT_MIN_SCORE).map(|m| m.index);
        assert_eq!(m("I'd like an Operator, please.", "en"), Some(3));
        assert_eq!(m("Can I check my ticket?", "en"), Some(2));
        assert_eq!(m("The street light is broken.", "en"), None);
        assert_eq!(m("转人工服务", "zh"), Some(1));
        // English words heard as Mandarin do not pick an English phrase, and the reverse.
        assert_eq!(m("operator", "zh"), None);
        assert_eq!(m("人工服务", "en"), None);
    }

    #[test]
    fn digits_match_their_spoken_form() {
        assert_eq!(
            match_phrases("1", &["零", "一", "二"], 0.9).unwrap().index,
            1
        );
    }
}
