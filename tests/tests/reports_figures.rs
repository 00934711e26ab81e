//! Report figures against an independent recount from the answers; significance wording; empty
//! periods; quarter, ISO-week and DST boundaries in the company's time zone; hostile comments;
//! audiences; the metrics query.

mod reports_fixture;

use jiff::civil::date;
use pulso_core::model::{AnswerSource, Dimension, ReportKind};
use pulso_core::nps::Direction;
use pulso_core::ports::FollowUps;
use pulso_core::reports::build::{FOLLOW_UP_SAMPLE, ReportBody, build};
use pulso_core::reports::periods::add_days;
use pulso_core::reports::render::render;
use pulso_core::reports::{Interval, MetricsQuery, Period, metrics, report_period};
use pulso_core::{AccountName, Locale};
use reports_fixture::*;

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

#[tokio::test]
async fn weekly_figures_match_a_recount_from_the_answers() {
    let mut f = Fixture::new().await;
    populate(&mut f, date(2026, 1, 5), date(2026, 3, 8), 6, 11).await;
    // Monday 2026-03-02, 08:00 in Madrid: the report covers week 9 (23 Feb – 1 Mar).
    let at = ts("2026-03-02T07:00:00Z");
    let period = report_period(ReportKind::Weekly, at, &tz()).unwrap();
    assert_eq!(period.label(), "2026-W09");
    let report = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        period,
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Weekly(w) = &report.body else {
        panic!("not weekly")
    };

    let (p, a, d, comments) = recount(&f, date(2026, 2, 23), date(2026, 3, 1), |_| true);
    assert!(p + a + d > 20, "the fixture should give the week answers");
    let s = &w.week.stats;
    assert_eq!((s.promoters, s.passives, s.detractors), (p, a, d));
    let (nps, se) = nps_by_hand(p, a, d).unwrap();
    assert_eq!(s.score, Some(nps));
    assert!((s.se.unwrap() - se).abs() < 1e-9);
    assert!((s.margin.unwrap() - 1.96 * se).abs() < 1e-9);
    assert_eq!(w.week.counts.comments, comments);

    // The previous week, and the four before pooled.
    let (p1, a1, d1, _) = recount(&f, date(2026, 2, 16), date(2026, 2, 22), |_| true);
    assert_eq!(
        (
            w.previous.stats.promoters,
            w.previous.stats.passives,
            w.previous.stats.detractors
        ),
        (p1, a1, d1)
    );
    let (p4, a4, d4, _) = recount(&f, date(2026, 1, 26), date(2026, 2, 22), |_| true);
    assert_eq!(
        (
            w.previous_four.stats.promoters,
            w.previous_four.stats.passives,
            w.previous_four.stats.detractors
        ),
        (p4, a4, d4)
    );
    // The significance call, recomputed here: the brief's rule with each week's own SE when both
    // have 30 answers or more, else with SEs from the two weeks pooled.
    let (_, se1) = nps_by_hand(p1, a1, d1).unwrap();
    let (n0, n1) = ((p + a + d) as f64, (p1 + a1 + d1) as f64);
    let now_exact = 100.0 * (p as f64 - d as f64) / n0;
    let before_exact = 100.0 * (p1 as f64 - d1 as f64) / n1;
    let threshold = if n0 >= 30.0 && n1 >= 30.0 && se > 0.0 && se1 > 0.0 {
        1.96 * (se * se + se1 * se1).sqrt()
    } else {
        let (pp, dd) = ((p + p1) as f64 / (n0 + n1), (d + d1) as f64 / (n0 + n1));
        let v = pp + dd - (pp - dd) * (pp - dd);
        1.96 * 100.0 * (v / n0 + v / n1).sqrt()
    };
    assert!((w.vs_previous.threshold.unwrap() - threshold).abs() < 1e-9);
    let expected = if (now_exact - before_exact).abs() <= threshold {
        Direction::NoSignificantChange
    } else if now_exact > before_exact {
        Direction::Up
    } else {
        Direction::Down
    };
    assert_eq!(w.vs_previous.direction, expected);

    // Trend: weeks 6 to 9, oldest first, each a recount.
    let labels: Vec<&str> = w.trend.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["2026-W06", "2026-W07", "2026-W08", "2026-W09"]);
    for t in &w.trend {
        let (p, a, d, _) = recount(&f, t.first, t.last, |_| true);
        assert_eq!(
            (t.stats.promoters, t.stats.passives, t.stats.detractors),
            (p, a, d),
            "{}",
            t.label
        );
    }
    let week_answers = || {
        f.answers
            .values()
            .filter(|r| r.day >= date(2026, 2, 23) && r.day <= date(2026, 3, 1))
    };
    // The 0–10 distribution.
    for score in 0..=10u8 {
        let want = week_answers()
            .filter(|r| r.source == AnswerSource::Human && r.score.value() == score)
            .count() as u64;
        assert_eq!(
            w.week.counts.histogram[score as usize], want,
            "score {score}"
        );
    }
    // Flagged answers are left out, and said so.
    let flagged = week_answers()
        .filter(|r| r.source == AnswerSource::Automated)
        .count() as u64;
    assert_eq!(w.week.counts.flagged, flagged);
    // Comments by category: at most max_comments (5) each, the right category.
    assert!(w.comments.detractors.len() <= 5 && !w.comments.detractors.is_empty());
    assert!(w.comments.detractors.iter().all(|c| c.score <= 6));
    assert!(w.comments.promoters.iter().all(|c| c.score >= 9));
    // Every day's comments are read (the days are read several at a time), and each list holds
    // the most recent: by day, then by time of answer, newest first.
    assert!(!w.comments.capped);
    assert_eq!(w.comments.read as u64, comments);
    let mut detractors: Vec<_> = week_answers()
        .filter(|r| {
            r.source == AnswerSource::Human
                && r.score.value() <= 6
                && r.comment.as_deref().is_some_and(|c| !c.trim().is_empty())
        })
        .collect();
    detractors.sort_by_key(|r| std::cmp::Reverse((r.day, r.answered_at)));
    let want: Vec<(jiff::civil::Date, String)> = detractors
        .iter()
        .take(5)
        .map(|r| (r.day, r.comment.clone().unwrap()))
        .collect();
    let got: Vec<(jiff::civil::Date, String)> = w
        .comments
        .detractors
        .iter()
        .map(|c| (c.day, c.text.clone()))
        .collect();
    assert_eq!(got, want);

    let r = render(&report, &f.ctx.config, None).unwrap();
    assert!(r.html.contains(&format!("n = {}", p + a + d)), "n shown");
    assert!(
        r.text.contains(&format!("NPS: {}", fmt_nps(nps))),
        "{}",
        r.text
    );
    assert!(r.subject.contains("week 9, 2026"), "{}", r.subject);
}

