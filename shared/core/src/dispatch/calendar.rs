//! The relational calendar: cycles of `surveys.cadence_days` counted from a fixed anchor date, the
//! working days of each cycle, the slot range each working day surveys, and the morning instant at
//! which a contact's survey goes out. Pure arithmetic, no store.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use sha2::{Digest, Sha256};

use crate::config::{Surveys, weekday};
use crate::model::SLOTS;
use crate::time::at_local;
use crate::types::ContactId;

/// Cycles are counted from this Monday, so that the same configuration always yields the same
/// cycles whatever day Pulso was installed.
pub const ANCHOR: Date = jiff::civil::date(2024, 1, 1);

/// How far apart two instants are, as a non-negative duration.
pub fn gap(a: Timestamp, b: Timestamp) -> SignedDuration {
    a.duration_since(b).abs()
}

/// `n` whole days.
pub fn days(n: u32) -> SignedDuration {
    SignedDuration::from_hours(i64::from(n) * 24)
}

/// The configured working days (validated at load; unknown names are ignored here).
pub fn working_days(s: &Surveys) -> Vec<Weekday> {
    let mut out: Vec<Weekday> = s.working_days.iter().filter_map(|d| weekday(d)).collect();
    out.sort_by_key(|w| w.to_monday_zero_offset());
    out.dedup();
    if out.is_empty() {
        out = vec![
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ];
    }
    out
}

/// One relational cycle: `cadence_days` calendar days from `start`, and the working days in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Cycle number since [`ANCHOR`] (negative before it).
    pub number: i64,
    pub start: Date,
    /// The first day after the cycle.
    pub end: Date,
    /// The cycle's working days, in order. Never empty (a cycle has at least 7 days).
    pub working: Vec<Date>,
}

impl Cycle {
    /// The cycle that contains `day`.
    pub fn containing(day: Date, cadence_days: u32, working: &[Weekday]) -> Cycle {
        let cadence = i64::from(cadence_days.max(1));
        let since = day.duration_since(ANCHOR).as_hours().div_euclid(24);
        let number = since.div_euclid(cadence);
        Self::number(number, cadence_days, working)
    }

    /// Cycle `number`.
    pub fn number(number: i64, cadence_days: u32, working: &[Weekday]) -> Cycle {
        let cadence = i64::from(cadence_days.max(1));
        let start = ANCHOR.saturating_add((number * cadence).days());
        let end = start.saturating_add(cadence.days());
        let mut days = Vec::with_capacity(cadence as usize);
        let mut d = start;
        while d < end {
            if working.contains(&d.weekday()) {
                days.push(d);
            }
            d = d.saturating_add(1.days());
        }
        if days.is_empty() {
            // Only possible with a working-day list that matches nothing: survey on every day.
            let mut d = start;
            while d < end {
                days.push(d);
                d = d.saturating_add(1.days());
            }
        }
        Cycle {
            number,
            start,
            end,
            working: days,
        }
    }

    /// The cycle after this one.
    pub fn next(&self, cadence_days: u32, working: &[Weekday]) -> Cycle {
        Self::number(self.number + 1, cadence_days, working)
    }

    pub fn contains(&self, day: Date) -> bool {
        self.start <= day && day < self.end
    }

    /// The position of `day` among the cycle's working days, if it is one.
    pub fn index_of(&self, day: Date) -> Option<usize> {
        self.working.binary_search(&day).ok()
    }

    /// The first slot of working day `index` (for `index == working.len()`, [`SLOTS`]).
    fn slot_start(&self, index: usize) -> u16 {
        let w = self.working.len().max(1) as u64;
        ((index as u64).min(w) * u64::from(SLOTS) / w) as u16
    }

    /// The slots `from..to` surveyed on working day `index`: equal consecutive shares of
    /// `0..SLOTS`, one per working day.
    pub fn slots_of(&self, index: usize) -> (u16, u16) {
        (self.slot_start(index), self.slot_start(index + 1))
    }

    /// The working-day index whose slot range holds `slot`.
    pub fn index_of_slot(&self, slot: u16) -> usize {
        let w = self.working.len().max(1);
        let slot = slot.min(SLOTS - 1);
        let mut i = (usize::from(slot) * w) / usize::from(SLOTS);
        while i + 1 < w && self.slot_start(i + 1) <= slot {
            i += 1;
        }
        while i > 0 && self.slot_start(i) > slot {
            i -= 1;
        }
        i
    }

    /// The working day on which the contact holding `slot` is surveyed in this cycle.
    pub fn day_of_slot(&self, slot: u16) -> Date {
        self.working[self.index_of_slot(slot)]
    }

    /// The working days of the cycle on or after `day`.
    pub fn working_from(&self, day: Date) -> &[Date] {
        let i = self.working.partition_point(|d| *d < day);
        &self.working[i..]
    }
}

