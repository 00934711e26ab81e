//! Turning a built report into what people read: the HTML email (tables, inline CSS, no scripts,
//! charts as table bars), its plain-text part and subject, in the audience's language — every word
//! from the `reports` catalog — and the archive's CSV and JSON.
//!
//! Wording rules (see docs/reports.md): an NPS is always shown with n and its 95% interval (Wald
//! ±margin, or the adjusted-Wald interval when n < 30 or all answers fall in one category); a
//! change is called up or down only when `nps::compare` finds it larger than the noise, otherwise
//! "no significant change" with the numbers; with no answers there is no NPS ("—"), and a
//! comparison with an empty period is "not comparable".

use askama::Template;
use jiff::Timestamp;
use jiff::civil::Date;

use super::ReportError;
use super::build::{
    AnswerLine, BenchmarkPosition, CommentLine, Daily, PeriodFigures, Quarterly, Report,
    ReportBody, Weekly, shown_interval,
};
use super::metrics::CountSummary;
use super::periods::Period;
use super::themes::{MIN_GROUP_COMMENTS, Themes};
use crate::config::Config;
use crate::i18n;
use crate::nps::{Category, Change, Direction, NpsStats};
use crate::types::Locale;

/// What the email shows.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Colours: promoter, passive, detractor, and the tones of a change.
const GREEN: &str = "#2b8a3e";
const AMBER: &str = "#e8a100";
const RED: &str = "#c92a2a";
const GREY: &str = "#52606d";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Neutral,
    Warn,
}

impl Tone {
    pub fn color(&self) -> &'static str {
        match self {
            Tone::Good => GREEN,
            Tone::Bad => RED,
            Tone::Neutral => GREY,
            Tone::Warn => "#8a5a00",
        }
    }

    pub fn background(&self) -> &'static str {
        match self {
            Tone::Good => "#ebfbee",
            Tone::Bad => "#fff5f5",
            Tone::Neutral => "#f5f7fa",
            Tone::Warn => "#fff9db",
        }
    }
}

pub struct Figure {
    pub label: String,
    pub value: String,
    pub detail: String,
    pub change: String,
    pub tone: Tone,
}

pub struct Note {
    pub text: String,
    pub tone: Tone,
}

pub struct BarRow {
    pub label: String,
    /// Width of the bar, 0–100 (% of the row).
    pub pct: u32,
    pub rest: u32,
    pub color: &'static str,
    pub value: String,
    /// The bar in plain text.
    pub text_bar: String,
}

pub struct TrendRow {
    pub label: String,
    /// Widths, in % of each half: the negative bar grows left from the centre, the positive right.
    pub neg: u32,
    pub neg_rest: u32,
    pub pos: u32,
    pub pos_rest: u32,
    pub value: String,
    pub detail: String,
    pub text_bar: String,
}

pub struct TableRow {
    pub cells: Vec<String>,
    pub flagged: bool,
}

pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<TableRow>,
}

pub struct Item {
    pub badge: String,
    pub color: &'static str,
    pub title: String,
    pub meta: String,
    pub text: Option<String>,
}

pub struct Items {
    pub title: Option<String>,
    pub items: Vec<Item>,
    pub empty: Option<String>,
    pub more: Option<String>,
}

pub struct ThemeColumn {
    pub title: String,
    pub color: &'static str,
    pub items: Vec<(String, String)>,
    pub empty: Option<String>,
}

/// The building blocks every report is laid out from; the templates draw each kind.
pub enum Block {
    Heading(String),
    Note(Note),
    Figures(Vec<Figure>),
    Bars(Vec<BarRow>),
    Trend(Vec<TrendRow>),
    Table(Table),
    Items(Items),
    Themes(Vec<ThemeColumn>),
}

pub struct View {
    pub lang: &'static str,
    pub company: String,
    pub title: String,
    pub subtitle: String,
    pub primary: String,
    pub on_primary: String,
    pub blocks: Vec<Block>,
    pub archive_url: Option<String>,
    pub archive_label: String,
    pub footer: String,
    pub generated: String,
}

#[derive(Template)]
#[template(path = "reports/report.html")]
struct HtmlPart<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "reports/report.txt")]
struct TextPart<'a> {
    v: &'a View,
}

/// Words and number formats of one locale.
#[derive(Clone, Copy)]
pub struct Words(pub Locale);

impl Words {
    pub fn t(&self, key: &str) -> String {
        i18n::t(self.0, key).to_string()
    }

    pub fn tf(&self, key: &str, values: &[(&str, &str)]) -> String {
        i18n::tf(self.0, key, values)
    }

