//! Text → SMS parts (GSM-7 or UCS-2, concatenated with a UDH) and incoming bytes → text.
//!
//! Wire example of a 2-part UCS-2 message, part 1 (esm_class 0x40, data_coding 0x08):
//! ```text
//! 05 00 03 2A 02 01 | 30 10 00 31 00 32 00 33 00 34 00 35 30 11 ...   (67 UTF-16BE units)
//! └ IEI 0 len 3 ref=0x2A total=2 seq=1
//! ```
//! SMPP carries GSM-7 unpacked (one septet per octet), so a GSM part holds 153 septets
//! after the 6-octet UDH, and a single message 160.

/// SMPP data_coding values we produce.
pub const DC_GSM7: u8 = 0x00;
pub const DC_UCS2: u8 = 0x08;
/// esm_class bit telling the SMSC a UDH leads the short message.
pub const ESM_UDHI: u8 = 0x40;

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXT: [(char, u8); 10] = [
    ('\u{0c}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

fn gsm_basic(c: char) -> Option<u8> {
    if c == '\u{1b}' {
        return None;
    }
    GSM_BASIC.chars().position(|g| g == c).map(|p| p as u8)
}

fn gsm_ext(c: char) -> Option<u8> {
    GSM_EXT.iter().find(|(g, _)| *g == c).map(|(_, b)| *b)
}

/// Septets of one character in GSM-7, or None when GSM-7 cannot carry it.
fn gsm_char(c: char) -> Option<Vec<u8>> {
    if let Some(b) = gsm_basic(c) {
        Some(vec![b])
    } else {
        gsm_ext(c).map(|b| vec![0x1B, b])
    }
}

/// True when every character fits the GSM-7 default alphabet (with its extension table).
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm_char(c).is_some())
}

/// One SMPP submit: optional UDH and the payload octets (UDH included in `bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub bytes: Vec<u8>,
    pub has_udh: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub data_coding: u8,
    pub esm_class: u8,
    pub parts: Vec<Part>,
    /// The text actually sent (after truncation).
    pub text: String,
    pub truncated: bool,
}

/// Units of one character: septets for GSM-7, UTF-16 code units for UCS-2.
fn units(c: char, gsm: bool) -> Vec<u8> {
    if gsm {
        gsm_char(c).unwrap_or_else(|| vec![0x3F])
    } else {
        let mut buf = [0u16; 2];
        c.encode_utf16(&mut buf)
            .iter()
            .flat_map(|u| u.to_be_bytes())
            .collect()
    }
}

