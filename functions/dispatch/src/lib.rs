//! The dispatch function: on each scheduled run (every 15 minutes in AWS, `pulso run dispatch`
//! locally) it plans today's relational wave slice and sends what is due — wave sends, delayed
//! transactional sends, reminders — within a time budget, leaving the rest for the next run.
//!
//! The rules live in `pulso_core::dispatch`; this crate hands them tokio's clock for the budget and
//! the pacing, and maps a Lambda invocation's deadline to a budget.

use std::time::{Duration, Instant, SystemTime};

use pulso_core::Ctx;
use pulso_core::dispatch::{DispatchStore, Timer};
use pulso_core::ports::Mailer;

pub use pulso_core::dispatch::{DispatchError, DispatchOutcome};

/// Left unused at the end of a Lambda invocation: the run stops taking sends this long before the
/// deadline, so that it always returns before Lambda stops it.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(30);

/// The budget when the host gives none (`pulso run dispatch`): a little less than the schedule's
/// period, so that runs never overlap for long.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(14 * 60);

/// tokio's monotonic clock, started with the run.
#[derive(Debug, Clone, Copy)]
pub struct TokioTimer {
    start: Instant,
}

impl TokioTimer {
    pub fn start() -> Self {
        TokioTimer {
            start: Instant::now(),
        }
    }
}

impl Timer for TokioTimer {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&self, d: Duration) -> impl std::future::Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

/// One dispatch run on the real clock (see `pulso_core::dispatch::run`).
pub async fn run<S, M, A>(
    ctx: &Ctx<S, M, A>,
    budget: Duration,
) -> Result<DispatchOutcome, DispatchError>
where
    S: DispatchStore,
    M: Mailer,
{
    pulso_core::dispatch::run(ctx, &TokioTimer::start(), budget).await
}

/// The budget of an invocation whose deadline is `deadline`: what is left of it at `now`, less
/// [`SAFETY_MARGIN`] (zero if that is nothing).
pub fn budget_until(deadline: SystemTime, now: SystemTime) -> Duration {
    deadline
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
        .saturating_sub(SAFETY_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_margin_before_the_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let deadline = now + Duration::from_secs(900);
        assert_eq!(budget_until(deadline, now), Duration::from_secs(870));
        assert_eq!(
            budget_until(now + Duration::from_secs(10), now),
            Duration::ZERO
        );
        assert_eq!(budget_until(now, deadline), Duration::ZERO);
    }

    #[tokio::test]
    async fn the_tokio_timer_measures_real_time() {
        let t = TokioTimer::start();
        t.sleep(Duration::from_millis(20)).await;
        assert!(t.elapsed() >= Duration::from_millis(20));
    }
}