    /// `x` with `decimals` decimals and the locale's decimal separator.
    pub fn dec(&self, x: f64, decimals: usize) -> String {
        let s = format!("{x:.decimals$}");
        let s = if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
            s[1..].to_string() // "-0.0" reads as "0.0"
        } else {
            s
        };
        s.replace('.', i18n::t(self.0, "report.num.decimal"))
    }

    /// A ratio (0–1) as a percentage with one decimal; "—" when unknown.
    pub fn pct(&self, ratio: Option<f64>) -> String {
        match ratio {
            Some(r) => self.tf("report.num.percent", &[("value", &self.dec(100.0 * r, 1))]),
            None => "—".into(),
        }
    }

    /// An NPS: "+34", "-12", "0"; "—" with no answers.
    pub fn nps(&self, score: Option<i32>) -> String {
        match score {
            Some(s) if s > 0 => format!("+{s}"),
            Some(s) => s.to_string(),
            None => "—".into(),
        }
    }

    /// A signed number of points with one decimal: "+4.2", "-3.0".
    pub fn signed(&self, x: f64) -> String {
        let s = self.dec(x, 1);
        if x > 0.0 && !s.starts_with('+') && s != self.dec(0.0, 1) {
            format!("+{s}")
        } else {
            s
        }
    }

    pub fn signed_int(&self, x: i64) -> String {
        if x > 0 {
            format!("+{x}")
        } else {
            x.to_string()
        }
    }

    pub fn date_long(&self, d: Date) -> String {
        self.tf(
            "report.date.long",
            &[
                (
                    "weekday",
                    &self.t(&format!(
                        "report.weekday.{}",
                        d.weekday().to_monday_one_offset()
                    )),
                ),
                ("day", &d.day().to_string()),
                ("month", &self.t(&format!("report.month.{}", d.month()))),
                ("year", &d.year().to_string()),
            ],
        )
    }

    pub fn date_short(&self, d: Date) -> String {
        self.tf(
            "report.date.short",
            &[
                ("day", &d.day().to_string()),
                (
                    "month",
                    &self.t(&format!("report.month_short.{}", d.month())),
                ),
                ("year", &d.year().to_string()),
            ],
        )
    }

    pub fn day_month(&self, d: Date) -> String {
        self.tf(
            "report.date.day_month",
            &[
                ("day", &d.day().to_string()),
                (
                    "month",
                    &self.t(&format!("report.month_short.{}", d.month())),
                ),
            ],
        )
    }

    pub fn month_label(&self, d: Date) -> String {
        self.tf(
            "report.date.month_year",
            &[
                (
                    "month",
                    &self.t(&format!("report.month_short.{}", d.month())),
                ),
                ("year", &d.year().to_string()),
            ],
        )
    }

    pub fn category(&self, c: Category) -> String {
        self.t(match c {
            Category::Promoter => "nps.promoter",
            Category::Passive => "nps.passive",
            Category::Detractor => "nps.detractor",
        })
    }

    /// "n = 212 · ±10.8" or "n = 12 · 95% interval −18 to 52"; "no answers".
    pub fn n_and_interval(&self, s: &NpsStats) -> String {
        let n = s.n.to_string();
        match (shown_interval(s), s.margin) {
            (Some(i), _) if i.adjusted => self.tf(
                "report.fig.n_interval",
                &[
                    ("n", &n),
                    ("low", &self.dec(i.low, 0)),
                    ("high", &self.dec(i.high, 0)),
                ],
            ),
            (Some(_), Some(m)) => self.tf(
                "report.fig.n_margin",
                &[("n", &n), ("margin", &self.dec(m, 1))],
            ),
            _ => self.t("report.fig.no_answers"),
        }
    }

    /// The change of an NPS against an earlier period, in a sentence.
    pub fn change_sentence(
        &self,
        c: &Change,
        now: &NpsStats,
        before: &NpsStats,
        when: &str,
    ) -> Note {
        let when = self.t(when);
        let vals = |delta: f64, threshold: f64| {
            vec![
                ("delta".to_string(), self.dec(delta.abs(), 1)),
                ("signed".to_string(), self.signed(delta)),
                ("threshold".to_string(), self.dec(threshold, 1)),
                ("now".to_string(), self.nps(now.score)),
                ("before".to_string(), self.nps(before.score)),
                ("when".to_string(), when.clone()),
            ]
        };
        let fill = |key: &str, v: Vec<(String, String)>| {
            let pairs: Vec<(&str, &str)> =
                v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            self.tf(key, &pairs)
        };
        match (c.direction, c.delta, c.threshold) {
            (Direction::Up, Some(d), Some(t)) => Note {
                text: fill("report.sig.up", vals(d, t)),
                tone: Tone::Good,
            },
            (Direction::Down, Some(d), Some(t)) => Note {
                text: fill("report.sig.down", vals(d, t)),
                tone: Tone::Bad,
            },
            (Direction::NoSignificantChange, Some(d), Some(t)) => Note {
                text: fill("report.sig.none", vals(d, t)),
                tone: Tone::Neutral,
            },
            _ => Note {
                text: self.tf("report.sig.not_comparable", &[("when", &when)]),
                tone: Tone::Neutral,
            },
        }
    }

    /// The same, in a few words for a figure tile or a table cell.
    pub fn change_short(&self, c: &Change) -> (String, Tone) {
        match (c.direction, c.delta) {
            (Direction::Up, Some(d)) => (
                self.tf("report.sig.short.up", &[("delta", &self.dec(d.abs(), 1))]),
                Tone::Good,
            ),
            (Direction::Down, Some(d)) => (
                self.tf("report.sig.short.down", &[("delta", &self.dec(d.abs(), 1))]),
                Tone::Bad,
            ),
            (Direction::NoSignificantChange, Some(d)) => (
                self.tf("report.sig.short.none", &[("signed", &self.signed(d))]),
                Tone::Neutral,
            ),
            _ => (self.t("report.sig.short.not_comparable"), Tone::Neutral),
        }
    }

    fn count_change(&self, now: u64, before: u64, when: &str) -> String {
        self.tf(
            "report.change.count",
            &[
                ("delta", &self.signed_int(now as i64 - before as i64)),
                ("when", &self.t(when)),
            ],
        )
    }

    fn rate_change(&self, now: Option<f64>, before: Option<f64>, when: &str) -> String {
        match (now, before) {
            (Some(a), Some(b)) => self.tf(
                "report.change.points",
                &[
                    ("delta", &self.signed(100.0 * (a - b))),
                    ("when", &self.t(when)),
                ],
            ),
            _ => String::new(),
        }
    }
}

