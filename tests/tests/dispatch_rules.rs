//! Fatigue across kinds, suppression, reminders and mail-service faults, through whole dispatch
//! runs over the SQLite store.

mod dispatch_support;

use dispatch_support::*;
use jiff::civil::date;
use pulso_core::dispatch::{EventRequest, Timer, schedule_event};
use pulso_core::model::{ReminderState, SendStatus, SkipReason, Suppression, SuppressionReason};
use pulso_core::ports::{Contacts, Responses, Sends, Suppressions};
use pulso_core::types::Touchpoint;

const BASE: &str = "[email]\nmax_send_rate = 1000\n";

fn event(tp: &str, id: &str, delay: Option<u32>) -> EventRequest {
    EventRequest {
        touchpoint: Touchpoint::parse(tp).unwrap(),
        event_id: id.into(),
        delay_hours: delay,
    }
}

/// A harness with one contact whose slot day is Wednesday 2026-03-04 (UTC company).
async fn with_wave_contact(extra: &str) -> (Harness, String) {
    let config = config(&format!("{BASE}{extra}"));
    let h = Harness::new(config.clone(), "2026-03-04T00:05:00Z");
    let id = id_in_slice("w", &config, date(2026, 3, 4));
    h.add_contact(&id, |_| {}).await;
    (h, id)
}

#[tokio::test]
async fn an_event_right_after_a_wave_send_is_skipped_for_fatigue() {
    let (h, id) = with_wave_contact("").await;
    h.dispatch().await;
    let out = h.dispatch_at("2026-03-04T12:30:00Z").await;
    assert_eq!(out.sent, 1);
    let contact = h.contact(&id).await;
    let ev = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        contact,
        &event("order_delivered", "O-1", Some(2)),
    )
    .await
    .unwrap();
    assert!(!ev.duplicate);
    assert_eq!(ev.skip_reason(), Some(SkipReason::Fatigue));
    // Recorded, with its reason, and never mailed.
    let stored = h.ctx.store.send(&ev.send.id).await.unwrap().unwrap();
    assert!(matches!(
        stored.status,
        SendStatus::Skipped {
            reason: SkipReason::Fatigue,
            ..
        }
    ));
    assert_eq!(stored.next_action_at, None);
    let later = h.dispatch_at("2026-03-05T12:00:00Z").await;
    assert_eq!(later.sent, 0);
    assert_eq!(h.mailer.delivered().len(), 1);
}

#[tokio::test]
async fn a_touchpoint_may_shorten_the_fatigue_gap() {
    let (h, id) = with_wave_contact(
        "[surveys.touchpoints.ticket_closed]\nfatigue_days = 7\ndelay_hours = 0\n",
    )
    .await;
    h.dispatch().await;
    h.dispatch_at("2026-03-04T12:30:00Z").await;
    // Five days after the wave: still inside the touchpoint's 7 days.
    h.set_now("2026-03-09T12:00:00Z");
    let early = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        h.contact(&id).await,
        &event("ticket_closed", "T-1", None),
    )
    .await
    .unwrap();
    assert_eq!(early.skip_reason(), Some(SkipReason::Fatigue));
    // Ten days after: clear of it (the global 90 days do not apply to this touchpoint).
    h.set_now("2026-03-14T12:00:00Z");
    let ok = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        h.contact(&id).await,
        &event("ticket_closed", "T-2", None),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), "scheduled");
    assert_eq!(
        ok.send.touchpoint.as_ref().unwrap().as_str(),
        "ticket_closed"
    );
    let out = h.dispatch().await;
    assert_eq!(out.sent, 1);
    // Another touchpoint, with the global gap, is still blocked by both.
    let other = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        h.contact(&id).await,
        &event("order_delivered", "O-9", Some(1)),
    )
    .await
    .unwrap();
    assert_eq!(other.skip_reason(), Some(SkipReason::Fatigue));
}

#[tokio::test]
async fn a_transactional_survey_goes_first_and_the_wave_gives_way() {
    let (h, id) = with_wave_contact("").await;
    let planned = h.dispatch().await;
    assert_eq!(planned.wave.planned, 1);
    // Before the wave's morning, an event with no delay.
    h.set_now("2026-03-04T07:00:00Z");
    let ev = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        h.contact(&id).await,
        &event("ticket_closed", "T-7", Some(0)),
    )
    .await
    .unwrap();
    assert_eq!(ev.status(), "scheduled");
    let out = h.dispatch().await;
    assert_eq!(out.sent, 1);
    let out = h.dispatch_at("2026-03-04T12:30:00Z").await;
    assert_eq!(out.sent, 0);
    assert_eq!(out.skipped.get("fatigue"), Some(&1), "{out:?}");
    assert_eq!(h.mailer.delivered().len(), 1);
    let sends = h.sends_of(&id).await;
    assert_eq!(sends.len(), 2);
}