/// A stable number from a contact id and a purpose: spreads contacts without randomness.
pub fn stable_hash(id: &ContactId, purpose: &str) -> u64 {
    let d = Sha256::new()
        .chain_update(purpose.as_bytes())
        .chain_update(b":")
        .chain_update(id.as_str().as_bytes())
        .finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The instant of a contact's survey on `day`: `send_hour` in its time zone plus a stable offset
/// within `send_window_hours`, so that a day's wave trickles out over the morning.
pub fn morning(day: Date, tz: &TimeZone, s: &Surveys, contact: &ContactId) -> Timestamp {
    let start = at_local(
        day,
        Time::new(s.send_hour.min(23) as i8, 0, 0, 0).unwrap_or(Time::midnight()),
        tz,
    );
    let window = i64::from(s.send_window_hours.max(1)) * 3600;
    let offset = (stable_hash(contact, "morning") % window as u64) as i64;
    start
        .checked_add(SignedDuration::from_secs(offset))
        .unwrap_or(start)
}

/// The first working-day morning of the contact at or after `t` (working days read in the
/// contact's own time zone).
pub fn next_morning(
    t: Timestamp,
    tz: &TimeZone,
    s: &Surveys,
    working: &[Weekday],
    contact: &ContactId,
) -> Timestamp {
    let mut day = crate::time::local_day(t, tz);
    // Two weeks always hold a working day; the bound only guards against a broken list.
    for _ in 0..15 {
        if working.contains(&day.weekday()) {
            let m = morning(day, tz, s, contact);
            if m >= t {
                return m;
            }
        }
        day = day.saturating_add(1.days());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn weekdays() -> Vec<Weekday> {
        working_days(&Surveys::default())
    }

    #[test]
    fn cycles_tile_the_calendar_from_the_anchor() {
        let w = weekdays();
        let c = Cycle::containing(date(2026, 3, 2), 90, &w);
        assert!(c.contains(date(2026, 3, 2)));
        assert_eq!(c.end.duration_since(c.start).as_hours(), 90 * 24);
        assert_eq!(c.next(90, &w).start, c.end);
        let before = Cycle::containing(date(2023, 12, 31), 90, &w);
        assert_eq!(before.number, -1);
        assert_eq!(before.end, ANCHOR);
        // 90 days hold 64 to 66 weekdays.
        assert!((64..=66).contains(&c.working.len()), "{}", c.working.len());
        assert!(c.working.iter().all(|d| w.contains(&d.weekday())));
    }

    #[test]
    fn slot_ranges_cover_every_slot_once() {
        let c = Cycle::containing(date(2026, 3, 2), 90, &weekdays());
        let mut next = 0u16;
        for i in 0..c.working.len() {
            let (from, to) = c.slots_of(i);
            assert_eq!(from, next);
            assert!(to > from);
            let size = to - from;
            assert!(
                (SLOTS / c.working.len() as u16..=SLOTS / c.working.len() as u16 + 1)
                    .contains(&size)
            );
            for s in [from, to - 1] {
                assert_eq!(c.index_of_slot(s), i);
            }
            next = to;
        }
        assert_eq!(next, SLOTS);
    }

    #[test]
    fn mornings_fall_in_the_window_of_the_contacts_zone() {
        let s = Surveys::default();
        let tz = TimeZone::get("America/Mexico_City").unwrap();
        for n in 0..50 {
            let id = ContactId::parse(&format!("c{n}")).unwrap();
            let m = morning(date(2026, 3, 2), &tz, &s, &id);
            let local = m.to_zoned(tz.clone());
            assert_eq!(local.date(), date(2026, 3, 2));
            assert!((9..12).contains(&local.hour()), "{local}");
            assert_eq!(m, morning(date(2026, 3, 2), &tz, &s, &id));
        }
    }

    #[test]
    fn the_next_morning_skips_weekends_and_passed_mornings() {
        let s = Surveys::default();
        let w = weekdays();
        let id = ContactId::parse("c1").unwrap();
        // Saturday → Monday.
        let sat: Timestamp = "2026-03-07T10:00:00Z".parse().unwrap();
        let m = next_morning(sat, &TimeZone::UTC, &s, &w, &id);
        assert_eq!(crate::time::local_day(m, &TimeZone::UTC), date(2026, 3, 9));
        // Friday 23:00 → Monday, and never before `t`.
        let fri: Timestamp = "2026-03-06T23:00:00Z".parse().unwrap();
        assert!(next_morning(fri, &TimeZone::UTC, &s, &w, &id) > fri);
        let mon_early: Timestamp = "2026-03-09T01:00:00Z".parse().unwrap();
        let m = next_morning(mon_early, &TimeZone::UTC, &s, &w, &id);
        assert_eq!(m, morning(date(2026, 3, 9), &TimeZone::UTC, &s, &id));
    }
}
