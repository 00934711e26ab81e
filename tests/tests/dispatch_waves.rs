//! Relational waves: every contact once per cycle, spread evenly over the cycle's working days,
//! in the contact's morning; new contacts wait until they have settled; a missed day is caught up.

mod dispatch_support;

use std::collections::{BTreeMap, BTreeSet};

use dispatch_support::*;
use jiff::ToSpan;
use jiff::civil::{Date, date};
use pulso_core::dispatch::calendar::{Cycle, working_days};
use pulso_core::model::{SendStatus, SurveyKind};
use pulso_core::ports::{Contacts, Sends};
use pulso_core::time::{at_local, local_day};

const QUIET: &str = "[surveys]\nreminder_after_days = 0\n[email]\nmax_send_rate = 1000\n";

fn cycle_of(config: &pulso_core::Config, day: Date) -> Cycle {
    Cycle::containing(
        day,
        config.surveys.cadence_days,
        &working_days(&config.surveys),
    )
}

fn at(day: Date, hour: i8, minute: i8) -> String {
    at_local(
        day,
        jiff::civil::time(hour, minute, 0, 0),
        &jiff::tz::TimeZone::UTC,
    )
    .to_string()
}

#[tokio::test]
async fn nine_thousand_contacts_spread_over_a_ninety_day_cycle() {
    let config = config(QUIET);
    let h = Harness::new(config.clone(), "2026-03-02T00:00:00Z");
    let cycle = cycle_of(&config, date(2026, 3, 2));
    // Customers who settle on the cycle's first day: the whole base enters this cycle.
    let since = cycle.start.saturating_sub(30.days());
    for n in 0..9_000 {
        h.add_contact(&format!("c{n}"), |c| c.customer_since = Some(since))
            .await;
    }
    let w = cycle.working.len();
    let mut planned_per_day = BTreeMap::new();
    let mut day = cycle.start;
    while day < cycle.end {
        // The first run of the day plans the slice; a run after the morning window sends it.
        let morning_run = h.dispatch_at(&at(day, 0, 5)).await;
        planned_per_day.insert(day, morning_run.wave.planned);
        let noon = h.dispatch_at(&at(day, 12, 30)).await;
        assert_eq!(noon.wave.planned, 0, "everything was planned at 00:05");
        assert_eq!(noon.failed_total() + noon.skipped_total(), 0);
        day = day.saturating_add(1.days());
    }
    let working: BTreeSet<Date> = cycle.working.iter().copied().collect();
    for (d, n) in &planned_per_day {
        if working.contains(d) {
            assert!((90..=190).contains(n), "{d}: {n} planned");
        } else {
            assert_eq!(*n, 0, "{d} is not a working day");
        }
    }
    let total: u64 = planned_per_day.values().sum();
    assert_eq!(total, 9_000);
    let mean = total as f64 / w as f64;
    assert!((138.0..=142.0).contains(&mean), "{mean} per working day");

    // Each contact got exactly one survey this cycle, on its slot day, in its morning.
    let delivered = h.mailer.delivered();
    assert_eq!(delivered.len(), 9_000);
    let per_header = h.mailer.counts_by_header();
    assert_eq!(per_header.len(), 9_000);
    assert!(per_header.values().all(|n| *n == 1));
    let recipients: BTreeSet<String> = delivered.iter().flat_map(|d| d.email.to.clone()).collect();
    assert_eq!(recipients.len(), 9_000);
    for n in (0..9_000).step_by(97) {
        let id = format!("c{n}");
        let sends = h.sends_of(&id).await;
        assert_eq!(sends.len(), 1, "{id}");
        let s = &sends[0];
        assert_eq!(s.kind, SurveyKind::Relational);
        assert!(matches!(s.status, SendStatus::Sent { .. }));
        let slot_day = cycle.day_of_slot(h.contact(&id).await.slot);
        let local = s.due_at.to_zoned(jiff::tz::TimeZone::UTC);
        assert_eq!(local.date(), slot_day);
        assert!((9..12).contains(&local.hour()));
    }
    // The next cycle's first working day plans the next share again, once.
    let next = cycle.next(config.surveys.cadence_days, &working_days(&config.surveys));
    let first = h.dispatch_at(&at(next.working[0], 0, 5)).await;
    assert!((90..=190).contains(&first.wave.planned));
}

#[tokio::test]
async fn new_contacts_wait_until_they_have_settled() {
    let config = config(QUIET);
    let h = Harness::new(config.clone(), "2026-03-02T00:00:00Z");
    let cycle = cycle_of(&config, date(2026, 3, 2));
    // A contact whose slot day is the cycle's sixth working day, created ten days before it: it
    // settles twenty days after its slot day.
    let slot_day = cycle.working[5];
    let id = id_in_slice("new", &config, slot_day);
    let created = slot_day.saturating_sub(10.days());
    h.add_contact(&id, |c| {
        c.customer_since = None;
        c.created_at = at_local(
            created,
            jiff::civil::time(12, 0, 0, 0),
            &jiff::tz::TimeZone::UTC,
        );
    })
    .await;
    let settled = created.saturating_add(30.days());
    // A contact on the cycle's last working day, created the day before: settles after the cycle.
    let last_day = *cycle.working.last().unwrap();
    let late = id_in_slice("late", &config, last_day);
    h.add_contact(&late, |c| {
        c.customer_since = None;
        c.created_at = at_local(
            last_day.saturating_sub(1.days()),
            jiff::civil::time(12, 0, 0, 0),
            &jiff::tz::TimeZone::UTC,
        );
    })
    .await;

    let out = h.dispatch_at(&at(slot_day, 12, 0)).await;
    assert_eq!(out.wave.planned, 1);
    assert_eq!(out.wave.planned_later, 1);
    assert_eq!(out.sent, 0, "not before it has settled");
    let sends = h.sends_of(&id).await;
    assert_eq!(sends.len(), 1);
    let due_day = local_day(sends[0].due_at, &jiff::tz::TimeZone::UTC);
    assert!(due_day >= settled, "{due_day} before {settled}");
    assert!(due_day <= settled.saturating_add(15.days()), "{due_day}");
    assert!(
        cycle.contains(due_day),
        "this cycle, not a whole cycle later"
    );

    // Nothing goes out before the due morning; on it, the survey does.
    let before = h
        .dispatch_at(&at(due_day.saturating_sub(1.days()), 23, 0))
        .await;
    assert_eq!(before.sent, 0);
    let on = h.dispatch_at(&at(due_day, 12, 30)).await;
    assert_eq!(on.sent, 1);

    // The contact that settles after the cycle is not planned in it.
    let out = h.dispatch_at(&at(last_day, 0, 5)).await;
    assert_eq!(out.wave.not_settled, 1);
    assert!(h.sends_of(&late).await.is_empty());
}

