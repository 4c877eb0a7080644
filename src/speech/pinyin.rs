//! Pinyin-level matching: whisper's Mandarin errors are mostly homophones and near-homophones
//! (任何街道 for 运河街道, 站道 for 占道, 氣 for 气), so words are compared by their toneless
//! syllables, with the confusions of southern and telephone speech folded together
//! (zh/z, ch/c, sh/s, n/l, -ng/-n).

use pinyin::ToPinyin;

/// Toneless pinyin of a character, folded for fuzzy comparison; `None` for non-Han characters.
pub fn fold(c: char) -> Option<String> {
    let p = c.to_pinyin()?.plain();
    Some(fold_syllable(p))
}

/// Fold one toneless syllable.
pub fn fold_syllable(s: &str) -> String {
    let mut s = s.replace('ü', "v");
    for (from, to) in [("zh", "z"), ("ch", "c"), ("sh", "s")] {
        if let Some(rest) = s.strip_prefix(from) {
            s = format!("{to}{rest}");
        }
    }
    if let Some(rest) = s.strip_prefix('n') {
        if !rest.is_empty() {
            s = format!("l{rest}");
        }
    }
    if s.ends_with("ng") && s.len() > 3 {
        s.truncate(s.len() - 1);
    }
    s
}

/// Split a folded syllable into initial and final.
fn split(s: &str) -> (&str, &str) {
    let i = s.find(|c: char| "aeiouv".contains(c)).unwrap_or(s.len());
    s.split_at(i)
}

/// Finals that telephone speech and whisper confuse, compared as one rhyme
/// (运河 heard as 任何: -un/-en; 绿 heard as 丽: -ü/-i, as in many southern accents).
const RHYME_CLASSES: &[&[&str]] = &[
    &["en", "un", "in", "uen", "vn"],
    &["an", "ian", "uan", "van"],
    &["i", "v"],
];

fn rhymes(fa: &str, fb: &str) -> bool {
    if fa.is_empty() || fb.is_empty() {
        return false;
    }
    fa == fb
        || RHYME_CLASSES
            .iter()
            .any(|c| c.contains(&fa) && c.contains(&fb))
}

/// Similarity of two folded syllables: 1 equal, 0.5 rhyming finals, 0 otherwise.
pub fn similarity(a: &str, b: &str) -> f32 {
    if a == b {
        return 1.0;
    }
    let (_, fa) = split(a);
    let (_, fb) = split(b);
    if rhymes(fa, fb) {
        0.5
    } else {
        0.0
    }
}

/// Whether a dictionary (jieba's, loaded once) knows this word.
pub fn is_word(w: &str) -> bool {
    static DICT: std::sync::OnceLock<jieba_rs::Jieba> = std::sync::OnceLock::new();
    DICT.get_or_init(jieba_rs::Jieba::new).has_word(w)
}

/// The final of a character's syllable, unfolded (-ng kept apart from -n).
fn strict_final(c: char) -> Option<String> {
    let p = c.to_pinyin()?.plain().replace('ü', "v");
    let i = p.find(|c: char| "aeiouv".contains(c))?;
    Some(p[i..].to_string())
}

/// Tone number (1–5) of a character.
pub fn tone(c: char) -> Option<char> {
    c.to_pinyin()?.with_tone_num_end().chars().last()
}

/// A piece of text as (character, folded syllable) pairs.
pub fn syllables(text: &str) -> Vec<(char, Option<String>)> {
    text.chars().map(|c| (c, fold(c))).collect()
}

