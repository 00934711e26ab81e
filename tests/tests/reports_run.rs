//! The scheduled run: audiences (who gets what, in which language; an empty audience archives
//! without emailing), the archive's three files and the signed link to them, and idempotency (a
//! retried schedule never emails twice; a stale claim is taken over; concurrent runs send once).

mod reports_fixture;

use jiff::civil::date;
use pulso_core::Purpose;
use pulso_core::model::{ReportKind, ReportRun, ReportRunStatus};
use pulso_core::ports::{Archive, ReportRuns};
use pulso_core::reports::run::{Outcome, run};
use reports_fixture::*;

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

async fn company() -> Fixture {
    let mut f = Fixture::with_config(&CONFIG.replace(
        "[audiences.quarterly]\nrecipients = [\"all@acme.example\"]",
        "[audiences.quarterly]\nrecipients = []",
    ))
    .await;
    populate(&mut f, date(2026, 2, 1), date(2026, 3, 31), 4, 3).await;
    f
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default().parse(raw).unwrap()
}

#[tokio::test]
async fn each_audience_gets_its_report_in_its_language() {
    let f = company().await;
    f.set_now("2026-03-02T07:00:00Z");
    let daily = run(&f.ctx, ReportKind::Daily, None).await.unwrap();
    let weekly = run(&f.ctx, ReportKind::Weekly, None).await.unwrap();
    assert_eq!(daily.period, "2026-03-01");
    assert_eq!(weekly.period, "2026-W09");
    assert_eq!(daily.outcome, Outcome::Sent { recipients: 1 });
    assert_eq!(weekly.outcome, Outcome::Sent { recipients: 2 });
    f.set_now("2026-04-01T06:00:00Z");
    let quarterly = run(&f.ctx, ReportKind::Quarterly, None).await.unwrap();
    assert_eq!(quarterly.period, "2026-Q1");
    // No recipients: archived, not emailed.
    assert_eq!(quarterly.outcome, Outcome::Archived);
    let q_keys = quarterly.archive.clone().unwrap();
    assert_eq!(q_keys.html, "reports/quarterly/2026-Q1/report.html");
    assert!(f.archived(&q_keys.html).unwrap().contains("Q1 2026"));
    assert!(
        f.archived(&q_keys.csv)
            .unwrap()
            .starts_with("section,item,field,value")
    );
    let json: serde_json::Value = serde_json::from_str(&f.archived(&q_keys.json).unwrap()).unwrap();
    assert_eq!(json["label"], "2026-Q1");
    assert_eq!(json["body"]["kind"], "quarterly");

    let out = f.outbox();
    assert_eq!(
        out.len(),
        2,
        "the digest and the weekly, nothing for the quarter"
    );
    let digest = out.iter().find(|(n, _)| n.contains("digest")).unwrap();
    let m = parse(&digest.1);
    let to: Vec<String> = m
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address().map(String::from))
        .collect();
    assert_eq!(to, ["support@acme.example"]);
    assert!(
        m.subject().unwrap().starts_with("Resumen diario"),
        "{:?}",
        m.subject()
    );
    assert!(
        m.body_text(0)
            .unwrap()
            .contains("Respuestas del domingo 1 de marzo de 2026")
    );
    let weekly_mail = out.iter().find(|(n, _)| n.contains("weekly")).unwrap();
    let m = parse(&weekly_mail.1);
    let mut to: Vec<String> = m
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address().map(String::from))
        .collect();
    to.sort();
    assert_eq!(to, ["marketing@acme.example", "product@acme.example"]);
    assert!(m.subject().unwrap().starts_with("Weekly NPS, week 9, 2026"));
    assert_eq!(
        m.message_id(),
        Some("report.weekly.2026-W09@acme.example"),
        "a recognisable, per-period Message-ID"
    );
    // Both parts; the HTML links to the archived copy with a token that verifies.
    let html = m.body_html(0).unwrap();
    let text = m.body_text(0).unwrap();
    assert!(text.contains("Weekly NPS report"));
    let start = html
        .find("https://nps.acme.example/r/")
        .expect("archive link");
    let token: String = html[start + "https://nps.acme.example/r/".len()..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let claims = f
        .ctx
        .keys
        .at_hand()
        .unwrap()
        .verify(&token, Purpose::Report, f.clock.now_ts())
        .unwrap();
    assert_eq!(claims.subject, "reports/weekly/2026-W09/report.html");
    assert!(f.ctx.archive.get(&claims.subject).await.unwrap().is_some());
    assert!(!html.to_lowercase().contains("<script"));
    assert!(!html.contains("src=\"http"), "no external images");
}