/// One spelling for the entities an HTML escaper may choose.
fn entities(html: &str) -> String {
    html.replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#x27;", "&#39;")
        .replace("&#34;", "&quot;")
}

fn fmt_nps(n: i32) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

#[tokio::test]
async fn quarterly_figures_segments_accounts_and_loop_closing_match_a_recount() {
    let mut f = Fixture::new().await;
    populate(&mut f, date(2025, 1, 1), date(2026, 3, 31), 2, 5).await;
    // Follow-ups of some detractors in Q1 2026: closed after 3, 10, 30 hours, one left open.
    let q1_detractors: Vec<_> = f
        .answers
        .values()
        .filter(|r| {
            r.day >= date(2026, 1, 1) && r.score.value() <= 6 && r.source == AnswerSource::Human
        })
        .take(4)
        .cloned()
        .collect();
    assert_eq!(q1_detractors.len(), 4);
    for (r, h) in q1_detractors
        .iter()
        .zip([Some(3), Some(10), Some(30), None])
    {
        f.follow_up(r, h).await;
    }
    let at = ts("2026-04-01T06:00:00Z");
    let period = report_period(ReportKind::Quarterly, at, &tz()).unwrap();
    assert_eq!(period.label(), "2026-Q1");
    let report = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Quarterly,
        period,
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Quarterly(q) = &report.body else {
        panic!("not quarterly")
    };
    for (fig, from, to) in [
        (&q.quarter, date(2026, 1, 1), date(2026, 3, 31)),
        (&q.previous, date(2025, 10, 1), date(2025, 12, 31)),
        (&q.year_ago, date(2025, 1, 1), date(2025, 3, 31)),
    ] {
        let (p, a, d, _) = recount(&f, from, to, |_| true);
        assert_eq!(
            (
                fig.stats.promoters,
                fig.stats.passives,
                fig.stats.detractors
            ),
            (p, a, d),
            "{}",
            fig.label
        );
        assert_eq!(fig.stats.score, nps_by_hand(p, a, d).map(|x| x.0));
    }
    // Twelve months, April 2025 to March 2026.
    assert_eq!(q.months.len(), 12);
    assert_eq!(q.months[0].label, "2025-04");
    assert_eq!(q.months[11].label, "2026-03");
    for m in &q.months {
        let (p, a, d, _) = recount(&f, m.first, m.last, |_| true);
        assert_eq!(m.stats.n, p + a + d, "{}", m.label);
    }
    // By plan, every value.
    let plan = q
        .segments
        .iter()
        .find(|s| s.name == "plan")
        .expect("plan segment");
    assert_eq!(plan.rows.len(), 3);
    for row in &plan.rows {
        let (p, a, d, _) = recount(&f, date(2026, 1, 1), date(2026, 3, 31), |r| {
            r.attributes.get("plan") == Some(row.value.as_str())
        });
        assert_eq!(
            (
                row.figures.stats.promoters,
                row.figures.stats.passives,
                row.figures.stats.detractors
            ),
            (p, a, d)
        );
    }
    // By account: flagged exactly when detractors outnumber promoters; stakeholders = contacts.
    assert!(q.accounts.total >= 5);
    for acc in &q.accounts.rows {
        let key = AccountName::parse(&acc.name).unwrap().key();
        let (p, a, d, _) = recount(&f, date(2026, 1, 1), date(2026, 3, 31), |r| {
            r.account.as_ref().map(|a| a.key()) == Some(key.clone())
        });
        assert_eq!(
            (
                acc.stats.promoters,
                acc.stats.passives,
                acc.stats.detractors
            ),
            (p, a, d),
            "{}",
            acc.name
        );
        assert_eq!(acc.flagged, d > p, "{}", acc.name);
        // populate() puts every 6th of the account-holding contacts in each account.
        let contacts = (0..40)
            .filter(|i| {
                i % 5 != 4
                    && i % 6
                        == [
                            "Globex",
                            "Initech",
                            "Umbrella",
                            "Hooli",
                            "Stark Industries",
                            "Wayne Co",
                        ]
                        .iter()
                        .position(|x| *x == acc.name)
                        .unwrap()
            })
            .count();
        assert_eq!(acc.contacts, contacts, "{}", acc.name);
    }
    let flagged_first: Vec<bool> = q.accounts.rows.iter().map(|a| a.flagged).collect();
    let mut sorted = flagged_first.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(flagged_first, sorted, "flagged accounts come first");
    // Loop closing: every counted detractor of the quarter opened one (recounted from the
    // answers); of the 4 follow-ups recorded, all read: 3 done, median of 3, 10, 30 hours = 10.
    let (_, _, q1_detractor_count, _) = recount(&f, date(2026, 1, 1), date(2026, 3, 31), |_| true);
    assert!(q1_detractor_count > 4);
    assert_eq!(q.loop_closing.opened, q1_detractor_count);
    assert!(q.loop_closing.complete);
    assert_eq!(
        (
            q.loop_closing.sample,
            q.loop_closing.done,
            q.loop_closing.open
        ),
        (4, 3, 1)
    );
    assert_eq!(q.loop_closing.median_hours_to_close, Some(10.0));
    assert_eq!(q.loop_closing.done_within_two_days, 3);
    // Benchmark from config (34 by default).
    assert_eq!(q.benchmark.average, 34);

    let r = render(&report, &f.ctx.config, None).unwrap();
    for needle in [
        "Q1 2026",
        "By plan",
        "By account",
        "Closing the loop",
        "Industry benchmark",
        "Monthly trend",
    ] {
        assert!(r.html.contains(needle), "{needle} missing");
        assert!(r.text.contains(needle), "{needle} missing from text");
    }
}

