//! The reports handler on the AWS adapters, against moto's server (`PULSO_TEST_AWS_ENDPOINT`,
//! started by scripts/test): DynamoDB rollups and report claims, the S3 archive and SES. A
//! schedule's event builds, archives and emails the weekly report once; its retry does nothing;
//! the metrics query reads the same rollups.

use std::sync::Arc;

use jiff::civil::date;
use pulso_core::model::{AnswerSource, ReportKind, ReportRunStatus, Response, SurveyKind};
use pulso_core::model::{Dimension, rollup_deltas};
use pulso_core::ports::{Archive, FixedClock, ReportRuns, Responses, SequentialIds};
use pulso_core::reports::periods::add_days;
use pulso_core::reports::{Interval, MetricsQuery, metrics};
use pulso_core::{Attributes, Config, Ctx, Locale, Score, SendId, SigningKeys};
use pulso_tests::aws;

fn response(i: u32, score: u8, day: jiff::civil::Date) -> Response {
    let mut attributes = Attributes::new();
    attributes
        .set("plan", if i.is_multiple_of(2) { "pro" } else { "free" })
        .unwrap();
    let at = pulso_core::time::at_local(
        day,
        jiff::civil::Time::new(10, 0, 0, 0).unwrap(),
        &jiff::tz::TimeZone::get("Europe/Madrid").unwrap(),
    );
    Response {
        send_id: SendId::for_key(&format!("aws-report:{i}")),
        contact_id: None,
        score: Score::new(score).unwrap(),
        comment: Some(
            if score <= 6 {
                "Slow support"
            } else {
                "Easy to use"
            }
            .into(),
        ),
        locale: Locale::En,
        kind: SurveyKind::Relational,
        touchpoint: None,
        account: None,
        attributes,
        day,
        answered_at: at,
        updated_at: at,
        source: AnswerSource::Human,
        flag_reason: None,
        commits: vec![at],
        version: 1,
    }
}

#[tokio::test]
async fn the_weekly_schedule_runs_once_on_dynamodb_s3_and_ses() -> anyhow::Result<()> {
    let store = aws::fresh_table().await?;
    let archive = aws::fresh_bucket().await?;
    let mailer = aws::ses_mailer("acme.example", None).await?;
    // moto keeps every message it was sent while it runs: a recipient of this run's own tells
    // this run's emails from an earlier run's against the same server.
    let team = aws::unique("team").to_lowercase() + "@acme.example";
    let config = Config::load(
        &format!(
            "[company]\nname = \"Acme\"\ntime_zone = \"Europe/Madrid\"\n\
             [email]\nfrom = \"Acme <nps@acme.example>\"\n\
             [links]\nbase_url = \"https://nps.acme.example\"\n\
             [audiences.weekly]\nrecipients = [\"{team}\"]\n"
        ),
        Vec::<(String, String)>::new(),
    )?;
    let clock = FixedClock::at("2026-03-02T07:00:00Z".parse()?);
    let ctx = Ctx {
        config: Arc::new(config),
        keys: SigningKeys::single("k1", &[9u8; 32])?.into(),
        store,
        mailer,
        archive,
        clock: Arc::new(clock.clone()),
        ids: Arc::new(SequentialIds::new("aws")),
    };
    // Week 9 of 2026 (23 Feb – 1 Mar): 12 promoters, 3 passives, 5 detractors; one in week 8.
    let mut i = 0;
    for (score, n) in [(10u8, 12), (8, 3), (2, 5)] {
        for _ in 0..n {
            i += 1;
            let r = response(i, score, add_days(date(2026, 2, 23), i64::from(i % 7)));
            ctx.store
                .save_response(&r, &rollup_deltas(None, &r))
                .await?;
        }
    }
    let r = response(99, 9, date(2026, 2, 18));
    ctx.store
        .save_response(&r, &rollup_deltas(None, &r))
        .await?;

    let event = serde_json::json!({"report": "weekly", "at": "2026-03-02T07:00:00Z"});
    let first = pulso_reports::handle(&ctx, &event).await?;
    assert_eq!(first.period, "2026-W09");
    assert_eq!(
        first.outcome,
        pulso_reports::Outcome::Sent { recipients: 1 }
    );
    let keys = first.archive.clone().expect("archived");
    for key in [&keys.html, &keys.csv, &keys.json] {
        assert!(ctx.archive.get(key).await?.is_some(), "{key} in S3");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&ctx.archive.get(&keys.json).await?.unwrap())?;
    assert_eq!(json["body"]["week"]["stats"]["n"], 20);
    assert_eq!(json["body"]["week"]["stats"]["score"], 35); // (12 − 5) / 20

    // The retry an hour later finds the period sent.
    clock.set("2026-03-02T08:00:00Z".parse()?);
    let again = pulso_reports::handle(&ctx, &event).await?;
    assert_eq!(again.outcome, pulso_reports::Outcome::AlreadySent);
    let run = ctx
        .store
        .report_run(ReportKind::Weekly, "2026-W09")
        .await?
        .expect("the claim");
    assert!(matches!(run.status, ReportRunStatus::Sent { .. }));

    let sent: Vec<_> = aws::sent_raw_messages()
        .await?
        .into_iter()
        .filter(|m| m.raw.contains("report.weekly.2026-W09@acme.example"))
        .filter(|m| m.destinations.contains(&team))
        .collect();
    assert_eq!(sent.len(), 1, "one email for the period");
    let msg = mail_parser::MessageParser::default()
        .parse(sent[0].raw.as_bytes())
        .unwrap();
    assert!(msg.subject().unwrap().contains("NPS +35 (n = 20)"));
    assert!(msg.body_text(0).unwrap().contains("NPS: +35"));
    assert!(
        msg.body_html(0)
            .unwrap()
            .contains("https://nps.acme.example/r/")
    );

    // The metrics query reads the same rollups from DynamoDB.
    let q = MetricsQuery {
        from: date(2026, 2, 16),
        to: date(2026, 3, 1),
        segment: Some(Dimension::Segment {
            name: "plan".into(),
            value: "pro".into(),
        }),
        interval: Some(Interval::Week),
    };
    let m = metrics(&ctx.store, &ctx.tz(), &q).await?;
    assert_eq!(m.trend.len(), 2);
    assert_eq!(
        m.trend[1].stats.n, 10,
        "even-numbered answers of week 9 are pro"
    );
    Ok(())
}