trait NowTs {
    fn now_ts(&self) -> jiff::Timestamp;
}

impl NowTs for pulso_core::ports::FixedClock {
    fn now_ts(&self) -> jiff::Timestamp {
        pulso_core::ports::Clock::now(self)
    }
}

#[tokio::test]
async fn a_retried_schedule_never_emails_twice() {
    let f = company().await;
    f.set_now("2026-03-02T07:00:00Z");
    let first = run(&f.ctx, ReportKind::Weekly, None).await.unwrap();
    assert_eq!(first.outcome, Outcome::Sent { recipients: 2 });
    // The scheduler retries an hour later, passing the original time.
    f.set_now("2026-03-02T08:00:00Z");
    let again = run(&f.ctx, ReportKind::Weekly, Some(ts("2026-03-02T07:00:00Z")))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::AlreadySent);
    assert!(again.archive.is_none());
    assert_eq!(f.outbox().len(), 1);
    let run_rec = f
        .ctx
        .store
        .report_run(ReportKind::Weekly, "2026-W09")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(run_rec.status, ReportRunStatus::Sent { .. }));
    assert_eq!(run_rec.version, 2);
    assert_eq!(
        run_rec.archive_prefix.as_deref(),
        Some("reports/weekly/2026-W09/")
    );
}

#[tokio::test]
async fn a_fresh_claim_holds_and_a_stale_one_is_taken_over() {
    let f = company().await;
    f.set_now("2026-03-02T07:00:00Z");
    // Another run claimed the digest five minutes ago and is still at work.
    f.ctx
        .store
        .put_report_run(&ReportRun {
            kind: ReportKind::Daily,
            period: "2026-03-01".into(),
            status: ReportRunStatus::Claimed {
                at: ts("2026-03-02T06:55:00Z"),
            },
            archive_prefix: None,
            version: 1,
        })
        .await
        .unwrap();
    let r = run(&f.ctx, ReportKind::Daily, None).await.unwrap();
    assert_eq!(r.outcome, Outcome::InProgress);
    assert!(f.outbox().is_empty());
    assert!(f.archived("reports/daily/2026-03-01/report.html").is_none());
    // Half an hour later that run has plainly died: the next one takes over and sends once.
    f.set_now("2026-03-02T07:30:00Z");
    let r = run(&f.ctx, ReportKind::Daily, Some(ts("2026-03-02T07:00:00Z")))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Sent { recipients: 1 });
    let r = run(&f.ctx, ReportKind::Daily, Some(ts("2026-03-02T07:00:00Z")))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::AlreadySent);
    assert_eq!(f.outbox().len(), 1);
    let rec = f
        .ctx
        .store
        .report_run(ReportKind::Daily, "2026-03-01")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.version, 3, "claim, take-over, sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_of_one_period_send_once() {
    let f = company().await;
    f.set_now("2026-03-02T07:00:00Z");
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let ctx = f.ctx.clone();
            tokio::spawn(async move { run(&ctx, ReportKind::Weekly, None).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap().outcome);
    }
    let sent = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Sent { .. }))
        .count();
    assert_eq!(sent, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        Outcome::Sent { .. } | Outcome::InProgress | Outcome::AlreadySent
    )));
    assert_eq!(f.outbox().len(), 1);
}

#[tokio::test]
async fn a_run_whose_keys_cannot_be_read_claims_nothing_and_its_retry_sends_at_once() {
    let mut f = company().await;
    let (later, keys) = pulso_tests::KeysLater::new();
    f.ctx.keys = keys;
    f.set_now("2026-03-02T07:00:00Z");
    let e = run(&f.ctx, ReportKind::Weekly, None).await.unwrap_err();
    assert!(e.to_string().contains("PULSO_TOKEN_KEYS"), "{e}");
    // No claim to hold the retry back, nothing archived, nothing emailed.
    let claim = f.ctx.store.report_run(ReportKind::Weekly, "2026-W09").await;
    assert!(claim.unwrap().is_none());
    assert!(f.ctx.archive.list("reports/").await.unwrap().is_empty());
    assert!(f.outbox().is_empty());
    // The scheduler's retry a minute later, once the keys can be read, sends the report.
    later.arrive();
    f.set_now("2026-03-02T07:01:00Z");
    let r = run(&f.ctx, ReportKind::Weekly, Some(ts("2026-03-02T07:00:00Z")))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Sent { recipients: 2 });
    assert_eq!(f.outbox().len(), 1);
}

