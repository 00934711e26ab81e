//! The archive copy of a report: HTML (the email's HTML part), CSV (every figure, one per row) and
//! JSON (the whole built report), under `reports/<kind>/<period>/report.{html,csv,json}`
//! (e.g. `reports/weekly/2026-W09/report.html`), through the `Archive` port: S3 in AWS,
//! `./pulso-data/archive/` locally. Writing the same period again replaces its files, so a re-run
//! is harmless.
//!
//! The CSV is "long": `section,item,field,value`, so every report kind shares one layout and a
//! spreadsheet pivot reads it. Free text (comments, names, accounts, segment values, themes) goes
//! through `contacts::csv_safe`, which neutralises cells a spreadsheet would run as a formula.

use futures::TryFutureExt;
use serde::Serialize;

use super::ReportError;
use super::build::{PeriodFigures, Report, ReportBody, shown_interval};
use super::themes::Themes;
use crate::contacts::csv_safe;
use crate::ports::Archive;

/// The keys of a report's three files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveKeys {
    pub html: String,
    pub csv: String,
    pub json: String,
}

impl ArchiveKeys {
    pub fn of(report: &Report) -> ArchiveKeys {
        let prefix = report.archive_prefix();
        ArchiveKeys {
            html: format!("{prefix}report.html"),
            csv: format!("{prefix}report.csv"),
            json: format!("{prefix}report.json"),
        }
    }
}

/// Stores the report's JSON, CSV and HTML together; returns their keys once all three are there.
/// The JSON's request goes out first and alone: on one thread, each put's preparation (signing,
/// checksums) would otherwise hold back the others' writes. The CSV is written and put, and
/// `html()` rendered and put, while the JSON's request is on its way.
///
/// Nothing links to the archive before this returns: the email, whose link names the page, is
/// sent after. A run that fails here may leave some of the three behind, unlinked; its retry
/// writes them all again.
pub async fn store<A: Archive>(
    archive: &A,
    report: &Report,
    html: impl FnOnce() -> Result<String, ReportError>,
) -> Result<ArchiveKeys, ReportError> {
    let keys = ArchiveKeys::of(report);
    let json = to_json(report)?;
    futures::try_join!(
        archive
            .put(&keys.json, json.as_bytes(), "application/json")
            .err_into::<ReportError>(),
        async {
            let csv = super::while_written(|| to_csv(report)).await?;
            archive
                .put(&keys.csv, csv.as_bytes(), "text/csv; charset=utf-8")
                .await
                .map_err(ReportError::from)
        },
        async {
            let html = super::while_written(html).await?;
            archive
                .put(&keys.html, html.as_bytes(), "text/html; charset=utf-8")
                .await
                .map_err(ReportError::from)
        },
    )?;
    Ok(keys)
}

pub fn to_json(report: &Report) -> Result<String, ReportError> {
    serde_json::to_string_pretty(report).map_err(|e| ReportError::Render(e.to_string()))
}

struct Rows {
    w: csv::Writer<Vec<u8>>,
    error: Option<csv::Error>,
}

impl Rows {
    fn row(&mut self, section: &str, item: &str, field: &str, value: &str) {
        if self.error.is_none()
            && let Err(e) = self.w.write_record([section, item, field, value])
        {
            self.error = Some(e);
        }
    }

    /// A free-text value: neutralised for spreadsheets.
    fn text(&mut self, section: &str, item: &str, field: &str, value: &str) {
        let item = csv_safe(item).into_owned();
        let value = csv_safe(value).into_owned();
        self.row(section, &item, field, &value);
    }

    fn opt<T: ToString>(&mut self, section: &str, item: &str, field: &str, v: Option<T>) {
        let s = v.map(|x| x.to_string()).unwrap_or_default();
        self.row(section, item, field, &s);
    }

