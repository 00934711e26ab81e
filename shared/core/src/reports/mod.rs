//! Reports: the metrics query, the rollups check, the daily digest, the weekly and quarterly
//! reports (built from rollups, rendered in en/es as HTML email with a plain-text part, archived as
//! HTML, CSV and JSON) and the scheduled run that emails each period's report once.
//!
//! - [`periods`]: days, ISO weeks, months and quarters on the company's calendar.
//! - [`metrics`]: NPS, n, margin and counts for any range and segment, with a trend.
//! - [`themes`]: what sets detractors' comments apart from promoters' (weighted log-odds).
//! - [`build`]: each report's figures, from rollups, one day's answers, comments, follow-ups.
//! - [`render`]: the email (HTML and text) in the audience's language.
//! - [`archive`]: the HTML, CSV and JSON copies under `reports/<kind>/<period>/`.
//! - [`run`]: the scheduled run (claim, build, archive, email once) and `pulso report`'s preview.
//! - [`check`]: rollups recomputed from answers, for `pulso check`.

pub mod archive;
pub mod build;
pub mod check;
pub mod metrics;
pub mod periods;
pub mod render;
pub mod run;
pub mod themes;

pub use metrics::{
    CountSummary, Metrics, MetricsQuery, MetricsQueryError, RollupTable, TrendPoint, metrics,
};
pub use periods::{Interval, Period, PeriodError, report_period};
pub use run::{Outcome, RunResult, run};

use crate::ports::{ArchiveError, MailError, StoreError};

/// Runs `work` (rendering: CPU only) once the writes started just before it are on their way:
/// it first gives way to the executor's other tasks three times, for a connection to be taken,
/// the request to be handed to it, and written (the turns of the functions' secret read,
/// `pulso_aws::runtime`). Joined with those writes on one thread, the work then fills the wait
/// for their answers instead of delaying their requests.
pub(crate) async fn while_written<T>(work: impl FnOnce() -> T) -> T {
    for _ in 0..3 {
        GiveWay(false).await;
    }
    work()
}

/// Pending once, waking itself: the executor runs its other ready tasks first.
struct GiveWay(bool);

impl std::future::Future for GiveWay {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

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
    #[error("link-signing keys: {0}")]
    Keys(#[from] crate::token::KeysUnavailable),
}
