//! One table model for every export (ticket lists, call lists, KPI reports, the ranking):
//! a title, Chinese column headers and typed cells. The writers (`csv.rs`, `xlsx.rs`) turn
//! it into a file; nothing else knows the file formats.

use std::fmt;
use std::str::FromStr;

/// One cell. Numbers stay numbers so a spreadsheet can sum and sort them.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A figure with decimals (a rate in percent, an average).
    Number(f64),
    Empty,
}

impl Cell {
    /// Text, or empty when there is none.
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        if s.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(s)
        }
    }

    /// A figure that may be missing (a rate with nothing to divide by).
    pub fn opt_number(v: Option<f64>) -> Cell {
        v.map(Cell::Number).unwrap_or(Cell::Empty)
    }

    /// 是 / 否, how a list says yes and no.
    pub fn yes_no(b: bool) -> Cell {
        Cell::Text(if b { "是" } else { "否" }.into())
    }
}

/// A table to export: what it is (the sheet's name and the file's), its headers and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// 工单列表, 通话记录, …: the sheet name and the start of the file name.
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Table {
        Table {
            title: title.to_string(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; a row shorter than the headers is padded with empty cells, so every
    /// row has one cell per column whatever its builder forgot.
    pub fn push(&mut self, mut row: Vec<Cell>) {
        row.resize(self.headers.len(), Cell::Empty);
        self.rows.push(row);
    }
}

/// The file formats a list or report can be exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 with a byte-order mark (so Excel reads Chinese), RFC 4180 quoting.
    Csv,
    /// Office Open XML workbook (Excel, WPS, LibreOffice).
    Xlsx,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

impl FromStr for Format {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Format, ExportError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "xlsx" | "excel" => Ok(Format::Xlsx),
            other => Err(ExportError::UnknownFormat(other.to_string())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("unknown export format `{0}`: expected xlsx or csv")]
    UnknownFormat(String),
    #[error("the workbook could not be written: {0}")]
    Xlsx(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_short_rows_are_padded() {
        assert_eq!("XLSX".parse::<Format>().unwrap(), Format::Xlsx);
        assert_eq!("csv".parse::<Format>().unwrap(), Format::Csv);
        assert!("pdf".parse::<Format>().is_err());
        let mut t = Table::new("工单列表", &["工单编号", "状态"]);
        t.push(vec![Cell::text("202612020001")]);
        assert_eq!(t.rows[0], vec![Cell::text("202612020001"), Cell::Empty]);
        assert_eq!(Cell::text(""), Cell::Empty);
    }
}
