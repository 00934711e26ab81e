//! Comment retention (`retention.comment_months`): comments older than that many months are
//! removed from their answers; the answers, their scores and the rollups stay. The daily report run
//! calls [`remove_old_comments`] (in AWS and locally), after the digest.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

use crate::context::Ctx;
use crate::ports::{Responses, StoreResult};

/// How many days before the cutoff each run sweeps, one store query per day: missed runs, and
/// retention switched on over older answers, are caught up to this far back.
pub const SWEEP_DAYS: i32 = 400;

/// The first day whose comments are kept on `today` (`today` less `months` months), or `None` when
/// `months` is 0 (comments are kept).
pub fn cutoff(today: Date, months: u32) -> Option<Date> {
    if months == 0 {
        return None;
    }
    let months = i32::try_from(months).unwrap_or(i32::MAX).min(12 * 200);
    today.checked_sub(months.months()).ok()
}

/// The days a run on `today` sweeps: the [`SWEEP_DAYS`] days before the cutoff, oldest first.
pub fn days_to_sweep(today: Date, months: u32) -> Vec<Date> {
    let Some(cutoff) = cutoff(today, months) else {
        return Vec::new();
    };
    (1..=SWEEP_DAYS)
        .rev()
        .filter_map(|back| cutoff.checked_sub(back.days()).ok())
        .collect()
}

/// Removes the comments of every answer older than `retention.comment_months` months on the
/// company's day of `at`. Returns how many comments were removed (0 when retention is off).
pub async fn remove_old_comments<S: Responses, M, A>(
    ctx: &Ctx<S, M, A>,
    at: Timestamp,
) -> StoreResult<usize> {
    let today = at.to_zoned(ctx.tz()).date();
    let mut removed = 0;
    for day in days_to_sweep(today, ctx.config.retention.comment_months) {
        removed += ctx.store.remove_comments_of_day(day).await?;
    }
    if removed > 0 {
        tracing::info!(removed, "comments past retention removed");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_cutoff_is_months_back_and_off_at_zero() {
        assert_eq!(cutoff(date(2026, 11, 23), 0), None);
        assert_eq!(cutoff(date(2026, 11, 23), 12), Some(date(2025, 11, 23)));
        // Month ends clamp.
        assert_eq!(cutoff(date(2026, 5, 31), 3), Some(date(2026, 2, 28)));
        assert!(cutoff(date(2026, 5, 31), u32::MAX).is_some());
    }

    #[test]
    fn a_run_sweeps_the_days_before_the_cutoff_and_never_the_cutoff() {
        let days = days_to_sweep(date(2026, 11, 23), 6);
        assert_eq!(days.len(), SWEEP_DAYS as usize);
        assert_eq!(days.last(), Some(&date(2026, 5, 22)));
        assert_eq!(
            days.first(),
            Some(&date(2026, 5, 23).checked_sub(SWEEP_DAYS.days()).unwrap())
        );
        assert!(days.windows(2).all(|w| w[0] < w[1]));
        assert!(days_to_sweep(date(2026, 11, 23), 0).is_empty());
    }
}
