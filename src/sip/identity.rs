//! Who a caller is, as far as SIP can tell. The From header is whatever the caller typed;
//! a P-Asserted-Identity (RFC 3325) means something only when it comes from a peer inside
//! our trust domain, the carrier trunks and SBCs named in `[sip] trusted_peers`. From any
//! other source the header is ignored, so nobody proves a number by writing it down.
//!
//! ```text
//! P-Asserted-Identity: "Zhang" <sip:+8613812345678@carrier.example;user=phone>
//! P-Asserted-Identity: <tel:+8613812345678>
//! P-Asserted-Identity: <sip:13812345678@carrier.example>, <tel:13812345678>
//! ```

use std::net::IpAddr;

use ipnet::IpNet;
use rsipstack::sip::{Header, Request};

/// The number a trusted peer asserted for this request, if it came from one and named
/// one: the user part of a `sip:`/`sips:` URI or the number of a `tel:` URI.
pub(crate) fn asserted_caller(
    req: &Request,
    source: Option<IpAddr>,
    trusted: &[IpNet],
) -> Option<String> {
    let ip = source?;
    if !trusted.iter().any(|n| n.contains(&ip)) {
        return None;
    }
    req.headers.iter().find_map(|h| match h {
        Header::PAssertedIdentity(v) => first_number(v.value()),
        _ => None,
    })
}

/// The first identity in a header value that names a number.
fn first_number(value: &str) -> Option<String> {
    split_entries(value).into_iter().find_map(|entry| {
        let uri = match (entry.find('<'), entry.rfind('>')) {
            (Some(a), Some(b)) if a < b => &entry[a + 1..b],
            _ => entry.trim(),
        };
        let lower = uri.to_ascii_lowercase();
        let user = if let Some(rest) = lower.strip_prefix("tel:") {
            rest.split(';').next()?
        } else {
            let rest = lower
                .strip_prefix("sips:")
                .or_else(|| lower.strip_prefix("sip:"))?;
            let (user, _host) = rest.split_once('@')?;
            user.split(';').next()?
        };
        let number: String = user.chars().filter(|c| !matches!(c, '-' | '.')).collect();
        let digits = number.strip_prefix('+').unwrap_or(&number);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(number)
    })
}

/// Splits `a, b` at commas outside quotes and angle brackets.
fn split_entries(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut angle) = (Vec::new(), 0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::first_number;

    #[test]
    fn reads_sip_and_tel_identities() {
        assert_eq!(
            first_number("\"Zhang, San\" <sip:+8613812345678@carrier.example;user=phone>")
                .as_deref(),
            Some("+8613812345678")
        );
        assert_eq!(
            first_number("<tel:+86-138-1234-5678;cpc=ordinary>").as_deref(),
            Some("+8613812345678")
        );
        assert_eq!(
            first_number("<sip:anonymous@anonymous.invalid>, <tel:13812345678>").as_deref(),
            Some("13812345678")
        );
        assert_eq!(first_number("<sip:alice@example.com>"), None);
        assert_eq!(first_number("garbage <<>>"), None);
        assert_eq!(first_number(""), None);
    }
}