    fn figures(&mut self, section: &str, f: &PeriodFigures) {
        let item = f.label.as_str();
        self.row(section, item, "first", &f.first.to_string());
        self.row(section, item, "last", &f.last.to_string());
        self.row(section, item, "n", &f.stats.n.to_string());
        self.row(section, item, "promoters", &f.stats.promoters.to_string());
        self.row(section, item, "passives", &f.stats.passives.to_string());
        self.row(section, item, "detractors", &f.stats.detractors.to_string());
        self.opt(section, item, "nps", f.stats.score);
        self.opt(
            section,
            item,
            "nps_exact",
            f.stats.exact.map(|x| format!("{x:.3}")),
        );
        self.opt(
            section,
            item,
            "margin95",
            f.stats.margin.map(|x| format!("{x:.3}")),
        );
        if let Some(i) = shown_interval(&f.stats) {
            self.row(section, item, "interval_low", &format!("{:.3}", i.low));
            self.row(section, item, "interval_high", &format!("{:.3}", i.high));
            self.row(
                section,
                item,
                "interval_method",
                if i.adjusted { "adjusted_wald" } else { "wald" },
            );
        }
        self.row(section, item, "sent", &f.counts.sent.to_string());
        self.row(section, item, "comments", &f.counts.comments.to_string());
        self.row(section, item, "flagged", &f.counts.flagged.to_string());
        self.opt(
            section,
            item,
            "response_rate",
            f.counts.response_rate.map(|x| format!("{x:.4}")),
        );
        self.opt(
            section,
            item,
            "comment_rate",
            f.counts.comment_rate.map(|x| format!("{x:.4}")),
        );
    }

    fn change(&mut self, section: &str, item: &str, c: &crate::nps::Change) {
        let dir = serde_json::to_value(c.direction)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        self.row(section, item, "direction", &dir);
        self.opt(section, item, "delta", c.delta.map(|x| format!("{x:.3}")));
        self.opt(
            section,
            item,
            "threshold",
            c.threshold.map(|x| format!("{x:.3}")),
        );
    }

    fn themes(&mut self, th: &Themes) {
        self.row(
            "themes",
            "",
            "detractor_comments",
            &th.detractor_comments.to_string(),
        );
        self.row(
            "themes",
            "",
            "promoter_comments",
            &th.promoter_comments.to_string(),
        );
        for (side, list) in [("detractor", &th.detractor), ("promoter", &th.promoter)] {
            for t in list.iter() {
                let item = format!("{side}:{}", t.term);
                self.text("themes", &item, "z", &format!("{:.3}", t.z));
                self.text(
                    "themes",
                    &item,
                    "detractor_comments",
                    &t.detractor_comments.to_string(),
                );
                self.text(
                    "themes",
                    &item,
                    "promoter_comments",
                    &t.promoter_comments.to_string(),
                );
            }
        }
    }
}

