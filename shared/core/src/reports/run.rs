//! The scheduled report run, shared by the `reports` Lambda and `pulso run reports`: work out the
//! period, claim it, build, archive, email the audience, mark it sent. And the preview that
//! `pulso report` shows: the same report, built and rendered, never emailed.
//!
//! Idempotency per (kind, period): before anything is emailed the run inserts a `ReportRun` at
//! version 1 (`Claimed`); a second insert is a `Conflict`, so of two concurrent runs only one
//! goes on. A run that finds the period `Sent` stops; one that finds a `Claimed` younger than
//! [`LEASE`] stops too (another run is at work). A claim older than the lease that never reached
//! `Sent` belonged to a run that died; the next run takes it over (a versioned write, so only one
//! can) and sends. A run that fails rather than dies (the period could not be read, the archive or
//! the mail service answered an error) marks its claim `Failed`, and the next run, the schedule's
//! retry a minute later, takes it over at once. The one window where a report can go out twice is
//! a run that dies after the mail service accepted the email and before `Sent` was written (or
//! whose send timed out after the service had accepted it); the Message-ID is the same
//! (`report.<kind>.<period>@…`) so the copy is recognisable. Archiving is a plain overwrite, safe
//! to repeat.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::ReportError;
use super::archive::{ArchiveKeys, store as archive_store};
use super::build::{Report, ReportStore, build};
use super::periods::{Period, report_period};
use super::render::{Rendered, render};
use crate::config::{Audience, Config};
use crate::context::Ctx;
use crate::links;
use crate::mail::{Content, Envelope, build as build_mail};
use crate::model::{ReportKind, ReportRun, ReportRunStatus};
use crate::ports::{Archive, Mailer, ReportRuns, StoreError};
use crate::types::Locale;

/// How long a claim protects a run in progress: longer than any run takes (a Lambda stops at 15
/// minutes).
pub const LEASE: SignedDuration = SignedDuration::from_mins(20);

/// The audience a kind of report goes to.
pub fn audience(config: &Config, kind: ReportKind) -> &Audience {
    match kind {
        ReportKind::Daily => &config.audiences.daily,
        ReportKind::Weekly => &config.audiences.weekly,
        ReportKind::Quarterly => &config.audiences.quarterly,
    }
}

/// The language a kind of report is written in: its audience's, else the company's default.
pub fn locale(config: &Config, kind: ReportKind) -> Locale {
    config.audience_locale(audience(config, kind))
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// Built, archived and emailed to `recipients` addresses.
    Sent { recipients: usize },
    /// Built and archived; the audience is empty, so nothing was emailed.
    Archived,
    /// An earlier run already sent this period's report: nothing done.
    AlreadySent,
    /// Another run holds a fresh claim on this period: nothing done.
    InProgress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunResult {
    pub kind: ReportKind,
    pub period: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Archive keys, when this run built the report.
    pub archive: Option<ArchiveKeys>,
    /// Comments removed by retention after the daily digest (`None` on other runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments_removed: Option<usize>,
}

enum Claim {
    Got(ReportRun),
    Stop(Outcome),
}

async fn claim<S: ReportRuns>(
    store: &S,
    kind: ReportKind,
    period: &str,
    prefix: &str,
    now: Timestamp,
) -> Result<Claim, ReportError> {
    let next = |version: u64| ReportRun {
        kind,
        period: period.to_string(),
        status: ReportRunStatus::Claimed { at: now },
        archive_prefix: Some(prefix.to_string()),
        version,
    };
    // Almost every run is its period's first: claim outright (an insert only where nothing is),
    // and read what is there only when that loses. One call fewer than reading first.
    let first = next(1);
    match store.put_report_run(&first).await {
        Ok(()) => return Ok(Claim::Got(first)),
        Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let existing = store.report_run(kind, period).await?;
    let run = match existing {
        Some(ReportRun {
            status: ReportRunStatus::Sent { .. },
            ..
        }) => return Ok(Claim::Stop(Outcome::AlreadySent)),
        Some(ReportRun {
            status: ReportRunStatus::Claimed { at },
            version,
            ..
        }) => {
            if now.duration_since(at) < LEASE {
                return Ok(Claim::Stop(Outcome::InProgress));
            }
            tracing::warn!(
                kind = kind.as_str(),
                period,
                "taking over a stale report claim"
            );
            next(version + 1)
        }
        Some(ReportRun {
            status: ReportRunStatus::Failed { .. },
            version,
            ..
        }) => {
            tracing::info!(
                kind = kind.as_str(),
                period,
                "running again a report run that failed"
            );
            next(version + 1)
        }
        None => next(1),
    };
    match store.put_report_run(&run).await {
        Ok(()) => Ok(Claim::Got(run)),
        // Another run claimed (or took over) first.
        Err(StoreError::Conflict(_)) => match store.report_run(kind, period).await? {
            Some(ReportRun {
                status: ReportRunStatus::Sent { .. },
                ..
            }) => Ok(Claim::Stop(Outcome::AlreadySent)),
            _ => Ok(Claim::Stop(Outcome::InProgress)),
        },
        Err(e) => Err(e.into()),
    }
}

/// The run a schedule makes: the report of `kind` for the period that ended before `at` (the
/// clock's time when `None`), claimed, built, archived and emailed once. The daily run then
/// applies comment retention ([`crate::retention`]); a failure there is logged and left to the
/// next day's run (the digest is out either way).
pub async fn run<S, M, A>(
    ctx: &Ctx<S, M, A>,
    kind: ReportKind,
    at: Option<Timestamp>,
) -> Result<RunResult, ReportError>
where
    S: ReportStore + ReportRuns,
    M: Mailer,
    A: Archive,
{
    let at = at.unwrap_or_else(|| ctx.now());
    let period = report_period(kind, at, &ctx.tz())?;
    let mut result = run_period(ctx, kind, period, at).await?;
    if kind == ReportKind::Daily && ctx.config.retention.comment_months > 0 {
        match crate::retention::remove_old_comments(ctx, at).await {
            Ok(n) => result.comments_removed = Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "comment retention failed; the next daily run retries")
            }
        }
    }
    Ok(result)
}