#[tokio::test]
async fn a_quarter_with_more_follow_ups_than_the_sample_counts_them_all_and_measures_the_latest() {
    let mut f = Fixture::new().await;
    let c = f
        .contact("many@example.com", "Many", Locale::En, None, None)
        .await;
    // One detractor an hour from 1 January: 60 more than the sample. The oldest 60 stay open; the
    // latest FOLLOW_UP_SAMPLE are closed after 1 to 5 hours (median 3). Reading them all would
    // show 60 open; the report reads only the latest and says so.
    let extra = 60;
    let start = local(date(2026, 1, 1), 0, 30);
    for i in 0..FOLLOW_UP_SAMPLE + extra {
        let at = start + jiff::SignedDuration::from_hours(i as i64);
        let r = f
            .answer_at(&c, at, (i % 7) as u8, None, AnswerSource::Human)
            .await;
        let hours = (i >= extra).then_some(1 + (i % 5) as i64);
        f.follow_up(&r, hours).await;
    }
    // Passives and promoters open none (include_passives is off); an automated detractor's answer
    // is not counted, and Pulso closed its follow-up: neither is in the figures.
    for i in 0..30 {
        let at = start + jiff::SignedDuration::from_mins(30 + 60 * i);
        f.answer_at(&c, at, 7 + (i % 4) as u8, None, AnswerSource::Human)
            .await;
    }
    let bot = f
        .answer_at(
            &c,
            start + jiff::SignedDuration::from_mins(10),
            0,
            None,
            AnswerSource::Automated,
        )
        .await;
    let mut closed = f.follow_up(&bot, Some(0)).await;
    closed.closed_by = Some(pulso_core::alerts::SYSTEM_CLOSER.to_string());
    closed.version += 1;
    f.ctx.store.put_follow_up(&closed).await.unwrap();
    let at = ts("2026-04-01T06:00:00Z");
    let period = report_period(ReportKind::Quarterly, at, &tz()).unwrap();
    let (_, _, detractors, _) = recount(&f, date(2026, 1, 1), date(2026, 3, 31), |_| true);
    assert_eq!(detractors, (FOLLOW_UP_SAMPLE + extra) as u64);
    for locale in [Locale::En, Locale::Es] {
        let report = build(
            &f.ctx.store,
            &f.ctx.config,
            ReportKind::Quarterly,
            period,
            at,
            locale,
        )
        .await
        .unwrap();
        let ReportBody::Quarterly(q) = &report.body else {
            panic!("not quarterly")
        };
        let l = &q.loop_closing;
        assert_eq!(l.opened, detractors, "opened is exact, from the rollups");
        assert!(!l.complete);
        assert_eq!(
            (l.sample, l.done, l.open),
            (FOLLOW_UP_SAMPLE, FOLLOW_UP_SAMPLE, 0)
        );
        assert_eq!(l.median_hours_to_close, Some(3.0));
        assert_eq!(l.done_within_two_days, FOLLOW_UP_SAMPLE);
        let r = render(&report, &f.ctx.config, None).unwrap();
        let (latest, note) = match locale {
            Locale::Es => (
                format!("de los últimos {FOLLOW_UP_SAMPLE}"),
                format!("se miden sobre los últimos {FOLLOW_UP_SAMPLE} seguimientos"),
            ),
            _ => (
                format!("of the latest {FOLLOW_UP_SAMPLE}"),
                format!("measured on the latest {FOLLOW_UP_SAMPLE} follow-ups"),
            ),
        };
        for part in [&r.html, &r.text] {
            assert!(part.contains(&latest), "{latest} missing");
            assert!(part.contains(&note), "{note} missing");
            assert!(part.contains(&detractors.to_string()));
        }
    }
}

