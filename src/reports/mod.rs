//! Reports people use: exports of any list or report (one table model, `table.rs`, and two
//! writers, `csv.rs` and `xlsx.rs`), the ticket and call lists as tables (`lists.rs`),
//! server-side SVG charts (`chart.rs`) and the scorecard's trends drawn with them
//! (`trend.rs`), hot topics (`hot_topics.rs`), the department ranking (`ranking.rs`) and a
//! KPI report as a table (`kpi_table.rs`). The KPI figures themselves are the scorecard's;
//! this part only lays them out. A service: it reads `scorecard`, `tickets` and `calls`.

pub mod chart;
mod csv;
pub mod hot_topics;
pub mod kpi_table;
pub mod lists;
pub mod ranking;
pub mod table;
pub mod trend;
mod xlsx;

pub use table::{Cell, ExportError, Format, Table};

/// The file's bytes in `format`: the one place that picks a writer, so the table model
/// knows neither.
pub fn render(table: &Table, format: Format) -> Result<Vec<u8>, ExportError> {
    match format {
        Format::Csv => Ok(csv::write(table)),
        Format::Xlsx => xlsx::write(table),
    }
}

/// What can go wrong making a report or an export.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    #[error(transparent)]
    Tickets(#[from] crate::tickets::TicketsError),
    #[error(transparent)]
    Calls(#[from] crate::calls::CallsError),
    #[error(transparent)]
    TooMany(#[from] lists::TooMany),
    #[error(transparent)]
    Export(#[from] ExportError),
}
