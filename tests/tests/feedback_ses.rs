//! SES feedback through the feedback function's handler, with SES's event shapes as fixtures
//! (tests/fixtures/ses): EventBridge and SNS forms, permanent and transient bounces, complaints,
//! deliveries, and a batch with unreadable records that must not fail.

mod capture_support;

use capture_support::Harness;
use pulso_core::feedback::{FeedbackSummary, SOFT_BOUNCE_LIMIT};
use pulso_core::model::{Suppression, SuppressionReason};
use pulso_core::ports::Suppressions;
use pulso_core::types::Email;

fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/fixtures/ses/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

async fn suppression(h: &Harness, address: &str) -> Option<Suppression> {
    h.ctx
        .store
        .suppression(&Email::parse(address).unwrap().hash())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_permanent_bounce_from_eventbridge_suppresses_the_address() {
    let h = Harness::new("");
    let s = pulso_feedback::handle(&h.ctx, &fixture("eventbridge-bounce-permanent.json"))
        .await
        .unwrap();
    assert_eq!(s.hard_bounces, 1);
    let sup = suppression(&h, "gone@example.com")
        .await
        .expect("suppressed");
    assert_eq!(sup.reason, Some(SuppressionReason::HardBounce));
    assert!(sup.suppresses());
    assert_eq!(sup.at, h.now());
}

#[tokio::test]
async fn a_complaint_suppresses_in_both_forms() {
    let h = Harness::new("");
    let s = pulso_feedback::handle(&h.ctx, &fixture("eventbridge-complaint.json"))
        .await
        .unwrap();
    assert_eq!(s.complaints, 1);
    assert_eq!(
        suppression(&h, "angry@example.com").await.unwrap().reason,
        Some(SuppressionReason::Complaint)
    );
    // The classic SNS notification (notificationType), with a display name and mixed case.
    let s = pulso_feedback::handle(&h.ctx, &fixture("sns-notification-complaint.json"))
        .await
        .unwrap();
    assert_eq!(s.complaints, 1);
    assert_eq!(
        suppression(&h, "complainer@example.com")
            .await
            .unwrap()
            .reason,
        Some(SuppressionReason::Complaint)
    );
}

#[tokio::test]
async fn an_sns_event_publishing_bounce_suppresses() {
    let h = Harness::new("");
    let s = pulso_feedback::handle(&h.ctx, &fixture("sns-event-publishing-bounce.json"))
        .await
        .unwrap();
    assert_eq!(s.hard_bounces, 1);
    assert_eq!(
        suppression(&h, "nobody@example.com").await.unwrap().reason,
        Some(SuppressionReason::HardBounce)
    );
}

#[tokio::test]
async fn transient_bounces_count_and_the_third_in_a_row_suppresses() {
    let h = Harness::new("");
    let one = fixture("eventbridge-bounce-transient.json");
    let s = pulso_feedback::handle(&h.ctx, &one).await.unwrap();
    assert_eq!(s.soft_bounces, 1);
    let sup = suppression(&h, "full@example.com").await.unwrap();
    assert_eq!((sup.reason, sup.soft_bounces), (None, 1));
    assert!(!sup.suppresses(), "one transient bounce only counts");
    // A delivery in between resets the count: "in a row".
    let s = pulso_feedback::handle(&h.ctx, &fixture("eventbridge-delivery.json"))
        .await
        .unwrap();
    assert_eq!(s.resets, 1);
    assert_eq!(
        suppression(&h, "full@example.com")
            .await
            .unwrap()
            .soft_bounces,
        0
    );
    for n in 1..=SOFT_BOUNCE_LIMIT {
        pulso_feedback::handle(&h.ctx, &one).await.unwrap();
        let sup = suppression(&h, "full@example.com").await.unwrap();
        assert_eq!(sup.soft_bounces, n);
        assert_eq!(sup.suppresses(), n == SOFT_BOUNCE_LIMIT);
    }
    assert_eq!(
        suppression(&h, "full@example.com").await.unwrap().reason,
        Some(SuppressionReason::SoftBounces)
    );
    // Three in one SNS batch do the same.
    let s = pulso_feedback::handle(&h.ctx, &fixture("sns-notification-transient-bounces.json"))
        .await
        .unwrap();
    assert_eq!((s.soft_bounces, s.suppressed_after_soft), (2, 1));
    assert_eq!(
        suppression(&h, "flaky@example.com").await.unwrap().reason,
        Some(SuppressionReason::SoftBounces)
    );
}

#[tokio::test]
async fn an_address_already_suppressed_keeps_its_first_reason() {
    let h = Harness::new("");
    pulso_feedback::handle(&h.ctx, &fixture("eventbridge-bounce-permanent.json"))
        .await
        .unwrap();
    let mut complaint = fixture("eventbridge-complaint.json");
    complaint["detail"]["complaint"]["complainedRecipients"][0]["emailAddress"] =
        "gone@example.com".into();
    let s = pulso_feedback::handle(&h.ctx, &complaint).await.unwrap();
    assert_eq!((s.complaints, s.ignored), (0, 1));
    assert_eq!(
        suppression(&h, "gone@example.com").await.unwrap().reason,
        Some(SuppressionReason::HardBounce)
    );
}

#[tokio::test]
async fn unreadable_and_other_events_are_skipped_without_failing_the_batch() {
    let h = Harness::new("");
    let s = pulso_feedback::handle(&h.ctx, &fixture("sns-mixed-batch.json"))
        .await
        .unwrap();
    assert_eq!(
        s,
        FeedbackSummary {
            hard_bounces: 1,
            ignored: 1,
            unreadable: 2,
            ..FeedbackSummary::default()
        }
    );
    assert!(
        suppression(&h, "second@example.com")
            .await
            .unwrap()
            .suppresses()
    );
    assert!(suppression(&h, "reader@example.com").await.is_none());
    // Shapes that are not SES at all write nothing.
    for junk in [
        serde_json::json!({}),
        serde_json::json!({"Records": [{"foo": 1}]}),
        serde_json::json!({"detail-type": "Email Bounced", "source": "aws.ses"}),
        serde_json::json!([1, 2, 3]),
    ] {
        let s = pulso_feedback::handle(&h.ctx, &junk).await.unwrap();
        assert_eq!(s.hard_bounces + s.complaints + s.soft_bounces, 0);
        assert!(s.unreadable >= 1);
    }
}
