//! Report periods on the company's calendar: days, ISO weeks (Monday to Sunday), calendar months
//! and quarters; their labels (`2026-03-01`, `2026-W09`, `2026-03`, `2026-Q1`), neighbours, and
//! which period a scheduled run reports on.
//!
//! Every period is a range of company-local dates. Rollups and answers are keyed by the
//! company-local day, so once the run's instant is turned into a local date (in the company's time
//! zone, DST included) no other time-zone arithmetic is needed.

use std::fmt;

use jiff::ToSpan;
use jiff::civil::{Date, ISOWeekDate, Weekday, date};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};

use crate::model::ReportKind;

/// Years a period may lie in: keeps every neighbour (a year before, a week after) representable.
const MIN_YEAR: i16 = 1000;
const MAX_YEAR: i16 = 9000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("{0:?} is not a period: use 2026-03-01, 2026-W09, 2026-03 or 2026-Q1")]
    BadLabel(String),
    #[error(
        "{0:?} is not a time: use 2026-03-02, 2026-03-02T08:00 (company time) or 2026-03-02T07:00:00Z"
    )]
    BadTime(String),
    #[error("dates must lie in the years {MIN_YEAR}-{MAX_YEAR}")]
    OutOfRange,
}

/// A span of company-local days that a report or a trend point covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Period {
    Day {
        date: Date,
    },
    /// ISO week: Monday to Sunday; `year` is the ISO week-numbering year.
    Week {
        year: i16,
        week: i8,
    },
    Month {
        year: i16,
        month: i8,
    },
    Quarter {
        year: i16,
        quarter: i8,
    },
}

/// How a range is cut into trend points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn parse(raw: &str) -> Option<Interval> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" => Some(Interval::Day),
            "week" | "weekly" => Some(Interval::Week),
            "month" | "monthly" => Some(Interval::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }
}

fn in_range(d: Date) -> Result<Date, PeriodError> {
    if (MIN_YEAR..=MAX_YEAR).contains(&d.year()) {
        Ok(d)
    } else {
        Err(PeriodError::OutOfRange)
    }
}

/// `d` moved by `n` days (saturating far outside the supported years, which periods never reach).
pub fn add_days(d: Date, n: i64) -> Date {
    d.saturating_add(n.days())
}

/// Days from `a` to `b` (negative when `b` is earlier).
pub fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

/// Every date of `from..=to` (empty when `to < from`).
pub fn each_day(from: Date, to: Date) -> impl Iterator<Item = Date> {
    let n = days_between(from, to);
    (0..=n).map(move |i| add_days(from, i))
}

impl Period {
    /// The period of the given kind that contains `d`.
    pub fn containing(interval: Interval, d: Date) -> Period {
        match interval {
            Interval::Day => Period::Day { date: d },
            Interval::Week => {
                let w = d.iso_week_date();
                Period::Week {
                    year: w.year(),
                    week: w.week(),
                }
            }
            Interval::Month => Period::Month {
                year: d.year(),
                month: d.month(),
            },
        }
    }

    pub fn quarter_of(d: Date) -> Period {
        Period::Quarter {
            year: d.year(),
            quarter: (d.month() - 1) / 3 + 1,
        }
    }

    pub fn first(&self) -> Date {
        match *self {
            Period::Day { date } => date,
            Period::Week { year, week } => ISOWeekDate::new(year, week, Weekday::Monday)
                .map(|w| w.date())
                .unwrap_or(Date::MIN),
            Period::Month { year, month } => date(year, month, 1),
            Period::Quarter { year, quarter } => date(year, (quarter - 1) * 3 + 1, 1),
        }
    }

    pub fn last(&self) -> Date {
        match *self {
            Period::Day { date } => date,
            Period::Week { .. } => add_days(self.first(), 6),
            Period::Month { .. } => self.first().last_of_month(),
            Period::Quarter { year, quarter } => date(year, quarter * 3, 1).last_of_month(),
        }
    }

    /// Number of days in the period.
    pub fn days(&self) -> i64 {
        days_between(self.first(), self.last()) + 1
    }

    pub fn contains(&self, d: Date) -> bool {
        self.first() <= d && d <= self.last()
    }

