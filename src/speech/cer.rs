//! Character error rate, as the speech test and benchmark score transcripts: both sides are
//! normalised first (traditional → simplified, digits → Chinese numerals, punctuation and
//! spaces dropped), so only the words count.

/// A text as it is scored.
pub fn normalise(s: &str) -> String {
    const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    s.chars()
        .filter(|c| {
            !c.is_whitespace()
                && !c.is_ascii_punctuation()
                && !"，。？！、：；“”‘’…（）".contains(*c)
        })
        .map(|c| match c.to_digit(10) {
            Some(d) => DIGITS[d as usize],
            None => super::hanzi::simplify_char(c),
        })
        .collect()
}

/// Levenshtein distance over characters.
pub fn edits(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Edits and reference length of one transcript against what was said, normalised.
pub fn score(reference: &str, heard: &str) -> (usize, usize) {
    let r: Vec<char> = normalise(reference).chars().collect();
    let h: Vec<char> = normalise(heard).chars().collect();
    (edits(&r, &h), r.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_words_not_script_digits_or_punctuation() {
        assert_eq!(score("停了三次电。", "停了3次電"), (0, 5));
        assert_eq!(score("路灯坏了", "陆灯坏"), (2, 4));
        assert_eq!(score("你好", ""), (2, 2));
    }
}