fn category_color(c: Category) -> &'static str {
    match c {
        Category::Promoter => GREEN,
        Category::Passive => AMBER,
        Category::Detractor => RED,
    }
}

/// The headline tiles of a period: NPS, answers, sent, response and comment rates, each with its
/// change against `before` (`when` names that period).
fn headline(
    w: Words,
    now: &PeriodFigures,
    before: &PeriodFigures,
    change: &Change,
    when: &str,
) -> Vec<Figure> {
    let (change_text, tone) = w.change_short(change);
    let c: &CountSummary = &now.counts;
    let b: &CountSummary = &before.counts;
    vec![
        Figure {
            label: w.t("report.fig.nps"),
            value: w.nps(now.stats.score),
            detail: w.n_and_interval(&now.stats),
            change: change_text,
            tone,
        },
        Figure {
            label: w.t("report.fig.responses"),
            value: c.responses.to_string(),
            detail: String::new(),
            change: w.count_change(c.responses, b.responses, when),
            tone: Tone::Neutral,
        },
        Figure {
            label: w.t("report.fig.sent"),
            value: c.sent.to_string(),
            detail: String::new(),
            change: w.count_change(c.sent, b.sent, when),
            tone: Tone::Neutral,
        },
        Figure {
            label: w.t("report.fig.response_rate"),
            value: w.pct(c.response_rate),
            detail: String::new(),
            change: w.rate_change(c.response_rate, b.response_rate, when),
            tone: Tone::Neutral,
        },
        Figure {
            label: w.t("report.fig.comment_rate"),
            value: w.pct(c.comment_rate),
            detail: String::new(),
            change: w.rate_change(c.comment_rate, b.comment_rate, when),
            tone: Tone::Neutral,
        },
    ]
}

fn text_bar(pct: u32, width: u32) -> String {
    let n = (pct * width + 50) / 100;
    let n = if pct > 0 { n.max(1) } else { 0 };
    "#".repeat(n as usize)
}

fn distribution(w: Words, c: &CountSummary) -> Block {
    let max = c.histogram.iter().copied().max().unwrap_or(0);
    let rows = (0..=10u8)
        .rev()
        .map(|s| {
            let count = c.histogram[s as usize];
            let pct = (count * 100 + max / 2).checked_div(max).unwrap_or(0) as u32;
            let share = (c.responses > 0).then(|| count as f64 / c.responses as f64);
            let cat = crate::types::Score::new(s)
                .map(Category::of)
                .unwrap_or(Category::Detractor);
            BarRow {
                label: s.to_string(),
                pct,
                rest: 100 - pct,
                color: category_color(cat),
                value: format!("{count} · {}", w.pct(share)),
                text_bar: text_bar(pct, 30),
            }
        })
        .collect();
    Block::Bars(rows)
}

fn trend_rows(
    w: Words,
    points: &[PeriodFigures],
    label: impl Fn(&PeriodFigures) -> String,
) -> Block {
    let rows = points
        .iter()
        .map(|p| {
            let (neg, pos) = match p.stats.exact {
                Some(x) if x < 0.0 => ((-x).round().min(100.0) as u32, 0),
                Some(x) => (0, x.round().min(100.0) as u32),
                None => (0, 0),
            };
            let bar = if neg > 0 {
                format!("{:>15}|", text_bar(neg, 15))
            } else {
                format!("{:>15}|{}", "", text_bar(pos, 15))
            };
            TrendRow {
                label: label(p),
                neg,
                neg_rest: 100 - neg,
                pos,
                pos_rest: 100 - pos,
                value: w.nps(p.stats.score),
                detail: w.n_and_interval(&p.stats),
                text_bar: bar,
            }
        })
        .collect();
    Block::Trend(rows)
}