    /// The period just before (same kind).
    pub fn previous(&self) -> Period {
        let before = add_days(self.first(), -1);
        self.same_kind_at(before)
    }

    /// The period just after (same kind).
    pub fn next(&self) -> Period {
        let after = add_days(self.last(), 1);
        self.same_kind_at(after)
    }

    /// The same period a year earlier: same date, ISO week number (or the year's last week when
    /// the earlier year has no week 53), month or quarter.
    pub fn year_ago(&self) -> Period {
        match *self {
            Period::Day { date } => Period::Day {
                date: date.saturating_sub(1.year()),
            },
            Period::Week { year, week } => {
                let weeks_then = ISOWeekDate::new(year - 1, 53, Weekday::Monday)
                    .map(|_| 53)
                    .unwrap_or(52);
                Period::Week {
                    year: year - 1,
                    week: week.min(weeks_then),
                }
            }
            Period::Month { year, month } => Period::Month {
                year: year - 1,
                month,
            },
            Period::Quarter { year, quarter } => Period::Quarter {
                year: year - 1,
                quarter,
            },
        }
    }

    fn same_kind_at(&self, d: Date) -> Period {
        match self {
            Period::Day { .. } => Period::containing(Interval::Day, d),
            Period::Week { .. } => Period::containing(Interval::Week, d),
            Period::Month { .. } => Period::containing(Interval::Month, d),
            Period::Quarter { .. } => Period::quarter_of(d),
        }
    }

    /// `2026-03-01`, `2026-W09`, `2026-03`, `2026-Q1`: also the archive folder name.
    pub fn label(&self) -> String {
        self.to_string()
    }

    /// Reads a label back.
    pub fn parse(raw: &str) -> Result<Period, PeriodError> {
        let s = raw.trim();
        let bad = || PeriodError::BadLabel(s.chars().take(30).collect());
        let (y, rest) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(PeriodError::OutOfRange);
        }
        let num = |t: &str| -> Result<i8, PeriodError> {
            if t.is_empty() || t.len() > 2 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        if let Some(w) = rest.strip_prefix('W') {
            let week = num(w)?;
            ISOWeekDate::new(year, week, Weekday::Monday).map_err(|_| bad())?;
            return Ok(Period::Week { year, week });
        }
        if let Some(q) = rest.strip_prefix('Q') {
            let quarter = num(q)?;
            if !(1..=4).contains(&quarter) {
                return Err(bad());
            }
            return Ok(Period::Quarter { year, quarter });
        }
        if let Some((m, d)) = rest.split_once('-') {
            let (month, day) = (num(m)?, num(d)?);
            let d = Date::new(year, month, day).map_err(|_| bad())?;
            return Ok(Period::Day { date: d });
        }
        let month = num(rest)?;
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Period::Month { year, month })
    }

    /// The consecutive periods of `interval` that cover `from..=to`, clipped to the range (a
    /// week that starts before `from` yields only its days from `from`).
    pub fn cover(interval: Interval, from: Date, to: Date) -> Vec<(Period, Date, Date)> {
        let mut out = Vec::new();
        let mut d = from;
        while d <= to {
            let p = Period::containing(interval, d);
            let end = p.last().min(to);
            out.push((p, d, end));
            let next = add_days(end, 1);
            if next <= end {
                break; // saturated at the end of time
            }
            d = next;
        }
        out
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Day { date } => write!(f, "{date}"),
            Period::Week { year, week } => write!(f, "{year:04}-W{week:02}"),
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
        }
    }
}

/// The period a report run at `at` covers, on the company's calendar (`tz`):
/// - daily: yesterday;
/// - weekly: the last full ISO week before the week of `at` (run on a Monday: the week that
///   ended the night before);
/// - quarterly: the quarter before the quarter of `at` (run on its first day: the quarter just
///   ended).
pub fn report_period(
    kind: ReportKind,
    at: Timestamp,
    tz: &TimeZone,
) -> Result<Period, PeriodError> {
    let today = in_range(crate::time::local_day(at, tz))?;
    Ok(match kind {
        ReportKind::Daily => Period::Day {
            date: add_days(today, -1),
        },
        ReportKind::Weekly => Period::containing(Interval::Week, today).previous(),
        ReportKind::Quarterly => Period::quarter_of(today).previous(),
    })
}

