//! `pulso check`: recompute the rollups from the answers and list every difference with the
//! stored ones. One `responses_of_day` and one `rollups(day, day)` read per day, so the check
//! costs what the answers of the range cost to read (it is an operator's tool, not a schedule).
//!
//! Compared per (day, dimension): the eleven score counters, `comments` and `flagged`. `sent` is
//! counted from sends, not answers, so it is not compared. An erased contact's answers keep their
//! score but lose their comment while the rollup keeps counting it, so each erased answer without a
//! comment may account for one stored comment more than the answers show.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use super::ReportError;
use super::periods::each_day;
use crate::model::{Counts, Dimension};
use crate::ports::{Responses, Rollups};

/// One counter that does not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub day: Date,
    /// The dimension's key (`all`, `seg:plan=pro`, `acct:acme`, `tp:ticket_closed`).
    pub dimension: String,
    /// `scores[0]`…`scores[10]`, `comments`, `flagged`.
    pub field: String,
    pub stored: i64,
    pub recomputed: i64,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: stored {}, recomputed {}",
            self.day, self.dimension, self.field, self.stored, self.recomputed
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CheckReport {
    pub days: usize,
    pub answers: usize,
    pub rollups: usize,
    pub differences: Vec<Difference>,
}

fn compare_counts(
    day: Date,
    dim: &Dimension,
    stored: &Counts,
    want: &Counts,
    erased: i64,
    out: &mut Vec<Difference>,
) {
    let mut push = |field: String, s: i64, r: i64| {
        if s != r {
            out.push(Difference {
                day,
                dimension: dim.key(),
                field,
                stored: s,
                recomputed: r,
            });
        }
    };
    for i in 0..11 {
        push(format!("scores[{i}]"), stored.scores[i], want.scores[i]);
    }
    let comments_ok = stored.comments >= want.comments && stored.comments <= want.comments + erased;
    if !comments_ok {
        push("comments".into(), stored.comments, want.comments);
    }
    push("flagged".into(), stored.flagged, want.flagged);
}

/// Recomputes the rollups of `from..=to` from the answers and compares.
pub async fn check<S: Responses + Rollups>(
    store: &S,
    from: Date,
    to: Date,
) -> Result<CheckReport, ReportError> {
    let mut report = CheckReport::default();
    for day in each_day(from, to) {
        report.days += 1;
        let mut want: BTreeMap<Dimension, Counts> = BTreeMap::new();
        let mut erased: BTreeMap<Dimension, i64> = BTreeMap::new();
        let answers = store.responses_of_day(day).await?;
        report.answers += answers.len();
        for r in &answers {
            let c = Counts::of_response(r);
            let anonymised = r.contact_id.is_none() && r.counted() && !r.has_comment();
            for d in r.dimensions() {
                if anonymised {
                    *erased.entry(d.clone()).or_default() += 1;
                }
                want.entry(d).or_default().add(&c);
            }
        }
        let mut stored: BTreeMap<Dimension, Counts> = BTreeMap::new();
        for r in store.rollups(day, day).await? {
            report.rollups += 1;
            stored.entry(r.dimension).or_default().add(&r.counts);
        }
        let mut dims: Vec<&Dimension> = want.keys().chain(stored.keys()).collect();
        dims.sort();
        dims.dedup();
        let zero = Counts::default();
        for d in dims {
            compare_counts(
                day,
                d,
                stored.get(d).unwrap_or(&zero),
                want.get(d).unwrap_or(&zero),
                erased.get(d).copied().unwrap_or(0),
                &mut report.differences,
            );
        }
    }
    Ok(report)
}
