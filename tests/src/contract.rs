//! The store contract: what every implementation of pulso-core's store ports must do, as the ports'
//! docs say. Each case is a function over a fresh, empty store; [`contract_suite!`] turns the list
//! into one `#[tokio::test]` per case for a store factory:
//!
//! ```ignore
//! async fn store() -> pulso_local::SqliteStore { pulso_local::SqliteStore::in_memory().unwrap() }
//! pulso_tests::contract_suite!(store);
//! ```
//!
//! Where the ports leave an order open (contacts of an account, a contact's sends and answers,
//! rollups, follow-ups of a period), the cases compare sets; where they fix one (slot order, due
//! first, most recent first, oldest first, newest first) the cases check it, using distinct times so
//! that tie-breaks do not matter. The large cases hold more than one DynamoDB page (1 MB, or 100
//! items for batch reads), so a store that forgets to paginate fails them.

use jiff::civil::Date;
use jiff::{SignedDuration, ToSpan};
use pulso_core::model::{
    ApiKey, Contact, Counts, DeliveryStatus, Dimension, FollowUp, FollowUpStatus, ReportKind,
    ReportRun, ReportRunStatus, Response, Rollup, SLOTS, SendStatus, Suppression,
    SuppressionReason, SurveySend, rollup_deltas,
};
use pulso_core::ports::{Store, StoreError, StoreResult};
use pulso_core::types::{AccountName, ContactId, Email, Score, SendId, Touchpoint};

use crate::fixtures::{contact, contact_of, day, delivery, follow_up, response, send, ts};

/// Expands to one `#[tokio::test]` per contract case, each on `$factory().await` (a fresh, empty
/// store). With `enabled = $f`, a case returns early (and says so) when `$f()` is false — for stores
/// that need a server the environment may not have.
#[macro_export]
macro_rules! contract_suite {
    ($factory:path) => {
        $crate::contract_suite!($factory, enabled = $crate::contract::always);
    };
    ($factory:path, enabled = $enabled:path) => {
        $crate::contract_suite!(@cases $factory, $enabled;
            contact_round_trips_by_id_and_email,
            contacts_by_id_read_each_once_and_leave_out_the_missing,
            contact_insert_of_an_existing_id_is_a_conflict,
            contact_versions_replace_only_the_previous_one,
            contact_email_belongs_to_one_contact,
            contact_email_never_changes,
            contact_delete_frees_the_email_and_is_idempotent,
            contacts_in_slots_are_the_half_open_range_in_slot_order,
            contacts_in_slots_page_through_large_ranges,
            contacts_of_account_fold_case_and_follow_updates,
            contacts_of_a_large_account_page,
            send_versioned_writes,
            reserve_send_writes_contact_and_send_together,
            reserve_send_on_an_existing_send_writes_nothing,
            reserve_send_with_a_stale_contact_writes_nothing,
            reserve_send_refuses_a_send_that_is_not_new,
            due_sends_earliest_first_until_inclusive_and_limited,
            due_sends_leave_the_queue_when_handled,
            due_sends_beyond_one_page,
            sends_of_contact_and_delete,
            save_response_writes_answer_and_rollups,
            save_response_conflict_changes_neither_answer_nor_rollups,
            re_answer_moves_the_counts,
            save_response_without_deltas_leaves_rollups,
            rollups_day_range_is_inclusive,
            rollups_keep_every_dimension,
            add_to_rollups_creates_and_adds_field_by_field,
            rollups_beyond_one_page,
            responses_of_day_most_recent_first,
            commented_responses_of_day_skip_blank_comments_and_limit,
            comment_retention_removes_comments_and_keeps_scores,
            responses_of_a_large_day_page,
            responses_of_contact_and_anonymised_answers,
            follow_ups_open_oldest_first_and_done_leave,
            answer_and_follow_up_are_read_together,
            follow_ups_opened_between_is_inclusive_open_or_done,
            follow_ups_opened_between_newest_first_across_months_and_pages,
            suppressions_are_upserted_last_word_wins,
            api_keys_upsert_and_list,
            report_run_is_claimed_once,
            webhook_deliveries_due_earliest_first,
            webhook_deliveries_dead_newest_first,
        );
    };
    (@cases $factory:path, $enabled:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                if !$enabled() {
                    eprintln!("skipped: this store's test server is not available");
                    return;
                }
                $crate::contract::$case($factory().await).await;
            }
        )*
    };
}

/// The default `enabled` of [`contract_suite!`].
pub fn always() -> bool {
    true
}

// ---- helpers ---------------------------------------------------------------------------------

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(r: StoreResult<T>) {
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "expected a conflict, got {r:?}"
    );
}

fn email(s: &str) -> Email {
    Email::parse(s).expect("test email")
}

fn cid(s: &str) -> ContactId {
    ContactId::parse(s).expect("test contact id")
}

fn sorted_by_id(mut v: Vec<Contact>) -> Vec<Contact> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn sorted_sends(mut v: Vec<SurveySend>) -> Vec<SurveySend> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn sorted_responses(mut v: Vec<Response>) -> Vec<Response> {
    v.sort_by(|a, b| a.send_id.cmp(&b.send_id));
    v
}

fn sorted_rollups(mut v: Vec<Rollup>) -> Vec<Rollup> {
    v.sort_by_key(|r| (r.day, r.dimension.key()));
    v
}

fn overall(rollups: &[Rollup], d: Date) -> Option<Counts> {
    rollups
        .iter()
        .find(|r| r.day == d && r.dimension == Dimension::All)
        .map(|r| r.counts)
}

/// A contact whose record is about `bytes` long (long segment values), in `slot`.
fn heavy_contact(i: usize, slot: u16, bytes: usize) -> Contact {
    let mut c = contact(&format!("heavy-{i:05}"), &format!("person{i}@big.example"));
    c.slot = slot;
    let per = 190;
    for a in 0..(bytes / (per + 10)).min(20) {
        c.attributes
            .set(&format!("attr_{a}"), &"x".repeat(per))
            .expect("attribute");
    }
    c
}

// ---- contacts --------------------------------------------------------------------------------

