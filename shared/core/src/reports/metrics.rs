//! The metrics query: NPS, n, margin and counts for any range of company-local days, overall or in
//! one segment, account or touchpoint, with a trend by day, ISO week or month. Period figures are
//! sums of the per-day rollups (one `Rollups::rollups(from, to)` call), so the cost grows with days
//! and dimensions, never with answers.
//!
//! Used by the reports, by `pulso report`, and by the events API's `GET /v1/metrics`, whose query
//! string [`MetricsQuery::parse`] reads:
//! `from=2026-01-01&to=2026-03-31&segment=plan:pro&interval=week` (also `account=Acme Corp` or
//! `touchpoint=ticket_closed` instead of `segment`).

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::ReportError;
use super::periods::{Interval, Period, add_days, days_between};
use crate::model::{Counts, Dimension, Rollup};
use crate::nps::NpsStats;
use crate::ports::Rollups;
use crate::types::{AccountName, Attributes, Touchpoint};

/// The longest range one query may cover (about five years): bounds the rollups read.
pub const MAX_SPAN_DAYS: i64 = 1830;

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsQuery {
    /// First company-local day, included.
    pub from: Date,
    /// Last company-local day, included.
    pub to: Date,
    /// One segment value, account or touchpoint; everything when `None`.
    pub segment: Option<Dimension>,
    /// Cut the range into trend points; no trend when `None`.
    pub interval: Option<Interval>,
}

/// A query string the metrics query cannot read. `field` names the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("bad `{field}`: {reason}")]
pub struct MetricsQueryError {
    pub field: String,
    pub reason: String,
}

fn query_error(field: &str, reason: impl Into<String>) -> MetricsQueryError {
    MetricsQueryError {
        field: field.chars().take(40).collect(),
        reason: reason.into(),
    }
}

fn decode(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

impl MetricsQuery {
    /// Reads `from=…&to=…&segment=name:value&interval=day|week|month` (also `account=NAME` or
    /// `touchpoint=NAME`, at most one of the three). `to` defaults to `today`, `from` to 29 days
    /// before `to`. Unknown or repeated parameters are errors, so typos do not pass silently.
    pub fn parse(query: &str, today: Date) -> Result<MetricsQuery, MetricsQueryError> {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for pair in query.trim_start_matches('?').split('&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k).ok_or_else(|| query_error("query", "is not valid UTF-8"))?;
            let value = decode(v).ok_or_else(|| query_error(&key, "is not valid UTF-8"))?;
            if !matches!(
                key.as_str(),
                "from" | "to" | "segment" | "account" | "touchpoint" | "interval"
            ) {
                return Err(query_error(
                    &key,
                    "unknown parameter (use from, to, segment, account, touchpoint, interval)",
                ));
            }
            if seen.insert(key.clone(), value).is_some() {
                return Err(query_error(&key, "given more than once"));
            }
        }
        let date_of = |field: &str| -> Result<Option<Date>, MetricsQueryError> {
            match seen.get(field) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<Date>()
                    .map(Some)
                    .map_err(|_| query_error(field, "expected a date like 2026-01-31")),
            }
        };
        let to = date_of("to")?.unwrap_or(today);
        let from = date_of("from")?.unwrap_or_else(|| add_days(to, -29));
        let mut segment = None;
        for field in ["segment", "account", "touchpoint"] {
            let Some(v) = seen.get(field) else { continue };
            if segment.is_some() {
                return Err(query_error(
                    field,
                    "give only one of segment, account and touchpoint",
                ));
            }
            segment = Some(parse_dimension(field, v)?);
        }
        let interval = match seen.get("interval") {
            None => None,
            Some(v) => Some(
                Interval::parse(v)
                    .ok_or_else(|| query_error("interval", "expected day, week or month"))?,
            ),
        };
        let q = MetricsQuery {
            from,
            to,
            segment,
            interval,
        };
        q.validate()?;
        Ok(q)
    }

    /// Checks the range: `from <= to`, at most [`MAX_SPAN_DAYS`] days.
    pub fn validate(&self) -> Result<(), MetricsQueryError> {
        if self.from > self.to {
            return Err(query_error("from", "must not be after `to`"));
        }
        if days_between(self.from, self.to) + 1 > MAX_SPAN_DAYS {
            return Err(query_error(
                "from",
                format!("the range may cover at most {MAX_SPAN_DAYS} days"),
            ));
        }
        Ok(())
    }
}

