//! The DynamoDB store (`pulso_aws::DynamoStore`) against moto's server: the shared store contract
//! (`pulso_tests::contract_suite!`), then cases of its own — conditional writes, transactions and
//! index queries of `docs/data-model.md`, and comment retention. Each test gets a fresh table.

use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};

use pulso_aws::DynamoStore;
use pulso_core::model::*;
use pulso_core::ports::*;
use pulso_core::types::*;
use pulso_tests::aws::fresh_table;

/// The shared contract, one test per case, each on a fresh table.
mod contract {
    async fn store() -> pulso_aws::DynamoStore {
        pulso_tests::aws::fresh_table()
            .await
            .expect("a table on moto")
    }

    pulso_tests::contract_suite!(store);
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn contact(id: &str, email: &str) -> Contact {
    let id = ContactId::parse(id).unwrap();
    Contact {
        slot: slot_of(&id),
        id,
        email: Email::parse(email).unwrap(),
        name: Some("Ana Pérez".into()),
        locale: Locale::Es,
        account: Some(AccountName::parse("Acme  Corp").unwrap()),
        time_zone: None,
        attributes: Attributes::new(),
        customer_since: None,
        created_at: t("2026-01-01T00:00:00Z"),
        updated_at: t("2026-01-01T00:00:00Z"),
        last_surveyed_at: None,
        unsubscribed_at: None,
        version: 1,
    }
}

fn send(key: &str, contact: &str, next: Option<&str>) -> SurveySend {
    SurveySend {
        id: SendId::for_key(key),
        contact_id: ContactId::parse(contact).unwrap(),
        kind: SurveyKind::Relational,
        touchpoint: None,
        key: key.into(),
        locale: Locale::En,
        created_at: t("2026-03-01T00:00:00Z"),
        due_at: t("2026-03-02T09:00:00Z"),
        status: SendStatus::Scheduled,
        reminder: ReminderState::None,
        message_id: None,
        answered_at: None,
        next_action_at: next.map(t),
        version: 1,
    }
}

fn response(key: &str, contact: &str, score: u8, comment: Option<&str>, day: Date) -> Response {
    let mut attributes = Attributes::new();
    attributes.set("plan", "pro").unwrap();
    Response {
        send_id: SendId::for_key(key),
        contact_id: Some(ContactId::parse(contact).unwrap()),
        score: Score::new(score).unwrap(),
        comment: comment.map(String::from),
        locale: Locale::En,
        kind: SurveyKind::Relational,
        touchpoint: None,
        account: Some(AccountName::parse("Acme").unwrap()),
        attributes,
        day,
        answered_at: t("2026-03-02T10:00:00Z"),
        updated_at: t("2026-03-02T10:00:00Z"),
        source: AnswerSource::Human,
        flag_reason: None,
        commits: vec![],
        version: 1,
    }
}

fn is_conflict<T: std::fmt::Debug>(r: StoreResult<T>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

async fn store() -> DynamoStore {
    fresh_table().await.expect("moto table")
}

#[tokio::test]
async fn contacts_by_id_email_account_and_slot() {
    let s = store().await;
    let a = contact("c-a", "Ana@Acme.example");
    s.put_contact(&a).await.unwrap();
    assert_eq!(s.contact(&a.id).await.unwrap(), Some(a.clone()));
    let by_email = s
        .contact_by_email(&Email::parse("ana@acme.example").unwrap())
        .await
        .unwrap();
    assert_eq!(by_email, Some(a.clone()));
    assert_eq!(
        s.contact_by_email(&Email::parse("nobody@acme.example").unwrap())
            .await
            .unwrap(),
        None
    );
    let key = a.account_key().unwrap();
    assert_eq!(s.contacts_of_account(&key).await.unwrap(), vec![a.clone()]);
    let in_slot = s.contacts_in_slots(a.slot, a.slot + 1).await.unwrap();
    assert_eq!(in_slot, vec![a.clone()]);
    assert!(
        s.contacts_in_slots(a.slot + 1, SLOTS)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_email_belongs_to_one_contact_and_nothing_is_written_on_conflict() {
    let s = store().await;
    let a = contact("c-a", "ana@acme.example");
    s.put_contact(&a).await.unwrap();
    let b = contact("c-b", "ANA@acme.example");
    assert!(is_conflict(s.put_contact(&b).await));
    assert_eq!(s.contact(&b.id).await.unwrap(), None);
    // The same contact again at version 1 is a conflict too (it exists).
    assert!(is_conflict(s.put_contact(&a).await));
}

#[tokio::test]
async fn versioned_contact_writes_replace_only_the_previous_version() {
    let s = store().await;
    let mut a = contact("c-a", "ana@acme.example");
    s.put_contact(&a).await.unwrap();
    a.version = 2;
    a.name = Some("Ana".into());
    s.put_contact(&a).await.unwrap();
    // A writer still holding version 1 loses.
    let mut stale = a.clone();
    stale.name = Some("Stale".into());
    assert!(is_conflict(s.put_contact(&stale).await));
    // Skipping a version loses.
    let mut skip = a.clone();
    skip.version = 4;
    assert!(is_conflict(s.put_contact(&skip).await));
    // The email never changes.
    let mut moved = a.clone();
    moved.version = 3;
    moved.email = Email::parse("other@acme.example").unwrap();
    assert!(is_conflict(s.put_contact(&moved).await));
    assert_eq!(s.contact(&a.id).await.unwrap(), Some(a));
}

#[tokio::test]
async fn deleting_a_contact_frees_its_email() {
    let s = store().await;
    let a = contact("c-a", "ana@acme.example");
    s.put_contact(&a).await.unwrap();
    s.delete_contact(&a.id).await.unwrap();
    s.delete_contact(&a.id).await.unwrap(); // idempotent
    assert_eq!(s.contact(&a.id).await.unwrap(), None);
    assert_eq!(s.contact_by_email(&a.email).await.unwrap(), None);
    let b = contact("c-b", "ana@acme.example");
    s.put_contact(&b).await.unwrap();
    assert_eq!(s.contact_by_email(&a.email).await.unwrap(), Some(b));
}

#[tokio::test]
async fn slot_ranges_span_buckets_in_slot_order() {
    let s = store().await;
    let mut slots = Vec::new();
    for i in 0..40 {
        let c = contact(&format!("c{i}"), &format!("p{i}@acme.example"));
        slots.push(c.slot);
        s.put_contact(&c).await.unwrap();
    }
    slots.sort();
    let (from, to) = (slots[5], slots[30]);
    let got: Vec<u16> = s
        .contacts_in_slots(from, to)
        .await
        .unwrap()
        .iter()
        .map(|c| c.slot)
        .collect();
    let want: Vec<u16> = slots
        .iter()
        .copied()
        .filter(|x| (from..to).contains(x))
        .collect();
    assert_eq!(got, want);
    assert_eq!(s.contacts_in_slots(0, SLOTS).await.unwrap().len(), 40);
}

#[tokio::test]
async fn reserving_a_send_is_all_or_nothing() {
    let s = store().await;
    let mut c = contact("c-a", "ana@acme.example");
    s.put_contact(&c).await.unwrap();
    let x = send("wave:c-a:1", "c-a", Some("2026-03-02T09:00:00Z"));
    c.version = 2;
    c.last_surveyed_at = Some(t("2026-03-02T09:00:00Z"));
    s.reserve_send(&c, &x).await.unwrap();
    assert_eq!(s.send(&x.id).await.unwrap(), Some(x.clone()));
    assert_eq!(s.contact(&c.id).await.unwrap(), Some(c.clone()));

    // A retry of the same reservation: the send exists, nothing changes.
    let mut retry = c.clone();
    retry.version = 3;
    assert!(is_conflict(s.reserve_send(&retry, &x).await));
    assert_eq!(s.contact(&c.id).await.unwrap().unwrap().version, 2);

    // A stale contact: the new send is not written either.
    let y = send("wave:c-a:2", "c-a", None);
    let mut stale = c.clone();
    stale.version = 2;
    assert!(is_conflict(s.reserve_send(&stale, &y).await));
    assert_eq!(s.send(&y.id).await.unwrap(), None);
    assert_eq!(s.sends_of_contact(&c.id).await.unwrap(), vec![x]);
}

#[tokio::test]
async fn due_sends_are_the_earliest_pending_across_shards() {
    let s = store().await;
    let base = t("2026-03-02T09:00:00Z");
    let mut all = Vec::new();
    for i in 0..30i64 {
        let at = base + SignedDuration::from_mins(i * 7);
        let x = send(&format!("event:{i}"), "c-a", Some(&at.to_string()));
        s.put_send(&x).await.unwrap();
        all.push(x);
    }
    // Nothing pending: never due.
    s.put_send(&send("event:none", "c-a", None)).await.unwrap();
    // Sent long ago but never handled: still due (no look-back bound).
    let old = send("event:old", "c-a", Some("2025-01-01T00:00:00Z"));
    s.put_send(&old).await.unwrap();

    let until = base + SignedDuration::from_mins(7 * 19);
    let due = s.due_sends(until, 100).await.unwrap();
    assert_eq!(due.len(), 21);
    assert_eq!(due[0].id, old.id);
    assert!(
        due.windows(2)
            .all(|w| w[0].next_action_at <= w[1].next_action_at)
    );
    assert_eq!(due.last().unwrap().next_action_at, Some(until));
    let first5 = s.due_sends(until, 5).await.unwrap();
    assert_eq!(first5, due[..5].to_vec());
    assert!(s.due_sends(until, 0).await.unwrap().is_empty());

    // Handled: out of the queue.
    let mut done = all[0].clone();
    done.version = 2;
    done.next_action_at = None;
    done.status = SendStatus::Sent { at: until };
    s.put_send(&done).await.unwrap();
    assert_eq!(s.due_sends(until, 100).await.unwrap().len(), 20);
    // A stale write of the send loses.
    assert!(is_conflict(s.put_send(&all[0]).await));
    s.delete_send(&done.id).await.unwrap();
    assert_eq!(s.send(&done.id).await.unwrap(), None);
}

#[tokio::test]
async fn answers_and_their_rollups_are_written_together() {
    let s = store().await;
    let day = date(2026, 3, 2);
    let first = response("wave:c-a:1", "c-a", 3, Some("slow support"), day);
    s.save_response(&first, &rollup_deltas(None, &first))
        .await
        .unwrap();
    assert_eq!(
        s.response(&first.send_id).await.unwrap(),
        Some(first.clone())
    );

    let rollups = s.rollups(day, day).await.unwrap();
    assert_eq!(rollups.len(), 3);
    assert!(
        rollups
            .iter()
            .all(|r| r.counts.scores[3] == 1 && r.counts.comments == 1)
    );

    // Re-answer: the counts move.
    let mut second = first.clone();
    second.version = 2;
    second.score = Score::new(9).unwrap();
    s.save_response(&second, &rollup_deltas(Some(&first), &second))
        .await
        .unwrap();
    let all = s.rollups(day, day).await.unwrap();
    let overall = all.iter().find(|r| r.dimension == Dimension::All).unwrap();
    assert_eq!(overall.counts.scores[3], 0);
    assert_eq!(overall.counts.scores[9], 1);

    // A stale re-answer: neither the answer nor the rollups change.
    let mut stale = first.clone();
    stale.score = Score::new(0).unwrap();
    assert!(is_conflict(
        s.save_response(&stale, &rollup_deltas(Some(&first), &stale))
            .await
    ));
    assert_eq!(s.response(&first.send_id).await.unwrap(), Some(second));
    assert_eq!(s.rollups(day, day).await.unwrap(), all);
}

#[tokio::test]
async fn rollups_add_up_over_a_range_of_months() {
    let s = store().await;
    let sent = Counts {
        sent: 2,
        ..Counts::default()
    };
    let days = [date(2026, 1, 31), date(2026, 2, 1), date(2026, 3, 1)];
    for d in days {
        let delta = Rollup {
            day: d,
            dimension: Dimension::All,
            counts: sent,
        };
        s.add_to_rollups(&[delta.clone(), delta]).await.unwrap();
    }
    let r = s
        .rollups(date(2026, 1, 31), date(2026, 2, 28))
        .await
        .unwrap();
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|x| x.counts.sent == 4));
    assert_eq!(
        s.rollups(date(2026, 1, 1), date(2026, 12, 31))
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(
        s.rollups(date(2026, 3, 2), date(2026, 3, 1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn answers_of_a_day_commented_ones_and_a_contacts() {
    let s = store().await;
    let day = date(2026, 3, 2);
    for i in 0..6u8 {
        let mut r = response(
            &format!("k{i}"),
            "c-a",
            i,
            (i % 2 == 0).then_some("a comment"),
            day,
        );
        r.answered_at = t("2026-03-02T10:00:00Z") + SignedDuration::from_mins(i64::from(i));
        s.save_response(&r, &[]).await.unwrap();
    }
    let blank = response("blank", "c-b", 5, Some("   "), day);
    s.save_response(&blank, &[]).await.unwrap();
    s.save_response(
        &response("other-day", "c-a", 5, Some("x"), date(2026, 3, 3)),
        &[],
    )
    .await
    .unwrap();

    let of_day = s.responses_of_day(day).await.unwrap();
    assert_eq!(of_day.len(), 7);
    assert!(
        of_day
            .windows(2)
            .all(|w| w[0].answered_at >= w[1].answered_at)
    );
    let commented = s.commented_responses_of_day(day, 2).await.unwrap();
    assert_eq!(
        commented
            .iter()
            .map(|r| r.score.value())
            .collect::<Vec<_>>(),
        vec![4, 2]
    );
    assert_eq!(
        s.commented_responses_of_day(day, 10).await.unwrap().len(),
        3
    );
    assert_eq!(
        s.responses_of_contact(&ContactId::parse("c-a").unwrap())
            .await
            .unwrap()
            .len(),
        7
    );
}

fn follow_up(key: &str, opened: &str) -> FollowUp {
    let at = t(opened);
    FollowUp {
        send_id: SendId::for_key(key),
        contact_id: None,
        score: Score::new(2).unwrap(),
        account: None,
        opened_at: at,
        opened_day: at.to_zoned(jiff::tz::TimeZone::UTC).date(),
        status: FollowUpStatus::Open,
        closed_at: None,
        closed_by: None,
        note: None,
        version: 1,
    }
}

#[tokio::test]
async fn follow_ups_open_and_by_period() {
    let s = store().await;
    let a = follow_up("a", "2026-02-27T10:00:00Z");
    let b = follow_up("b", "2026-03-01T10:00:00Z");
    let c = follow_up("c", "2026-03-05T10:00:00Z");
    for f in [&c, &a, &b] {
        s.put_follow_up(f).await.unwrap();
    }
    assert_eq!(
        s.open_follow_ups().await.unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    let mut done = b.clone();
    done.version = 2;
    done.status = FollowUpStatus::Done;
    done.closed_at = Some(t("2026-03-02T10:00:00Z"));
    s.put_follow_up(&done).await.unwrap();
    assert!(is_conflict(s.put_follow_up(&b).await));
    assert_eq!(
        s.open_follow_ups().await.unwrap(),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(s.follow_up(&b.send_id).await.unwrap(), Some(done.clone()));
    let between = s
        .follow_ups_opened_between(date(2026, 2, 27), date(2026, 3, 1), 10)
        .await
        .unwrap();
    assert_eq!(between, vec![done.clone(), a]);
    assert_eq!(
        s.follow_ups_opened_between(date(2026, 2, 27), date(2026, 3, 1), 1)
            .await
            .unwrap(),
        vec![done]
    );
}

#[tokio::test]
async fn suppressions_api_keys_and_report_runs() {
    let s = store().await;
    let email = Email::parse("gone@acme.example").unwrap();
    assert_eq!(s.suppression(&email.hash()).await.unwrap(), None);
    let mut sup = Suppression {
        email_hash: email.hash(),
        reason: None,
        at: t("2026-03-01T00:00:00Z"),
        soft_bounces: 1,
    };
    s.put_suppression(&sup).await.unwrap();
    sup.reason = Some(SuppressionReason::HardBounce);
    s.put_suppression(&sup).await.unwrap();
    assert_eq!(s.suppression(&email.hash()).await.unwrap(), Some(sup));

    let k1 = ApiKey {
        hash: "aa".repeat(32),
        prefix: "pk_1".into(),
        name: "crm".into(),
        created_at: t("2026-03-01T00:00:00Z"),
        revoked_at: None,
    };
    let mut k2 = k1.clone();
    k2.hash = "bb".repeat(32);
    k2.created_at = t("2026-03-02T00:00:00Z");
    s.put_api_key(&k2).await.unwrap();
    s.put_api_key(&k1).await.unwrap();
    let mut revoked = k1.clone();
    revoked.revoked_at = Some(t("2026-03-03T00:00:00Z"));
    s.put_api_key(&revoked).await.unwrap();
    assert_eq!(s.api_key(&k1.hash).await.unwrap(), Some(revoked.clone()));
    assert_eq!(s.api_keys().await.unwrap(), vec![revoked, k2]);

    let run = ReportRun {
        kind: ReportKind::Weekly,
        period: "2026-W10".into(),
        status: ReportRunStatus::Claimed {
            at: t("2026-03-09T07:00:00Z"),
        },
        archive_prefix: None,
        version: 1,
    };
    s.put_report_run(&run).await.unwrap();
    // The claim is made once.
    assert!(is_conflict(s.put_report_run(&run).await));
    assert_eq!(
        s.report_run(ReportKind::Weekly, "2026-W10").await.unwrap(),
        Some(run)
    );
    assert_eq!(
        s.report_run(ReportKind::Daily, "2026-W10").await.unwrap(),
        None
    );
}

fn delivery(id: &str, created: &str, next: Option<&str>) -> WebhookDelivery {
    WebhookDelivery {
        id: DeliveryId::parse(id).unwrap(),
        event: "response.created".into(),
        url: "https://hooks.example/pulso".into(),
        body: "{}".into(),
        created_at: t(created),
        attempts: 0,
        status: DeliveryStatus::Pending,
        next_attempt_at: next.map(t),
        last_error: None,
        version: 1,
    }
}

#[tokio::test]
async fn webhook_deliveries_due_and_dead() {
    let s = store().await;
    let mut ds = Vec::new();
    for i in 0..12 {
        let at = format!("2026-03-02T10:{i:02}:00Z");
        let d = delivery(&format!("d{i}"), &at, Some(&at));
        s.put_delivery(&d).await.unwrap();
        ds.push(d);
    }
    let due = s
        .due_deliveries(t("2026-03-02T10:05:00Z"), 100)
        .await
        .unwrap();
    assert_eq!(due, ds[..6].to_vec());
    assert_eq!(
        s.due_deliveries(t("2026-03-02T10:05:00Z"), 2)
            .await
            .unwrap(),
        ds[..2].to_vec()
    );
    for (i, d) in ds.iter().take(3).enumerate() {
        let mut dead = d.clone();
        dead.version = 2;
        dead.status = DeliveryStatus::Dead;
        dead.next_attempt_at = None;
        dead.attempts = 8;
        dead.last_error = Some(format!("HTTP 50{i}"));
        s.put_delivery(&dead).await.unwrap();
    }
    assert!(is_conflict(s.put_delivery(&ds[0]).await));
    let dead = s.dead_deliveries(2).await.unwrap();
    assert_eq!(
        dead.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        vec!["d2", "d1"]
    );
    assert_eq!(
        s.due_deliveries(t("2026-03-02T10:05:00Z"), 100)
            .await
            .unwrap(),
        ds[3..6].to_vec()
    );
    assert_eq!(s.delivery(&ds[4].id).await.unwrap(), Some(ds[4].clone()));
}