#[tokio::test]
async fn a_change_is_called_up_or_down_only_when_larger_than_the_noise() {
    let mut f = Fixture::new().await;
    let c = f
        .contact(
            "a@example.com",
            "Ana",
            Locale::En,
            Some("Globex"),
            Some("pro"),
        )
        .await;
    // Week 8: 30 promoters, 10 passives, 10 detractors → +40 (n = 50).
    for i in 0..50u32 {
        let score = if i < 30 {
            10
        } else if i < 40 {
            8
        } else {
            2
        };
        f.answer(&c, add_days(date(2026, 2, 16), (i % 7) as i64), score, None)
            .await;
    }
    // Week 9: 10 promoters, 10 passives, 30 detractors → −40: down, clearly.
    for i in 0..50u32 {
        let score = if i < 10 {
            9
        } else if i < 20 {
            7
        } else {
            4
        };
        f.answer(&c, add_days(date(2026, 2, 23), (i % 7) as i64), score, None)
            .await;
    }
    let at = ts("2026-03-02T07:00:00Z");
    let week9 = Period::parse("2026-W09").unwrap();
    let down = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        week9,
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Weekly(w) = &down.body else {
        panic!()
    };
    assert_eq!(w.vs_previous.direction, Direction::Down);
    let text = render(&down, &f.ctx.config, None).unwrap().text;
    assert!(
        text.contains("Down 80.0 points vs last week (+40 → -40)"),
        "{text}"
    );
    let es = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        week9,
        at,
        Locale::Es,
    )
    .await
    .unwrap();
    let text_es = render(&es, &f.ctx.config, None).unwrap().text;
    assert!(
        text_es.contains("Baja 80,0 puntos frente a la semana anterior"),
        "{text_es}"
    );

    // Week 10: a small sample a little better than week 9: no significant change.
    for i in 0..8u32 {
        let score = if i < 3 {
            9
        } else if i < 5 {
            7
        } else {
            5
        };
        f.answer(&c, add_days(date(2026, 3, 2), (i % 7) as i64), score, None)
            .await;
    }
    let week10 = Period::parse("2026-W10").unwrap();
    let same = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        week10,
        ts("2026-03-09T07:00:00Z"),
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Weekly(w) = &same.body else {
        panic!()
    };
    assert_eq!(w.vs_previous.direction, Direction::NoSignificantChange);
    assert!(
        w.vs_previous.delta.unwrap() > 0.0,
        "a difference, but within the noise"
    );
    let r = render(&same, &f.ctx.config, None).unwrap();
    assert!(
        r.text.contains(
            "No significant change vs last week: 0 vs -40 (+40.0 points, within the noise"
        ),
        "{}",
        r.text
    );
    assert!(!r.text.contains("Up "), "{}", r.text);
    // Few answers: the adjusted-Wald interval and a warning.
    assert!(r.text.contains("n = 8 · 95% interval"), "{}", r.text);
    assert!(r.text.contains("Only 8 answers"), "{}", r.text);

    // Week 12 after an empty week 11: not comparable.
    f.answer(&c, date(2026, 3, 17), 10, None).await;
    let week12 = Period::parse("2026-W12").unwrap();
    let nc = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        week12,
        ts("2026-03-23T07:00:00Z"),
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Weekly(w) = &nc.body else {
        panic!()
    };
    assert_eq!(w.vs_previous.direction, Direction::NotComparable);
    let text = render(&nc, &f.ctx.config, None).unwrap().text;
    assert!(text.contains("Not comparable with last week"), "{text}");
}