fn themes_block(w: Words, th: &Themes) -> Vec<Block> {
    let mut out = vec![Block::Heading(w.t("report.h.themes"))];
    if !th.comparable {
        out.push(Block::Note(Note {
            text: w.tf(
                "report.themes.not_comparable",
                &[
                    ("detractors", &th.detractor_comments.to_string()),
                    ("promoters", &th.promoter_comments.to_string()),
                    ("min", &MIN_GROUP_COMMENTS.to_string()),
                ],
            ),
            tone: Tone::Neutral,
        }));
        return out;
    }
    let column = |title: &str, color, list: &[super::themes::Theme]| ThemeColumn {
        title: w.t(title),
        color,
        items: list
            .iter()
            .map(|t| {
                (
                    t.term.clone(),
                    w.tf(
                        "report.themes.detail",
                        &[
                            ("detractors", &t.detractor_comments.to_string()),
                            ("promoters", &t.promoter_comments.to_string()),
                        ],
                    ),
                )
            })
            .collect(),
        empty: list.is_empty().then(|| w.t("report.themes.none")),
    };
    out.push(Block::Themes(vec![
        column("report.themes.detractors", RED, &th.detractor),
        column("report.themes.promoters", GREEN, &th.promoter),
    ]));
    out.push(Block::Note(Note {
        text: w.tf(
            "report.themes.method",
            &[(
                "count",
                &(th.detractor_comments + th.promoter_comments).to_string(),
            )],
        ),
        tone: Tone::Neutral,
    }));
    out
}

fn comment_items(w: Words, title: &str, list: &[CommentLine]) -> Block {
    Block::Items(Items {
        title: Some(w.t(title)),
        items: list
            .iter()
            .map(|c| Item {
                badge: c.score.to_string(),
                color: category_color(c.category),
                title: c.account.clone().unwrap_or_default(),
                meta: w.date_short(c.day),
                text: Some(c.text.clone()),
            })
            .collect(),
        empty: list.is_empty().then(|| w.t("report.comments.none")),
        more: None,
    })
}

fn small_n_note(w: Words, s: &NpsStats) -> Option<Block> {
    (s.n > 0 && s.n < super::build::SMALL_N).then(|| {
        Block::Note(Note {
            text: w.tf("report.small_n", &[("n", &s.n.to_string())]),
            tone: Tone::Warn,
        })
    })
}

fn flagged_note(w: Words, c: &CountSummary) -> Option<Block> {
    (c.flagged > 0).then(|| {
        Block::Note(Note {
            text: w.tf("report.flagged", &[("count", &c.flagged.to_string())]),
            tone: Tone::Neutral,
        })
    })
}

fn daily_blocks(w: Words, d: &Daily, tz: &jiff::tz::TimeZone) -> Vec<Block> {
    let date = w.date_long(d.day.first);
    if d.day.counts.responses == 0 {
        // One line, instead of an empty report.
        let text = match d.oldest_open_days {
            Some(days) if d.open_follow_ups_total > 0 => w.tf(
                "report.daily.empty_open",
                &[
                    ("date", &date),
                    ("count", &d.open_follow_ups_total.to_string()),
                    ("days", &days.to_string()),
                ],
            ),
            _ => w.tf("report.daily.empty", &[("date", &date)]),
        };
        return vec![Block::Note(Note {
            text,
            tone: Tone::Neutral,
        })];
    }
    let when = "report.when.day_before";
    let mut blocks = vec![Block::Figures(headline(
        w,
        &d.day,
        &d.day_before,
        &d.vs_day_before,
        when,
    ))];
    blocks.push(Block::Note(w.change_sentence(
        &d.vs_day_before,
        &d.day.stats,
        &d.day_before.stats,
        when,
    )));
    blocks.extend(small_n_note(w, &d.day.stats));
    blocks.extend(flagged_note(w, &d.day.counts));
    blocks.push(Block::Heading(w.t("report.h.answers")));
    let more = d.answers_total.saturating_sub(d.answers.len());
    blocks.push(Block::Items(Items {
        title: None,
        items: d.answers.iter().map(|a| answer_item(w, a, tz)).collect(),
        empty: d.answers.is_empty().then(|| w.t("report.comments.none")),
        more: (more > 0).then(|| w.tf("report.answers.more", &[("count", &more.to_string())])),
    }));
    blocks.push(Block::Heading(w.tf(
        "report.h.open_follow_ups",
        &[("count", &d.open_follow_ups_total.to_string())],
    )));
    if d.open_follow_ups.is_empty() {
        blocks.push(Block::Note(Note {
            text: w.t("report.follow_ups.none"),
            tone: Tone::Good,
        }));
    } else {
        blocks.push(Block::Table(Table {
            headers: vec![
                w.t("report.col.opened"),
                w.t("report.col.age"),
                w.t("report.col.score"),
                w.t("report.col.contact"),
                w.t("report.col.account"),
            ],
            rows: d
                .open_follow_ups
                .iter()
                .map(|f| TableRow {
                    cells: vec![
                        w.day_month(f.opened_day),
                        w.tf("report.age.days", &[("days", &f.age_days.to_string())]),
                        f.score.to_string(),
                        f.contact
                            .clone()
                            .unwrap_or_else(|| w.t("report.answer.anonymous")),
                        f.account.clone().unwrap_or_default(),
                    ],
                    flagged: f.age_days >= 2,
                })
                .collect(),
        }));
        let more = d
            .open_follow_ups_total
            .saturating_sub(d.open_follow_ups.len());
        if more > 0 {
            blocks.push(Block::Note(Note {
                text: w.tf("report.follow_ups.more", &[("count", &more.to_string())]),
                tone: Tone::Neutral,
            }));
        }
    }
    blocks
}