/// The kind of period a report covers.
pub fn kind_of(period: &Period) -> Option<ReportKind> {
    match period {
        Period::Day { .. } => Some(ReportKind::Daily),
        Period::Week { .. } => Some(ReportKind::Weekly),
        Period::Quarter { .. } => Some(ReportKind::Quarterly),
        Period::Month { .. } => None,
    }
}

/// When a report of `period` is normally run: the morning after it ends, at `hour` company time.
pub fn scheduled_at(period: &Period, hour: u8, tz: &TimeZone) -> Timestamp {
    let day = add_days(period.last(), 1);
    let time = jiff::civil::Time::new(hour.min(23) as i8, 0, 0, 0)
        .unwrap_or(jiff::civil::Time::midnight());
    crate::time::at_local(day, time, tz)
}

/// Reads a run time as given on a command line or in a schedule's event:
/// an RFC 3339 instant (`2026-03-02T07:00:00Z`), a company-local date-time (`2026-03-02T08:00`), or
/// a date (`2026-03-02`, meaning `hour` o'clock company time that day).
pub fn parse_run_time(raw: &str, hour: u8, tz: &TimeZone) -> Result<Timestamp, PeriodError> {
    let s = raw.trim();
    let bad = || PeriodError::BadTime(s.chars().take(40).collect());
    if let Ok(t) = s.parse::<Timestamp>() {
        in_range(crate::time::local_day(t, tz))?;
        return Ok(t);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && s.contains('T')
    {
        in_range(dt.date())?;
        return dt
            .to_zoned(tz.clone())
            .map(|z: Zoned| z.timestamp())
            .map_err(|_| bad());
    }
    if let Ok(d) = s.parse::<Date>() {
        in_range(d)?;
        let time = jiff::civil::Time::new(hour.min(23) as i8, 0, 0, 0).map_err(|_| bad())?;
        return Ok(crate::time::at_local(d, time, tz));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn madrid() -> TimeZone {
        TimeZone::get("Europe/Madrid").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn labels_round_trip() {
        for l in ["2026-03-01", "2026-W09", "2026-03", "2026-Q1", "2020-W53"] {
            assert_eq!(Period::parse(l).unwrap().label(), l);
        }
        for bad in [
            "",
            "2026",
            "2026-13",
            "2026-W54",
            "2025-W53",
            "2026-Q5",
            "2026-02-30",
            "26-Q1",
            "2026-Qx",
            "2026-W",
            "abcd-Q1",
            "2026-03-01-01",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Period::parse("0999-Q1"), Err(PeriodError::OutOfRange));
    }

    #[test]
    fn weeks_are_iso_weeks() {
        // 2026-01-01 is a Thursday: week 1 starts on Monday 2025-12-29.
        let w1 = Period::parse("2026-W01").unwrap();
        assert_eq!(w1.first(), date(2025, 12, 29));
        assert_eq!(w1.last(), date(2026, 1, 4));
        assert_eq!(w1.previous().label(), "2025-W52");
        assert_eq!(
            Period::parse("2020-W53").unwrap().next().label(),
            "2021-W01"
        );
        // 2021 has no week 53: the year-ago week of 2020-W53 … and back: 2021-W53 does not exist.
        assert_eq!(
            Period::parse("2021-W10").unwrap().year_ago().label(),
            "2020-W10"
        );
        assert_eq!(Period::parse("2021-W52").unwrap().days(), 7);
    }

    #[test]
    fn quarters_and_months() {
        let q = Period::parse("2024-Q1").unwrap();
        assert_eq!((q.first(), q.last()), (date(2024, 1, 1), date(2024, 3, 31)));
        assert_eq!(q.days(), 91); // leap year
        assert_eq!(q.previous().label(), "2023-Q4");
        assert_eq!(q.year_ago().label(), "2023-Q1");
        let q4 = Period::parse("2025-Q4").unwrap();
        assert_eq!(q4.last(), date(2025, 12, 31));
        assert_eq!(q4.next().label(), "2026-Q1");
        assert_eq!(Period::parse("2026-02").unwrap().days(), 28);
    }

    #[test]
    fn a_weekly_run_on_monday_reports_the_week_that_just_ended() {
        let tz = madrid();
        // Monday 2026-03-02 08:00 Madrid.
        let p = report_period(ReportKind::Weekly, ts("2026-03-02T07:00:00Z"), &tz).unwrap();
        assert_eq!(p.label(), "2026-W09");
        assert_eq!((p.first(), p.last()), (date(2026, 2, 23), date(2026, 3, 1)));
        // Run late on Wednesday: still the last full week.
        let p = report_period(ReportKind::Weekly, ts("2026-03-04T20:00:00Z"), &tz).unwrap();
        assert_eq!(p.label(), "2026-W09");
    }

    #[test]
    fn the_company_calendar_decides_near_midnight() {
        let tz = madrid();
        // 00:30 on Monday 2024-04-01 in Madrid is still Sunday 31 March in UTC.
        let at = ts("2024-03-31T22:30:00Z");
        assert_eq!(
            report_period(ReportKind::Quarterly, at, &tz)
                .unwrap()
                .label(),
            "2024-Q1"
        );
        assert_eq!(
            report_period(ReportKind::Quarterly, at, &TimeZone::UTC)
                .unwrap()
                .label(),
            "2023-Q4"
        );
        // The quarter starts on a Monday: the weekly run the same morning covers 25-31 March.
        let w = report_period(ReportKind::Weekly, at, &tz).unwrap();
        assert_eq!(w.label(), "2024-W13");
        assert_eq!(
            (w.first(), w.last()),
            (date(2024, 3, 25), date(2024, 3, 31))
        );
        assert_eq!(
            report_period(ReportKind::Daily, at, &tz).unwrap().label(),
            "2024-03-31"
        );
    }

    #[test]
    fn dst_days_are_whole_days() {
        let tz = madrid();
        // Madrid skips 02:00-03:00 on Sunday 2026-03-29 (a 23-hour day). The digest of the Monday
        // morning after covers it; at 00:30 CEST on Monday it is 22:30 UTC on Sunday.
        let p = report_period(ReportKind::Daily, ts("2026-03-29T22:30:00Z"), &tz).unwrap();
        assert_eq!(p.label(), "2026-03-29");
        let at = scheduled_at(&p, 8, &tz);
        assert_eq!(at.to_string(), "2026-03-30T06:00:00Z"); // 08:00 CEST
        let back = scheduled_at(&Period::parse("2026-10-24").unwrap(), 8, &tz);
        assert_eq!(back.to_string(), "2026-10-25T07:00:00Z"); // 08:00 CET, after the change
    }

    #[test]
    fn run_times_parse_in_the_company_zone() {
        let tz = madrid();
        assert_eq!(
            parse_run_time("2026-03-02", 8, &tz).unwrap().to_string(),
            "2026-03-02T07:00:00Z"
        );
        assert_eq!(
            parse_run_time("2026-07-01T09:30", 8, &tz)
                .unwrap()
                .to_string(),
            "2026-07-01T07:30:00Z"
        );
        assert_eq!(
            parse_run_time("2026-03-02T07:00:00Z", 8, &tz)
                .unwrap()
                .to_string(),
            "2026-03-02T07:00:00Z"
        );
        for bad in ["yesterday", "2026-13-01", "", "2026-03-02T25:00"] {
            assert!(parse_run_time(bad, 8, &tz).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cover_clips_to_the_range() {
        let c = Period::cover(Interval::Week, date(2026, 3, 4), date(2026, 3, 20));
        let labels: Vec<String> = c.iter().map(|(p, _, _)| p.label()).collect();
        assert_eq!(labels, ["2026-W10", "2026-W11", "2026-W12"]);
        assert_eq!((c[0].1, c[0].2), (date(2026, 3, 4), date(2026, 3, 8)));
        assert_eq!(c[2].2, date(2026, 3, 20));
        let m = Period::cover(Interval::Month, date(2026, 1, 15), date(2026, 3, 1));
        assert_eq!(m.len(), 3);
        assert_eq!(
            Period::cover(Interval::Day, date(2026, 1, 2), date(2026, 1, 1)).len(),
            0
        );
        assert_eq!(each_day(date(2026, 2, 27), date(2026, 3, 1)).count(), 3);
    }
}