pub async fn contact_round_trips_by_id_and_email<S: Store>(s: S) {
    let mut a = contact_of("c-a", "Ana@Acme.example", "Acme Corp");
    a.time_zone = Some(pulso_core::types::TimeZoneName::parse("Europe/Madrid").unwrap());
    a.attributes.set("plan", "pro").unwrap();
    a.customer_since = Some(day("2025-05-01"));
    a.last_surveyed_at = Some(ts("2026-02-01T09:00:00.123456Z"));
    assert_eq!(s.contact(&a.id).await.unwrap(), None);
    s.put_contact(&a).await.unwrap();
    assert_eq!(s.contact(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.contact_by_email(&email("ANA@acme.example"))
            .await
            .unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        s.contact_by_email(&email("nobody@acme.example"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.contact(&cid("c-nobody")).await.unwrap(), None);
}

pub async fn contacts_by_id_read_each_once_and_leave_out_the_missing<S: Store>(s: S) {
    // More ids than one DynamoDB BatchGetItem takes (100), in another order than written, some
    // named twice, some with no contact.
    let mut stored = Vec::new();
    for i in 0..130 {
        let c = contact(&format!("c-{i:03}"), &format!("p{i}@acme.example"));
        s.put_contact(&c).await.unwrap();
        stored.push(c);
    }
    let mut ids: Vec<ContactId> = stored.iter().rev().map(|c| c.id.clone()).collect();
    ids.extend(stored.iter().take(20).map(|c| c.id.clone()));
    ids.insert(50, cid("c-nobody"));
    ids.push(cid("c-nobody-else"));
    let got = s.contacts_by_id(&ids).await.unwrap();
    assert_eq!(got.len(), stored.len());
    for c in &stored {
        assert_eq!(got.get(&c.id), Some(c), "{}", c.id);
    }
    assert!(!got.contains_key(&cid("c-nobody")));
    assert!(s.contacts_by_id(&[]).await.unwrap().is_empty());
    assert!(
        s.contacts_by_id(&[cid("c-nobody")])
            .await
            .unwrap()
            .is_empty()
    );
    // What it reads is what `contact` reads, after a change too.
    let mut changed = stored[7].clone();
    changed.version = 2;
    changed.name = Some("Renamed".into());
    s.put_contact(&changed).await.unwrap();
    let again = s.contacts_by_id(&[changed.id.clone()]).await.unwrap();
    assert_eq!(again.get(&changed.id), Some(&changed));
}

pub async fn contact_insert_of_an_existing_id_is_a_conflict<S: Store>(s: S) {
    let a = contact("c-a", "ana@acme.example");
    s.put_contact(&a).await.unwrap();
    let mut again = a.clone();
    again.name = Some("Someone else".into());
    assert_conflict(s.put_contact(&again).await);
    assert_eq!(s.contact(&a.id).await.unwrap(), Some(a));
}

pub async fn contact_versions_replace_only_the_previous_one<S: Store>(s: S) {
    let mut a = contact("c-a", "ana@acme.example");
    // Version 2 of a contact that does not exist is a conflict: nothing to replace.
    let mut orphan = a.clone();
    orphan.version = 2;
    assert_conflict(s.put_contact(&orphan).await);
    assert_eq!(s.contact(&a.id).await.unwrap(), None);

    s.put_contact(&a).await.unwrap();
    a.version = 2;
    a.name = Some("Ana".into());
    s.put_contact(&a).await.unwrap();
    // A writer still holding version 1 loses.
    let mut stale = a.clone();
    stale.name = Some("Stale".into());
    assert_conflict(s.put_contact(&stale).await);
    // Skipping a version loses.
    let mut skip = a.clone();
    skip.version = 4;
    skip.name = Some("Skip".into());
    assert_conflict(s.put_contact(&skip).await);
    assert_eq!(s.contact(&a.id).await.unwrap(), Some(a.clone()));
    a.version = 3;
    a.unsubscribed_at = Some(ts("2026-03-02T00:00:00Z"));
    s.put_contact(&a).await.unwrap();
    assert_eq!(s.contact_by_email(&a.email).await.unwrap(), Some(a));
}

pub async fn contact_email_belongs_to_one_contact<S: Store>(s: S) {
    let a = contact("c-a", "ana@acme.example");
    s.put_contact(&a).await.unwrap();
    let b = contact("c-b", "ANA@acme.example");
    assert_conflict(s.put_contact(&b).await);
    assert_eq!(s.contact(&b.id).await.unwrap(), None);
    assert_eq!(s.contact_by_email(&a.email).await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.contacts_in_slots(0, SLOTS).await.unwrap(),
        vec![a.clone()]
    );
}

pub async fn contact_email_never_changes<S: Store>(s: S) {
    let a = contact("c-a", "ana@acme.example");
    s.put_contact(&a).await.unwrap();
    let mut moved = a.clone();
    moved.version = 2;
    moved.email = email("other@acme.example");
    assert_conflict(s.put_contact(&moved).await);
    assert_eq!(s.contact(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.contact_by_email(&moved.email).await.unwrap(), None);
}

pub async fn contact_delete_frees_the_email_and_is_idempotent<S: Store>(s: S) {
    let a = contact_of("c-a", "ana@acme.example", "Acme");
    s.put_contact(&a).await.unwrap();
    s.delete_contact(&a.id).await.unwrap();
    s.delete_contact(&a.id).await.unwrap();
    s.delete_contact(&cid("never-existed")).await.unwrap();
    assert_eq!(s.contact(&a.id).await.unwrap(), None);
    assert_eq!(s.contact_by_email(&a.email).await.unwrap(), None);
    assert!(
        s.contacts_of_account(&a.account_key().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.contacts_in_slots(0, SLOTS).await.unwrap().is_empty());
    let b = contact("c-b", "ana@acme.example");
    s.put_contact(&b).await.unwrap();
    assert_eq!(s.contact_by_email(&a.email).await.unwrap(), Some(b));
    // A deleted contact's id can be inserted afresh (erase then re-import under the same id).
    s.put_contact(&contact("c-a", "new@acme.example"))
        .await
        .unwrap();
}

pub async fn contacts_in_slots_are_the_half_open_range_in_slot_order<S: Store>(s: S) {
    let slots = [0u16, 1, 99, 100, 100, 101, 4_999, 5_000, 9_998, SLOTS - 1];
    let mut all = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let mut c = contact(&format!("c{i}"), &format!("p{i}@acme.example"));
        c.slot = *slot;
        s.put_contact(&c).await.unwrap();
        all.push(c);
    }
    let range = |from: u16, to: u16| {
        let mut v: Vec<Contact> = all
            .iter()
            .filter(|c| (from..to).contains(&c.slot))
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.slot, &a.id).cmp(&(b.slot, &b.id)));
        v
    };
    for (from, to) in [
        (0, SLOTS),
        (0, 1),
        (1, 100),
        (100, 101),
        (100, 5_000),
        (5_000, SLOTS),
        (9_999, SLOTS),
        (200, 300),
        (7, 7),
    ] {
        let got = s.contacts_in_slots(from, to).await.unwrap();
        let slots_got: Vec<u16> = got.iter().map(|c| c.slot).collect();
        assert!(
            slots_got.windows(2).all(|w| w[0] <= w[1]),
            "{from}..{to}: not in slot order: {slots_got:?}"
        );
        assert_eq!(
            sorted_by_id(got),
            sorted_by_id(range(from, to)),
            "{from}..{to}"
        );
    }
}

pub async fn contacts_in_slots_page_through_large_ranges<S: Store>(s: S) {
    // 600 contacts of ~2 KB in slots 100..110: 1.2 MB, more than one DynamoDB page.
    let mut ids = Vec::new();
    for i in 0..600 {
        let c = heavy_contact(i, 100 + (i % 10) as u16, 2_000);
        s.put_contact(&c).await.unwrap();
        ids.push(c.id);
    }
    let mut outsider = contact("outside", "outside@big.example");
    outsider.slot = 110;
    s.put_contact(&outsider).await.unwrap();
    let got = s.contacts_in_slots(100, 110).await.unwrap();
    assert_eq!(got.len(), 600);
    assert!(got.windows(2).all(|w| w[0].slot <= w[1].slot));
    let mut got_ids: Vec<ContactId> = got.into_iter().map(|c| c.id).collect();
    got_ids.sort();
    ids.sort();
    assert_eq!(got_ids, ids);
    assert_eq!(s.contacts_in_slots(105, 106).await.unwrap().len(), 60);
}

pub async fn contacts_of_account_fold_case_and_follow_updates<S: Store>(s: S) {
    let a = contact_of("c-a", "a@acme.example", "Acme  Corp");
    let b = contact_of("c-b", "b@acme.example", "ACME corp");
    let c = contact_of("c-c", "c@globex.example", "Globex");
    let d = contact("c-d", "d@nowhere.example");
    for x in [&a, &b, &c, &d] {
        s.put_contact(x).await.unwrap();
    }
    let acme = a.account_key().unwrap();
    assert_eq!(
        sorted_by_id(s.contacts_of_account(&acme).await.unwrap()),
        vec![a.clone(), b.clone()]
    );
    // Moving a contact to another account moves it between the lists.
    let mut moved = b.clone();
    moved.version = 2;
    moved.account = Some(AccountName::parse("Globex").unwrap());
    s.put_contact(&moved).await.unwrap();
    assert_eq!(s.contacts_of_account(&acme).await.unwrap(), vec![a.clone()]);
    let globex = c.account_key().unwrap();
    assert_eq!(
        sorted_by_id(s.contacts_of_account(&globex).await.unwrap()),
        vec![moved.clone(), c.clone()]
    );
    // Leaving every account.
    let mut none = moved.clone();
    none.version = 3;
    none.account = None;
    s.put_contact(&none).await.unwrap();
    assert_eq!(s.contacts_of_account(&globex).await.unwrap(), vec![c]);
    assert!(
        s.contacts_of_account(&AccountName::parse("Initech").unwrap().key())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn contacts_of_a_large_account_page<S: Store>(s: S) {
    for i in 0..550 {
        let mut c = heavy_contact(i, (i % 50) as u16, 2_000);
        c.account = Some(AccountName::parse("Big Account").unwrap());
        s.put_contact(&c).await.unwrap();
    }
    let key = AccountName::parse("big account").unwrap().key();
    assert_eq!(s.contacts_of_account(&key).await.unwrap().len(), 550);
}

// ---- sends -----------------------------------------------------------------------------------

pub async fn send_versioned_writes<S: Store>(s: S) {
    let x = send("event:1", "c-a", Some(ts("2026-03-02T09:00:00Z")));
    assert_eq!(s.send(&x.id).await.unwrap(), None);
    s.put_send(&x).await.unwrap();
    assert_eq!(s.send(&x.id).await.unwrap(), Some(x.clone()));
    assert_conflict(s.put_send(&x).await);
    let mut sent = x.clone();
    sent.version = 2;
    sent.status = SendStatus::Sent {
        at: ts("2026-03-02T09:00:01Z"),
    };
    sent.message_id = Some("m-1".into());
    s.put_send(&sent).await.unwrap();
    let mut stale = x.clone();
    stale.version = 2;
    stale.message_id = Some("m-stale".into());
    assert_conflict(s.put_send(&stale).await);
    let mut skip = sent.clone();
    skip.version = 5;
    assert_conflict(s.put_send(&skip).await);
    assert_eq!(s.send(&x.id).await.unwrap(), Some(sent));
}

pub async fn reserve_send_writes_contact_and_send_together<S: Store>(s: S) {
    let mut c = contact("c-a", "ana@acme.example");
    s.put_contact(&c).await.unwrap();
    let x = send("wave:c-a:1", "c-a", Some(ts("2026-03-02T09:00:00Z")));
    c.version = 2;
    c.last_surveyed_at = Some(ts("2026-03-02T09:00:00Z"));
    s.reserve_send(&c, &x).await.unwrap();
    assert_eq!(s.send(&x.id).await.unwrap(), Some(x.clone()));
    assert_eq!(s.contact(&c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(
        s.due_sends(ts("2026-03-02T09:00:00Z"), 10).await.unwrap(),
        vec![x.clone()]
    );
    assert_eq!(s.sends_of_contact(&c.id).await.unwrap(), vec![x]);
}

pub async fn reserve_send_on_an_existing_send_writes_nothing<S: Store>(s: S) {
    let mut c = contact("c-a", "ana@acme.example");
    s.put_contact(&c).await.unwrap();
    let x = send("wave:c-a:1", "c-a", None);
    c.version = 2;
    s.reserve_send(&c, &x).await.unwrap();
    // A retry of the same reservation: the send exists, so the contact is not written either.
    let mut retry = c.clone();
    retry.version = 3;
    retry.last_surveyed_at = Some(ts("2026-03-09T09:00:00Z"));
    let mut other = x.clone();
    other.due_at = ts("2026-03-09T09:00:00Z");
    assert_conflict(s.reserve_send(&retry, &other).await);
    assert_eq!(s.contact(&c.id).await.unwrap(), Some(c));
    assert_eq!(s.send(&x.id).await.unwrap(), Some(x));
}

pub async fn reserve_send_with_a_stale_contact_writes_nothing<S: Store>(s: S) {
    let mut c = contact("c-a", "ana@acme.example");
    s.put_contact(&c).await.unwrap();
    c.version = 2;
    c.name = Some("Changed meanwhile".into());
    s.put_contact(&c).await.unwrap();
    let mut stale = contact("c-a", "ana@acme.example");
    stale.version = 2;
    stale.last_surveyed_at = Some(ts("2026-03-02T09:00:00Z"));
    let y = send("wave:c-a:2", "c-a", Some(ts("2026-03-02T09:00:00Z")));
    assert_conflict(s.reserve_send(&stale, &y).await);
    assert_eq!(s.send(&y.id).await.unwrap(), None);
    assert!(s.sends_of_contact(&c.id).await.unwrap().is_empty());
    assert!(
        s.due_sends(ts("2030-01-01T00:00:00Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.contact(&c.id).await.unwrap(), Some(c.clone()));
    // A contact that does not exist cannot be updated by a reservation either.
    let mut ghost = contact("c-ghost", "ghost@acme.example");
    ghost.version = 2;
    let z = send("wave:c-ghost:1", "c-ghost", None);
    assert_conflict(s.reserve_send(&ghost, &z).await);
    assert_eq!(s.send(&z.id).await.unwrap(), None);
}

pub async fn reserve_send_refuses_a_send_that_is_not_new<S: Store>(s: S) {
    let mut c = contact("c-a", "ana@acme.example");
    s.put_contact(&c).await.unwrap();
    let mut x = send("wave:c-a:1", "c-a", None);
    x.version = 2;
    c.version = 2;
    let r = s.reserve_send(&c, &x).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(s.send(&x.id).await.unwrap(), None);
    assert_eq!(s.contact(&c.id).await.unwrap().unwrap().version, 1);
}

pub async fn due_sends_earliest_first_until_inclusive_and_limited<S: Store>(s: S) {
    let base = ts("2026-03-02T09:00:00Z");
    let mut all = Vec::new();
    // Written out of time order.
    for i in [5i64, 0, 9, 3, 7, 1, 8, 2, 6, 4] {
        let at = base + SignedDuration::from_mins(i * 7);
        let x = send(&format!("event:{i}"), "c-a", Some(at));
        s.put_send(&x).await.unwrap();
        all.push(x);
    }
    all.sort_by_key(|x| x.next_action_at);
    s.put_send(&send("event:none", "c-a", None)).await.unwrap();
    // Long overdue: still due (no look-back bound).
    let old = send("event:old", "c-a", Some(ts("2024-01-01T00:00:00Z")));
    s.put_send(&old).await.unwrap();

    let until = base + SignedDuration::from_mins(7 * 6);
    let due = s.due_sends(until, 100).await.unwrap();
    let mut want = vec![old.clone()];
    want.extend(all[..7].iter().cloned());
    assert_eq!(due, want);
    assert_eq!(s.due_sends(until, 3).await.unwrap(), want[..3].to_vec());
    assert!(s.due_sends(until, 0).await.unwrap().is_empty());
    let just_before = until - SignedDuration::from_micros(1);
    assert_eq!(s.due_sends(just_before, 100).await.unwrap().len(), 7);
    assert_eq!(
        s.due_sends(ts("2023-12-31T00:00:00Z"), 100).await.unwrap(),
        vec![]
    );
}

pub async fn due_sends_leave_the_queue_when_handled<S: Store>(s: S) {
    let a = send("event:a", "c-a", Some(ts("2026-03-02T09:00:00Z")));
    let b = send("event:b", "c-a", Some(ts("2026-03-02T10:00:00Z")));
    s.put_send(&a).await.unwrap();
    s.put_send(&b).await.unwrap();
    let until = ts("2026-03-02T12:00:00Z");
    // Sent: no next action.
    let mut a2 = a.clone();
    a2.version = 2;
    a2.next_action_at = None;
    a2.status = SendStatus::Sent {
        at: ts("2026-03-02T09:00:01Z"),
    };
    s.put_send(&a2).await.unwrap();
    assert_eq!(s.due_sends(until, 10).await.unwrap(), vec![b.clone()]);
    // Its reminder later puts it back in the queue, at the reminder's time.
    let mut a3 = a2.clone();
    a3.version = 3;
    a3.next_action_at = Some(ts("2026-03-07T09:00:00Z"));
    s.put_send(&a3).await.unwrap();
    assert_eq!(s.due_sends(until, 10).await.unwrap(), vec![b.clone()]);
    assert_eq!(
        s.due_sends(ts("2026-03-08T00:00:00Z"), 10).await.unwrap(),
        vec![b.clone(), a3]
    );
    // Moved later: out of the earlier window.
    let mut b2 = b.clone();
    b2.version = 2;
    b2.next_action_at = Some(ts("2026-03-03T10:00:00Z"));
    s.put_send(&b2).await.unwrap();
    assert!(s.due_sends(until, 10).await.unwrap().is_empty());
    s.delete_send(&b2.id).await.unwrap();
    assert_eq!(
        s.due_sends(ts("2026-03-08T00:00:00Z"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn due_sends_beyond_one_page<S: Store>(s: S) {
    let base = ts("2026-03-02T09:00:00Z");
    for i in 0..250i64 {
        let mut x = send(
            &format!("event:{i}"),
            "c-a",
            Some(base + SignedDuration::from_secs(i)),
        );
        x.key = format!("event:{i}:{}", "k".repeat(4_000));
        s.put_send(&x).await.unwrap();
    }
    let due = s
        .due_sends(base + SignedDuration::from_secs(1_000), 1_000)
        .await
        .unwrap();
    assert_eq!(due.len(), 250);
    assert!(
        due.windows(2)
            .all(|w| w[0].next_action_at < w[1].next_action_at)
    );
    let first = s
        .due_sends(base + SignedDuration::from_secs(1_000), 120)
        .await
        .unwrap();
    assert_eq!(first, due[..120].to_vec());
}

pub async fn sends_of_contact_and_delete<S: Store>(s: S) {
    let a1 = send("wave:c-a:1", "c-a", None);
    let a2 = send("event:7", "c-a", Some(ts("2026-03-02T09:00:00Z")));
    let b1 = send("wave:c-b:1", "c-b", None);
    for x in [&a1, &a2, &b1] {
        s.put_send(x).await.unwrap();
    }
    assert_eq!(
        sorted_sends(s.sends_of_contact(&cid("c-a")).await.unwrap()),
        sorted_sends(vec![a1.clone(), a2.clone()])
    );
    s.delete_send(&a2.id).await.unwrap();
    s.delete_send(&a2.id).await.unwrap();
    assert_eq!(s.send(&a2.id).await.unwrap(), None);
    assert_eq!(s.sends_of_contact(&cid("c-a")).await.unwrap(), vec![a1]);
    assert!(
        s.due_sends(ts("2030-01-01T00:00:00Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.sends_of_contact(&cid("c-z")).await.unwrap().is_empty());
}

// ---- responses and rollups -------------------------------------------------------------------

fn segmented(key: &str, contact: &str, score: u8, comment: Option<&str>, d: Date) -> Response {
    let mut r = response(key, contact, score, comment, d);
    r.attributes.set("plan", "pro").unwrap();
    r.attributes.set("region", "emea").unwrap();
    r.account = Some(AccountName::parse("Acme Corp").unwrap());
    r.touchpoint = Some(Touchpoint::parse("ticket_closed").unwrap());
    r
}

pub async fn save_response_writes_answer_and_rollups<S: Store>(s: S) {
    let d = day("2026-03-02");
    let r = segmented("wave:c-a:1", "c-a", 3, Some("slow support"), d);
    let deltas = rollup_deltas(None, &r);
    assert_eq!(deltas.len(), 5);
    s.save_response(&r, &deltas).await.unwrap();
    assert_eq!(s.response(&r.send_id).await.unwrap(), Some(r.clone()));
    let got = sorted_rollups(s.rollups(d, d).await.unwrap());
    assert_eq!(got, sorted_rollups(deltas));
    assert_eq!(s.response(&SendId::for_key("other")).await.unwrap(), None);
}

pub async fn save_response_conflict_changes_neither_answer_nor_rollups<S: Store>(s: S) {
    let d = day("2026-03-02");
    let first = segmented("wave:c-a:1", "c-a", 3, Some("slow"), d);
    s.save_response(&first, &rollup_deltas(None, &first))
        .await
        .unwrap();
    let before = sorted_rollups(s.rollups(d, d).await.unwrap());
    // The same first answer again (a retried request): conflict, counted once.
    assert_conflict(s.save_response(&first, &rollup_deltas(None, &first)).await);
    // A stale re-answer.
    let mut stale = first.clone();
    stale.score = Score::new(10).unwrap();
    assert_conflict(
        s.save_response(&stale, &rollup_deltas(Some(&first), &stale))
            .await,
    );
    // A version that skips one.
    let mut skip = first.clone();
    skip.version = 3;
    skip.score = Score::new(0).unwrap();
    assert_conflict(
        s.save_response(&skip, &rollup_deltas(Some(&first), &skip))
            .await,
    );
    // A re-answer of an answer that does not exist.
    let mut orphan = segmented("wave:c-b:1", "c-b", 9, None, d);
    orphan.version = 2;
    assert_conflict(
        s.save_response(&orphan, &rollup_deltas(None, &orphan))
            .await,
    );
    assert_eq!(s.response(&orphan.send_id).await.unwrap(), None);
    assert_eq!(s.response(&first.send_id).await.unwrap(), Some(first));
    assert_eq!(sorted_rollups(s.rollups(d, d).await.unwrap()), before);
}

pub async fn re_answer_moves_the_counts<S: Store>(s: S) {
    let d = day("2026-03-02");
    let first = segmented("wave:c-a:1", "c-a", 3, None, d);
    s.save_response(&first, &rollup_deltas(None, &first))
        .await
        .unwrap();
    let mut second = first.clone();
    second.version = 2;
    second.score = Score::new(9).unwrap();
    second.comment = Some("better now".into());
    s.save_response(&second, &rollup_deltas(Some(&first), &second))
        .await
        .unwrap();
    let got = s.rollups(d, d).await.unwrap();
    assert_eq!(got.len(), 5);
    for r in &got {
        let mut want = Counts::default();
        want.scores[9] = 1;
        want.comments = 1;
        assert_eq!(r.counts, want, "{}", r.dimension.key());
    }
    assert_eq!(s.response(&first.send_id).await.unwrap(), Some(second));
}

pub async fn save_response_without_deltas_leaves_rollups<S: Store>(s: S) {
    let d = day("2026-03-02");
    let first = segmented("wave:c-a:1", "c-a", 2, Some("call me"), d);
    s.save_response(&first, &rollup_deltas(None, &first))
        .await
        .unwrap();
    let before = sorted_rollups(s.rollups(d, d).await.unwrap());
    // Erasure: contact and comment go, the score stays counted.
    let mut anon = first.clone();
    anon.version = 2;
    anon.contact_id = None;
    anon.comment = None;
    s.save_response(&anon, &[]).await.unwrap();
    assert_eq!(s.response(&first.send_id).await.unwrap(), Some(anon));
    assert_eq!(sorted_rollups(s.rollups(d, d).await.unwrap()), before);
    assert!(
        s.responses_of_contact(&cid("c-a"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.commented_responses_of_day(d, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.responses_of_day(d).await.unwrap().len(), 1);
}

fn sent_delta(d: Date, dimension: Dimension, n: i64) -> Rollup {
    Rollup {
        day: d,
        dimension,
        counts: Counts {
            sent: n,
            ..Counts::default()
        },
    }
}

pub async fn rollups_day_range_is_inclusive<S: Store>(s: S) {
    let days = [
        "2025-12-31",
        "2026-01-31",
        "2026-02-01",
        "2026-02-28",
        "2026-03-01",
    ];
    for d in days {
        s.add_to_rollups(&[sent_delta(day(d), Dimension::All, 1)])
            .await
            .unwrap();
    }
    let got = s
        .rollups(day("2026-01-31"), day("2026-02-28"))
        .await
        .unwrap();
    let mut got_days: Vec<Date> = got.iter().map(|r| r.day).collect();
    got_days.sort();
    assert_eq!(
        got_days,
        vec![day("2026-01-31"), day("2026-02-01"), day("2026-02-28")]
    );
    assert_eq!(
        s.rollups(day("2025-01-01"), day("2026-12-31"))
            .await
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        s.rollups(day("2026-03-01"), day("2026-03-01"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.rollups(day("2026-03-02"), day("2026-03-01"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn rollups_keep_every_dimension<S: Store>(s: S) {
    let d = day("2026-03-02");
    let dims = [
        Dimension::All,
        Dimension::Segment {
            name: "plan".into(),
            value: "pro".into(),
        },
        Dimension::Segment {
            name: "region".into(),
            // Values may hold any text a CRM holds, separators included.
            value: "emea = west#1/ñ ".repeat(12),
        },
        Dimension::Account(AccountName::parse("Acme  Corp").unwrap().key()),
        Dimension::Touchpoint(Touchpoint::parse("order_delivered").unwrap()),
    ];
    let deltas: Vec<Rollup> = dims
        .iter()
        .enumerate()
        .map(|(i, dim)| sent_delta(d, dim.clone(), i as i64 + 1))
        .collect();
    s.add_to_rollups(&deltas).await.unwrap();
    assert_eq!(
        sorted_rollups(s.rollups(d, d).await.unwrap()),
        sorted_rollups(deltas)
    );
}

pub async fn add_to_rollups_creates_and_adds_field_by_field<S: Store>(s: S) {
    let d = day("2026-03-02");
    let a = Counts {
        scores: [1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4],
        comments: 2,
        sent: 10,
        flagged: 1,
    };
    let b = Counts {
        scores: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, -1],
        comments: 0,
        sent: 5,
        flagged: -1,
    };
    let all = |c| Rollup {
        day: d,
        dimension: Dimension::All,
        counts: c,
    };
    // Two deltas of one rollup in one call both count.
    s.add_to_rollups(&[all(a), all(b)]).await.unwrap();
    s.add_to_rollups(&[all(b)]).await.unwrap();
    s.add_to_rollups(&[]).await.unwrap();
    let mut want = a;
    want.add(&b);
    want.add(&b);
    assert_eq!(overall(&s.rollups(d, d).await.unwrap(), d), Some(want));
    assert_eq!(want.scores[10], 2);
    assert_eq!(want.flagged, -1);
}

pub async fn rollups_beyond_one_page<S: Store>(s: S) {
    // 20 days x 20 dimensions = 400 rollups, written in batches of 25.
    let first = day("2026-01-01");
    let mut deltas = Vec::new();
    for i in 0..20 {
        let d = first + i.days();
        for k in 0..20 {
            deltas.push(sent_delta(
                d,
                Dimension::Segment {
                    name: "segment".into(),
                    value: format!("value-{k:02}-{}", "v".repeat(150)),
                },
                k + 1,
            ));
        }
    }
    for chunk in deltas.chunks(25) {
        s.add_to_rollups(chunk).await.unwrap();
    }
    let got = s.rollups(first, first + 19.days()).await.unwrap();
    assert_eq!(got.len(), 400);
    assert_eq!(sorted_rollups(got), sorted_rollups(deltas));
    let ten = s.rollups(first, first + 9.days()).await.unwrap();
    assert_eq!(ten.len(), 200);
}

pub async fn responses_of_day_most_recent_first<S: Store>(s: S) {
    let d = day("2026-03-02");
    let mut written = Vec::new();
    for i in [3i64, 0, 5, 1, 4, 2] {
        let mut r = response(&format!("k{i}"), "c-a", i as u8, None, d);
        r.answered_at = ts("2026-03-02T10:00:00Z") + SignedDuration::from_mins(i);
        s.save_response(&r, &[]).await.unwrap();
        written.push(r);
    }
    // The day an answer counts in is its `day`, not the UTC date of its time.
    let mut late = response("late", "c-b", 7, None, d);
    late.answered_at = ts("2026-03-03T02:00:00Z");
    s.save_response(&late, &[]).await.unwrap();
    s.save_response(&response("next", "c-a", 5, None, day("2026-03-03")), &[])
        .await
        .unwrap();
    s.save_response(&response("prev", "c-a", 5, None, day("2026-03-01")), &[])
        .await
        .unwrap();
    let got = s.responses_of_day(d).await.unwrap();
    written.push(late);
    written.sort_by_key(|r| std::cmp::Reverse(r.answered_at));
    assert_eq!(got, written);
    assert!(
        s.responses_of_day(day("2026-03-04"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn comment_retention_removes_comments_and_keeps_scores<S: Store>(s: S) {
    let d = day("2026-03-02");
    let with = response("with", "c-a", 2, Some("rude agent"), d);
    let without = response("without", "c-b", 9, None, d);
    let next_day = response("next-day", "c-c", 3, Some("slow"), day("2026-03-03"));
    for r in [&with, &without, &next_day] {
        s.save_response(r, &rollup_deltas(None, r)).await.unwrap();
    }
    let before = s.rollups(d, day("2026-03-03")).await.unwrap();
    assert_eq!(s.remove_comments_of_day(d).await.unwrap(), 1);
    let kept = s.response(&with.send_id).await.unwrap().unwrap();
    assert_eq!(kept.comment, None);
    assert_eq!(kept.score, with.score);
    assert_eq!(kept.version, 2);
    assert_eq!(s.response(&without.send_id).await.unwrap(), Some(without));
    assert!(
        s.commented_responses_of_day(d, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.responses_of_day(d).await.unwrap().len(), 2);
    // Another day's comment and every rollup stay.
    assert_eq!(s.response(&next_day.send_id).await.unwrap(), Some(next_day));
    assert_eq!(s.rollups(d, day("2026-03-03")).await.unwrap(), before);
    // Nothing left to remove; a writer holding the old version now loses.
    assert_eq!(s.remove_comments_of_day(d).await.unwrap(), 0);
    let mut stale = with.clone();
    stale.version = 2;
    stale.comment = Some("again".into());
    assert!(matches!(
        s.save_response(&stale, &[]).await,
        Err(StoreError::Conflict(_))
    ));
}

pub async fn commented_responses_of_day_skip_blank_comments_and_limit<S: Store>(s: S) {
    let d = day("2026-03-02");
    for i in 0..6u8 {
        let mut r = response(
            &format!("k{i}"),
            "c-a",
            i,
            (i % 2 == 0).then_some("a comment"),
            d,
        );
        r.answered_at = ts("2026-03-02T10:00:00Z") + SignedDuration::from_mins(i64::from(i));
        s.save_response(&r, &[]).await.unwrap();
    }
    s.save_response(&response("blank", "c-b", 5, Some("  \n "), d), &[])
        .await
        .unwrap();
    s.save_response(
        &response("other-day", "c-a", 5, Some("x"), day("2026-03-03")),
        &[],
    )
    .await
    .unwrap();
    let scores = |v: Vec<Response>| v.iter().map(|r| r.score.value()).collect::<Vec<_>>();
    assert_eq!(
        scores(s.commented_responses_of_day(d, 2).await.unwrap()),
        vec![4, 2]
    );
    assert_eq!(
        scores(s.commented_responses_of_day(d, 10).await.unwrap()),
        vec![4, 2, 0]
    );
    assert!(s.commented_responses_of_day(d, 0).await.unwrap().is_empty());
    // A comment removed on re-answer leaves the list; one added joins it.
    let mut k4 = s.response(&SendId::for_key("k4")).await.unwrap().unwrap();
    k4.version = 2;
    k4.comment = None;
    s.save_response(&k4, &[]).await.unwrap();
    let mut k5 = s.response(&SendId::for_key("k5")).await.unwrap().unwrap();
    k5.version = 2;
    k5.comment = Some("second thoughts".into());
    s.save_response(&k5, &[]).await.unwrap();
    assert_eq!(
        scores(s.commented_responses_of_day(d, 10).await.unwrap()),
        vec![5, 2, 0]
    );
}

pub async fn responses_of_a_large_day_page<S: Store>(s: S) {
    // 300 answers with 4 KB comments on one day: 1.2 MB.
    let d = day("2026-03-02");
    let base = ts("2026-03-02T08:00:00Z");
    for i in 0..300i64 {
        let mut r = response(
            &format!("big{i}"),
            &format!("c{i}"),
            (i % 11) as u8,
            Some(&format!("{i} {}", "word ".repeat(800))),
            d,
        );
        r.answered_at = base + SignedDuration::from_secs(i * 10);
        s.save_response(&r, &[]).await.unwrap();
    }
    let all = s.responses_of_day(d).await.unwrap();
    assert_eq!(all.len(), 300);
    assert!(all.windows(2).all(|w| w[0].answered_at > w[1].answered_at));
    let top = s.commented_responses_of_day(d, 250).await.unwrap();
    assert_eq!(top, all[..250].to_vec());
}

pub async fn responses_of_contact_and_anonymised_answers<S: Store>(s: S) {
    let a1 = response("a1", "c-a", 9, None, day("2026-01-02"));
    let a2 = response("a2", "c-a", 4, Some("meh"), day("2026-03-02"));
    let b1 = response("b1", "c-b", 10, None, day("2026-03-02"));
    for r in [&a1, &a2, &b1] {
        s.save_response(r, &rollup_deltas(None, r)).await.unwrap();
    }
    assert_eq!(
        sorted_responses(s.responses_of_contact(&cid("c-a")).await.unwrap()),
        sorted_responses(vec![a1.clone(), a2.clone()])
    );
    let mut anon = a1.clone();
    anon.version = 2;
    anon.contact_id = None;
    s.save_response(&anon, &[]).await.unwrap();
    assert_eq!(s.responses_of_contact(&cid("c-a")).await.unwrap(), vec![a2]);
    assert_eq!(s.responses_of_contact(&cid("c-b")).await.unwrap(), vec![b1]);
    assert!(
        s.responses_of_contact(&cid("c-z"))
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- follow-ups ------------------------------------------------------------------------------

fn close(f: &FollowUp, at: &str) -> FollowUp {
    let mut g = f.clone();
    g.version += 1;
    g.status = FollowUpStatus::Done;
    g.closed_at = Some(ts(at));
    g.closed_by = Some("support@acme.example".into());
    g.note = Some("called back".into());
    g
}

pub async fn follow_ups_open_oldest_first_and_done_leave<S: Store>(s: S) {
    let a = follow_up("a", ts("2026-02-27T10:00:00Z"));
    let b = follow_up("b", ts("2026-03-01T10:00:00Z"));
    let c = follow_up("c", ts("2026-03-05T10:00:00Z"));
    for f in [&c, &a, &b] {
        s.put_follow_up(f).await.unwrap();
    }
    assert_conflict(s.put_follow_up(&a).await);
    assert_eq!(
        s.open_follow_ups().await.unwrap(),
        vec![a.clone(), b.clone(), c.clone()]
    );
    let done = close(&b, "2026-03-02T10:00:00Z");
    s.put_follow_up(&done).await.unwrap();
    // A second "done" click with the old version loses.
    assert_conflict(s.put_follow_up(&close(&b, "2026-03-02T11:00:00Z")).await);
    assert_eq!(s.follow_up(&b.send_id).await.unwrap(), Some(done));
    assert_eq!(s.open_follow_ups().await.unwrap(), vec![a, c]);
    assert_eq!(s.follow_up(&SendId::for_key("none")).await.unwrap(), None);
}

pub async fn answer_and_follow_up_are_read_together<S: Store>(s: S) {
    let d = day("2026-03-02");
    let answer = response("wave:c-a:1", "c-a", 2, Some("slow"), d);
    let id = answer.send_id.clone();
    assert_eq!(s.answer_and_follow_up(&id).await.unwrap(), (None, None));
    s.save_response(&answer, &rollup_deltas(None, &answer))
        .await
        .unwrap();
    assert_eq!(
        s.answer_and_follow_up(&id).await.unwrap(),
        (Some(answer.clone()), None)
    );
    let mut f = follow_up("wave:c-a:1", ts("2026-03-02T10:00:00Z"));
    f.send_id = id.clone();
    s.put_follow_up(&f).await.unwrap();
    assert_eq!(
        s.answer_and_follow_up(&id).await.unwrap(),
        (Some(answer.clone()), Some(f.clone()))
    );
    // A follow-up without an answer (the answer erased), and another send's pair untouched.
    let lone = follow_up("wave:c-b:1", ts("2026-03-02T11:00:00Z"));
    s.put_follow_up(&lone).await.unwrap();
    assert_eq!(
        s.answer_and_follow_up(&lone.send_id).await.unwrap(),
        (None, Some(lone.clone()))
    );
    assert_eq!(
        s.answer_and_follow_up(&id).await.unwrap(),
        (
            s.response(&id).await.unwrap(),
            s.follow_up(&id).await.unwrap()
        )
    );
}

pub async fn follow_ups_opened_between_is_inclusive_open_or_done<S: Store>(s: S) {
    let fs = [
        follow_up("a", ts("2026-01-31T23:59:59Z")),
        follow_up("b", ts("2026-02-01T00:00:00Z")),
        follow_up("c", ts("2026-02-14T12:00:00Z")),
        follow_up("d", ts("2026-02-28T23:00:00Z")),
        follow_up("e", ts("2026-03-01T00:00:00Z")),
    ];
    for f in &fs {
        s.put_follow_up(f).await.unwrap();
    }
    let done = close(&fs[2], "2026-02-15T09:00:00Z");
    s.put_follow_up(&done).await.unwrap();
    // Newest first, both ends of the day range included, open or done.
    assert_eq!(
        s.follow_ups_opened_between(day("2026-02-01"), day("2026-02-28"), 10)
            .await
            .unwrap(),
        vec![fs[3].clone(), done.clone(), fs[1].clone()]
    );
    assert_eq!(
        s.follow_ups_opened_between(day("2026-02-14"), day("2026-02-14"), 10)
            .await
            .unwrap(),
        vec![done.clone()]
    );
    // The limit keeps the newest.
    assert_eq!(
        s.follow_ups_opened_between(day("2026-01-01"), day("2026-03-31"), 2)
            .await
            .unwrap(),
        vec![fs[4].clone(), fs[3].clone()]
    );
    assert!(
        s.follow_ups_opened_between(day("2026-01-01"), day("2026-03-31"), 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.follow_ups_opened_between(day("2026-04-01"), day("2026-04-30"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn follow_ups_opened_between_newest_first_across_months_and_pages<S: Store>(s: S) {
    // 150 follow-ups over three months (50 a month, several a day, distinct times), each with a
    // long note so that a month holds more than one DynamoDB page: the read must walk the months
    // from the newest back, page, and stop at the limit.
    let base = ts("2026-01-01T08:00:00Z");
    let mut all = Vec::new();
    for i in 0..150i64 {
        let month = i / 50;
        let at = base
            + SignedDuration::from_hours(24 * (31 * month + (i % 50) / 2))
            + SignedDuration::from_mins(i % 2 * 30);
        let mut f = follow_up(&format!("fu:{i}"), at);
        f.note = Some(format!("{i}:{}", "n".repeat(25_000)));
        s.put_follow_up(&f).await.unwrap();
        all.push(f);
    }
    let mut newest_first = all.clone();
    newest_first.sort_by(|a, b| {
        (b.opened_day, b.opened_at, b.send_id.as_str()).cmp(&(
            a.opened_day,
            a.opened_at,
            a.send_id.as_str(),
        ))
    });
    let everything = s
        .follow_ups_opened_between(day("2025-12-01"), day("2026-04-30"), 1_000)
        .await
        .unwrap();
    assert_eq!(everything.len(), 150);
    assert_eq!(everything, newest_first);
    // A limit that ends inside the second month read (the newest month holds 50).
    let some = s
        .follow_ups_opened_between(day("2025-12-01"), day("2026-04-30"), 70)
        .await
        .unwrap();
    assert_eq!(some, newest_first[..70].to_vec());
    // A range that starts and ends inside months keeps only its days.
    let (from, to) = (day("2026-01-10"), day("2026-02-05"));
    let inside: Vec<FollowUp> = newest_first
        .iter()
        .filter(|f| f.opened_day >= from && f.opened_day <= to)
        .cloned()
        .collect();
    assert!(inside.len() > 20);
    assert_eq!(
        s.follow_ups_opened_between(from, to, 1_000).await.unwrap(),
        inside
    );
    assert_eq!(
        s.follow_ups_opened_between(from, to, 5).await.unwrap(),
        inside[..5].to_vec()
    );
}

// ---- suppressions, API keys, report runs, webhook deliveries ----------------------------------

pub async fn suppressions_are_upserted_last_word_wins<S: Store>(s: S) {
    let e = email("gone@acme.example");
    assert_eq!(s.suppression(&e.hash()).await.unwrap(), None);
    let mut sup = Suppression {
        email_hash: e.hash(),
        reason: None,
        at: ts("2026-03-01T00:00:00Z"),
        soft_bounces: 1,
    };
    s.put_suppression(&sup).await.unwrap();
    assert_eq!(s.suppression(&e.hash()).await.unwrap(), Some(sup.clone()));
    sup.reason = Some(SuppressionReason::HardBounce);
    sup.soft_bounces = 0;
    s.put_suppression(&sup).await.unwrap();
    sup.reason = Some(SuppressionReason::Erased);
    s.put_suppression(&sup).await.unwrap();
    assert_eq!(s.suppression(&e.hash()).await.unwrap(), Some(sup));
    assert_eq!(
        s.suppression(&email("other@acme.example").hash())
            .await
            .unwrap(),
        None
    );
}

pub async fn api_keys_upsert_and_list<S: Store>(s: S) {
    assert!(s.api_keys().await.unwrap().is_empty());
    let k1 = ApiKey {
        hash: "aa".repeat(32),
        prefix: "pk_1".into(),
        name: "crm".into(),
        created_at: ts("2026-03-01T00:00:00Z"),
        revoked_at: None,
    };
    let mut k2 = k1.clone();
    k2.hash = "bb".repeat(32);
    k2.prefix = "pk_2".into();
    k2.created_at = ts("2026-03-02T00:00:00Z");
    s.put_api_key(&k2).await.unwrap();
    s.put_api_key(&k1).await.unwrap();
    let mut revoked = k1.clone();
    revoked.revoked_at = Some(ts("2026-03-03T00:00:00Z"));
    s.put_api_key(&revoked).await.unwrap();
    assert_eq!(s.api_key(&k1.hash).await.unwrap(), Some(revoked.clone()));
    assert_eq!(s.api_key(&"cc".repeat(32)).await.unwrap(), None);
    let mut all = s.api_keys().await.unwrap();
    all.sort_by(|a, b| a.hash.cmp(&b.hash));
    assert_eq!(all, vec![revoked, k2]);
}

pub async fn report_run_is_claimed_once<S: Store>(s: S) {
    let run = ReportRun {
        kind: ReportKind::Weekly,
        period: "2026-W10".into(),
        status: ReportRunStatus::Claimed {
            at: ts("2026-03-09T07:00:00Z"),
        },
        archive_prefix: None,
        version: 1,
    };
    assert_eq!(
        s.report_run(ReportKind::Weekly, "2026-W10").await.unwrap(),
        None
    );
    s.put_report_run(&run).await.unwrap();
    let mut rival = run.clone();
    rival.status = ReportRunStatus::Claimed {
        at: ts("2026-03-09T07:00:05Z"),
    };
    assert_conflict(s.put_report_run(&rival).await);
    assert_eq!(
        s.report_run(ReportKind::Weekly, "2026-W10").await.unwrap(),
        Some(run.clone())
    );
    // A run that failed gives its claim back; the next one takes it over and sends.
    let mut failed = run.clone();
    failed.version = 2;
    failed.status = ReportRunStatus::Failed {
        at: ts("2026-03-09T07:00:20Z"),
    };
    s.put_report_run(&failed).await.unwrap();
    assert_eq!(
        s.report_run(ReportKind::Weekly, "2026-W10").await.unwrap(),
        Some(failed.clone())
    );
    let mut sent = failed.clone();
    sent.version = 3;
    sent.status = ReportRunStatus::Sent {
        at: ts("2026-03-09T07:00:30Z"),
    };
    sent.archive_prefix = Some("reports/weekly/2026-W10".into());
    s.put_report_run(&sent).await.unwrap();
    assert_conflict(s.put_report_run(&sent).await);
    assert_eq!(
        s.report_run(ReportKind::Weekly, "2026-W10").await.unwrap(),
        Some(sent)
    );
    // Another kind for the same period text is another run.
    assert_eq!(
        s.report_run(ReportKind::Daily, "2026-W10").await.unwrap(),
        None
    );
    let mut daily = run.clone();
    daily.kind = ReportKind::Daily;
    s.put_report_run(&daily).await.unwrap();
    assert_eq!(
        s.report_run(ReportKind::Daily, "2026-W10").await.unwrap(),
        Some(daily)
    );
}

pub async fn webhook_deliveries_due_earliest_first<S: Store>(s: S) {
    let mut ds = Vec::new();
    for i in [4, 0, 7, 2, 9, 1, 5, 3, 8, 6, 11, 10] {
        let at = ts(&format!("2026-03-02T10:{i:02}:00Z"));
        let d = delivery(&format!("d{i:02}"), at, Some(at));
        s.put_delivery(&d).await.unwrap();
        ds.push(d);
    }
    ds.sort_by_key(|d| d.next_attempt_at);
    assert_conflict(s.put_delivery(&ds[0]).await);
    let until = ts("2026-03-02T10:05:00Z");
    assert_eq!(
        s.due_deliveries(until, 100).await.unwrap(),
        ds[..6].to_vec()
    );
    assert_eq!(s.due_deliveries(until, 2).await.unwrap(), ds[..2].to_vec());
    // Delivered, and retried later: out of the queue, or later in it.
    let mut delivered = ds[0].clone();
    delivered.version = 2;
    delivered.status = DeliveryStatus::Delivered;
    delivered.next_attempt_at = None;
    delivered.attempts = 1;
    s.put_delivery(&delivered).await.unwrap();
    let mut retry = ds[1].clone();
    retry.version = 2;
    retry.attempts = 1;
    retry.last_error = Some("HTTP 503".into());
    retry.next_attempt_at = Some(ts("2026-03-02T11:00:00Z"));
    s.put_delivery(&retry).await.unwrap();
    assert_eq!(
        s.due_deliveries(until, 100).await.unwrap(),
        ds[2..6].to_vec()
    );
    assert_eq!(s.delivery(&ds[0].id).await.unwrap(), Some(delivered));
    assert_eq!(
        s.due_deliveries(ts("2026-03-02T11:00:00Z"), 100)
            .await
            .unwrap()
            .last(),
        Some(&retry)
    );
}

pub async fn webhook_deliveries_dead_newest_first<S: Store>(s: S) {
    let mut ds = Vec::new();
    for i in 0..6 {
        let at = ts(&format!("2026-03-0{}T10:00:00Z", i + 1));
        let d = delivery(&format!("d{i}"), at, Some(at));
        s.put_delivery(&d).await.unwrap();
        ds.push(d);
    }
    assert!(s.dead_deliveries(10).await.unwrap().is_empty());
    for d in [&ds[1], &ds[4], &ds[2]] {
        let mut dead = d.clone();
        dead.version = 2;
        dead.status = DeliveryStatus::Dead;
        dead.next_attempt_at = None;
        dead.attempts = 8;
        dead.last_error = Some("HTTP 500".into());
        s.put_delivery(&dead).await.unwrap();
    }
    let ids = |v: Vec<pulso_core::model::WebhookDelivery>| {
        v.into_iter()
            .map(|d| d.id.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.dead_deliveries(10).await.unwrap()),
        ["d4", "d2", "d1"]
    );
    assert_eq!(ids(s.dead_deliveries(2).await.unwrap()), ["d4", "d2"]);
    // Dead deliveries are never due.
    assert_eq!(
        ids(s
            .due_deliveries(ts("2026-04-01T00:00:00Z"), 100)
            .await
            .unwrap()),
        ["d0", "d3", "d5"]
    );
}