fn answer_item(w: Words, a: &AnswerLine, tz: &jiff::tz::TimeZone) -> Item {
    let who = a
        .contact
        .clone()
        .unwrap_or_else(|| w.t("report.answer.anonymous"));
    let mut title = format!("{} · {}", w.category(a.category), who);
    if let Some(acc) = &a.account {
        title.push_str(" · ");
        title.push_str(acc);
    }
    let time = a
        .answered_at
        .to_zoned(tz.clone())
        .strftime("%H:%M")
        .to_string();
    let mut meta = time;
    if let Some(e) = &a.email
        && a.contact.as_deref() != Some(e.as_str())
    {
        meta = format!("{meta} · {e}");
    }
    if let Some(t) = &a.touchpoint {
        meta = format!("{meta} · {t}");
    }
    Item {
        badge: a.score.to_string(),
        color: category_color(a.category),
        title,
        meta,
        text: a.comment.clone(),
    }
}

fn weekly_blocks(w: Words, wk: &Weekly, max_comments: usize) -> Vec<Block> {
    let mut blocks = vec![Block::Figures(headline(
        w,
        &wk.week,
        &wk.previous,
        &wk.vs_previous,
        "report.when.last_week",
    ))];
    blocks.push(Block::Note(w.change_sentence(
        &wk.vs_previous,
        &wk.week.stats,
        &wk.previous.stats,
        "report.when.last_week",
    )));
    blocks.push(Block::Note(w.change_sentence(
        &wk.vs_previous_four,
        &wk.week.stats,
        &wk.previous_four.stats,
        "report.when.previous_four",
    )));
    blocks.extend(small_n_note(w, &wk.week.stats));
    blocks.extend(flagged_note(w, &wk.week.counts));
    blocks.push(Block::Heading(w.t("report.h.trend4")));
    blocks.push(trend_rows(w, &wk.trend, |p| {
        let week = Period::parse(&p.label)
            .ok()
            .and_then(|x| match x {
                Period::Week { week, .. } => Some(week),
                _ => None,
            })
            .unwrap_or(0);
        w.tf(
            "report.trend.week",
            &[("week", &week.to_string()), ("from", &w.day_month(p.first))],
        )
    }));
    blocks.push(Block::Heading(w.t("report.h.distribution")));
    blocks.push(distribution(w, &wk.week.counts));
    blocks.extend(themes_block(w, &wk.themes));
    blocks.push(Block::Heading(w.t("report.h.comments")));
    blocks.push(Block::Note(Note {
        text: w.tf(
            "report.comments.shown",
            &[
                ("max", &max_comments.to_string()),
                ("total", &wk.week.counts.comments.to_string()),
            ],
        ),
        tone: Tone::Neutral,
    }));
    blocks.push(comment_items(w, "nps.detractors", &wk.comments.detractors));
    blocks.push(comment_items(w, "nps.passives", &wk.comments.passives));
    blocks.push(comment_items(w, "nps.promoters", &wk.comments.promoters));
    if wk.comments.capped {
        blocks.push(Block::Note(Note {
            text: w.tf(
                "report.comments.capped",
                &[("cap", &wk.comments.per_day_cap.to_string())],
            ),
            tone: Tone::Neutral,
        }));
    }
    blocks
}

