//! Building a report's figures from the store: the daily digest, the weekly and the quarterly
//! report. What is built here is data (serialised whole into the archive's JSON); `render` turns
//! it into words.
//!
//! Cost: every figure is a sum of per-day rollups read in one `rollups(from, to)` call per report;
//! comments are read per day with `commented_responses_of_day(day, cap)` where the cap spreads
//! [`COMMENTS_PER_REPORT`] over the period's days; the digest reads one day's answers; accounts
//! look up their contacts only for the rows shown. So a report's cost grows with days, segments
//! and accounts, not with answers. The quarterly report's loop-closing figures count the
//! follow-ups opened from the rollups and read at most [`FOLLOW_UP_SAMPLE`] follow-up records.

use std::collections::BTreeMap;

use futures::StreamExt;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::ReportError;
use super::metrics::{CountSummary, RollupTable};
use super::periods::{Period, add_days, days_between, each_day};
use super::themes::{ThemeFinder, Themes};
use crate::config::Config;
use crate::model::{Contact, Dimension, FollowUp, FollowUpStatus, ReportKind, Response};
use crate::nps::{Category, Change, Direction, NpsStats, compare};
use crate::ports::{Contacts, FollowUps, Responses, Rollups};
use crate::types::{AccountKey, ContactId, Locale};

/// Comments read for one report, at most (spread evenly over its days: a quarter reads up to
/// 21 a day, a week up to 285). Keeps the cost of themes bounded however many answers arrive;
/// 2,000 comments are plenty to tell a theme from noise.
pub const COMMENTS_PER_REPORT: usize = 2_000;
/// Follow-ups read for the quarterly report's loop-closing figures, at most: the ones opened most
/// recently in the quarter (`follow_ups_opened_between(.., limit)`). How many were opened is exact
/// from the rollups; the done and still-open shares and the time to close are measured on these,
/// labelled "of the latest N" when the quarter opened more. 1,000 puts a share within ±3.1 points
/// (95%) at worst, and keeps the read small beside a large quarter's (one record per detractor:
/// 48,000 at a million answers a year). 2,000 measured a 1M/10k cost ratio of 2.0–2.1 in the
/// benchmark, 1,000 1.8–1.9.
pub const FOLLOW_UP_SAMPLE: usize = 1_000;
/// Answers listed in a daily digest, at most (detractors first); the rest are counted.
pub const DAILY_MAX_ANSWERS: usize = 100;
/// Open follow-ups listed in a daily digest, at most (oldest first); the rest are counted.
pub const DAILY_MAX_FOLLOW_UPS: usize = 50;
/// Accounts shown in the quarterly report, at most (flagged first, then by answers).
pub const MAX_ACCOUNTS_SHOWN: usize = 40;
/// Reads of one kind a report keeps in flight (a quarter's ~92 days of comments, its accounts):
/// the report waits for about a tenth of the round trips, on at most this many connections.
const READS_AT_ONCE: usize = 8;
/// Values shown per segment attribute, at most (by answers).
pub const MAX_SEGMENT_VALUES: usize = 20;
/// Below this many answers the 95% interval is the adjusted-Wald one (Wald understates it).
pub const SMALL_N: u64 = 30;

/// Anything a report reads.
pub trait ReportStore: Rollups + Responses + FollowUps + Contacts {}
impl<T: Rollups + Responses + FollowUps + Contacts> ReportStore for T {}

/// The figures of one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodFigures {
    pub label: String,
    pub first: Date,
    pub last: Date,
    pub stats: NpsStats,
    pub counts: CountSummary,
}

impl PeriodFigures {
    pub fn of(
        table: &RollupTable,
        dim: &Dimension,
        label: String,
        first: Date,
        last: Date,
    ) -> Self {
        let counts = CountSummary::of(&table.sum(dim, first, last));
        PeriodFigures {
            label,
            first,
            last,
            stats: counts.stats(),
            counts,
        }
    }

    pub fn of_period(table: &RollupTable, dim: &Dimension, p: &Period) -> Self {
        Self::of(table, dim, p.label(), p.first(), p.last())
    }
}

/// The 95% interval shown with an NPS: the Wald one (score ± margin), or the adjusted-Wald one when
/// n is small or the Wald margin collapses to zero (all answers in one category).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShownInterval {
    pub low: f64,
    pub high: f64,
    pub adjusted: bool,
}