#[tokio::test]
async fn empty_periods_have_no_nps_and_a_quiet_day_is_one_line() {
    let mut f = Fixture::new().await;
    let c = f
        .contact("a@example.com", "Ana", Locale::En, None, None)
        .await;
    let r = f.answer(&c, date(2026, 2, 27), 3, Some("slow")).await;
    f.follow_up(&r, None).await;
    // Sunday 1 March had no answers.
    let at = ts("2026-03-02T07:00:00Z");
    let daily = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Daily,
        Period::parse("2026-03-01").unwrap(),
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Daily(d) = &daily.body else {
        panic!()
    };
    assert_eq!(d.day.stats.score, None);
    assert_eq!(d.day.stats.n, 0);
    let out = render(&daily, &f.ctx.config, None).unwrap();
    let line =
        "No new answers on Sunday 1 March 2026; 1 follow-ups still open, the oldest for 3 days.";
    assert!(out.text.contains(line), "{}", out.text);
    assert_eq!(out.text.matches("No new answers").count(), 1);
    assert!(!out.text.contains("Answers, detractors first"));
    assert!(!out.html.contains("Answers, detractors first"));
    assert!(out.subject.contains("no answers"), "{}", out.subject);
    // In Spanish, the same line.
    let es = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Daily,
        Period::parse("2026-03-01").unwrap(),
        at,
        Locale::Es,
    )
    .await
    .unwrap();
    let out = render(&es, &f.ctx.config, None).unwrap();
    assert!(
        out.text
            .contains("Sin respuestas nuevas el domingo 1 de marzo de 2026"),
        "{}",
        out.text
    );

    // A week with no answers: no NPS ("—"), not zero, and nothing to compare.
    let week = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        Period::parse("2026-W10").unwrap(),
        ts("2026-03-09T07:00:00Z"),
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Weekly(w) = &week.body else {
        panic!()
    };
    assert_eq!(w.week.stats.score, None);
    assert_eq!(w.vs_previous.direction, Direction::NotComparable);
    let out = render(&week, &f.ctx.config, None).unwrap();
    assert!(out.text.contains("NPS: — (no answers)"), "{}", out.text);
    assert!(!out.text.contains("NPS: 0"), "{}", out.text);
}

