//! Reports: the metrics query, the rollups check, the daily digest, the weekly and quarterly
//! reports (built from rollups, rendered in en/es as HTML email with a plain-text part, archived as
//! HTML, CSV and JSON) and the scheduled run that emails each period's report once.
//!
//! - [`periods`]: days, ISO weeks, months and quarters on the company's calendar.
//! - [`metrics`]: NPS, n, margin and counts for any range and segment, with a trend.

pub mod metrics;
pub mod periods;
pub mod themes;

pub use metrics::{
    CountSummary, Metrics, MetricsQuery, MetricsQueryError, RollupTable, TrendPoint, metrics,
};
pub use periods::{Interval, Period, PeriodError, report_period};

use crate::ports::{ArchiveError, MailError, StoreError};

/// Why a report (or a metrics query) could not be produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Query(#[from] MetricsQueryError),
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("could not build the report email: {0}")]
    MailBuild(String),
    #[error("could not render the report: {0}")]
    Render(String),
}