pub fn shown_interval(s: &NpsStats) -> Option<ShownInterval> {
    let (exact, margin, se) = (s.exact?, s.margin?, s.se?);
    if s.n < SMALL_N || se == 0.0 {
        let a = s.adjusted?;
        Some(ShownInterval {
            low: a.low,
            high: a.high,
            adjusted: true,
        })
    } else {
        Some(ShownInterval {
            low: (exact - margin).max(-100.0),
            high: (exact + margin).min(100.0),
            adjusted: false,
        })
    }
}

/// Whether `now` differs from `before` by more than the noise. With enough answers on both sides
/// this is `nps::compare`, the brief's rule: |ΔNPS| > 1.96·√(SE₁² + SE₂²) with each period's own
/// (Wald) SE. When either period has fewer than [`SMALL_N`] answers, or a Wald SE of zero (every
/// answer in one category — a single detractor is not a certainty), each period's SE is computed
/// from the two periods pooled, as a two-sample test does under "no change": the noise then cannot
/// collapse to zero, and one promoter after one detractor is not called a rise. The delta is always
/// the plain difference of the two NPS figures.
pub fn compare_periods(now: &NpsStats, before: &NpsStats) -> Change {
    let plain = compare(now, before);
    let small = |s: &NpsStats| s.n < SMALL_N || s.se == Some(0.0);
    let (Some(delta), true) = (plain.delta, small(now) || small(before)) else {
        return plain;
    };
    let n = (now.n + before.n) as f64;
    let p = (now.promoters + before.promoters) as f64 / n;
    let d = (now.detractors + before.detractors) as f64 / n;
    let v = (p + d - (p - d).powi(2)).max(0.0);
    let threshold = crate::nps::Z95 * 100.0 * (v / now.n as f64 + v / before.n as f64).sqrt();
    let direction = if delta.abs() <= threshold {
        Direction::NoSignificantChange
    } else if delta > 0.0 {
        Direction::Up
    } else {
        Direction::Down
    };
    Change {
        delta: Some(delta),
        threshold: Some(threshold),
        direction,
    }
}

/// One answer in the digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerLine {
    pub send_id: String,
    pub score: u8,
    pub category: Category,
    pub comment: Option<String>,
    /// The contact's name, else email; `None` once erased.
    pub contact: Option<String>,
    pub email: Option<String>,
    pub account: Option<String>,
    pub touchpoint: Option<String>,
    pub answered_at: Timestamp,
}

/// One open follow-up in the digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpLine {
    pub send_id: String,
    pub score: u8,
    pub contact: Option<String>,
    pub account: Option<String>,
    pub opened_day: Date,
    /// Whole days from the day it was opened to the report's run day (company calendar).
    pub age_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Daily {
    pub day: PeriodFigures,
    pub day_before: PeriodFigures,
    pub vs_day_before: Change,
    /// Counted answers of the day, detractors first (lowest score first), at most
    /// [`DAILY_MAX_ANSWERS`].
    pub answers: Vec<AnswerLine>,
    /// Counted answers of the day read from the store (≥ `answers.len()`).
    pub answers_total: usize,
    pub open_follow_ups: Vec<FollowUpLine>,
    pub open_follow_ups_total: usize,
    pub oldest_open_days: Option<i64>,
}

/// One comment in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentLine {
    pub score: u8,
    pub category: Category,
    pub text: String,
    pub account: Option<String>,
    pub day: Date,
    pub locale: Locale,
}