fn parse_dimension(field: &str, raw: &str) -> Result<Dimension, MetricsQueryError> {
    match field {
        "segment" => {
            let (name, value) = raw
                .split_once([':', '='])
                .ok_or_else(|| query_error(field, "expected name:value, e.g. plan:pro"))?;
            // The same normalisation as the stored attributes, so `Plan:Pro ` finds `plan=Pro`.
            let mut a = Attributes::new();
            a.set(name, value)
                .map_err(|e| query_error(field, e.to_string()))?;
            let (n, v) = a
                .iter()
                .next()
                .ok_or_else(|| query_error(field, "the value is empty"))?;
            Ok(Dimension::Segment {
                name: n.to_string(),
                value: v.to_string(),
            })
        }
        "account" => AccountName::parse(raw)
            .map(|a| Dimension::Account(a.key()))
            .map_err(|e| query_error(field, e.to_string())),
        _ => Touchpoint::parse(raw)
            .map(Dimension::Touchpoint)
            .map_err(|e| query_error(field, e.to_string())),
    }
}

/// The counts of a period, read off the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CountSummary {
    /// Counted answers (flagged answers excluded).
    pub responses: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// Survey emails sent in the period (first sends, not reminders).
    pub sent: u64,
    /// Counted answers with a comment.
    pub comments: u64,
    /// Answers that looked automated and are not counted.
    pub flagged: u64,
    /// Answers received in the period ÷ surveys sent in the period (a flow ratio: an answer may
    /// follow a send of an earlier period). `None` when nothing was sent.
    pub response_rate: Option<f64>,
    /// Answers with a comment ÷ answers. `None` with no answers.
    pub comment_rate: Option<f64>,
    /// Answers by score, 0 to 10.
    pub histogram: [u64; 11],
}

fn non_negative(v: i64) -> u64 {
    // Only a corrupted store holds negative counters; `pulso check` reports them.
    v.max(0) as u64
}

impl CountSummary {
    pub fn of(c: &Counts) -> CountSummary {
        let h = c.histogram();
        let responses = h.n();
        let sent = non_negative(c.sent);
        let comments = non_negative(c.comments);
        CountSummary {
            responses,
            promoters: h.promoters(),
            passives: h.passives(),
            detractors: h.detractors(),
            sent,
            comments,
            flagged: non_negative(c.flagged),
            response_rate: (sent > 0).then(|| responses as f64 / sent as f64),
            comment_rate: (responses > 0).then(|| comments as f64 / responses as f64),
            histogram: h.0,
        }
    }

    pub fn stats(&self) -> NpsStats {
        NpsStats::from_counts(self.promoters, self.passives, self.detractors)
    }
}

/// One point of a trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// `2026-03-02`, `2026-W10`, `2026-03`.
    pub label: String,
    /// First day counted (clipped to the query's range).
    pub start: Date,
    /// Last day counted (clipped to the query's range).
    pub end: Date,
    pub stats: NpsStats,
    pub counts: CountSummary,
}

/// The answer to a metrics query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub from: Date,
    pub to: Date,
    /// The calendar the days are counted in (the company's time zone).
    pub time_zone: String,
    /// The dimension's key (`seg:plan=pro`, `acct:acme corp`, `tp:ticket_closed`), or `None` for
    /// everything.
    pub segment: Option<String>,
    pub interval: Option<Interval>,
    pub nps: NpsStats,
    pub counts: CountSummary,
    pub trend: Vec<TrendPoint>,
}

