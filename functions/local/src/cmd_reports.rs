//! `pulso report`, `pulso check` and `pulso run reports`:
//! - `pulso report weekly --at 2026-03-02 [--period 2026-W09] [--locale es] [--out DIR]` rebuilds
//!   any past report and previews it without emailing: writes its HTML (and text) to DIR (default
//!   `<data dir>/previews/`), prints where, and prints the text part.
//! - `pulso check [--from D] [--to D]` recomputes the rollups from the answers and prints every
//!   difference; it exits non-zero when there is one.
//! - `pulso run reports daily|weekly|quarterly [--at T]` runs the reports function's handler once
//!   (claim, build, archive, email to the outbox), as the schedule does in AWS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use jiff::civil::Date;
use pulso_core::Locale;
use pulso_core::model::ReportKind;
use pulso_core::ports::{Clock, FixedClock, SystemClock};
use pulso_core::reports::check::{CheckReport, check as check_rollups};
use pulso_core::reports::periods::{Period, add_days, kind_of, parse_run_time, report_period};
use pulso_core::reports::run::{Outcome, preview as build_preview};

use crate::Cli;
use crate::app::{self, LocalCtx};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Daily,
    Weekly,
    Quarterly,
}

impl From<Kind> for ReportKind {
    fn from(k: Kind) -> ReportKind {
        match k {
            Kind::Daily => ReportKind::Daily,
            Kind::Weekly => ReportKind::Weekly,
            Kind::Quarterly => ReportKind::Quarterly,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Which report.
    #[arg(value_enum)]
    pub kind: Kind,
    /// When the report would have run: it covers the period before (a date means that day at
    /// reports.daily_hour, company time; or 2026-03-02T08:00, or an RFC 3339 instant). Default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// The period itself instead of --at: 2026-03-01 (daily), 2026-W09 (weekly), 2026-Q1 (quarterly).
    #[arg(long, conflicts_with = "at")]
    pub period: Option<String>,
    /// Language (en, es); default: the report's audience's.
    #[arg(long)]
    pub locale: Option<String>,
    /// Where to write the preview (default: <data dir>/previews).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// First day to check (company calendar). Default: 29 days before --to.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day to check. Default: today.
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RunReportsArgs {
    /// Which report.
    #[arg(value_enum)]
    pub kind: Kind,
    /// The schedule's time (as for `pulso report --at`); default: now.
    #[arg(long)]
    pub at: Option<String>,
}

/// The period a `--at`/`--period` pair names for `kind`, and the moment the report is seen from.
pub fn period_of(
    ctx: &LocalCtx,
    kind: ReportKind,
    at: Option<&str>,
    period: Option<&str>,
) -> anyhow::Result<(Period, jiff::Timestamp)> {
    let tz = ctx.tz();
    let hour = ctx.config.reports.daily_hour;
    if let Some(label) = period {
        let p = Period::parse(label)?;
        if kind_of(&p) != Some(kind) {
            anyhow::bail!(
                "--period {label} is not a {} period (use 2026-03-01, 2026-W09 or 2026-Q1)",
                kind.as_str()
            );
        }
        let at = pulso_core::reports::periods::scheduled_at(&p, hour, &tz);
        return Ok((p, at));
    }
    let at = match at {
        Some(t) => parse_run_time(t, hour, &tz)?,
        None => ctx.now(),
    };
    Ok((report_period(kind, at, &tz)?, at))
}

/// Builds and writes a preview; returns the HTML file.
pub async fn write_preview(
    ctx: &LocalCtx,
    args: &ReportArgs,
    out_dir: &Path,
) -> anyhow::Result<(PathBuf, String)> {
    let kind: ReportKind = args.kind.into();
    let (period, at) = period_of(ctx, kind, args.at.as_deref(), args.period.as_deref())?;
    let locale = args
        .locale
        .as_deref()
        .map(Locale::parse)
        .transpose()
        .context("--locale")?;
    let p = build_preview(ctx, kind, period, at, locale).await?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let base = format!(
        "{}-{}.{}",
        kind.as_str(),
        p.report.label,
        p.report.locale.code()
    );
    let html = out_dir.join(format!("{base}.html"));
    std::fs::write(&html, &p.rendered.html)
        .with_context(|| format!("cannot write {}", html.display()))?;
    let txt = out_dir.join(format!("{base}.txt"));
    std::fs::write(&txt, &p.rendered.text)
        .with_context(|| format!("cannot write {}", txt.display()))?;
    let mut text = format!("Subject: {}\n\n{}", p.rendered.subject, p.rendered.text);
    if p.archived {
        text.push_str(&format!(
            "\n(archived copy: {})\n",
            ctx.archive.path_of(&p.archive.html)?.display()
        ));
    }
    Ok((html, text))
}

pub async fn preview(cli: &Cli, args: &ReportArgs) -> anyhow::Result<()> {
    let ctx = app::open(cli)?;
    let out = match &args.out {
        Some(d) => d.clone(),
        None => app::data_dir(cli, &ctx.config).join("previews"),
    };
    let (html, text) = write_preview(&ctx, args, &out).await?;
    println!("{text}");
    println!(
        "Preview written to {} (open it in a browser).",
        html.display()
    );
    Ok(())
}

fn day_arg(name: &str, raw: Option<&str>) -> anyhow::Result<Option<Date>> {
    raw.map(|s| {
        s.trim()
            .parse::<Date>()
            .with_context(|| format!("--{name} {s:?}: expected a date like 2026-03-01"))
    })
    .transpose()
}

/// Runs the check over the range the arguments name (default: the last 30 days).
pub async fn run_check(ctx: &LocalCtx, args: &CheckArgs) -> anyhow::Result<CheckReport> {
    let to = day_arg("to", args.to.as_deref())?.unwrap_or_else(|| ctx.today());
    let from = day_arg("from", args.from.as_deref())?.unwrap_or_else(|| add_days(to, -29));
    if from > to {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    Ok(check_rollups(&ctx.store, from, to).await?)
}

pub async fn check(cli: &Cli, args: &CheckArgs) -> anyhow::Result<()> {
    let ctx = app::open(cli)?;
    let report = run_check(&ctx, args).await?;
    for d in &report.differences {
        println!("{d}");
    }
    println!(
        "Checked {} days: {} answers, {} rollups, {} differences.",
        report.days,
        report.answers,
        report.rollups,
        report.differences.len()
    );
    if !report.differences.is_empty() {
        anyhow::bail!(
            "the rollups differ from the answers in {} places",
            report.differences.len()
        );
    }
    Ok(())
}

pub async fn run_scheduled(cli: &Cli, args: &RunReportsArgs) -> anyhow::Result<()> {
    let config = app::load_config(cli)?;
    let tz = config.company.time_zone.tz();
    let clock: Arc<dyn Clock> = match &args.at {
        Some(t) => Arc::new(FixedClock::at(parse_run_time(
            t,
            config.reports.daily_hour,
            &tz,
        )?)),
        None => Arc::new(SystemClock),
    };
    let ctx = app::open_at(cli, clock)?;
    let kind: ReportKind = args.kind.into();
    let event = serde_json::json!({
        "report": kind.as_str(),
        "at": ctx.now().to_string(),
    });
    let result = pulso_reports::handle(&ctx, &event).await?;
    println!("{}", describe(&ctx, &result)?);
    Ok(())
}

/// What a run did, for people.
pub fn describe(ctx: &LocalCtx, r: &pulso_reports::RunResult) -> anyhow::Result<String> {
    let what = format!("{} report {}", r.kind.as_str(), r.period);
    let mut out = match &r.outcome {
        Outcome::Sent { recipients } => format!(
            "{what}: emailed to {recipients} recipient(s), in {}",
            ctx.mailer.dir().display()
        ),
        Outcome::Archived => format!("{what}: archived; its audience is empty, so no email"),
        Outcome::AlreadySent => format!("{what}: already sent; nothing done"),
        Outcome::InProgress => format!("{what}: another run is at work on it; nothing done"),
    };
    if let Some(keys) = &r.archive {
        out.push_str(&format!(
            "\n  archived: {}",
            ctx.archive.path_of(&keys.html)?.display()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::Config;
    use pulso_core::ports::Archive;

    fn ctx(dir: &Path) -> LocalCtx {
        let config = Config::load(
            "[company]\ntime_zone = \"Europe/Madrid\"\n[audiences.weekly]\nrecipients = [\"a@acme.example\"]\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        let clock = Arc::new(FixedClock::at("2026-03-04T10:00:00Z".parse().unwrap()));
        app::open_with(config, dir, clock).unwrap()
    }

    #[tokio::test]
    async fn a_preview_writes_the_html_and_emails_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        let args = ReportArgs {
            kind: Kind::Weekly,
            at: Some("2026-03-02".into()),
            period: None,
            locale: Some("es".into()),
            out: None,
        };
        let out = dir.path().join("previews");
        let (html, text) = write_preview(&ctx, &args, &out).await.unwrap();
        assert_eq!(html, out.join("weekly-2026-W09.es.html"));
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.contains("Informe semanal de NPS"));
        assert!(
            text.contains("Subject: NPS semanal, semana 9 de 2026: sin respuestas"),
            "{text}"
        );
        assert!(
            ctx.mailer.list().unwrap().is_empty(),
            "a preview never emails"
        );
        assert!(
            ctx.archive.list("").await.unwrap().is_empty(),
            "nor archives"
        );
    }

    #[tokio::test]
    async fn bad_arguments_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(dir.path());
        let e = period_of(&ctx, ReportKind::Weekly, None, Some("2026-Q1")).unwrap_err();
        assert!(e.to_string().contains("not a weekly period"), "{e}");
        let e = period_of(&ctx, ReportKind::Daily, Some("last tuesday"), None).unwrap_err();
        assert!(e.to_string().contains("not a time"), "{e}");
        let e = run_check(
            &ctx,
            &CheckArgs {
                from: Some("2026-03-05".into()),
                to: Some("2026-03-01".into()),
            },
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("after"), "{e}");
        let e = run_check(
            &ctx,
            &CheckArgs {
                from: Some("March".into()),
                to: None,
            },
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("--from"), "{e}");
        // An empty store has nothing to differ.
        let ok = run_check(
            &ctx,
            &CheckArgs {
                from: None,
                to: None,
            },
        )
        .await
        .unwrap();
        assert_eq!((ok.days, ok.differences.len()), (30, 0));
    }
}