/// The same for an explicit period.
pub async fn run_period<S, M, A>(
    ctx: &Ctx<S, M, A>,
    kind: ReportKind,
    period: Period,
    at: Timestamp,
) -> Result<RunResult, ReportError>
where
    S: ReportStore + ReportRuns,
    M: Mailer,
    A: Archive,
{
    if super::periods::kind_of(&period) != Some(kind) {
        return Err(ReportError::Period(super::PeriodError::BadLabel(format!(
            "{} for a {} report",
            period.label(),
            kind.as_str()
        ))));
    }
    let label = period.label();
    let now = ctx.now();
    let prefix = super::build::archive_prefix(kind, &period);
    // The claim and the period's reads go out together: reading claims nothing, and a run that
    // finds the period taken has read it for nothing (a schedule's retry, rarely). The claim waits
    // for the signing keys (a Lambda function's may still be arriving): a run that could not link
    // its report claims nothing, and its retry is not held back by its claim.
    let locale = locale(&ctx.config, kind);
    let (claimed, report) = futures::join!(
        async {
            ctx.keys.get().await?;
            claim(&ctx.store, kind, &label, &prefix, now).await
        },
        build(&ctx.store, &ctx.config, kind, period, at, locale)
    );
    let mut claimed = match claimed? {
        Claim::Got(r) => r,
        Claim::Stop(outcome) => {
            tracing::info!(kind = kind.as_str(), period = %label, ?outcome, "report not run again");
            return Ok(RunResult {
                kind,
                period: label,
                outcome,
                archive: None,
                comments_removed: None,
            });
        }
    };
    let delivered = async { deliver_report(ctx, kind, &report?).await };
    let (outcome, keys) = match delivered.await {
        Ok(delivered) => delivered,
        Err(e) => {
            give_back(&ctx.store, claimed, ctx.now()).await;
            return Err(e);
        }
    };
    claimed.status = ReportRunStatus::Sent { at: ctx.now() };
    claimed.version += 1;
    if let Err(e) = ctx.store.put_report_run(&claimed).await {
        // The email is out; a lost `Sent` mark only matters if a retry comes after the lease.
        tracing::warn!(kind = kind.as_str(), period = %label, error = %e, "could not mark the report sent");
    }
    tracing::info!(kind = kind.as_str(), period = %label, ?outcome, "report run done");
    Ok(RunResult {
        kind,
        period: label,
        outcome,
        archive: Some(keys),
        comments_removed: None,
    })
}

