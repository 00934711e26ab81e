//! The rules that decide whether and when a contact may be surveyed: settling, fatigue across
//! kinds, suppression. Pure functions over records.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::config::Config;
use crate::model::{
    Contact, SendStatus, SkipReason, Suppression, SuppressionReason, SurveyKind, SurveySend,
};
use crate::time::local_day;
use crate::types::{SendId, Touchpoint};

use super::calendar::gap;

/// The company-local day a contact has settled on: `customer_since` (else the day it was created)
/// plus `settle_days`.
pub fn settle_date(config: &Config, contact: &Contact) -> Date {
    let start = contact
        .customer_since
        .unwrap_or_else(|| local_day(contact.created_at, &config.company.time_zone.tz()));
    start.saturating_add(i64::from(config.surveys.settle_days).days())
}

/// The contact's own time zone, else the company's.
pub fn contact_tz(config: &Config, contact: &Contact) -> TimeZone {
    contact
        .time_zone
        .as_ref()
        .map(|z| z.tz())
        .unwrap_or_else(|| config.company.time_zone.tz())
}

/// The fatigue gap of a survey: the touchpoint's override, else `surveys.fatigue_days`.
pub fn fatigue_gap(config: &Config, touchpoint: Option<&Touchpoint>) -> SignedDuration {
    let days = touchpoint
        .and_then(|t| config.touchpoint(t).fatigue_days)
        .unwrap_or(config.surveys.fatigue_days);
    super::calendar::days(days)
}

/// Whether sends of this touchpoint get a reminder.
pub fn wants_reminder(config: &Config, send: &SurveySend) -> bool {
    config.surveys.reminder_after_days > 0
        && send
            .touchpoint
            .as_ref()
            .and_then(|t| config.touchpoint(t).reminder)
            .unwrap_or(true)
}

/// Why a suppression entry stops mail, if it does.
pub fn suppression_reason(s: &Suppression) -> Option<SkipReason> {
    Some(match s.reason? {
        SuppressionReason::Unsubscribed => SkipReason::Unsubscribed,
        SuppressionReason::HardBounce | SuppressionReason::SoftBounces => SkipReason::Bounced,
        SuppressionReason::Complaint => SkipReason::Complained,
        SuppressionReason::Erased | SuppressionReason::Manual => SkipReason::Suppressed,
    })
}

/// When a send reached (or will reach) the contact, for the fatigue rule: `None` for sends that
/// never will (skipped). A failed send may have been mailed before it failed, so it counts.
pub fn survey_time(send: &SurveySend) -> Option<Timestamp> {
    match &send.status {
        SendStatus::Scheduled => Some(send.due_at),
        SendStatus::Sending { claimed_at, .. } => Some(*claimed_at),
        SendStatus::Sent { at } => Some(*at),
        // Mailed, if at all, between its due time and the failure.
        SendStatus::Failed { .. } => Some(send.due_at),
        SendStatus::Skipped { .. } => None,
    }
}

/// The survey times of `sends` that count against a new survey, leaving out `except` and — when
/// `ignore_pending_relational` — relational sends not mailed yet (a transactional survey goes
/// first; the relational one is moved later when its turn comes).
pub fn counted_times(
    sends: &[SurveySend],
    except: &SendId,
    ignore_pending_relational: bool,
) -> Vec<Timestamp> {
    sends
        .iter()
        .filter(|s| &s.id != except)
        .filter(|s| {
            !(ignore_pending_relational
                && s.kind == SurveyKind::Relational
                && s.status == SendStatus::Scheduled)
        })
        .filter_map(survey_time)
        .collect()
}

/// The earliest instant at or after `t` that is at least `gap_len` away from every time in
/// `others`.
pub fn earliest_allowed(t: Timestamp, others: &[Timestamp], gap_len: SignedDuration) -> Timestamp {
    let mut t = t;
    // Each step moves past at least one of `others`, so this ends within `others.len()` steps.
    for _ in 0..=others.len() {
        let blocking = others
            .iter()
            .filter(|o| gap(t, **o) < gap_len)
            .max()
            .copied();
        match blocking {
            Some(o) => t = o.checked_add(gap_len).unwrap_or(t),
            None => return t,
        }
    }
    t
}

/// Whether `t` is at least `gap_len` away from every time in `others`.
pub fn clear_of(t: Timestamp, others: &[Timestamp], gap_len: SignedDuration) -> bool {
    others.iter().all(|o| gap(t, *o) >= gap_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_earliest_allowed_time_clears_every_survey() {
        let g = super::super::calendar::days(30);
        let others = [ts("2026-03-01T09:00:00Z"), ts("2026-03-20T09:00:00Z")];
        let t = earliest_allowed(ts("2026-03-10T09:00:00Z"), &others, g);
        assert_eq!(t, ts("2026-04-19T09:00:00Z"));
        assert!(clear_of(t, &others, g));
        // Far enough already: unchanged.
        let far = ts("2026-06-01T09:00:00Z");
        assert_eq!(earliest_allowed(far, &others, g), far);
        // A future survey within the gap also blocks.
        let before = ts("2026-02-25T09:00:00Z");
        assert!(!clear_of(before, &others, g));
    }

    #[test]
    fn settling_counts_from_customer_since_else_creation() {
        let config = Config::default();
        let mut c = super::super::email::tests::contact(None, crate::types::Locale::En);
        c.created_at = ts("2026-03-01T10:00:00Z");
        assert_eq!(settle_date(&config, &c), jiff::civil::date(2026, 3, 31));
        c.customer_since = Some(jiff::civil::date(2025, 1, 1));
        assert_eq!(settle_date(&config, &c), jiff::civil::date(2025, 1, 31));
    }
}