fn quarterly_blocks(w: Words, q: &Quarterly) -> Vec<Block> {
    let (prev_short, prev_tone) = w.change_short(&q.vs_previous);
    let (ago_short, ago_tone) = w.change_short(&q.vs_year_ago);
    let mut blocks = vec![Block::Figures(vec![
        Figure {
            label: w.t("report.fig.this_quarter"),
            value: w.nps(q.quarter.stats.score),
            detail: w.n_and_interval(&q.quarter.stats),
            change: String::new(),
            tone: Tone::Neutral,
        },
        Figure {
            label: w.t("report.fig.last_quarter"),
            value: w.nps(q.previous.stats.score),
            detail: w.n_and_interval(&q.previous.stats),
            change: prev_short,
            tone: prev_tone,
        },
        Figure {
            label: w.t("report.fig.year_ago"),
            value: w.nps(q.year_ago.stats.score),
            detail: w.n_and_interval(&q.year_ago.stats),
            change: ago_short,
            tone: ago_tone,
        },
        Figure {
            label: w.t("report.fig.response_rate"),
            value: w.pct(q.quarter.counts.response_rate),
            detail: w.tf(
                "report.fig.of_sent",
                &[
                    ("responses", &q.quarter.counts.responses.to_string()),
                    ("sent", &q.quarter.counts.sent.to_string()),
                ],
            ),
            change: String::new(),
            tone: Tone::Neutral,
        },
        Figure {
            label: w.t("report.fig.comment_rate"),
            value: w.pct(q.quarter.counts.comment_rate),
            detail: String::new(),
            change: String::new(),
            tone: Tone::Neutral,
        },
    ])];
    blocks.push(Block::Note(w.change_sentence(
        &q.vs_previous,
        &q.quarter.stats,
        &q.previous.stats,
        "report.when.last_quarter",
    )));
    blocks.push(Block::Note(w.change_sentence(
        &q.vs_year_ago,
        &q.quarter.stats,
        &q.year_ago.stats,
        "report.when.year_ago",
    )));
    blocks.extend(small_n_note(w, &q.quarter.stats));
    blocks.extend(flagged_note(w, &q.quarter.counts));

    // Benchmark.
    blocks.push(Block::Heading(w.t("report.h.benchmark")));
    let b = &q.benchmark;
    let nps = w.nps(q.quarter.stats.score);
    let avg = w.nps(Some(b.average));
    let (key, tone) = match b.position {
        BenchmarkPosition::Above => ("report.benchmark.above", Tone::Good),
        BenchmarkPosition::InLine => ("report.benchmark.in_line", Tone::Neutral),
        BenchmarkPosition::Below => ("report.benchmark.below", Tone::Bad),
        BenchmarkPosition::NoData => ("report.benchmark.no_data", Tone::Neutral),
    };
    blocks.push(Block::Note(Note {
        text: w.tf(key, &[("nps", &nps), ("average", &avg)]),
        tone,
    }));
    blocks.push(Block::Note(Note {
        text: w.tf(
            "report.benchmark.scale",
            &[
                ("average", &avg),
                ("leaders", &w.nps(Some(b.leaders))),
                ("low", &w.nps(Some(b.low))),
            ],
        ),
        tone: Tone::Neutral,
    }));

    blocks.push(Block::Heading(w.t("report.h.monthly")));
    blocks.push(trend_rows(w, &q.months, |p| w.month_label(p.first)));
    blocks.push(Block::Heading(w.t("report.h.distribution")));
    blocks.push(distribution(w, &q.quarter.counts));

    for seg in &q.segments {
        blocks.push(Block::Heading(
            w.tf("report.h.segment", &[("name", &seg.name)]),
        ));
        blocks.push(Block::Table(Table {
            headers: vec![
                w.t("report.col.value"),
                w.t("report.col.answers"),
                w.t("report.col.nps"),
                w.t("report.col.interval"),
                w.t("report.col.vs_last_quarter"),
            ],
            rows: seg
                .rows
                .iter()
                .map(|r| TableRow {
                    cells: vec![
                        r.value.clone(),
                        r.figures.stats.n.to_string(),
                        w.nps(r.figures.stats.score),
                        interval_cell(w, &r.figures.stats),
                        w.change_short(&r.vs_previous).0,
                    ],
                    flagged: r.figures.stats.detractors > r.figures.stats.promoters,
                })
                .collect(),
        }));
        let more = seg.values_total.saturating_sub(seg.rows.len());
        if more > 0 {
            blocks.push(Block::Note(Note {
                text: w.tf("report.segments.more", &[("count", &more.to_string())]),
                tone: Tone::Neutral,
            }));
        }
    }

    blocks.push(Block::Heading(w.t("report.h.accounts")));
    if q.accounts.total == 0 {
        blocks.push(Block::Note(Note {
            text: w.t("report.accounts.none"),
            tone: Tone::Neutral,
        }));
    } else {
        blocks.push(Block::Note(Note {
            text: w.tf(
                "report.accounts.summary",
                &[
                    ("total", &q.accounts.total.to_string()),
                    ("flagged", &q.accounts.flagged.to_string()),
                ],
            ),
            tone: if q.accounts.flagged > 0 {
                Tone::Warn
            } else {
                Tone::Neutral
            },
        }));
        blocks.push(Block::Table(Table {
            headers: vec![
                w.t("report.col.account"),
                w.t("report.col.stakeholders"),
                w.t("report.col.nps"),
                w.t("report.col.pd"),
                w.t("report.col.flag"),
            ],
            rows: q
                .accounts
                .rows
                .iter()
                .map(|a| TableRow {
                    cells: vec![
                        a.name.clone(),
                        w.tf(
                            "report.accounts.answered",
                            &[
                                ("answers", &a.stats.n.to_string()),
                                ("contacts", &a.contacts.to_string()),
                            ],
                        ),
                        w.nps(a.stats.score),
                        format!("{} / {}", a.stats.promoters, a.stats.detractors),
                        if a.flagged {
                            w.t("report.accounts.flag")
                        } else {
                            String::new()
                        },
                    ],
                    flagged: a.flagged,
                })
                .collect(),
        }));
        let more = q.accounts.total.saturating_sub(q.accounts.rows.len());
        if more > 0 {
            blocks.push(Block::Note(Note {
                text: w.tf("report.accounts.more", &[("count", &more.to_string())]),
                tone: Tone::Neutral,
            }));
        }
    }

    blocks.extend(themes_block(w, &q.themes));

    blocks.push(Block::Heading(w.t("report.h.loop")));
    let l = &q.loop_closing;
    let median = match l.median_hours_to_close {
        Some(h) if h < 48.0 => w.tf("report.duration.hours", &[("hours", &w.dec(h, 1))]),
        Some(h) => w.tf("report.duration.days", &[("days", &w.dec(h / 24.0, 1))]),
        None => "—".into(),
    };
    let sample = l.sample.to_string();
    // "3 of 40", or "850 of the latest 1000" when the figures come from the latest follow-ups.
    let of = |count: usize| {
        if l.sample == 0 {
            String::new()
        } else {
            let key = if l.complete {
                "report.loop.of"
            } else {
                "report.loop.of_latest"
            };
            w.tf(key, &[("count", &count.to_string()), ("total", &sample)])
        }
    };
    let within = w.tf(
        "report.loop.within",
        &[("count", &l.done_within_two_days.to_string())],
    );
    let done_detail = match of(l.done) {
        d if d.is_empty() => within,
        d => format!("{d} · {within}"),
    };
    blocks.push(Block::Figures(vec![
        Figure {
            label: w.t("report.loop.opened"),
            value: l.opened.to_string(),
            detail: String::new(),
            change: String::new(),
            tone: Tone::Neutral,
        },
        Figure {
            label: w.t("report.loop.done"),
            value: w.pct(l.done_share()),
            detail: done_detail,
            change: String::new(),
            tone: Tone::Neutral,
        },
        Figure {
            label: w.t("report.loop.open"),
            value: w.pct(l.open_share()),
            detail: of(l.open),
            change: String::new(),
            tone: if l.open > 0 {
                Tone::Warn
            } else {
                Tone::Neutral
            },
        },
        Figure {
            label: w.t("report.loop.median"),
            value: median,
            detail: if l.complete || l.sample == 0 {
                String::new()
            } else {
                w.tf("report.loop.latest", &[("total", &sample)])
            },
            change: String::new(),
            tone: Tone::Neutral,
        },
    ]));
    if !l.complete {
        blocks.push(Block::Note(Note {
            text: w.tf("report.loop.sampled", &[("total", &sample)]),
            tone: Tone::Neutral,
        }));
    }
    blocks
}