/// Split into chunks of at most `cap` units without breaking an escape pair or surrogate pair.
fn chunks(text: &str, gsm: bool, cap: usize) -> Vec<Vec<u8>> {
    let unit = if gsm { 1 } else { 2 };
    let mut out = vec![];
    let mut cur: Vec<u8> = vec![];
    for c in text.chars() {
        let u = units(c, gsm);
        if (cur.len() + u.len()) / unit > cap {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(u);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

fn count_parts(text: &str, gsm: bool) -> usize {
    let (single, multi) = if gsm { (160, 153) } else { (70, 67) };
    let n: usize =
        text.chars().map(|c| units(c, gsm).len()).sum::<usize>() / if gsm { 1 } else { 2 };
    if n <= single {
        1
    } else {
        chunks(text, gsm, multi).len()
    }
}

/// Encode `text` for SMPP. If it needs more than `max_parts` parts it is cut and `suffix`
/// appended ("…详询12345" or a link) so the whole fits. `reference` is the concatenation
/// reference; derive it from the outbox row so a resend carries the same UDH.
pub fn encode(text: &str, max_parts: usize, suffix: &str, reference: u8) -> Encoded {
    let max_parts = max_parts.clamp(1, 255);
    let mut body = text.to_string();
    let mut truncated = false;
    let gsm_full = is_gsm7(&body);
    if count_parts(&body, gsm_full) > max_parts {
        truncated = true;
        let gsm = is_gsm7(&body) && is_gsm7(suffix);
        let mut chars: Vec<char> = body.chars().collect();
        // Drop characters from the end until text + suffix fits; binary search keeps it fast.
        let (mut lo, mut hi) = (0usize, chars.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let cand: String = chars[..mid].iter().collect::<String>() + suffix;
            if count_parts(&cand, gsm) <= max_parts {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        chars.truncate(lo);
        body = chars.into_iter().collect::<String>() + suffix;
    }
    let gsm = is_gsm7(&body);
    let single = if gsm { 160 } else { 70 };
    let multi = if gsm { 153 } else { 67 };
    let n_units: usize =
        body.chars().map(|c| units(c, gsm).len()).sum::<usize>() / if gsm { 1 } else { 2 };
    let data_coding = if gsm { DC_GSM7 } else { DC_UCS2 };
    if n_units <= single {
        let bytes = chunks(&body, gsm, single).pop().unwrap_or_default();
        return Encoded {
            data_coding,
            esm_class: 0,
            parts: vec![Part {
                bytes,
                has_udh: false,
            }],
            text: body,
            truncated,
        };
    }
    let pieces = chunks(&body, gsm, multi);
    let total = pieces.len().min(255) as u8;
    let parts = pieces
        .into_iter()
        .take(255)
        .enumerate()
        .map(|(i, p)| {
            let mut bytes = vec![0x05, 0x00, 0x03, reference, total, (i + 1) as u8];
            bytes.extend(p);
            Part {
                bytes,
                has_udh: true,
            }
        })
        .collect();
    Encoded {
        data_coding,
        esm_class: ESM_UDHI,
        parts,
        text: body,
        truncated,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("UCS-2 text with an odd number of octets ({0})")]
    OddUcs2(usize),
    #[error("UCS-2 text with an unpaired surrogate")]
    BadSurrogate,
    #[error("UDH longer than the message")]
    BadUdh,
    #[error("unsupported data_coding 0x{0:02x}")]
    Unsupported(u8),
}

/// Concatenation info from a UDH: (reference, total, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// Split a short message with UDHI set into (concat info, user data).
pub fn split_udh(sm: &[u8]) -> Result<(Option<Concat>, &[u8]), DecodeError> {
    let udhl = *sm.first().ok_or(DecodeError::BadUdh)? as usize;
    if sm.len() < udhl + 1 {
        return Err(DecodeError::BadUdh);
    }
    let mut ies = &sm[1..=udhl];
    let mut concat = None;
    while ies.len() >= 2 {
        let (iei, len) = (ies[0], ies[1] as usize);
        if ies.len() < 2 + len {
            return Err(DecodeError::BadUdh);
        }
        let d = &ies[2..2 + len];
        match (iei, len) {
            (0x00, 3) => {
                concat = Some(Concat {
                    reference: d[0] as u16,
                    total: d[1],
                    seq: d[2],
                })
            }
            (0x08, 4) => {
                concat = Some(Concat {
                    reference: u16::from_be_bytes([d[0], d[1]]),
                    total: d[2],
                    seq: d[3],
                })
            }
            _ => {}
        }
        ies = &ies[2 + len..];
    }
    Ok((concat, &sm[udhl + 1..]))
}

/// Decode incoming user data by data_coding (GSM-7 unpacked, IA5, Latin-1, UCS-2).
pub fn decode(data_coding: u8, ud: &[u8]) -> Result<String, DecodeError> {
    match data_coding & 0x0F {
        0x00 | 0x01 if data_coding < 0xC0 => Ok(decode_gsm(ud)),
        0x03 => Ok(ud.iter().map(|&b| b as char).collect()),
        0x08 => {
            if !ud.len().is_multiple_of(2) {
                return Err(DecodeError::OddUcs2(ud.len()));
            }
            let u: Vec<u16> = ud
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&u).map_err(|_| DecodeError::BadSurrogate)
        }
        _ => Err(DecodeError::Unsupported(data_coding)),
    }
}

fn decode_gsm(ud: &[u8]) -> String {
    let basic: Vec<char> = GSM_BASIC.chars().collect();
    let mut out = String::new();
    let mut esc = false;
    for &b in ud {
        let b = b & 0x7F;
        if esc {
            esc = false;
            match GSM_EXT.iter().find(|(_, e)| *e == b) {
                Some((c, _)) => out.push(*c),
                None => out.push(' '),
            }
        } else if b == 0x1B {
            esc = true;
        } else {
            out.push(basic.get(b as usize).copied().unwrap_or('?'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ucs2(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
    }

    #[test]
    fn short_ascii_is_one_gsm_part() {
        let e = encode("Hello 12345", 4, "", 1);
        assert_eq!(e.data_coding, DC_GSM7);
        assert_eq!(e.esm_class, 0);
        assert_eq!(e.parts.len(), 1);
        assert_eq!(e.parts[0].bytes, b"Hello 12345".to_vec());
    }

    #[test]
    fn gsm_160_fits_161_splits_into_153() {
        let s160 = "a".repeat(160);
        assert_eq!(encode(&s160, 4, "", 1).parts.len(), 1);
        let s161 = "a".repeat(161);
        let e = encode(&s161, 4, "", 7);
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.esm_class, ESM_UDHI);
        assert_eq!(&e.parts[0].bytes[..6], &[5, 0, 3, 7, 2, 1]);
        assert_eq!(e.parts[0].bytes.len(), 6 + 153);
        assert_eq!(e.parts[1].bytes.len(), 6 + 8);
    }

    #[test]
    fn gsm_extension_counts_twice_and_never_splits() {
        let s = "€".repeat(80); // 160 septets
        let e = encode(&s, 4, "", 1);
        assert_eq!(e.parts.len(), 1);
        let s = format!("{}{}", "a".repeat(152), "€".repeat(5));
        let e = encode(&s, 4, "", 1);
        assert_eq!(e.parts.len(), 2);
        // 152 'a' then the escape pair must not be cut: part 1 holds 152 septets.
        assert_eq!(e.parts[0].bytes.len(), 6 + 152);
        assert_eq!(e.parts[1].bytes[6], 0x1B);
    }

    #[test]
    fn chinese_is_ucs2_70_then_67() {
        let s70 = "市".repeat(70);
        let e = encode(&s70, 4, "", 1);
        assert_eq!((e.data_coding, e.parts.len()), (DC_UCS2, 1));
        assert_eq!(e.parts[0].bytes, ucs2(&s70));
        let s71 = "市".repeat(71);
        let e = encode(&s71, 4, "", 9);
        assert_eq!(e.parts.len(), 2);
        assert_eq!(e.parts[0].bytes.len(), 6 + 134);
        assert_eq!(e.parts[1].bytes.len(), 6 + 8);
        assert_eq!(&e.parts[1].bytes[..6], &[5, 0, 3, 9, 2, 2]);
    }

    #[test]
    fn surrogate_pairs_are_not_split() {
        let s = format!("{}😀", "市".repeat(66));
        let s = format!("{s}{}", "市".repeat(10));
        let e = encode(&s, 4, "", 1);
        // 66 units + a 2-unit emoji would be 68 > 67: the emoji starts part 2.
        assert_eq!(e.parts[0].bytes.len(), 6 + 132);
        let (_, ud) = split_udh(&e.parts[1].bytes).unwrap();
        assert!(decode(8, ud).unwrap().starts_with('😀'));
    }

    #[test]
    fn long_text_truncated_at_part_limit_with_suffix() {
        let s = "答".repeat(1000);
        let e = encode(&s, 3, "…详询12345", 1);
        assert!(e.truncated);
        assert_eq!(e.parts.len(), 3);
        assert!(e.text.ends_with("…详询12345"));
        assert_eq!(e.text.encode_utf16().count(), 3 * 67);
    }

    #[test]
    fn parts_reassemble_to_text() {
        let s = "【12345】您的工单202611260001已办结。".repeat(5);
        let e = encode(&s, 10, "", 3);
        let mut text = String::new();
        for p in &e.parts {
            let (c, ud) = split_udh(&p.bytes).unwrap();
            assert_eq!(c.unwrap().total as usize, e.parts.len());
            text.push_str(&decode(8, ud).unwrap());
        }
        assert_eq!(text, s);
    }

    #[test]
    fn decode_rejects_bad_ucs2() {
        assert_eq!(decode(8, &[0x00]), Err(DecodeError::OddUcs2(1)));
        assert_eq!(
            decode(8, &[0xD8, 0x00, 0x00, 0x41]),
            Err(DecodeError::BadSurrogate)
        );
        assert_eq!(decode(0, b"CX"), Ok("CX".into()));
        assert!(split_udh(&[9, 0, 3]).is_err());
    }
}