#[tokio::test]
async fn unsubscribed_bounced_and_complained_addresses_are_never_mailed() {
    let config = config(BASE);
    let h = Harness::new(config.clone(), "2026-03-04T00:05:00Z");
    let day = date(2026, 3, 4);
    let unsub = id_in_slice("u", &config, day);
    let bounced = id_in_slice("b", &config, day);
    let complained = id_in_slice("k", &config, day);
    let late = id_in_slice("l", &config, day);
    let now = ts("2026-03-01T00:00:00Z");
    h.add_contact(&unsub, |c| c.unsubscribed_at = Some(now))
        .await;
    let b = h.add_contact(&bounced, |_| {}).await;
    let k = h.add_contact(&complained, |_| {}).await;
    let l = h.add_contact(&late, |_| {}).await;
    for (c, reason) in [
        (&b, SuppressionReason::HardBounce),
        (&k, SuppressionReason::Complaint),
    ] {
        h.ctx
            .store
            .put_suppression(&Suppression {
                email_hash: c.email.hash(),
                reason: Some(reason),
                at: now,
                soft_bounces: 0,
            })
            .await
            .unwrap();
    }
    let out = h.dispatch().await;
    assert_eq!(out.wave.planned, 1);
    assert_eq!(out.skipped.get("unsubscribed"), Some(&1));
    assert_eq!(out.skipped.get("bounced"), Some(&1));
    assert_eq!(out.skipped.get("complained"), Some(&1));
    // The one planned bounces before its morning: checked again at send time.
    h.ctx
        .store
        .put_suppression(&Suppression {
            email_hash: l.email.hash(),
            reason: Some(SuppressionReason::HardBounce),
            at: now,
            soft_bounces: 0,
        })
        .await
        .unwrap();
    let out = h.dispatch_at("2026-03-04T12:30:00Z").await;
    assert_eq!(out.sent, 0);
    assert_eq!(out.skipped.get("bounced"), Some(&1));
    assert!(h.mailer.delivered().is_empty());
    // Skips are recorded once: later runs find them.
    let again = h.dispatch_at("2026-03-04T13:00:00Z").await;
    assert_eq!(again.skipped_total(), 0);
    for id in [&unsub, &bounced, &complained, &late] {
        let sends = h.sends_of(id).await;
        assert_eq!(sends.len(), 1, "{id}");
        assert!(matches!(sends[0].status, SendStatus::Skipped { .. }));
    }
    // An event for the unsubscribed contact is recorded as skipped too.
    let ev = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        h.contact(&unsub).await,
        &event("ticket_closed", "T-1", None),
    )
    .await
    .unwrap();
    assert_eq!(ev.skip_reason(), Some(SkipReason::Unsubscribed));
    // A contact that unsubscribes after being planned is not mailed either.
    let soon = id_in_slice("s", &config, date(2026, 3, 5));
    h.add_contact(&soon, |_| {}).await;
    h.dispatch_at("2026-03-05T00:05:00Z").await;
    let mut c = h.contact(&soon).await;
    c.unsubscribed_at = Some(ts("2026-03-05T06:00:00Z"));
    c.version += 1;
    h.ctx.store.put_contact(&c).await.unwrap();
    let out = h.dispatch_at("2026-03-05T12:30:00Z").await;
    assert_eq!(out.skipped.get("unsubscribed"), Some(&1));
    assert!(h.mailer.delivered().is_empty());
}

#[tokio::test]
async fn one_reminder_after_the_configured_days_and_never_a_second() {
    let (h, id) = with_wave_contact("").await;
    h.dispatch().await;
    assert_eq!(h.dispatch_at("2026-03-04T12:30:00Z").await.sent, 1);
    let send = h.sends_of(&id).await.remove(0);
    let ReminderState::Due { due_at } = send.reminder else {
        panic!("a reminder is planned: {:?}", send.reminder)
    };
    assert_eq!(
        due_at
            .duration_since(match send.status {
                SendStatus::Sent { at } => at,
                _ => panic!(),
            })
            .as_hours(),
        5 * 24
    );
    // Not before.
    assert_eq!(
        h.dispatch_at("2026-03-09T09:00:00Z").await.reminders_sent,
        0
    );
    let out = h.dispatch_at("2026-03-09T13:00:00Z").await;
    assert_eq!(out.reminders_sent, 1);
    let delivered = h.mailer.delivered();
    assert_eq!(delivered.len(), 2);
    assert!(delivered[1].header_id.starts_with("reminder."));
    assert_eq!(delivered[1].email.tag, "reminder");
    let subject = header(&delivered[1].email.raw, "Subject").unwrap();
    assert!(subject.starts_with("Reminder:"), "{subject}");
    // Never a second one.
    for t in ["2026-03-10T13:00:00Z", "2026-03-20T13:00:00Z"] {
        let out = h.dispatch_at(t).await;
        assert_eq!(out.reminders_sent, 0);
    }
    assert_eq!(h.mailer.delivered().len(), 2);
    let send = h.sends_of(&id).await.remove(0);
    assert!(matches!(send.reminder, ReminderState::Sent { .. }));
    assert_eq!(send.next_action_at, None);
}