fn interval_cell(w: Words, s: &NpsStats) -> String {
    match shown_interval(s) {
        Some(i) if i.adjusted => format!("{} … {}", w.dec(i.low, 0), w.dec(i.high, 0)),
        Some(_) => s
            .margin
            .map(|m| format!("±{}", w.dec(m, 1)))
            .unwrap_or_default(),
        None => "—".into(),
    }
}

/// The view of a report: its title, subtitle and blocks in `report.locale`.
pub fn view(report: &Report, config: &Config, archive_url: Option<String>) -> View {
    let w = Words(report.locale);
    let tz = config.company.time_zone.tz();
    let (title, subtitle, blocks) = match (&report.body, report.period) {
        (ReportBody::Daily(d), _) => (
            w.t("report.daily.title"),
            w.tf(
                "report.daily.subtitle",
                &[("date", &w.date_long(report.first))],
            ),
            daily_blocks(w, d, &tz),
        ),
        (ReportBody::Weekly(wk), Period::Week { year, week }) => (
            w.t("report.weekly.title"),
            w.tf(
                "report.weekly.subtitle",
                &[
                    ("week", &week.to_string()),
                    ("year", &year.to_string()),
                    ("from", &w.date_short(report.first)),
                    ("to", &w.date_short(report.last)),
                ],
            ),
            weekly_blocks(w, wk, config.reports.max_comments),
        ),
        (ReportBody::Weekly(wk), _) => (
            w.t("report.weekly.title"),
            report.label.clone(),
            weekly_blocks(w, wk, config.reports.max_comments),
        ),
        (ReportBody::Quarterly(q), Period::Quarter { year, quarter }) => (
            w.t("report.quarterly.title"),
            w.tf(
                "report.quarterly.subtitle",
                &[
                    ("quarter", &quarter.to_string()),
                    ("year", &year.to_string()),
                    ("from", &w.date_short(report.first)),
                    ("to", &w.date_short(report.last)),
                ],
            ),
            quarterly_blocks(w, q),
        ),
        (ReportBody::Quarterly(q), _) => (
            w.t("report.quarterly.title"),
            report.label.clone(),
            quarterly_blocks(w, q),
        ),
    };
    View {
        lang: report.locale.code(),
        company: config.company.name.clone(),
        title,
        subtitle,
        primary: config.company.primary_color.clone(),
        on_primary: config.company.on_primary_color.clone(),
        blocks,
        archive_url,
        archive_label: w.t("report.archive.link"),
        footer: w.tf(
            "report.footer",
            &[("company", &config.company.name), ("tz", &report.time_zone)],
        ),
        generated: w.tf(
            "report.generated",
            &[("time", &generated_at(report.generated_at, &tz))],
        ),
    }
}

