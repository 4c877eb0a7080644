//! Where things are in a TOML text, so errors about configuration and dialplan files can
//! name the line a person has to fix. The positions are the spans `toml_edit`'s parser
//! keeps for every key and table header.

/// The 1-based line where a dotted key is set (or its table header written) in a TOML text,
/// if the text parses and holds it.
pub fn locate(text: &str, dotted: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut parts = dotted.split('.').filter(|p| !p.is_empty()).peekable();
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    while let Some(part) = parts.next() {
        let (key, item) = table.get_key_value(part)?;
        if parts.peek().is_none() {
            let span = key.span().or_else(|| item.span())?;
            return Some(line_of(text, span.start));
        }
        table = item.as_table_like()?;
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
        let inline = "[node.menu]\ndo = \"menu\"\nchoices = { \"1\" = \"x\" }\n";
        assert_eq!(locate(inline, "node.menu.choices.1"), Some(3));
    }
}