/// Rollups of a range of days, by dimension and day, ready to be summed over any sub-range.
#[derive(Debug, Clone, Default)]
pub struct RollupTable {
    by_dimension: HashMap<Dimension, BTreeMap<Date, Counts>>,
}

impl RollupTable {
    pub fn new(rollups: Vec<Rollup>) -> RollupTable {
        let mut by_dimension: HashMap<Dimension, BTreeMap<Date, Counts>> = HashMap::new();
        for r in rollups {
            by_dimension
                .entry(r.dimension)
                .or_default()
                .entry(r.day)
                .or_default()
                .add(&r.counts);
        }
        RollupTable { by_dimension }
    }

    /// Reads the rollups of `from..=to` from the store.
    pub async fn load<S: Rollups>(store: &S, from: Date, to: Date) -> Result<Self, ReportError> {
        Ok(RollupTable::new(store.rollups(from, to).await?))
    }

    /// The counts of `dimension` summed over `from..=to`.
    pub fn sum(&self, dimension: &Dimension, from: Date, to: Date) -> Counts {
        let mut total = Counts::default();
        if from > to {
            return total;
        }
        if let Some(days) = self.by_dimension.get(dimension) {
            for (_, c) in days.range(from..=to) {
                total.add(c);
            }
        }
        total
    }

    pub fn sum_period(&self, dimension: &Dimension, period: &Period) -> Counts {
        self.sum(dimension, period.first(), period.last())
    }

    /// Every dimension with a rollup in the table.
    pub fn dimensions(&self) -> impl Iterator<Item = &Dimension> {
        self.by_dimension.keys()
    }