fn generated_at(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The email's subject.
pub fn subject(report: &Report) -> String {
    let w = Words(report.locale);
    let (nps, n) = match &report.body {
        ReportBody::Daily(d) => (d.day.stats.score, d.day.stats.n),
        ReportBody::Weekly(wk) => (wk.week.stats.score, wk.week.stats.n),
        ReportBody::Quarterly(q) => (q.quarter.stats.score, q.quarter.stats.n),
    };
    let period = match report.period {
        Period::Day { date } => w.date_short(date),
        Period::Week { week, year } => w.tf(
            "report.subject.week",
            &[("week", &week.to_string()), ("year", &year.to_string())],
        ),
        Period::Quarter { quarter, year } => w.tf(
            "report.subject.quarter",
            &[
                ("quarter", &quarter.to_string()),
                ("year", &year.to_string()),
            ],
        ),
        Period::Month { .. } => report.label.clone(),
    };
    let kind = w.t(&format!("report.subject.{}", report.kind.as_str()));
    if n == 0 {
        w.tf(
            "report.subject.empty",
            &[("kind", &kind), ("period", &period)],
        )
    } else {
        w.tf(
            "report.subject.line",
            &[
                ("kind", &kind),
                ("period", &period),
                ("nps", &w.nps(nps)),
                ("n", &n.to_string()),
            ],
        )
    }
}

/// Renders the email: subject, HTML and text.
pub fn render(
    report: &Report,
    config: &Config,
    archive_url: Option<String>,
) -> Result<Rendered, ReportError> {
    let v = view(report, config, archive_url);
    let html = HtmlPart { v: &v }
        .render()
        .map_err(|e| ReportError::Render(e.to_string()))?;
    let text = TextPart { v: &v }
        .render()
        .map_err(|e| ReportError::Render(e.to_string()))?;
    Ok(Rendered {
        subject: subject(report),
        html,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_dates_follow_the_locale() {
        let en = Words(Locale::En);
        let es = Words(Locale::Es);
        assert_eq!(en.pct(Some(0.3746)), "37.5%");
        assert_eq!(es.pct(Some(0.3746)), "37,5 %");
        assert_eq!(en.pct(None), "—");
        assert_eq!(en.nps(Some(34)), "+34");
        assert_eq!(en.nps(Some(-12)), "-12");
        assert_eq!(en.nps(Some(0)), "0");
        assert_eq!(en.nps(None), "—");
        assert_eq!(en.signed(4.26), "+4.3");
        assert_eq!(es.signed(-3.0), "-3,0");
        assert_eq!(en.signed(-0.01), "0.0");
        let d = jiff::civil::date(2026, 3, 1);
        assert_eq!(en.date_long(d), "Sunday 1 March 2026");
        assert_eq!(es.date_long(d), "domingo 1 de marzo de 2026");
        assert_eq!(es.date_short(d), "1 mar 2026");
    }

    #[test]
    fn an_nps_is_never_shown_without_n_and_its_interval() {
        let en = Words(Locale::En);
        assert_eq!(
            en.n_and_interval(&NpsStats::from_counts(100, 60, 40)),
            "n = 200 · ±10.8"
        );
        assert!(
            en.n_and_interval(&NpsStats::from_counts(3, 1, 1))
                .starts_with("n = 5 · 95% interval ")
        );
        assert_eq!(
            en.n_and_interval(&NpsStats::from_counts(0, 0, 0)),
            "no answers"
        );
    }

    #[test]
    fn change_words_follow_the_significance() {
        let en = Words(Locale::En);
        let before = NpsStats::from_counts(100, 60, 40);
        let up = NpsStats::from_counts(150, 40, 10);
        let c = crate::nps::compare(&up, &before);
        let n = en.change_sentence(&c, &up, &before, "report.when.last_week");
        assert!(
            n.text
                .starts_with("Up 40.0 points vs last week (+30 → +70)"),
            "{}",
            n.text
        );
        assert_eq!(n.tone, Tone::Good);
        let same = NpsStats::from_counts(110, 55, 35);
        let c = crate::nps::compare(&same, &before);
        let n = en.change_sentence(&c, &same, &before, "report.when.last_week");
        assert!(
            n.text
                .starts_with("No significant change vs last week: +38 vs +30 (+7.5 points"),
            "{}",
            n.text
        );
        assert_eq!(en.change_short(&c).0, "no significant change (+7.5)");
        let none = NpsStats::from_counts(0, 0, 0);
        let c = crate::nps::compare(&none, &before);
        assert_eq!(en.change_short(&c).0, "not comparable");
    }
}