/// The report's figures as `section,item,field,value` rows.
pub fn to_csv(report: &Report) -> Result<String, ReportError> {
    let mut r = Rows {
        w: csv::Writer::from_writer(Vec::new()),
        error: None,
    };
    r.row("section", "item", "field", "value");
    r.row("report", "", "kind", report.kind.as_str());
    r.row("report", "", "period", &report.label);
    r.row("report", "", "first", &report.first.to_string());
    r.row("report", "", "last", &report.last.to_string());
    r.row("report", "", "time_zone", &report.time_zone);
    r.row("report", "", "locale", report.locale.code());
    r.row(
        "report",
        "",
        "generated_at",
        &report.generated_at.to_string(),
    );
    match &report.body {
        ReportBody::Daily(d) => {
            r.figures("day", &d.day);
            r.figures("day_before", &d.day_before);
            r.change("change", "vs_day_before", &d.vs_day_before);
            for (i, a) in d.answers.iter().enumerate() {
                let item = (i + 1).to_string();
                r.row("answer", &item, "score", &a.score.to_string());
                r.row("answer", &item, "category", a.category.as_str());
                r.row("answer", &item, "answered_at", &a.answered_at.to_string());
                r.text(
                    "answer",
                    &item,
                    "contact",
                    a.contact.as_deref().unwrap_or(""),
                );
                r.text("answer", &item, "email", a.email.as_deref().unwrap_or(""));
                r.text(
                    "answer",
                    &item,
                    "account",
                    a.account.as_deref().unwrap_or(""),
                );
                r.text(
                    "answer",
                    &item,
                    "comment",
                    a.comment.as_deref().unwrap_or(""),
                );
            }
            r.row(
                "follow_ups",
                "",
                "open",
                &d.open_follow_ups_total.to_string(),
            );
            for f in &d.open_follow_ups {
                r.row("follow_up", &f.send_id, "score", &f.score.to_string());
                r.row(
                    "follow_up",
                    &f.send_id,
                    "opened_day",
                    &f.opened_day.to_string(),
                );
                r.row("follow_up", &f.send_id, "age_days", &f.age_days.to_string());
                r.text(
                    "follow_up",
                    &f.send_id,
                    "account",
                    f.account.as_deref().unwrap_or(""),
                );
            }
        }
        ReportBody::Weekly(w) => {
            r.figures("week", &w.week);
            r.figures("previous_week", &w.previous);
            r.figures("previous_four_weeks", &w.previous_four);
            r.change("change", "vs_previous_week", &w.vs_previous);
            r.change("change", "vs_previous_four_weeks", &w.vs_previous_four);
            for p in &w.trend {
                r.figures("trend", p);
            }
            for (s, c) in w.week.counts.histogram.iter().enumerate() {
                r.row("distribution", &s.to_string(), "count", &c.to_string());
            }
            r.themes(&w.themes);
            for c in w
                .comments
                .detractors
                .iter()
                .chain(&w.comments.passives)
                .chain(&w.comments.promoters)
            {
                let item = format!("{}:{}", c.day, c.score);
                r.text("comment", &item, c.category.as_str(), &c.text);
            }
        }
        ReportBody::Quarterly(q) => {
            r.figures("quarter", &q.quarter);
            r.figures("previous_quarter", &q.previous);
            r.figures("year_ago", &q.year_ago);
            r.change("change", "vs_previous_quarter", &q.vs_previous);
            r.change("change", "vs_year_ago", &q.vs_year_ago);
            for m in &q.months {
                r.figures("month", m);
            }
            for (s, c) in q.quarter.counts.histogram.iter().enumerate() {
                r.row("distribution", &s.to_string(), "count", &c.to_string());
            }
            for seg in &q.segments {
                for row in &seg.rows {
                    let item = format!("{}={}", seg.name, row.value);
                    let item = csv_safe(&item).into_owned();
                    r.figures(
                        &format!("segment:{}", seg.name),
                        &PeriodFigures {
                            label: item.clone(),
                            ..row.figures.clone()
                        },
                    );
                    r.change("segment_change", &item, &row.vs_previous);
                }
            }
            r.row("accounts", "", "total", &q.accounts.total.to_string());
            r.row("accounts", "", "flagged", &q.accounts.flagged.to_string());
            for a in &q.accounts.rows {
                let item = csv_safe(&a.name).into_owned();
                r.row("account", &item, "n", &a.stats.n.to_string());
                r.row(
                    "account",
                    &item,
                    "promoters",
                    &a.stats.promoters.to_string(),
                );
                r.row(
                    "account",
                    &item,
                    "detractors",
                    &a.stats.detractors.to_string(),
                );
                r.opt("account", &item, "nps", a.stats.score);
                r.row("account", &item, "contacts", &a.contacts.to_string());
                r.row("account", &item, "flagged", &a.flagged.to_string());
            }
            r.themes(&q.themes);
            let l = &q.loop_closing;
            r.row("loop", "", "opened", &l.opened.to_string());
            r.row("loop", "", "sample", &l.sample.to_string());
            r.row("loop", "", "sample_complete", &l.complete.to_string());
            r.row("loop", "", "done", &l.done.to_string());
            r.row("loop", "", "open", &l.open.to_string());
            r.opt(
                "loop",
                "",
                "median_hours_to_close",
                l.median_hours_to_close.map(|h| format!("{h:.2}")),
            );
            r.row(
                "loop",
                "",
                "done_within_two_days",
                &l.done_within_two_days.to_string(),
            );
            r.row("benchmark", "", "average", &q.benchmark.average.to_string());
            r.row("benchmark", "", "leaders", &q.benchmark.leaders.to_string());
            r.row("benchmark", "", "low", &q.benchmark.low.to_string());
            let pos = serde_json::to_value(q.benchmark.position)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            r.row("benchmark", "", "position", &pos);
        }
    }
    if let Some(e) = r.error {
        return Err(ReportError::Render(e.to_string()));
    }
    let bytes =
        r.w.into_inner()
            .map_err(|e| ReportError::Render(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::Render(e.to_string()))
}