#[tokio::test]
async fn a_daily_digest_lists_detractors_first_with_counts_and_open_follow_ups() {
    let mut f = Fixture::new().await;
    let ana = f
        .contact(
            "ana@example.com",
            "Ana García",
            Locale::Es,
            Some("Globex"),
            None,
        )
        .await;
    let bo = f
        .contact("bo@example.com", "Bo", Locale::En, Some("Initech"), None)
        .await;
    let day = date(2026, 3, 1);
    f.sent(day, 10).await;
    f.sent(date(2026, 2, 28), 8).await;
    f.answer(&bo, day, 10, Some("Great")).await;
    let worst = f.answer(&ana, day, 2, Some("Nadie responde")).await;
    f.answer(&bo, day, 8, None).await;
    f.answer(&bo, date(2026, 2, 28), 9, None).await;
    let old = f.answer(&ana, date(2026, 2, 20), 1, Some("Fatal")).await;
    f.follow_up(&old, None).await;
    f.follow_up(&worst, None).await;
    f.answer_at(&bo, local(day, 11, 0), 10, None, AnswerSource::Automated)
        .await;

    let at = ts("2026-03-02T07:00:00Z");
    let report = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Daily,
        Period::parse("2026-03-01").unwrap(),
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Daily(d) = &report.body else {
        panic!()
    };
    let scores: Vec<u8> = d.answers.iter().map(|a| a.score).collect();
    assert_eq!(
        scores,
        [2, 8, 10],
        "detractors first, the flagged answer left out"
    );
    assert_eq!(d.answers[0].contact.as_deref(), Some("Ana García"));
    assert_eq!(d.answers[0].comment.as_deref(), Some("Nadie responde"));
    assert_eq!(d.day.counts.responses, 3);
    assert_eq!(d.day.counts.sent, 10);
    assert_eq!(d.day.counts.flagged, 1);
    assert_eq!(d.day_before.counts.responses, 1);
    assert_eq!(d.open_follow_ups_total, 2);
    let ages: Vec<i64> = d.open_follow_ups.iter().map(|x| x.age_days).collect();
    assert_eq!(
        ages,
        [10, 1],
        "oldest first, in days to the report's morning"
    );
    let out = render(&report, &f.ctx.config, None).unwrap();
    for needle in [
        "Answers: 3 · +2 vs the day before",
        "Surveys sent: 10 · +2 vs the day before",
        "Response rate: 30.0% · +17.5 pts vs the day before",
        "Comment rate: 66.7%",
        "1 answers looked automated",
        "Open follow-ups (2)",
        "Nadie responde",
    ] {
        assert!(
            out.text.contains(needle),
            "{needle:?} missing from\n{}",
            out.text
        );
    }
    let pos_det = out.html.find("Nadie responde").unwrap();
    let pos_pro = out.html.find("Great").unwrap();
    assert!(pos_det < pos_pro, "detractors first in the HTML too");
}