/// A run that failed before its email went out marks its claim `Failed`, which the next run takes
/// over at once: the schedule's retry a minute later sends the report instead of finding the
/// claim held for the lease. Where even this write fails, the claim waits out its lease.
async fn give_back<S: ReportRuns>(store: &S, mut claimed: ReportRun, now: Timestamp) {
    claimed.status = ReportRunStatus::Failed { at: now };
    claimed.version += 1;
    if let Err(e) = store.put_report_run(&claimed).await {
        tracing::warn!(
            kind = claimed.kind.as_str(),
            period = %claimed.period,
            error = %e,
            "could not mark the report run failed; the next run waits out its claim's lease"
        );
    }
}

/// Builds the report of `period`, archives it and emails it to its audience, without claiming
/// the period (the scheduled run claims first; the demo and tests call this directly).
pub async fn deliver<S, M, A>(
    ctx: &Ctx<S, M, A>,
    kind: ReportKind,
    period: Period,
    at: Timestamp,
) -> Result<(Outcome, ArchiveKeys), ReportError>
where
    S: ReportStore,
    M: Mailer,
    A: Archive,
{
    let locale = locale(&ctx.config, kind);
    let report = build(&ctx.store, &ctx.config, kind, period, at, locale).await?;
    deliver_report(ctx, kind, &report).await
}

/// Archives a built report and emails it to its audience.
async fn deliver_report<S, M, A>(
    ctx: &Ctx<S, M, A>,
    kind: ReportKind,
    report: &Report,
) -> Result<(Outcome, ArchiveKeys), ReportError>
where
    M: Mailer,
    A: Archive,
{
    let config = &ctx.config;
    let now = ctx.now();
    let recipients = crate::Config::recipients(audience(config, kind));
    let signing = ctx.keys.get().await?;
    // The email links to the archived page, whose key is known before it is stored: it is
    // rendered while the archive is written, and sent once the page is there.
    let (keys, email) = futures::join!(
        archive_store(&ctx.archive, report, || Ok(
            render(report, config, None)?.html
        )),
        super::while_written(|| {
            if recipients.is_empty() {
                return Ok(None);
            }
            let url = links::report_url(config, &signing, &ArchiveKeys::of(report).html, now);
            let rendered = render(report, config, Some(url))?;
            email(config, report, &rendered, &recipients, now).map(Some)
        })
    );
    let keys = keys?;
    let Some(email) = email? else {
        return Ok((Outcome::Archived, keys));
    };
    ctx.mailer.send(&email).await?;
    Ok((
        Outcome::Sent {
            recipients: recipients.len(),
        },
        keys,
    ))
}

fn email(
    config: &Config,
    report: &Report,
    rendered: &Rendered,
    to: &[crate::types::Email],
    now: Timestamp,
) -> Result<crate::ports::OutgoingEmail, ReportError> {
    let tag = match report.kind {
        ReportKind::Daily => "digest",
        ReportKind::Weekly => "weekly",
        ReportKind::Quarterly => "quarterly",
    };
    let message_id = format!("report.{}.{}", report.kind.as_str(), report.label);
    let envelope = Envelope {
        from: &config.email.from,
        to,
        reply_to: config.email.reply_to.as_deref(),
        message_id: &message_id,
        date: now,
        tag,
        reference: report.label.clone(),
    };
    let content = Content {
        subject: rendered.subject.clone(),
        text: rendered.text.clone(),
        html: rendered.html.clone(),
        images: Vec::new(),
    };
    build_mail(&envelope, &content, None).map_err(|e| ReportError::MailBuild(e.to_string()))
}

/// A report rebuilt for reading: built and rendered (with the link to its archived copy if that
/// exists), never emailed, nothing written.
pub struct Preview {
    pub report: Report,
    pub rendered: Rendered,
    pub archive: ArchiveKeys,
    pub archived: bool,
}

pub async fn preview<S, M, A>(
    ctx: &Ctx<S, M, A>,
    kind: ReportKind,
    period: Period,
    at: Timestamp,
    locale: Option<Locale>,
) -> Result<Preview, ReportError>
where
    S: ReportStore,
    A: Archive,
{
    let config = &ctx.config;
    let locale = locale.unwrap_or_else(|| self::locale(config, kind));
    let report = build(&ctx.store, config, kind, period, at, locale).await?;
    let keys = ArchiveKeys::of(&report);
    let archived = ctx.archive.get(&keys.html).await?.is_some();
    let url = match archived {
        true => Some(links::report_url(
            config,
            &*ctx.keys.get().await?,
            &keys.html,
            ctx.now(),
        )),
        false => None,
    };
    let rendered = render(&report, config, url)?;
    Ok(Preview {
        report,
        rendered,
        archive: keys,
        archived,
    })
}
