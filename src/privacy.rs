//! Personal data kept out of logs and mail: a phone number never appears whole unless a
//! city allows it. A leaf: every layer may use it, it imports nothing of the crate.

/// 138****5678.
pub fn mask(phone: &str) -> String {
    let c: Vec<char> = phone.chars().collect();
    let n = c.len();
    if n <= 7 {
        return "*".repeat(n);
    }
    format!(
        "{}****{}",
        c[..3].iter().collect::<String>(),
        c[n - 4..].iter().collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_the_middle() {
        assert_eq!(super::mask("13812345678"), "138****5678");
        assert_eq!(super::mask("12345"), "*****");
    }
}