#[tokio::test]
async fn periods_follow_the_company_calendar_across_dst_and_quarter_ends() {
    let mut f = Fixture::new().await;
    let c = f
        .contact("a@example.com", "Ana", Locale::En, None, None)
        .await;
    // Sunday 29 March 2026, the 23-hour day in Madrid: 00:30 and 23:30 local are both that day.
    f.answer_at(
        &c,
        ts("2026-03-28T23:30:00Z"),
        10,
        None,
        AnswerSource::Human,
    )
    .await; // 00:30 CET
    f.answer_at(&c, ts("2026-03-29T21:30:00Z"), 0, None, AnswerSource::Human)
        .await; // 23:30 CEST
    f.answer_at(&c, ts("2026-03-29T22:30:00Z"), 5, None, AnswerSource::Human)
        .await; // 00:30 Monday
    // The digest the Monday morning after (08:00 CEST = 06:00 UTC).
    let at = ts("2026-03-30T06:00:00Z");
    let p = report_period(ReportKind::Daily, at, &tz()).unwrap();
    assert_eq!(p.label(), "2026-03-29");
    let daily = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Daily,
        p,
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Daily(d) = &daily.body else {
        panic!()
    };
    assert_eq!(d.day.stats.n, 2);
    assert_eq!((d.day.stats.promoters, d.day.stats.detractors), (1, 1));

    // A quarter that starts on a Monday: Q1 2024 ends on Sunday 31 March (also a DST day).
    f.answer_at(&c, ts("2024-03-31T21:30:00Z"), 9, None, AnswerSource::Human)
        .await; // 23:30 CEST, 31 Mar
    f.answer_at(&c, ts("2024-03-31T22:15:00Z"), 1, None, AnswerSource::Human)
        .await; // 00:15, 1 Apr
    f.answer_at(
        &c,
        ts("2023-12-31T23:30:00Z"),
        10,
        None,
        AnswerSource::Human,
    )
    .await; // 00:30, 1 Jan
    // The quarterly and the weekly both run at 00:30 on Monday 1 April (still 31 March in UTC).
    let at = ts("2024-03-31T22:30:00Z");
    let qp = report_period(ReportKind::Quarterly, at, &tz()).unwrap();
    assert_eq!(qp.label(), "2024-Q1");
    let q = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Quarterly,
        qp,
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Quarterly(q) = &q.body else {
        panic!()
    };
    assert_eq!(
        (q.quarter.stats.n, q.quarter.stats.promoters),
        (2, 2),
        "1 Jan 00:30 and 31 Mar 23:30 in, 1 Apr 00:15 out"
    );
    let wp = report_period(ReportKind::Weekly, at, &tz()).unwrap();
    assert_eq!(
        (wp.label(), wp.first(), wp.last()),
        ("2024-W13".to_string(), date(2024, 3, 25), date(2024, 3, 31))
    );
    let w = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        wp,
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let ReportBody::Weekly(w) = &w.body else {
        panic!()
    };
    assert_eq!(w.week.stats.n, 1);
}

