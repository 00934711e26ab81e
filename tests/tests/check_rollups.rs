//! `pulso check`'s core: rollups recomputed from the answers agree with the stored ones after
//! answers, re-answers, flagged answers and an erasure; a corrupted rollup is reported with its
//! day, dimension, field, stored and recomputed values.

#[path = "reports_fixture/mod.rs"]
mod reports_fixture;

use jiff::civil::date;
use pulso_core::model::{Counts, Dimension, Rollup};
use pulso_core::ports::{Responses, Rollups};
use pulso_core::reports::check::check;
use reports_fixture::*;

#[tokio::test]
async fn rollups_agree_with_the_answers_they_came_from() {
    let mut f = Fixture::new().await;
    populate(&mut f, date(2026, 2, 1), date(2026, 2, 28), 5, 9).await;
    let report = check(&f.ctx.store, date(2026, 1, 31), date(2026, 3, 1))
        .await
        .unwrap();
    assert_eq!(report.days, 30);
    assert_eq!(report.answers, f.answers.len());
    assert!(report.rollups > 28);
    assert!(report.differences.is_empty(), "{:?}", report.differences);
}

#[tokio::test]
async fn a_corrupted_rollup_is_reported_field_by_field() {
    let mut f = Fixture::new().await;
    populate(&mut f, date(2026, 2, 1), date(2026, 2, 7), 5, 13).await;
    let mut delta = Counts {
        comments: -1,
        ..Default::default()
    };
    delta.scores[9] = 2;
    let plan = Dimension::Segment {
        name: "plan".into(),
        value: "pro".into(),
    };
    let stored_before = f
        .ctx
        .store
        .rollups(date(2026, 2, 3), date(2026, 2, 3))
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.dimension == plan)
        .map(|r| r.counts)
        .unwrap_or_default();
    f.ctx
        .store
        .add_to_rollups(&[Rollup {
            day: date(2026, 2, 3),
            dimension: plan.clone(),
            counts: delta,
        }])
        .await
        .unwrap();
    // A rollup with no answer behind it at all.
    let mut ghost = Counts::default();
    ghost.scores[0] = 1;
    f.ctx
        .store
        .add_to_rollups(&[Rollup {
            day: date(2026, 2, 5),
            dimension: Dimension::Touchpoint(pulso_core::Touchpoint::parse("ghost").unwrap()),
            counts: ghost,
        }])
        .await
        .unwrap();
    let report = check(&f.ctx.store, date(2026, 2, 1), date(2026, 2, 7))
        .await
        .unwrap();
    let lines: Vec<String> = report.differences.iter().map(|d| d.to_string()).collect();
    assert_eq!(report.differences.len(), 3, "{lines:?}");
    assert!(lines.contains(&format!(
        "2026-02-03 seg:plan=pro scores[9]: stored {}, recomputed {}",
        stored_before.scores[9] + 2,
        stored_before.scores[9]
    )));
    assert!(lines.contains(&format!(
        "2026-02-03 seg:plan=pro comments: stored {}, recomputed {}",
        stored_before.comments - 1,
        stored_before.comments
    )));
    assert!(lines.contains(&"2026-02-05 tp:ghost scores[0]: stored 1, recomputed 0".to_string()));
    // The check reads; it never repairs.
    let again = check(&f.ctx.store, date(2026, 2, 1), date(2026, 2, 7))
        .await
        .unwrap();
    assert_eq!(again.differences, report.differences);
}

#[tokio::test]
async fn an_erased_contacts_answers_still_add_up() {
    let mut f = Fixture::new().await;
    let c = f
        .contact(
            "gone@example.com",
            "Gone",
            pulso_core::Locale::En,
            None,
            None,
        )
        .await;
    let r = f
        .answer(&c, date(2026, 2, 2), 4, Some("private words"))
        .await;
    // Erasure as the contacts service does it: contact and comment go, the rollup stays.
    let mut erased = r.clone();
    erased.contact_id = None;
    erased.comment = None;
    erased.version += 1;
    f.ctx.store.save_response(&erased, &[]).await.unwrap();
    let report = check(&f.ctx.store, date(2026, 2, 2), date(2026, 2, 2))
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    // But a comment counted twice is still caught.
    let extra = Counts {
        comments: 1,
        ..Default::default()
    };
    f.ctx
        .store
        .add_to_rollups(&[Rollup {
            day: date(2026, 2, 2),
            dimension: Dimension::All,
            counts: extra,
        }])
        .await
        .unwrap();
    let report = check(&f.ctx.store, date(2026, 2, 2), date(2026, 2, 2))
        .await
        .unwrap();
    assert_eq!(report.differences.len(), 1, "{:?}", report.differences);
    assert_eq!(report.differences[0].field, "comments");
}