#[tokio::test]
async fn a_day_the_schedule_missed_is_caught_up_the_next_working_day() {
    let config = config(QUIET);
    let h = Harness::new(config.clone(), "2026-03-02T00:00:00Z");
    let cycle = cycle_of(&config, date(2026, 3, 2));
    // Two consecutive working days.
    let (d1, d2) = cycle
        .working
        .windows(2)
        .find(|w| w[1] == w[0].saturating_add(1.days()))
        .map(|w| (w[0], w[1]))
        .unwrap();
    let a = id_in_slice("a", &config, d1);
    let b = id_in_slice("b", &config, d2);
    h.add_contact(&a, |_| {}).await;
    h.add_contact(&b, |_| {}).await;
    // No run at all on d1; the first run of d2 plans both slices.
    let out = h.dispatch_at(&at(d2, 0, 5)).await;
    assert_eq!(out.wave.days, vec![d1, d2]);
    assert_eq!(out.wave.planned, 2);
    assert_eq!(
        out.sent, 1,
        "d1's morning has passed: its survey goes at once"
    );
    let out = h.dispatch_at(&at(d2, 12, 30)).await;
    assert_eq!(out.sent, 1);
    assert_eq!(out.wave.already_planned, 2);
    assert_eq!(h.mailer.delivered().len(), 2);
}

#[tokio::test]
async fn the_morning_is_the_contacts_own() {
    let config = config(&format!(
        "{QUIET}[company]\ntime_zone = \"Europe/Madrid\"\n"
    ));
    let h = Harness::new(config.clone(), "2026-03-02T00:00:00Z");
    let day = date(2026, 3, 4);
    let id = id_in_slice("mx", &config, day);
    let mexico = pulso_core::types::TimeZoneName::parse("America/Mexico_City").unwrap();
    h.add_contact(&id, |c| c.time_zone = Some(mexico.clone()))
        .await;
    let madrid_midnight = at_local(
        day,
        jiff::civil::time(0, 10, 0, 0),
        &jiff::tz::TimeZone::get("Europe/Madrid").unwrap(),
    );
    h.set_now(&madrid_midnight.to_string());
    let out = h.dispatch().await;
    assert_eq!(out.wave.planned, 1);
    let send = &h.sends_of(&id).await[0];
    let local = send.due_at.to_zoned(mexico.tz());
    assert_eq!(local.date(), day);
    assert!((9..12).contains(&local.hour()), "{local}");
}

#[tokio::test]
async fn waves_can_be_turned_off() {
    let config = config("[surveys]\nrelational = false\n");
    let h = Harness::new(config.clone(), "2026-03-02T00:00:00Z");
    let id = id_in_slice("x", &config, date(2026, 3, 3));
    h.add_contact(&id, |_| {}).await;
    let out = h.dispatch_at("2026-03-03T12:00:00Z").await;
    assert_eq!(out.wave.planned, 0);
    assert!(out.wave.days.is_empty());
    assert!(
        h.ctx
            .store
            .due_sends(ts("2030-01-01T00:00:00Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let _ = h.ctx.store.contact(&h.contact(&id).await.id).await;
}

#[tokio::test]
async fn a_run_whose_keys_cannot_be_read_plans_and_sends_nothing_and_the_next_run_does_it_all() {
    // A Lambda function's keys arrive from Secrets Manager while the run's first reads go out.
    let config = config(QUIET);
    let mut h = Harness::new(config.clone(), "2026-03-02T00:00:00Z");
    let (later, keys) = pulso_tests::KeysLater::new();
    h.ctx.keys = keys;
    let day = date(2026, 3, 4);
    let id = id_in_slice("k", &config, day);
    let before = h.add_contact(&id, |_| {}).await;
    h.set_now(&at(day, 12, 0));

    let e = pulso_core::dispatch::run(
        &h.ctx,
        &pulso_core::dispatch::ManualTimer::new(),
        std::time::Duration::from_secs(3600),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("PULSO_TOKEN_KEYS"), "{e}");
    assert!(h.sends_of(&id).await.is_empty(), "nothing planned");
    assert_eq!(h.contact(&id).await, before, "the contact is untouched");
    assert!(h.mailer.delivered().is_empty(), "nothing sent");

    later.arrive();
    let out = h.dispatch().await;
    assert_eq!((out.wave.planned, out.sent), (1, 1));
    assert_eq!(h.mailer.delivered().len(), 1);
    assert!(matches!(
        h.sends_of(&id).await[0].status,
        SendStatus::Sent { .. }
    ));
}
