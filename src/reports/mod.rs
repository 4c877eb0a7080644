//! Reports people use: exports of any list or report (one table model, `table.rs`, and two
//! writers, `csv.rs` and `xlsx.rs`), the ticket and call lists as tables (`lists.rs`),
//! server-side SVG charts (`chart.rs`) and hot topics (`hot_topics.rs`). The KPI figures
//! themselves are the scorecard's; this part lays them out.

pub mod chart;
mod csv;
pub mod hot_topics;
pub mod lists;
pub mod table;
mod xlsx;

pub use table::{render, Cell, ExportError, Format, Table};

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
