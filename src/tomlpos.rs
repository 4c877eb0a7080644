//! Where things are in a TOML text, so errors about configuration and dialplan files can
//! name the line a person has to fix.

/// The 1-based line where a dotted key is set in a TOML text, if it can be found.
pub fn locate(text: &str, dotted: &str) -> Option<usize> {
    let parts: Vec<&str> = dotted.split('.').filter(|p| !p.is_empty()).collect();
    let (key, section) = parts.split_last()?;
    let mut current: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            let h = h.trim_start_matches('[').split(']').next().unwrap_or("");
            current = h.split('.').map(|s| s.trim().to_string()).collect();
            if current.iter().map(String::as_str).eq(parts.iter().copied()) {
                return Some(i + 1);
            }
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            if k.trim().trim_matches('"') == *key
                && current
                    .iter()
                    .map(String::as_str)
                    .eq(section.iter().copied())
            {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_tables() {
        let t = "a = 1\n[node.menu]\ndo = \"menu\"\n[node.menu.choices]\n\"1\" = \"x\"\n";
        assert_eq!(locate(t, "a"), Some(1));
        assert_eq!(locate(t, "node.menu"), Some(2));
        assert_eq!(locate(t, "node.menu.do"), Some(3));
        assert_eq!(locate(t, "node.menu.choices.1"), Some(5));
        assert_eq!(locate(t, "node.other"), None);
        assert_eq!(line_of(t, 7), 2);
    }
}