#[tokio::test]
async fn hostile_comments_are_escaped_in_html_and_neutralised_in_csv() {
    let mut f = Fixture::new().await;
    let c = f
        .contact(
            "mallory@example.com",
            "<b>Mallory</b>",
            Locale::En,
            Some("=cmd|' /C calc'!A0"),
            Some("pro"),
        )
        .await;
    let day = date(2026, 2, 25);
    f.answer(
        &c,
        day,
        1,
        Some("<script>alert('x')</script><img src=x onerror=alert(1)>"),
    )
    .await;
    f.answer(
        &c,
        day,
        2,
        Some("=HYPERLINK(\"http://evil.example\",\"click\")"),
    )
    .await;
    f.answer(&c, date(2026, 3, 1), 3, Some("@SUM(1+1)*cmd|' /C calc'!A0"))
        .await;
    let at = ts("2026-03-02T07:00:00Z");
    let report = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Weekly,
        Period::parse("2026-W09").unwrap(),
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let out = render(&report, &f.ctx.config, None).unwrap();
    assert!(
        !out.html.to_lowercase().contains("<script"),
        "no script element"
    );
    assert!(!out.html.contains("<img"), "no injected element");
    assert!(
        entities(&out.html).contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "escaped comment shown"
    );
    // The plain-text part shows the text as written (it is not HTML).
    assert!(out.text.contains("<script>alert('x')</script>"));
    let csv = pulso_core::reports::archive::to_csv(&report).unwrap();
    let rows = csv_cells(&csv);
    assert!(
        rows.iter().all(|r| r.len() == 4),
        "section,item,field,value"
    );
    let cells: Vec<String> = rows.into_iter().flatten().collect();
    assert!(
        cells
            .iter()
            .any(|c| c == "'=HYPERLINK(\"http://evil.example\",\"click\")"),
        "{cells:?}"
    );
    assert!(cells.iter().any(|c| c.starts_with("'@SUM")), "{cells:?}");
    assert!(
        !cells
            .iter()
            .any(|c| c.starts_with('=') || c.starts_with('@')),
        "no live formula in {cells:?}"
    );

    // The digest shows the contact's name escaped too.
    let daily = build(
        &f.ctx.store,
        &f.ctx.config,
        ReportKind::Daily,
        Period::parse("2026-02-25").unwrap(),
        at,
        Locale::En,
    )
    .await
    .unwrap();
    let out = render(&daily, &f.ctx.config, None).unwrap();
    assert!(entities(&out.html).contains("&lt;b&gt;Mallory&lt;/b&gt;"));
    assert!(!out.html.contains("<b>Mallory"));
    let csv = pulso_core::reports::archive::to_csv(&daily).unwrap();
    assert!(csv.contains("'=cmd|"), "account neutralised: {csv}");
}

#[tokio::test]
async fn the_metrics_query_matches_a_recount_for_segments_and_accounts() {
    let mut f = Fixture::new().await;
    populate(&mut f, date(2026, 1, 1), date(2026, 3, 31), 4, 21).await;
    let q = MetricsQuery::parse(
        "from=2026-01-01&to=2026-03-31&segment=plan:enterprise&interval=month",
        date(2026, 4, 1),
    )
    .unwrap();
    let m = metrics(&f.ctx.store, &tz(), &q).await.unwrap();
    let (p, a, d, c) = recount(&f, date(2026, 1, 1), date(2026, 3, 31), |r| {
        r.attributes.get("plan") == Some("enterprise")
    });
    assert_eq!(
        (m.nps.promoters, m.nps.passives, m.nps.detractors),
        (p, a, d)
    );
    assert_eq!(m.counts.comments, c);
    assert_eq!(m.segment.as_deref(), Some("seg:plan=enterprise"));
    assert_eq!(m.time_zone, "Europe/Madrid");
    assert_eq!(m.trend.len(), 3);
    for t in &m.trend {
        let (p, a, d, _) = recount(&f, t.start, t.end, |r| {
            r.attributes.get("plan") == Some("enterprise")
        });
        assert_eq!(t.stats.n, p + a + d, "{}", t.label);
    }
    let q = MetricsQuery {
        from: date(2026, 2, 1),
        to: date(2026, 2, 28),
        segment: Some(Dimension::Account(
            AccountName::parse("GLOBEX").unwrap().key(),
        )),
        interval: Some(Interval::Week),
    };
    let m = metrics(&f.ctx.store, &tz(), &q).await.unwrap();
    let (p, a, d, _) = recount(&f, date(2026, 2, 1), date(2026, 2, 28), |r| {
        r.account.as_ref().map(|x| x.as_str()) == Some("Globex")
    });
    assert_eq!(
        (m.nps.promoters, m.nps.passives, m.nps.detractors),
        (p, a, d)
    );
    assert_eq!(
        m.trend.first().unwrap().start,
        date(2026, 2, 1),
        "clipped to the range"
    );
    // The JSON the events API returns.
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["counts"]["responses"], p + a + d);
    assert!(json["trend"][0]["label"].as_str().unwrap().contains("-W"));

    // A bad query names its field.
    let e = MetricsQuery::parse("from=2026-02-30", date(2026, 4, 1)).unwrap_err();
    assert_eq!(e.field, "from");
}
