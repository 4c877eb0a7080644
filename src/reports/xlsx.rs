//! The XLSX writer (rust_xlsxwriter): one sheet named after the table, a bold frozen header
//! row with an autofilter, numbers as numbers, text as text (never a formula), columns
//! wide enough for their Chinese.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::table::{Cell, ExportError, Table};

/// Excel's limit on sheet names, and the characters it refuses in them.
const SHEET_NAME_MAX: usize = 31;
const SHEET_NAME_BAD: [char; 7] = ['[', ']', ':', '*', '?', '/', '\\'];

fn sheet_name(title: &str) -> String {
    let s: String = title
        .chars()
        .filter(|c| !SHEET_NAME_BAD.contains(c))
        .take(SHEET_NAME_MAX)
        .collect();
    if s.trim().is_empty() {
        "Sheet1".into()
    } else {
        s
    }
}

/// Display width: a CJK character takes two columns.
fn width(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

fn shown(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Number(v) => format!("{v}"),
        Cell::Empty => String::new(),
    }
}

fn build(t: &Table) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name(&t.title))?;
    let bold = Format::new().set_bold();
    for (col, h) in t.headers.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, h, &bold)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (col, c) in row.iter().enumerate() {
            let col = col as u16;
            match c {
                Cell::Text(s) => {
                    sheet.write_string(r, col, s)?;
                }
                Cell::Int(i) => {
                    sheet.write_number(r, col, *i as f64)?;
                }
                Cell::Number(v) => {
                    sheet.write_number(r, col, *v)?;
                }
                Cell::Empty => {}
            }
        }
    }
    for col in 0..t.headers.len() {
        let widest = std::iter::once(width(&t.headers[col]))
            .chain(
                t.rows
                    .iter()
                    .filter_map(|r| r.get(col))
                    .map(|c| width(&shown(c))),
            )
            .max()
            .unwrap_or(8);
        sheet.set_column_width(col as u16, (widest.clamp(6, 60) + 2) as f64)?;
    }
    if !t.headers.is_empty() {
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, t.rows.len() as u32, t.headers.len() as u16 - 1)?;
    }
    book.save_to_buffer()
}

pub fn write(t: &Table) -> Result<Vec<u8>, ExportError> {
    build(t).map_err(|e| ExportError::Xlsx(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_obey_excel() {
        assert_eq!(sheet_name("工单列表"), "工单列表");
        assert_eq!(sheet_name("a/b:c"), "abc");
        assert_eq!(sheet_name("///"), "Sheet1");
        assert_eq!(sheet_name(&"长".repeat(40)).chars().count(), 31);
    }

    #[test]
    fn a_workbook_is_a_zip_with_the_sheet() {
        let mut t = Table::new("工单列表", &["工单编号", "件数"]);
        t.push(vec![Cell::text("202612020001"), Cell::Int(3)]);
        let bytes = write(&t).unwrap();
        assert_eq!(&bytes[..2], b"PK", "an xlsx is a zip");
    }
}
