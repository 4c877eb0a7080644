//! Sending an export: a table written as XLSX or CSV becomes a download named after the
//! table and the moment (`工单列表-20261202-1530.xlsx`, with an ASCII name for old
//! clients). The pages (`pages/export.rs`) and the API (`api/exports.rs`) both answer
//! through here, so a file looks the same whoever asks.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::WebError;
use crate::reports::{render, Format, Table};
use crate::tickets::Tickets;

/// The format a query asks for: `xlsx` (the default) or `csv`.
pub fn format_of(v: Option<&str>) -> Result<Format, WebError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Format::Xlsx),
        Some(s) => s
            .parse()
            .map_err(|_| WebError::BadRequest("导出格式应为 xlsx 或 csv。".into())),
    }
}

/// Percent-encodes a file name for `filename*` (RFC 5987).
fn rfc5987(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The table as a file to download; `stem` is the ASCII name (`tickets`, `calls`, …).
pub fn download(
    tk: &Tickets,
    table: &Table,
    format: Format,
    stem: &str,
) -> Result<Response, WebError> {
    let bytes = render(table, format).map_err(|e| WebError::Internal(e.to_string()))?;
    let stamp = chrono::Utc::now()
        .with_timezone(&tk.tz())
        .format("%Y%m%d-%H%M")
        .to_string();
    let ext = format.extension();
    let title: String = table
        .title
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{stem}-{stamp}.{ext}\"; filename*=UTF-8''{}",
        rfc5987(&format!("{title}-{stamp}.{ext}"))
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
