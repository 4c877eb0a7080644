//! The CSV writer: UTF-8 with a byte-order mark (Excel on Windows reads a CSV without one
//! as the local code page and garbles Chinese), CRLF line ends and RFC 4180 quoting.
//! Text that a spreadsheet would take for a formula (`=`, `+`, `-`, `@` first) gets a
//! leading apostrophe: a resident's message must never run as a formula on a clerk's PC.

use super::table::{Cell, Table};

const BOM: &str = "\u{feff}";

/// One field, quoted when it holds a comma, a quote or a line break.
fn field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Text as it is safe to hand to a spreadsheet.
fn defused(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn cell(out: &mut String, c: &Cell) {
    match c {
        Cell::Text(s) => field(out, &defused(s)),
        Cell::Int(i) => out.push_str(&i.to_string()),
        Cell::Number(v) => out.push_str(&format!("{v}")),
        Cell::Empty => {}
    }
}

fn line(out: &mut String, cells: impl Iterator<Item = impl FnOnce(&mut String)>) {
    for (i, c) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        c(out);
    }
    out.push_str("\r\n");
}

pub fn write(t: &Table) -> Vec<u8> {
    let mut out = String::from(BOM);
    line(
        &mut out,
        t.headers.iter().map(|h| move |o: &mut String| field(o, h)),
    );
    for row in &t.rows {
        line(
            &mut out,
            row.iter().map(|c| move |o: &mut String| cell(o, c)),
        );
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_per_rfc_4180_with_a_bom_and_crlf() {
        let mut t = Table::new("工单列表", &["工单编号", "诉求"]);
        t.push(vec![
            Cell::text("202612020001"),
            Cell::text("水管\"爆了\"，在解放路,12号\n很急"),
        ]);
        t.push(vec![Cell::Int(3), Cell::Number(97.5)]);
        t.push(vec![Cell::Empty, Cell::text("=HYPERLINK(\"x\")")]);
        let s = String::from_utf8(write(&t)).unwrap();
        assert_eq!(
            s,
            "\u{feff}工单编号,诉求\r\n202612020001,\"水管\"\"爆了\"\"，在解放路,12号\n很急\"\r\n3,97.5\r\n,\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
    }

    #[test]
    fn negative_numbers_stay_numbers() {
        let mut t = Table::new("t", &["a"]);
        t.push(vec![Cell::Int(-2)]);
        t.push(vec![Cell::text("-2")]);
        let s = String::from_utf8(write(&t)).unwrap();
        assert!(s.ends_with("a\r\n-2\r\n'-2\r\n"), "{s}");
    }
}