#[tokio::test]
async fn no_reminder_after_an_answer_or_an_unsubscribe() {
    let config = config(BASE);
    let h = Harness::new(config.clone(), "2026-03-04T00:05:00Z");
    let answered = id_in_slice("ans", &config, date(2026, 3, 4));
    let gone = id_in_slice("uns", &config, date(2026, 3, 4));
    h.add_contact(&answered, |_| {}).await;
    h.add_contact(&gone, |_| {}).await;
    h.dispatch().await;
    assert_eq!(h.dispatch_at("2026-03-04T12:30:00Z").await.sent, 2);
    let send = h.sends_of(&answered).await.remove(0);
    let response = pulso_tests::fixtures::response(&send.key, &answered, 9, None, date(2026, 3, 5));
    h.ctx.store.save_response(&response, &[]).await.unwrap();
    let mut c = h.contact(&gone).await;
    c.unsubscribed_at = Some(ts("2026-03-06T10:00:00Z"));
    c.version += 1;
    h.ctx.store.put_contact(&c).await.unwrap();
    let out = h.dispatch_at("2026-03-10T13:00:00Z").await;
    assert_eq!(out.reminders_sent, 0);
    assert_eq!(out.reminders_cancelled.get("answered"), Some(&1));
    assert_eq!(out.reminders_cancelled.get("unsubscribed"), Some(&1));
    assert_eq!(h.mailer.delivered().len(), 2);
    for id in [&answered, &gone] {
        let s = h.sends_of(id).await.remove(0);
        assert!(
            matches!(s.reminder, ReminderState::Cancelled { .. }),
            "{:?}",
            s.reminder
        );
    }
}