async fn weekly_run_record(f: &Fixture) -> ReportRun {
    let rec = f.ctx.store.report_run(ReportKind::Weekly, "2026-W09").await;
    rec.unwrap().expect("the run's record")
}

#[tokio::test]
async fn a_run_whose_archive_fails_emails_nothing_and_its_retry_sends_at_once() {
    let f = company().await;
    f.set_now("2026-03-02T07:00:00Z");
    // The page cannot be stored: a directory stands where its file goes.
    let page = f
        .ctx
        .archive
        .path_of("reports/weekly/2026-W09/report.html")
        .unwrap();
    std::fs::create_dir_all(page.join("in-the-way")).unwrap();
    let e = run(&f.ctx, ReportKind::Weekly, None).await.unwrap_err();
    assert!(e.to_string().contains("archive"), "{e}");
    assert!(
        f.outbox().is_empty(),
        "no email links a page that is not there"
    );
    let rec = weekly_run_record(&f).await;
    assert!(
        matches!(rec.status, ReportRunStatus::Failed { at } if at == ts("2026-03-02T07:00:00Z")),
        "{rec:?}"
    );
    assert_eq!(rec.version, 2, "claimed, failed");
    // The scheduler's retry a minute later, with the archive mended, is not held off by a lease.
    std::fs::remove_dir_all(&page).unwrap();
    f.set_now("2026-03-02T07:01:00Z");
    let r = run(&f.ctx, ReportKind::Weekly, Some(ts("2026-03-02T07:00:00Z")))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Sent { recipients: 2 });
    assert!(f.archived("reports/weekly/2026-W09/report.html").is_some());
    assert_eq!(f.outbox().len(), 1);
    let rec = weekly_run_record(&f).await;
    assert!(
        matches!(rec.status, ReportRunStatus::Sent { .. }),
        "{rec:?}"
    );
    assert_eq!(rec.version, 4, "claimed, failed, taken over, sent");
    // And it went out once: a later retry does nothing.
    let r = run(&f.ctx, ReportKind::Weekly, Some(ts("2026-03-02T07:00:00Z")))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::AlreadySent);
    assert_eq!(f.outbox().len(), 1);
}

#[tokio::test]
async fn a_run_whose_mail_service_fails_is_marked_failed_and_its_retry_sends_once() {
    let f = company().await;
    f.set_now("2026-03-02T07:00:00Z");
    // The mail service is down: its outbox folder is a file.
    let outbox = f.ctx.mailer.dir().to_path_buf();
    std::fs::remove_dir_all(&outbox).unwrap();
    std::fs::write(&outbox, b"").unwrap();
    let e = run(&f.ctx, ReportKind::Weekly, None).await.unwrap_err();
    assert!(e.to_string().contains("outbox"), "{e}");
    // The archive is written (a re-run overwrites it), the run is marked failed.
    assert!(f.archived("reports/weekly/2026-W09/report.html").is_some());
    let rec = weekly_run_record(&f).await;
    assert!(
        matches!(rec.status, ReportRunStatus::Failed { .. }),
        "{rec:?}"
    );
    // Two retries at once, once the service is back: one sends, the other finds it at work or sent.
    std::fs::remove_file(&outbox).unwrap();
    std::fs::create_dir(&outbox).unwrap();
    f.set_now("2026-03-02T07:01:00Z");
    let at = Some(ts("2026-03-02T07:00:00Z"));
    let (a, b) = tokio::join!(
        run(&f.ctx, ReportKind::Weekly, at),
        run(&f.ctx, ReportKind::Weekly, at)
    );
    let mut outcomes = [a.unwrap().outcome, b.unwrap().outcome];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert!(
        matches!(
            outcomes,
            [
                Outcome::AlreadySent | Outcome::InProgress,
                Outcome::Sent { recipients: 2 }
            ]
        ),
        "{outcomes:?}"
    );
    assert_eq!(f.outbox().len(), 1);
}

