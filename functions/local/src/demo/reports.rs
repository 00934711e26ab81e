//! The demo's last step: the three reports — daily digest, weekly, quarterly — built from the
//! simulated answers into the outbox and the archive, and where to open them.
//!
//! Each report covers the latest period of its kind that holds answers (found from the rollups of
//! the last 400 days), seen from the morning after that period. The demo delivers without claiming
//! the period, so running it again sends again and the real schedule still runs later.

use std::path::PathBuf;

use jiff::civil::Date;
use pulso_core::model::{Dimension, ReportKind};
use pulso_core::ports::Rollups;
use pulso_core::reports::periods::{Interval, add_days, scheduled_at};
use pulso_core::reports::run::{Outcome, deliver};
use pulso_core::reports::{Period, RollupTable};

use crate::app::LocalCtx;

/// One report the demo built.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub kind: ReportKind,
    pub period: String,
    /// The archived HTML, to open in a browser.
    pub html: PathBuf,
    /// Emailed to this many recipients (0: the audience is empty).
    pub recipients: usize,
}

#[derive(Debug, Clone)]
pub struct DemoReports {
    pub reports: Vec<DemoReport>,
    pub outbox: PathBuf,
}

impl std::fmt::Display for DemoReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.reports.is_empty() {
            return writeln!(f, "Reports: no answers yet, so nothing to report.");
        }
        writeln!(f, "Reports (emails in {}):", self.outbox.display())?;
        for r in &self.reports {
            let sent = if r.recipients > 0 {
                format!("emailed to {}", r.recipients)
            } else {
                "archived only (no audience)".to_string()
            };
            writeln!(
                f,
                "  {:<9} {:<10} {sent}: {}",
                r.kind.as_str(),
                r.period,
                r.html.display()
            )?;
        }
        Ok(())
    }
}

/// The latest day of the last 400 with a counted answer.
async fn latest_answer_day(ctx: &LocalCtx) -> anyhow::Result<Option<Date>> {
    let today = ctx.today();
    let from = add_days(today, -400);
    let table = RollupTable::new(ctx.store.rollups(from, add_days(today, 1)).await?);
    let mut day = add_days(today, 1);
    while day >= from {
        if table
            .sum(&Dimension::All, day, day)
            .scores
            .iter()
            .any(|s| *s > 0)
        {
            return Ok(Some(day));
        }
        day = add_days(day, -1);
    }
    Ok(None)
}

/// The week to show: the one holding `day`, unless it is still running and the week before has
/// answers too — a finished week reads better than a few days of one.
async fn demo_week(ctx: &LocalCtx, day: Date) -> anyhow::Result<Period> {
    let week = Period::containing(Interval::Week, day);
    if week.last() < ctx.today() {
        return Ok(week);
    }
    let before = Period::containing(Interval::Week, add_days(week.first(), -1));
    let table = RollupTable::new(ctx.store.rollups(before.first(), before.last()).await?);
    let answered = table
        .sum(&Dimension::All, before.first(), before.last())
        .scores
        .iter()
        .any(|s| *s > 0);
    Ok(if answered { before } else { week })
}

/// Builds the daily, weekly and quarterly reports into the outbox and the archive, prints where
/// to open them, and returns the same.
pub async fn run(ctx: &LocalCtx) -> anyhow::Result<DemoReports> {
    let mut out = DemoReports {
        reports: Vec::new(),
        outbox: ctx.mailer.dir().to_path_buf(),
    };
    let Some(day) = latest_answer_day(ctx).await? else {
        return Ok(out);
    };
    let tz = ctx.tz();
    let hour = ctx.config.reports.daily_hour;
    for (kind, period) in [
        (ReportKind::Daily, Period::Day { date: day }),
        (ReportKind::Weekly, demo_week(ctx, day).await?),
        (ReportKind::Quarterly, Period::quarter_of(day)),
    ] {
        let at = scheduled_at(&period, hour, &tz);
        let (outcome, keys) = deliver(ctx, kind, period, at).await?;
        out.reports.push(DemoReport {
            kind,
            period: period.label(),
            html: ctx.archive.path_of(&keys.html)?,
            recipients: match outcome {
                Outcome::Sent { recipients } => recipients,
                _ => 0,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pulso_core::model::{AnswerSource, Response, SurveyKind, rollup_deltas};
    use pulso_core::ports::{FixedClock, Responses};
    use pulso_core::{Config, Locale, Score, SendId};

    use super::*;

    #[tokio::test]
    async fn the_demo_builds_all_three_reports_into_the_outbox_and_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(
            "[company]\ntime_zone = \"Europe/Madrid\"\n\
             [audiences.daily]\nrecipients = [\"cs@acme.example\"]\nlocale = \"es\"\n\
             [audiences.weekly]\nrecipients = [\"team@acme.example\"]\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        let now: jiff::Timestamp = "2026-03-04T10:00:00Z".parse().unwrap();
        let ctx = crate::app::open_with(config, dir.path(), Arc::new(FixedClock::at(now))).unwrap();
        assert!(
            run(&ctx).await.unwrap().reports.is_empty(),
            "no answers, no reports"
        );
        for (i, score) in [10u8, 9, 3, 7, 0].into_iter().enumerate() {
            let r = Response {
                send_id: SendId::for_key(&format!("demo:{i}")),
                contact_id: None,
                score: Score::new(score).unwrap(),
                comment: Some("Soporte lento".into()),
                locale: Locale::Es,
                kind: SurveyKind::Relational,
                touchpoint: None,
                account: None,
                attributes: Default::default(),
                day: jiff::civil::date(2026, 3, 3),
                answered_at: now,
                updated_at: now,
                source: AnswerSource::Human,
                flag_reason: None,
                commits: vec![],
                version: 1,
            };
            ctx.store
                .save_response(&r, &rollup_deltas(None, &r))
                .await
                .unwrap();
        }
        let out = run(&ctx).await.unwrap();
        let periods: Vec<&str> = out.reports.iter().map(|r| r.period.as_str()).collect();
        assert_eq!(periods, ["2026-03-03", "2026-W10", "2026-Q1"]);
        assert!(out.reports.iter().all(|r| r.html.is_file()));
        let recipients: Vec<usize> = out.reports.iter().map(|r| r.recipients).collect();
        assert_eq!(recipients, [1, 1, 0], "the quarterly audience is empty");
        assert_eq!(ctx.mailer.list().unwrap().len(), 2);
        let shown = out.to_string();
        assert!(
            shown.contains("2026-W10") && shown.contains("archived only"),
            "{shown}"
        );
    }
}