#[tokio::test]
async fn touchpoints_may_turn_reminders_off() {
    let config = config(&format!(
        "{BASE}[surveys.touchpoints.ticket_closed]\nreminder = false\ndelay_hours = 0\n"
    ));
    let h = Harness::new(config, "2026-03-04T10:00:00Z");
    let c = h.add_contact("t1", |_| {}).await;
    schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        c,
        &event("ticket_closed", "T-1", None),
    )
    .await
    .unwrap();
    assert_eq!(h.dispatch().await.sent, 1);
    let s = h.sends_of("t1").await.remove(0);
    assert_eq!(s.reminder, ReminderState::None);
    assert_eq!(s.next_action_at, None);
    assert_eq!(
        h.dispatch_at("2026-03-20T10:00:00Z").await.reminders_sent,
        0
    );
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_left_for_the_next_run() {
    let (h, id) = with_wave_contact("").await;
    h.dispatch().await;
    // Three throttles, then acceptance: one email, within the run.
    h.mailer
        .script([Answer::Throttle, Answer::Throttle, Answer::Throttle]);
    let timer = pulso_core::dispatch::ManualTimer::new();
    h.set_now("2026-03-04T12:30:00Z");
    let out = pulso_core::dispatch::run(&h.ctx, &timer, std::time::Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(out.sent, 1);
    assert_eq!(out.throttled, 3);
    assert!(
        out.rate_at_end < out.rate,
        "the run slowed down: {}",
        out.rate_at_end
    );
    assert!(
        timer.elapsed() >= std::time::Duration::from_millis(250 + 500 + 1000),
        "it backed off: {:?}",
        timer.elapsed()
    );
    assert_eq!(h.mailer.delivered().len(), 1);
    let _ = id;
}

#[tokio::test]
async fn persistent_throttling_stops_the_run_and_the_next_run_sends() {
    let config = config(BASE);
    let h = Harness::new(config.clone(), "2026-03-04T00:05:00Z");
    let a = id_in_slice("a", &config, date(2026, 3, 4));
    let b = id_in_slice("b", &config, date(2026, 3, 4));
    h.add_contact(&a, |_| {}).await;
    h.add_contact(&b, |_| {}).await;
    h.dispatch().await;
    h.mailer.script(std::iter::repeat_n(Answer::Throttle, 5));
    let out = h.dispatch_at("2026-03-04T12:30:00Z").await;
    assert_eq!(out.sent, 0);
    assert_eq!(out.throttled, 5);
    assert_eq!(out.stopped_early.as_deref(), Some("throttled"));
    assert_eq!(out.retry_later, 1);
    assert!(out.left_for_next_run >= 1);
    // Nothing is lost: both are scheduled again; the next run sends them once each.
    for id in [&a, &b] {
        let s = h.sends_of(id).await.remove(0);
        assert_eq!(s.status, SendStatus::Scheduled);
    }
    let out = h.dispatch_at("2026-03-04T12:45:00Z").await;
    assert_eq!(out.sent, 2);
    assert_eq!(h.mailer.delivered().len(), 2);
    assert!(h.mailer.counts_by_header().values().all(|n| *n == 1));
}

#[tokio::test]
async fn outages_are_retried_later_and_rejections_are_skipped() {
    let config = config(BASE);
    let h = Harness::new(config.clone(), "2026-03-04T00:05:00Z");
    let a = id_in_slice("a", &config, date(2026, 3, 4));
    let r = id_in_slice("r", &config, date(2026, 3, 4));
    h.add_contact(&a, |_| {}).await;
    let rc = h.add_contact(&r, |_| {}).await;
    h.mailer.reject_to(rc.email.as_str());
    h.dispatch().await;
    h.mailer.script([Answer::Unavailable]);
    let out = h.dispatch_at("2026-03-04T12:30:00Z").await;
    assert_eq!(out.skipped.get("rejected"), Some(&1));
    assert_eq!(out.retry_later, 1);
    assert_eq!(out.sent, 0);
    let s = h.sends_of(&a).await.remove(0);
    assert_eq!(s.status, SendStatus::Scheduled);
    let retry = s.next_action_at.unwrap();
    assert!(retry > ts("2026-03-04T12:30:00Z"));
    // Not before its backoff; then once.
    assert_eq!(h.dispatch_at("2026-03-04T12:30:30Z").await.sent, 0);
    h.set_now(&retry.to_string());
    assert_eq!(h.dispatch().await.sent, 1);
    assert_eq!(h.mailer.delivered().len(), 1);
    // A send the mail service keeps failing for two days is given up, with the reason.
    let c = h.add_contact("z", |_| {}).await;
    let ev = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        c,
        &event("ticket_closed", "T-5", Some(0)),
    )
    .await
    .unwrap();
    h.mailer.script([Answer::Unavailable]);
    let t = h
        .ctx
        .clock
        .now()
        .checked_add(jiff::SignedDuration::from_hours(49))
        .unwrap();
    h.set_now(&t.to_string());
    let out = h.dispatch().await;
    assert_eq!(
        out.failed.get("the mail service kept failing"),
        Some(&1),
        "{out:?}"
    );
    let s = h.ctx.store.send(&ev.send.id).await.unwrap().unwrap();
    assert!(
        matches!(s.status, SendStatus::Failed { ref reason, .. } if reason.contains("kept failing"))
    );
}

#[tokio::test]
async fn events_are_idempotent_and_delayed() {
    let config = config(&format!(
        "{BASE}[surveys]\ndefault_delay_hours = 24\n[surveys.touchpoints.order_delivered]\ndelay_hours = 48\n"
    ));
    let h = Harness::new(config, "2026-03-04T10:00:00Z");
    let c = h.add_contact("e1", |_| {}).await;
    let req = event("order_delivered", "O-1", None);
    let first = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        c.clone(),
        &req,
    )
    .await
    .unwrap();
    assert_eq!(first.send.due_at, ts("2026-03-06T10:00:00Z"));
    let again = schedule_event(
        &h.ctx.config,
        &h.ctx.store,
        h.ctx.clock.now(),
        h.contact("e1").await,
        &req,
    )
    .await
    .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.send.id, first.send.id);
    assert_eq!(h.sends_of("e1").await.len(), 1);
    // The request's delay wins over the touchpoint's; an unknown touchpoint uses the default.
    let d = event("order_delivered", "O-2", Some(3)).delay(&h.ctx.config);
    assert_eq!(d.as_hours(), 3);
    assert_eq!(
        event("signup", "S-1", None).delay(&h.ctx.config).as_hours(),
        24
    );
    assert_eq!(h.dispatch_at("2026-03-06T09:59:00Z").await.sent, 0);
    assert_eq!(h.dispatch_at("2026-03-06T10:00:00Z").await.sent, 1);
    let _ = h.ctx.store.contact(&c.id).await;
}