    /// Each dimension's counts summed over `from..=to` (dimensions with nothing there left out).
    pub fn sums(&self, from: Date, to: Date) -> Vec<(Dimension, Counts)> {
        let mut out: Vec<(Dimension, Counts)> = self
            .by_dimension
            .keys()
            .map(|d| (d.clone(), self.sum(d, from, to)))
            .filter(|(_, c)| !c.is_zero())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The query's answer from this table (which must hold the query's range).
    pub fn metrics(&self, tz: &TimeZone, q: &MetricsQuery) -> Metrics {
        let dim = q.segment.clone().unwrap_or(Dimension::All);
        let counts = CountSummary::of(&self.sum(&dim, q.from, q.to));
        let trend = q
            .interval
            .map(|iv| {
                Period::cover(iv, q.from, q.to)
                    .into_iter()
                    .map(|(p, start, end)| {
                        let c = CountSummary::of(&self.sum(&dim, start, end));
                        TrendPoint {
                            label: p.label(),
                            start,
                            end,
                            stats: c.stats(),
                            counts: c,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Metrics {
            from: q.from,
            to: q.to,
            time_zone: tz.iana_name().unwrap_or("UTC").to_string(),
            segment: q.segment.as_ref().map(Dimension::key),
            interval: q.interval,
            nps: counts.stats(),
            counts,
            trend,
        }
    }
}

/// Answers a metrics query from the store's rollups (one `rollups(from, to)` read).
pub async fn metrics<S: Rollups>(
    store: &S,
    tz: &TimeZone,
    q: &MetricsQuery,
) -> Result<Metrics, ReportError> {
    q.validate()?;
    let table = RollupTable::load(store, q.from, q.to).await?;
    Ok(table.metrics(tz, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn today() -> Date {
        date(2026, 3, 31)
    }

    #[test]
    fn the_query_string_reads_every_field() {
        let q = MetricsQuery::parse(
            "from=2026-01-01&to=2026-03-31&segment=plan:pro&interval=week",
            today(),
        )
        .unwrap();
        assert_eq!((q.from, q.to), (date(2026, 1, 1), date(2026, 3, 31)));
        assert_eq!(
            q.segment,
            Some(Dimension::Segment {
                name: "plan".into(),
                value: "pro".into()
            })
        );
        assert_eq!(q.interval, Some(Interval::Week));
        let q = MetricsQuery::parse("account=ACME++Corp&to=2026-02-01", today()).unwrap();
        assert_eq!(q.segment.unwrap().key(), "acct:acme corp");
        assert_eq!(q.from, date(2026, 1, 3));
        let q = MetricsQuery::parse("segment=Plan%3DPro%20Max", today()).unwrap();
        assert_eq!(q.segment.unwrap().key(), "seg:plan=Pro Max");
        let q = MetricsQuery::parse("", today()).unwrap();
        assert_eq!(
            (q.from, q.to, q.interval),
            (date(2026, 3, 2), today(), None)
        );
    }

    #[test]
    fn a_bad_query_names_its_field() {
        for (qs, field) in [
            ("from=yesterday", "from"),
            ("to=2026-02-30", "to"),
            ("from=2026-03-02&to=2026-03-01", "from"),
            ("from=2010-01-01&to=2026-01-01", "from"),
            ("segment=plan", "segment"),
            ("segment=bad name!:x", "segment"),
            ("interval=hour", "interval"),
            ("touchpoint=Ticket Closed", "touchpoint"),
            ("segment=plan:pro&account=acme", "account"),
            ("colour=red", "colour"),
            ("from=2026-01-01&from=2026-01-02", "from"),
        ] {
            let e = MetricsQuery::parse(qs, today()).unwrap_err();
            assert_eq!(e.field, field, "{qs}: {e}");
            assert!(e.to_string().contains(field));
        }
    }

    fn rollup(day: Date, dim: Dimension, scores: &[(usize, i64)], sent: i64) -> Rollup {
        let mut counts = Counts::default();
        for (s, n) in scores {
            counts.scores[*s] += n;
        }
        counts.sent = sent;
        counts.comments = scores.iter().map(|(_, n)| n).sum::<i64>() / 2;
        Rollup {
            day,
            dimension: dim,
            counts,
        }
    }

    #[test]
    fn figures_are_sums_of_rollups() {
        let pro = Dimension::Segment {
            name: "plan".into(),
            value: "pro".into(),
        };
        let table = RollupTable::new(vec![
            rollup(date(2026, 3, 2), Dimension::All, &[(10, 6), (3, 2)], 20),
            rollup(
                date(2026, 3, 3),
                Dimension::All,
                &[(9, 4), (7, 4), (0, 2)],
                10,
            ),
            rollup(date(2026, 3, 9), Dimension::All, &[(8, 1)], 0),
            rollup(date(2026, 3, 2), pro.clone(), &[(10, 1)], 0),
        ]);
        let q = MetricsQuery {
            from: date(2026, 3, 1),
            to: date(2026, 3, 10),
            segment: None,
            interval: Some(Interval::Week),
        };
        let m = table.metrics(&TimeZone::UTC, &q);
        assert_eq!(m.counts.responses, 19);
        assert_eq!((m.counts.promoters, m.counts.detractors), (10, 4));
        assert_eq!(m.nps.score, Some(32)); // (10 − 4) / 19 = 31.6 %
        assert_eq!(m.counts.sent, 30);
        assert!((m.counts.response_rate.unwrap() - 19.0 / 30.0).abs() < 1e-9);
        let labels: Vec<&str> = m.trend.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-W09", "2026-W10", "2026-W11"]);
        assert_eq!(m.trend[0].counts.responses, 0);
        assert_eq!(m.trend[0].stats.score, None);
        assert_eq!(m.trend[1].counts.responses, 18); // 2 and 3 March
        assert_eq!(m.trend[2].counts.responses, 1); // 9 March
        let seg = table.metrics(
            &TimeZone::UTC,
            &MetricsQuery {
                segment: Some(pro),
                ..q
            },
        );
        assert_eq!((seg.counts.responses, seg.nps.score), (1, Some(100)));
        assert_eq!(seg.segment.as_deref(), Some("seg:plan=pro"));
        assert_eq!(seg.counts.response_rate, None);
    }
}
