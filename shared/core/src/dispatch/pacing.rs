//! Pacing and waiting: the [`Timer`] the dispatch run measures its budget and sleeps with (handed
//! in, so the domain stays free of a wall clock), and the [`Pacer`] that keeps sends under the mail
//! service's rate.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Monotonic time since a run started, and a way to wait. The Lambda and `pulso` hosts use tokio's
/// clock; tests and simulations use [`ManualTimer`].
pub trait Timer: Send + Sync {
    /// Time elapsed since the run started.
    fn elapsed(&self) -> Duration;
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// A timer whose time passes only when something sleeps: a whole run's pacing and backoff can be
/// simulated instantly and exactly.
#[derive(Debug, Clone, Default)]
pub struct ManualTimer(Arc<AtomicU64>);

impl ManualTimer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward without sleeping (work that takes time).
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(
            d.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::SeqCst,
        );
    }
}

impl Timer for ManualTimer {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }

    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        self.advance(d);
        std::future::ready(())
    }
}

/// When the rate is unknown (not configured, and the mail service does not say): SES's sandbox
/// rate, which every account allows.
pub const DEFAULT_RATE: f64 = 1.0;

/// Sends may run this far ahead of the exact schedule (and never more than one interval): absorbs
/// the timer's coarseness so the average rate stays at the target, while bursts stay tiny (SES
/// accepts short bursts above its rate, not sustained ones).
const TOLERANCE: Duration = Duration::from_millis(25);

/// The slowest pace throttling can push a run down to.
const MAX_INTERVAL: Duration = Duration::from_secs(10);

/// Spaces sends `1/rate` apart (a generic cell-rate algorithm: each send is allowed at its
/// theoretical arrival time, minus a small tolerance, and time lost oversleeping is caught up).
#[derive(Debug, Clone)]
pub struct Pacer {
    /// The interval of the target rate.
    base: Duration,
    /// The interval now (longer than `base` after throttling, recovering with each success).
    interval: Duration,
    /// Theoretical arrival time of the next send, on the timer.
    tat: Duration,
}

impl Pacer {
    /// A pacer for `rate` messages per second (non-positive or non-finite rates use
    /// [`DEFAULT_RATE`]).
    pub fn new(rate: f64) -> Pacer {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            DEFAULT_RATE
        };
        let interval = Duration::from_secs_f64(1.0 / rate).min(MAX_INTERVAL);
        Pacer {
            base: interval,
            interval,
            tat: Duration::ZERO,
        }
    }

    /// Messages per second the pacer currently allows.
    pub fn rate(&self) -> f64 {
        1.0 / self.interval.as_secs_f64().max(1e-9)
    }

    /// Waits until the next send is allowed, and books it.
    pub async fn wait<T: Timer>(&mut self, timer: &T) {
        let now = timer.elapsed();
        let allowed_at = self.tat.saturating_sub(TOLERANCE.min(self.interval));
        if now < allowed_at {
            timer.sleep(allowed_at - now).await;
        }
        let now = timer.elapsed();
        self.tat = self.tat.max(now) + self.interval;
    }

    /// The service said "too fast": slow down by a fifth (never below one message per ten seconds).
    pub fn slow_down(&mut self) {
        self.interval = self.interval.mul_f64(1.25).min(MAX_INTERVAL);
    }

    /// The service took a message: win back a little of any slow-down (1% a message), never
    /// beyond the target rate.
    pub fn accepted(&mut self) {
        if self.interval > self.base {
            self.interval = self.interval.mul_f64(0.99).max(self.base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn sends_are_spaced_to_the_rate() {
        block_on(async {
            let timer = ManualTimer::new();
            let mut p = Pacer::new(10.0);
            for _ in 0..101 {
                p.wait(&timer).await;
            }
            // 100 intervals of 100 ms, less the tolerance of the last one.
            let t = timer.elapsed().as_secs_f64();
            assert!((9.9..=10.0).contains(&t), "{t}");
        });
    }

    #[test]
    fn time_lost_oversleeping_is_caught_up() {
        block_on(async {
            let timer = ManualTimer::new();
            let mut p = Pacer::new(100.0);
            for i in 0..1000 {
                p.wait(&timer).await;
                // Work that sometimes takes longer than an interval.
                if i % 10 == 0 {
                    timer.advance(Duration::from_millis(15));
                }
            }
            let rate = 1000.0 / timer.elapsed().as_secs_f64();
            assert!((99.0..=101.0).contains(&rate), "{rate}");
        });
    }

    #[test]
    fn throttling_slows_down_and_bad_rates_fall_back() {
        let mut p = Pacer::new(14.0);
        p.slow_down();
        assert!((p.rate() - 14.0 / 1.25).abs() < 0.01);
        for _ in 0..100 {
            p.slow_down();
        }
        assert!((p.rate() - 0.1).abs() < 1e-6);
        for _ in 0..2_000 {
            p.accepted();
        }
        assert!(
            (p.rate() - 14.0).abs() < 1e-6,
            "recovers to the target: {}",
            p.rate()
        );
        assert_eq!(Pacer::new(f64::NAN).rate(), DEFAULT_RATE);
        assert_eq!(Pacer::new(-3.0).rate(), DEFAULT_RATE);
    }
}