#[tokio::test]
async fn a_period_that_cannot_be_a_report_is_refused_and_nothing_is_written() {
    let f = company().await;
    // A month is not a report period.
    let month = pulso_core::reports::Period::parse("2026-02").unwrap();
    let e = pulso_core::reports::run::run_period(
        &f.ctx,
        ReportKind::Weekly,
        month,
        ts("2026-03-02T07:00:00Z"),
    )
    .await;
    assert!(e.is_err());
    assert!(f.outbox().is_empty());
    assert!(
        f.ctx
            .store
            .report_run(ReportKind::Weekly, "2026-02")
            .await
            .unwrap()
            .is_none()
    );
    assert!(f.ctx.archive.list("reports/").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_malformed_schedule_event_is_refused_and_nothing_is_written() {
    let f = company().await;
    f.set_now("2026-03-02T07:00:00Z");
    for event in [
        serde_json::json!({"report": "monthly"}),
        serde_json::json!({"report": "weekly", "at": "next monday"}),
        serde_json::json!({"at": "2026-03-02"}),
        serde_json::json!("weekly"),
    ] {
        let e = pulso_reports::handle(&f.ctx, &event).await.unwrap_err();
        assert!(
            matches!(e, pulso_reports::HandlerError::BadEvent(_)),
            "{event}: {e}"
        );
    }
    assert!(f.outbox().is_empty());
    assert!(f.ctx.archive.list("").await.unwrap().is_empty());
    for (kind, period) in [
        (ReportKind::Weekly, "2026-W09"),
        (ReportKind::Daily, "2026-03-01"),
    ] {
        assert!(
            f.ctx
                .store
                .report_run(kind, period)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn the_daily_run_removes_comments_past_retention_and_keeps_scores() {
    use pulso_core::ports::Responses;
    let mut f = Fixture::with_config(&format!("{CONFIG}\n[retention]\ncomment_months = 1\n")).await;
    populate(&mut f, date(2026, 1, 1), date(2026, 3, 1), 4, 7).await;
    let commented_before = |pred: &dyn Fn(jiff::civil::Date) -> bool| {
        f.answers
            .values()
            .filter(|r| pred(r.day) && r.has_comment())
            .count()
    };
    let to_go = commented_before(&|d| d < date(2026, 2, 2));
    let aging_next = commented_before(&|d| d == date(2026, 2, 2));
    let staying = commented_before(&|d| d > date(2026, 2, 2));
    assert!(to_go > 0 && aging_next > 0 && staying > 0);
    let old_day = date(2026, 1, 15);
    let old_before = f.ctx.store.responses_of_day(old_day).await.unwrap();

    // On 2 March the cutoff is 2 February: January's comments go, February's stay.
    f.set_now("2026-03-02T07:00:00Z");
    let daily = run(&f.ctx, ReportKind::Daily, None).await.unwrap();
    assert_eq!(daily.outcome, Outcome::Sent { recipients: 1 });
    assert_eq!(daily.comments_removed, Some(to_go));
    let commented_on = |day| {
        let store = f.ctx.store.clone();
        async move {
            store
                .commented_responses_of_day(day, 1000)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(commented_on(old_day).await, 0);
    assert_eq!(commented_on(date(2026, 2, 1)).await, 0);
    assert_eq!(commented_on(date(2026, 2, 2)).await, aging_next);
    // The answers and their scores stay; only the comments are gone.
    let old_after = f.ctx.store.responses_of_day(old_day).await.unwrap();
    assert_eq!(old_after.len(), old_before.len());
    for (a, b) in old_after.iter().zip(&old_before) {
        assert_eq!((&a.send_id, a.score), (&b.send_id, b.score));
        assert_eq!(a.comment, None);
    }
    // The next day's run removes the day that just aged out, and nothing else.
    f.set_now("2026-03-03T07:00:00Z");
    let next = run(&f.ctx, ReportKind::Daily, None).await.unwrap();
    assert_eq!(next.comments_removed, Some(aging_next));
    let mut left = 0;
    for day in (0..28).map(|i| date(2026, 2, 3) + jiff::Span::new().days(i)) {
        left += commented_on(day).await;
    }
    assert_eq!(left, staying);
    // Weekly runs leave retention to the daily one.
    let weekly = run(&f.ctx, ReportKind::Weekly, None).await.unwrap();
    assert_eq!(weekly.comments_removed, None);
}