/// Comments of a period by category, most recent first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Comments {
    pub detractors: Vec<CommentLine>,
    pub passives: Vec<CommentLine>,
    pub promoters: Vec<CommentLine>,
    /// Comments read (after the per-day cap).
    pub read: usize,
    /// The per-day cap used.
    pub per_day_cap: usize,
    /// Whether some day had more comments than the cap.
    pub capped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weekly {
    pub week: PeriodFigures,
    pub previous: PeriodFigures,
    pub vs_previous: Change,
    /// The four weeks before this one, pooled.
    pub previous_four: PeriodFigures,
    pub vs_previous_four: Change,
    /// This week and the three before, oldest first.
    pub trend: Vec<PeriodFigures>,
    pub comments: Comments,
    pub themes: Themes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRow {
    pub value: String,
    pub figures: PeriodFigures,
    pub previous: NpsStats,
    pub vs_previous: Change,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentBreakdown {
    pub name: String,
    /// By answers, most first; at most [`MAX_SEGMENT_VALUES`].
    pub rows: Vec<SegmentRow>,
    pub values_total: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    pub key: String,
    /// As the CRM writes it (from one of its contacts), else the key.
    pub name: String,
    pub stats: NpsStats,
    /// Contacts the account has now (its stakeholders).
    pub contacts: usize,
    /// More detractors than promoters this quarter.
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accounts {
    pub rows: Vec<AccountRow>,
    /// Accounts with answers this quarter.
    pub total: usize,
    /// Of those, how many have more detractors than promoters.
    pub flagged: usize,
}

/// Closing the loop in a period. `opened` is exact at any volume; the rest is measured on the
/// follow-ups read (`sample`), which are all of the period's when `complete`, otherwise the
/// [`FOLLOW_UP_SAMPLE`] opened most recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopClosing {
    /// Follow-ups the period's answers opened: every counted detractor's answer opens one (a
    /// passive's too with `follow_ups.include_passives`), so this is a sum of rollups. Automated
    /// answers are not counted, and neither are the follow-ups Pulso closed for them.
    pub opened: u64,
    /// Follow-ups read to measure the rest, less those Pulso closed itself (`closed_by` "pulso":
    /// their answer turned out automated; nobody worked on them).
    pub sample: usize,
    /// Whether the read returned every follow-up opened in the period (fewer than the limit).
    pub complete: bool,
    /// Of the sample, done.
    pub done: usize,
    /// Of the sample, still open.
    pub open: usize,
    /// Median time from opening to done, of the sample's done.
    pub median_hours_to_close: Option<f64>,
    /// Of the sample's done, how many within two days.
    pub done_within_two_days: usize,
}

impl LoopClosing {
    /// Done ÷ sample; `None` with nothing read.
    pub fn done_share(&self) -> Option<f64> {
        (self.sample > 0).then(|| self.done as f64 / self.sample as f64)
    }

    /// Still open ÷ sample; `None` with nothing read.
    pub fn open_share(&self) -> Option<f64> {
        (self.sample > 0).then(|| self.open as f64 / self.sample as f64)
    }

    /// The figures of `opened` follow-ups from those read (`read`, newest first, as returned by
    /// `follow_ups_opened_between(.., limit)`): the sample is complete when the store returned
    /// fewer than `limit`.
    pub fn measure(opened: u64, read: &[FollowUp], limit: usize) -> LoopClosing {
        let complete = read.len() < limit;
        let worked: Vec<&FollowUp> = read
            .iter()
            .filter(|f| f.closed_by.as_deref() != Some(crate::alerts::SYSTEM_CLOSER))
            .collect();
        let done: Vec<&&FollowUp> = worked
            .iter()
            .filter(|f| f.status == FollowUpStatus::Done)
            .collect();
        let mut hours: Vec<f64> = done
            .iter()
            .filter_map(|f| f.time_to_close())
            .map(|d| d.as_secs_f64() / 3600.0)
            .collect();
        hours.sort_by(f64::total_cmp);
        let median = match hours.len() {
            0 => None,
            n if n % 2 == 1 => Some(hours[n / 2]),
            n => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
        };
        LoopClosing {
            opened,
            sample: worked.len(),
            complete,
            done: done.len(),
            open: worked.len() - done.len(),
            median_hours_to_close: median,
            done_within_two_days: hours.iter().filter(|h| **h <= 48.0).count(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchmarkPosition {
    /// The whole 95% interval lies above the industry average.
    Above,
    /// The interval holds the average.
    InLine,
    Below,
    NoData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    pub average: i32,
    pub leaders: i32,
    pub low: i32,
    pub position: BenchmarkPosition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarterly {
    pub quarter: PeriodFigures,
    pub previous: PeriodFigures,
    pub year_ago: PeriodFigures,
    pub vs_previous: Change,
    pub vs_year_ago: Change,
    /// The twelve months ending with the quarter, oldest first.
    pub months: Vec<PeriodFigures>,
    pub segments: Vec<SegmentBreakdown>,
    pub accounts: Accounts,
    pub themes: Themes,
    pub comments_read: usize,
    pub loop_closing: LoopClosing,
    pub benchmark: Benchmark,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportBody {
    Daily(Daily),
    Weekly(Weekly),
    Quarterly(Quarterly),
}

/// A built report: what the email, the archive's HTML, CSV and JSON all show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub kind: ReportKind,
    pub period: Period,
    /// `2026-03-01`, `2026-W09`, `2026-Q1`.
    pub label: String,
    pub first: Date,
    pub last: Date,
    pub company: String,
    pub time_zone: String,
    pub locale: Locale,
    pub generated_at: Timestamp,
    pub body: ReportBody,
}

impl Report {
    /// Where the report's files live in the archive: `reports/<kind>/<period>/`.
    pub fn archive_prefix(&self) -> String {
        archive_prefix(self.kind, &self.period)
    }
}

pub fn archive_prefix(kind: ReportKind, period: &Period) -> String {
    format!("reports/{}/{}/", kind.as_str(), period.label())
}

/// Builds the report of `kind` for `period`, as seen at `at`, in `locale`.
pub async fn build<S: ReportStore>(
    store: &S,
    config: &Config,
    kind: ReportKind,
    period: Period,
    at: Timestamp,
    locale: Locale,
) -> Result<Report, ReportError> {
    let tz = config.company.time_zone.tz();
    let body = match (kind, period) {
        (ReportKind::Daily, Period::Day { date }) => {
            let today = crate::time::local_day(at, &tz);
            ReportBody::Daily(daily(store, date, today).await?)
        }
        (ReportKind::Weekly, Period::Week { .. }) => {
            ReportBody::Weekly(weekly(store, config, &period).await?)
        }
        (ReportKind::Quarterly, Period::Quarter { .. }) => {
            ReportBody::Quarterly(quarterly(store, config, &period).await?)
        }
        _ => {
            return Err(ReportError::Period(super::PeriodError::BadLabel(format!(
                "{} for a {} report",
                period.label(),
                kind.as_str()
            ))));
        }
    };
    Ok(Report {
        kind,
        label: period.label(),
        first: period.first(),
        last: period.last(),
        period,
        company: config.company.name.clone(),
        time_zone: config.company.time_zone.as_str().to_string(),
        locale,
        generated_at: at,
        body,
    })
}

fn sort_key(r: &Response) -> (u8, std::cmp::Reverse<Timestamp>) {
    (r.score.value(), std::cmp::Reverse(r.answered_at))
}

async fn daily<S: ReportStore>(store: &S, day: Date, today: Date) -> Result<Daily, ReportError> {
    let before = add_days(day, -1);
    // The three reads are independent: sent together, the digest waits for the slowest, not the sum.
    let (table, answers, open) = futures::try_join!(
        RollupTable::load(store, before, day),
        async { Ok(store.responses_of_day(day).await?) },
        async { Ok(store.open_follow_ups().await?) },
    )?;
    let all = Dimension::All;
    let fig_day = PeriodFigures::of(&table, &all, day.to_string(), day, day);
    let fig_before = PeriodFigures::of(&table, &all, before.to_string(), before, before);
    let vs = compare_periods(&fig_day.stats, &fig_before.stats);

    let mut answers: Vec<Response> = answers.into_iter().filter(Response::counted).collect();
    let answers_total = answers.len();
    answers.sort_by_key(sort_key);
    answers.truncate(DAILY_MAX_ANSWERS);
    let open_total = open.len();
    let oldest_open_days = open.iter().map(|f| days_between(f.opened_day, today)).max();
    let open: Vec<FollowUp> = open.into_iter().take(DAILY_MAX_FOLLOW_UPS).collect();
    // Everyone the digest names, read together (one BatchGetItem per 100 in DynamoDB).
    let ids: Vec<ContactId> = answers
        .iter()
        .filter_map(|r| r.contact_id.clone())
        .chain(open.iter().filter_map(|f| f.contact_id.clone()))
        .collect();
    let contacts = store.contacts_by_id(&ids).await?;
    let contact_of = |id: &Option<ContactId>| id.as_ref().and_then(|id| contacts.get(id));
    let mut lines = Vec::with_capacity(answers.len());
    for r in answers {
        let contact = contact_of(&r.contact_id);
        lines.push(AnswerLine {
            send_id: r.send_id.as_str().to_string(),
            score: r.score.value(),
            category: r.category(),
            comment: r.comment.clone().filter(|c| !c.trim().is_empty()),
            contact: contact.map(Contact::display_name),
            email: contact.map(|c| c.email.to_string()),
            account: r.account.as_ref().map(|a| a.as_str().to_string()),
            touchpoint: r.touchpoint.as_ref().map(|t| t.as_str().to_string()),
            answered_at: r.answered_at,
        });
    }

    let mut fus = Vec::with_capacity(open.len());
    for f in open {
        let contact = contact_of(&f.contact_id);
        fus.push(FollowUpLine {
            send_id: f.send_id.as_str().to_string(),
            score: f.score.value(),
            contact: contact.map(Contact::display_name),
            account: f.account.as_ref().map(|a| a.as_str().to_string()),
            opened_day: f.opened_day,
            age_days: days_between(f.opened_day, today).max(0),
        });
    }
    Ok(Daily {
        day: fig_day,
        day_before: fig_before,
        vs_day_before: vs,
        answers: lines,
        answers_total,
        open_follow_ups: fus,
        open_follow_ups_total: open_total,
        oldest_open_days,
    })
}

/// Reads the counted comments of `first..=last` (most recent first per day, at most the per-day
/// cap), feeding the themes and returning them by category (each list most recent first, at most
/// `max_each`).
async fn read_comments<S: ReportStore>(
    store: &S,
    first: Date,
    last: Date,
    max_each: usize,
) -> Result<(Comments, Themes), ReportError> {
    let days = (days_between(first, last) + 1).max(1) as usize;
    let cap = (COMMENTS_PER_REPORT / days).max(1);
    let mut comments = Comments {
        per_day_cap: cap,
        ..Comments::default()
    };
    let mut finder = ThemeFinder::new();
    let mut all: Vec<CommentLine> = Vec::new();
    // Day by day, READS_AT_ONCE days in flight, taken in day order.
    let mut reads = futures::stream::iter(each_day(first, last))
        .map(|day| async move { (day, store.commented_responses_of_day(day, cap).await) })
        .buffered(READS_AT_ONCE);
    while let Some((day, rs)) = reads.next().await {
        let rs = rs?;
        if rs.len() >= cap {
            comments.capped = true;
        }
        for r in rs.into_iter().filter(|r| r.counted() && r.has_comment()) {
            finder.add(r.category(), r.locale, r.comment.as_deref().unwrap_or(""));
            comments.read += 1;
            if max_each == 0 {
                continue; // themes only (the quarterly report lists no comments)
            }
            all.push(CommentLine {
                score: r.score.value(),
                category: r.category(),
                text: r.comment.clone().unwrap_or_default(),
                account: r.account.as_ref().map(|a| a.as_str().to_string()),
                day,
                locale: r.locale,
            });
        }
    }
    // Most recent day first; within a day the store's order (most recent first) is kept.
    all.sort_by_key(|c| std::cmp::Reverse(c.day));
    for c in all {
        let list = match c.category {
            Category::Detractor => &mut comments.detractors,
            Category::Passive => &mut comments.passives,
            Category::Promoter => &mut comments.promoters,
        };
        if list.len() < max_each {
            list.push(c);
        }
    }
    Ok((comments, finder.finish()))
}

async fn weekly<S: ReportStore>(
    store: &S,
    config: &Config,
    week: &Period,
) -> Result<Weekly, ReportError> {
    let four_back = (0..4).fold(*week, |p, _| p.previous());
    let table = RollupTable::load(store, four_back.first(), week.last()).await?;
    let all = Dimension::All;
    let this = PeriodFigures::of_period(&table, &all, week);
    let prev_p = week.previous();
    let previous = PeriodFigures::of_period(&table, &all, &prev_p);
    let previous_four = PeriodFigures::of(
        &table,
        &all,
        format!("{}..{}", four_back.label(), prev_p.label()),
        four_back.first(),
        prev_p.last(),
    );
    let mut trend = Vec::new();
    let mut p = week.previous().previous().previous();
    for _ in 0..4 {
        trend.push(PeriodFigures::of_period(&table, &all, &p));
        p = p.next();
    }
    let (comments, themes) = read_comments(
        store,
        week.first(),
        week.last(),
        config.reports.max_comments,
    )
    .await?;
    Ok(Weekly {
        vs_previous: compare_periods(&this.stats, &previous.stats),
        vs_previous_four: compare_periods(&this.stats, &previous_four.stats),
        week: this,
        previous,
        previous_four,
        trend,
        comments,
        themes,
    })
}

async fn quarterly<S: ReportStore>(
    store: &S,
    config: &Config,
    quarter: &Period,
) -> Result<Quarterly, ReportError> {
    let year_ago = quarter.year_ago();
    let previous_p = quarter.previous();
    // One read: from the year-ago quarter to the end of this one (15 months).
    let table = RollupTable::load(store, year_ago.first(), quarter.last()).await?;
    let all = Dimension::All;
    let this = PeriodFigures::of_period(&table, &all, quarter);
    let previous = PeriodFigures::of_period(&table, &all, &previous_p);
    let ago = PeriodFigures::of_period(&table, &all, &year_ago);

    let mut months = Vec::new();
    let mut m = Period::containing(super::Interval::Month, quarter.last());
    for _ in 0..11 {
        m = m.previous();
    }
    for _ in 0..12 {
        months.push(PeriodFigures::of_period(&table, &all, &m));
        m = m.next();
    }

    let now = table.sums(quarter.first(), quarter.last());
    let segments = segments(&table, config, &now, quarter, &previous_p);
    let accounts = accounts(store, &now).await?;
    let (comments, themes) = read_comments(store, quarter.first(), quarter.last(), 0).await?;
    let loop_closing = loop_closing(store, config, quarter, &this.counts).await?;
    let benchmark = Benchmark {
        average: config.reports.benchmark_average,
        leaders: config.reports.benchmark_leaders,
        low: config.reports.benchmark_low,
        position: benchmark_position(&this.stats, config.reports.benchmark_average),
    };
    Ok(Quarterly {
        vs_previous: compare_periods(&this.stats, &previous.stats),
        vs_year_ago: compare_periods(&this.stats, &ago.stats),
        quarter: this,
        previous,
        year_ago: ago,
        months,
        segments,
        accounts,
        themes,
        comments_read: comments.read,
        loop_closing,
        benchmark,
    })
}

pub fn benchmark_position(stats: &NpsStats, average: i32) -> BenchmarkPosition {
    match shown_interval(stats) {
        None => BenchmarkPosition::NoData,
        Some(i) if i.low > f64::from(average) => BenchmarkPosition::Above,
        Some(i) if i.high < f64::from(average) => BenchmarkPosition::Below,
        Some(_) => BenchmarkPosition::InLine,
    }
}

fn segments(
    table: &RollupTable,
    config: &Config,
    now: &[(Dimension, crate::model::Counts)],
    quarter: &Period,
    previous: &Period,
) -> Vec<SegmentBreakdown> {
    let wanted = &config.reports.segments;
    let mut by_name: BTreeMap<String, Vec<SegmentRow>> = BTreeMap::new();
    for (dim, counts) in now {
        let Dimension::Segment { name, value } = dim else {
            continue;
        };
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let c = CountSummary::of(counts);
        if c.responses == 0 {
            continue;
        }
        let prev = CountSummary::of(&table.sum_period(dim, previous)).stats();
        let stats = c.stats();
        by_name.entry(name.clone()).or_default().push(SegmentRow {
            value: value.clone(),
            figures: PeriodFigures {
                label: quarter.label(),
                first: quarter.first(),
                last: quarter.last(),
                stats,
                counts: c,
            },
            vs_previous: compare_periods(&stats, &prev),
            previous: prev,
        });
    }
    by_name
        .into_iter()
        .map(|(name, mut rows)| {
            rows.sort_by(|a, b| {
                b.figures
                    .stats
                    .n
                    .cmp(&a.figures.stats.n)
                    .then_with(|| a.value.cmp(&b.value))
            });
            let values_total = rows.len();
            rows.truncate(MAX_SEGMENT_VALUES);
            SegmentBreakdown {
                name,
                rows,
                values_total,
            }
        })
        .collect()
}

async fn accounts<S: ReportStore>(
    store: &S,
    now: &[(Dimension, crate::model::Counts)],
) -> Result<Accounts, ReportError> {
    let mut rows: Vec<(AccountKey, NpsStats)> = now
        .iter()
        .filter_map(|(d, c)| match d {
            Dimension::Account(k) => Some((k.clone(), CountSummary::of(c).stats())),
            _ => None,
        })
        .filter(|(_, s)| s.n > 0)
        .collect();
    let flagged_of = |s: &NpsStats| s.detractors > s.promoters;
    let total = rows.len();
    let flagged = rows.iter().filter(|(_, s)| flagged_of(s)).count();
    rows.sort_by(|a, b| {
        let margin = |s: &NpsStats| s.detractors as i64 - s.promoters as i64;
        flagged_of(&b.1)
            .cmp(&flagged_of(&a.1))
            .then_with(|| {
                if flagged_of(&a.1) {
                    margin(&b.1).cmp(&margin(&a.1))
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| b.1.n.cmp(&a.1.n))
            .then_with(|| a.0.cmp(&b.0))
    });
    rows.truncate(MAX_ACCOUNTS_SHOWN);
    let mut out = Vec::with_capacity(rows.len());
    let mut reads = futures::stream::iter(rows)
        .map(|(key, stats)| async move {
            let contacts = store.contacts_of_account(&key).await;
            (key, stats, contacts)
        })
        .buffered(READS_AT_ONCE);
    while let Some((key, stats, contacts)) = reads.next().await {
        let contacts = contacts?;
        let name = contacts
            .iter()
            .find_map(|c| c.account.as_ref().map(|a| a.as_str().to_string()))
            .unwrap_or_else(|| key.as_str().to_string());
        out.push(AccountRow {
            key: key.as_str().to_string(),
            name,
            flagged: flagged_of(&stats),
            stats,
            contacts: contacts.len(),
        });
    }
    Ok(Accounts {
        rows: out,
        total,
        flagged,
    })
}

/// Opened from the period's rollups (`counts`, dimension All), the rest from at most
/// [`FOLLOW_UP_SAMPLE`] follow-ups: the report reads the same few records however many detractors
/// the quarter had.
async fn loop_closing<S: ReportStore>(
    store: &S,
    config: &Config,
    period: &Period,
    counts: &CountSummary,
) -> Result<LoopClosing, ReportError> {
    let opened = counts.detractors
        + if config.follow_ups.include_passives {
            counts.passives
        } else {
            0
        };
    let read = store
        .follow_ups_opened_between(period.first(), period.last(), FOLLOW_UP_SAMPLE)
        .await?;
    Ok(LoopClosing::measure(opened, &read, FOLLOW_UP_SAMPLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_is_not_a_certainty() {
        // A lone detractor, then a lone promoter: Wald SEs are both zero, so the plain rule would
        // call a 200-point rise significant.
        let before = NpsStats::from_counts(0, 0, 1);
        let now = NpsStats::from_counts(1, 0, 0);
        assert_eq!(compare(&now, &before).direction, Direction::Up);
        let c = compare_periods(&now, &before);
        assert_eq!(c.direction, Direction::NoSignificantChange);
        assert_eq!(c.delta, Some(200.0));
        assert!(c.threshold.unwrap() > 200.0);
        // The same answers twice over are no change at all, and no noise.
        let same = compare_periods(&now, &now);
        assert_eq!(same.direction, Direction::NoSignificantChange);
    }

    #[test]
    fn large_samples_follow_the_briefs_rule() {
        let before = NpsStats::from_counts(100, 60, 40);
        let now = NpsStats::from_counts(150, 40, 10);
        assert_eq!(compare_periods(&now, &before), compare(&now, &before));
        assert_eq!(compare_periods(&now, &before).direction, Direction::Up);
        // Small but clear: 20 promoters against 20 detractors.
        let a = NpsStats::from_counts(20, 0, 0);
        let b = NpsStats::from_counts(0, 0, 20);
        assert_eq!(compare_periods(&a, &b).direction, Direction::Up);
        assert_eq!(compare_periods(&b, &a).direction, Direction::Down);
        let empty = NpsStats::from_counts(0, 0, 0);
        assert_eq!(
            compare_periods(&a, &empty).direction,
            Direction::NotComparable
        );
    }

    #[test]
    fn small_samples_show_the_adjusted_interval() {
        let small = NpsStats::from_counts(5, 2, 3);
        let i = shown_interval(&small).unwrap();
        assert!(i.adjusted);
        assert!(i.low < 20.0 && i.high > 20.0);
        let all = NpsStats::from_counts(50, 0, 0); // Wald margin 0: misleading
        assert!(shown_interval(&all).unwrap().adjusted);
        let big = NpsStats::from_counts(100, 60, 40);
        let i = shown_interval(&big).unwrap();
        assert!(!i.adjusted);
        assert!((i.high - i.low - 2.0 * big.margin.unwrap()).abs() < 1e-9);
        assert!(shown_interval(&NpsStats::from_counts(0, 0, 0)).is_none());
    }

    fn follow_up(n: u32, hours_to_close: Option<i64>, by: &str) -> FollowUp {
        let opened_at: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let opened_at = opened_at + jiff::SignedDuration::from_mins(i64::from(n));
        FollowUp {
            send_id: crate::types::SendId::for_key(&format!("t:{n}")),
            contact_id: None,
            score: crate::types::Score::new(3).unwrap(),
            account: None,
            opened_at,
            opened_day: jiff::civil::date(2026, 3, 1),
            status: if hours_to_close.is_some() {
                FollowUpStatus::Done
            } else {
                FollowUpStatus::Open
            },
            closed_at: hours_to_close.map(|h| opened_at + jiff::SignedDuration::from_hours(h)),
            closed_by: hours_to_close.map(|_| by.to_string()),
            note: None,
            version: 1 + u64::from(hours_to_close.is_some()),
        }
    }

    #[test]
    fn loop_closing_is_complete_when_the_read_is_short_of_the_limit() {
        let read = [
            follow_up(3, None, ""),
            follow_up(2, Some(30), "ana"),
            follow_up(1, Some(3), "ana"),
            follow_up(0, Some(10), "ana"),
        ];
        let l = LoopClosing::measure(9, &read, 5);
        assert!(l.complete);
        assert_eq!((l.opened, l.sample, l.done, l.open), (9, 4, 3, 1));
        assert_eq!(l.median_hours_to_close, Some(10.0));
        assert_eq!(l.done_within_two_days, 3);
        assert_eq!(l.done_share(), Some(0.75));
        assert_eq!(l.open_share(), Some(0.25));
    }

    #[test]
    fn loop_closing_of_a_full_read_is_a_sample_and_opened_stays_exact() {
        // The store returned exactly `limit`: there may be more, so the figures are "of the
        // latest", while opened (from the rollups) is whatever the caller counted.
        let read = [
            follow_up(3, Some(1), "ana"),
            follow_up(2, Some(2), "ana"),
            follow_up(1, Some(4), "ana"),
            follow_up(0, None, ""),
        ];
        let l = LoopClosing::measure(5_000, &read, 4);
        assert!(!l.complete);
        assert_eq!((l.opened, l.sample, l.done, l.open), (5_000, 4, 3, 1));
        assert_eq!(l.median_hours_to_close, Some(2.0));
    }

    #[test]
    fn follow_ups_pulso_closed_are_not_measured() {
        // Closed by Pulso after 0 hours because the answer was automated: counting them would
        // pull the median down and the done share up with work nobody did.
        let read = [
            follow_up(2, Some(0), crate::alerts::SYSTEM_CLOSER),
            follow_up(1, Some(0), crate::alerts::SYSTEM_CLOSER),
            follow_up(0, Some(20), "ana"),
        ];
        let l = LoopClosing::measure(1, &read, 10);
        assert_eq!((l.sample, l.done, l.open), (1, 1, 0));
        assert_eq!(l.median_hours_to_close, Some(20.0));
        let none = LoopClosing::measure(0, &[], 10);
        assert!(none.complete);
        assert_eq!(
            (none.done_share(), none.median_hours_to_close),
            (None, None)
        );
    }

    #[test]
    fn the_benchmark_is_compared_with_the_interval_not_the_point() {
        let st = NpsStats::from_counts(100, 60, 40); // 30 ± 10.8
        assert_eq!(benchmark_position(&st, 34), BenchmarkPosition::InLine);
        assert_eq!(benchmark_position(&st, 15), BenchmarkPosition::Above);
        assert_eq!(benchmark_position(&st, 45), BenchmarkPosition::Below);
        assert_eq!(
            benchmark_position(&NpsStats::from_counts(0, 0, 0), 34),
            BenchmarkPosition::NoData
        );
    }
}
