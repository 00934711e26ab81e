//! Calendar helpers in a given time zone: the company's days, and instants at local times.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// The local calendar day of `t` in `tz`.
pub fn local_day(t: Timestamp, tz: &TimeZone) -> Date {
    t.to_zoned(tz.clone()).date()
}

/// The instant of `time` on `day` in `tz`. In a DST gap the later valid instant is taken; in an
/// overlap, the earlier (jiff's "compatible" rule).
pub fn at_local(day: Date, time: Time, tz: &TimeZone) -> Timestamp {
    day.to_datetime(time)
        .to_zoned(tz.clone())
        .map(|z: Zoned| z.timestamp())
        .unwrap_or_else(|_| {
            day.to_datetime(time)
                .to_zoned(TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::UNIX_EPOCH)
        })
}

/// The first instant of `day` in `tz`.
pub fn start_of_day(day: Date, tz: &TimeZone) -> Timestamp {
    at_local(day, Time::midnight(), tz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn days_follow_the_zone() {
        let tz = TimeZone::get("America/Mexico_City").unwrap();
        let t: Timestamp = "2026-03-02T03:00:00Z".parse().unwrap();
        assert_eq!(local_day(t, &tz), date(2026, 3, 1));
        assert_eq!(local_day(t, &TimeZone::UTC), date(2026, 3, 2));
    }

    #[test]
    fn dst_gap_takes_the_later_instant() {
        // Madrid skips 02:00-03:00 on 2026-03-29.
        let tz = TimeZone::get("Europe/Madrid").unwrap();
        let t = at_local(date(2026, 3, 29), Time::new(2, 30, 0, 0).unwrap(), &tz);
        assert_eq!(t.to_string(), "2026-03-29T01:30:00Z");
        assert_eq!(
            start_of_day(date(2026, 3, 29), &tz).to_string(),
            "2026-03-28T23:00:00Z"
        );
    }
}