/// Best fuzzy occurrence of `word` in `text`: (start index in chars, mean similarity).
pub fn find(
    text: &[(char, Option<String>)],
    word: &[(char, Option<String>)],
) -> Option<(usize, f32)> {
    let m = word.len();
    if m == 0 || text.len() < m || word.iter().any(|w| w.1.is_none()) {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for start in 0..=text.len() - m {
        let window = &text[start..start + m];
        let mut sum = 0.0;
        let mut ok = true;
        for (t, w) in window.iter().zip(word) {
            match (&t.1, &w.1) {
                (Some(a), Some(b)) => sum += if t.0 == w.0 { 1.0 } else { similarity(a, b) },
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let s = sum / m as f32;
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((start, s));
        }
    }
    best
}

/// How close a fuzzy occurrence must be to count, by word length: two-syllable words must
/// sound the same; longer words may have one syllable that only rhymes, never one that is
/// wrong (态度很差 must not become 态度很好).
pub fn threshold(len: usize) -> f32 {
    match len {
        0..=2 => 1.0,
        n => (n as f32 - 0.5) / n as f32,
    }
}

/// One repair made to a transcript.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Repair {
    pub heard: String,
    pub word: String,
}

/// Replace near-homophones of vocabulary words by the words themselves, longest words first,
/// each stretch of text at most once. Words already present literally are left alone.
pub fn repair(text: &str, vocabulary: &[String]) -> (String, Vec<Repair>) {
    repair_with(text, vocabulary, true)
}

/// [`repair`] with the looser rule for two-character words (one character exact, the other
/// rhyming) switched on or off. Place names use it off: 晚上 must not become 港上.
pub fn repair_with(text: &str, vocabulary: &[String], relaxed: bool) -> (String, Vec<Repair>) {
    let mut chars = syllables(text);
    let mut used = vec![false; chars.len()];
    let mut words: Vec<&String> = vocabulary
        .iter()
        .filter(|w| w.chars().count() >= 2)
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    words.dedup();
    let mut repairs = Vec::new();
    for w in words {
        let current: String = chars.iter().map(|c| c.0).collect();
        if let Some(pos) = current.find(w.as_str()) {
            let start = current[..pos].chars().count();
            for u in used.iter_mut().skip(start).take(w.chars().count()) {
                *u = true;
            }
            continue;
        }
        let ws = syllables(w);
        let Some((start, score)) = find(&chars, &ws) else {
            continue;
        };
        // A two-character word may also be heard with one character exactly right and the
        // other only rhyming (凭水 for 停水): the exact character anchors it.
        // The other character must have exactly the same final and tone (工厂 is not 工伤,
        // 向 is not 电).
        let window = &chars[start..start + ws.len()];
        let exact = window.iter().zip(&ws).filter(|(a, b)| a.0 == b.0).count();
        let same_rhyme = window.iter().zip(&ws).all(|(a, b)| {
            a.0 == b.0 || (tone(a.0) == tone(b.0) && strict_final(a.0) == strict_final(b.0))
        });
        // And what was heard must not be a word of its own (气味 stays, 凭水 becomes 停水).
        let close = score + 1e-4 >= threshold(ws.len())
            || (relaxed
                && ws.len() == 2
                && exact == 1
                && same_rhyme
                && score + 1e-4 >= 0.75
                && !is_word(&window.iter().map(|c| c.0).collect::<String>())
                // …nor written in traditional characters, which the dictionary lacks (氣味).
                && window.iter().all(|c| is_word(&c.0.to_string())));
        if !close || used[start..start + ws.len()].iter().any(|u| *u) {
            continue;
        }
        let heard: String = chars[start..start + ws.len()].iter().map(|c| c.0).collect();
        for (i, c) in ws.iter().enumerate() {
            chars[start + i] = c.clone();
            used[start + i] = true;
        }
        repairs.push(Repair {
            heard,
            word: w.clone(),
        });
    }
    (chars.into_iter().map(|c| c.0).collect(), repairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn folds_common_confusions() {
        assert_eq!(fold('站'), fold('占'));
        assert_eq!(fold('氣'), fold('气'));
        assert_eq!(fold_syllable("zhang"), "zan");
        assert_eq!(fold_syllable("ning"), "lin");
        assert_eq!(fold('a'), None);
    }

    #[test]
    fn repairs_homophones_but_not_unrelated_words() {
        let vocab = v(&["占道经营", "运河街道", "燃气", "停水", "路灯"]);
        let (t, r) = repair("街道上有人站道经营", &vocab);
        assert!(t.contains("占道经营"), "{t} {r:?}");
        let (t, _) = repair("任何街道有个小区的垃圾", &vocab);
        assert!(t.contains("运河街道"), "{t}");
        let (t, _) = repair("我家小区已经停睡两天了", &vocab);
        assert!(t.contains("停水"), "{t}");
        let (t, _) = repair("我家小区已经凭水两天了", &vocab);
        assert!(t.contains("停水"), "{t}");
        // Unrelated text stays as it was.
        let (t, _) = repair("工厂晚上噪音很大，态度很差", &v(&["工伤", "态度很好"]));
        assert_eq!(t, "工厂晚上噪音很大，态度很差");
        let (t, _) = repair("闻到很大的气味", &v(&["异味"]));
        assert_eq!(t, "闻到很大的气味");
        let (t, _) = repair("我向表扬医生", &v(&["电表"]));
        assert_eq!(t, "我向表扬医生");
        let (t, r) = repair("今天天气很好，谢谢你们", &vocab);
        assert_eq!(t, "今天天气很好，谢谢你们");
        assert!(r.is_empty());
    }
}
