//! Idempotency under crashes: a store and a mailer that "die" at step k (before or after the step
//! takes effect), then fresh runs carry on. Whatever k: no email twice, no send lost — every send
//! ends sent, skipped with a reason, or failed with a reason, and every reminder sent or cancelled.

mod dispatch_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dispatch_support::*;
use jiff::Timestamp;
use jiff::civil::{Date, date};
use proptest::prelude::*;
use pulso_core::dispatch::{EventRequest, INTERRUPTED, ManualTimer, schedule_event};
use pulso_core::model::{
    Contact, ReminderState, Response, Rollup, RollupDelta, SendStatus, Suppression, SurveySend,
};
use pulso_core::ports::{
    Contacts, MailError, Mailer, OutgoingEmail, Responses, Rollups, Sends, StoreError, StoreResult,
    Suppressions,
};
use pulso_core::types::{AccountKey, ContactId, Email, EmailHash, SendId, Touchpoint};
use pulso_core::{Config, Ctx};
use pulso_local::SqliteStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// The step never happens.
    Before,
    /// The step happens, then the process dies before hearing about it.
    After,
}

/// Where the process dies: at global step numbers, counted over every store write and mail send.
#[derive(Default)]
struct Faults {
    plan: Mutex<Vec<(u64, When)>>,
    step: AtomicU64,
    dead: AtomicBool,
}

impl Faults {
    fn new(plan: Vec<(u64, When)>) -> Arc<Self> {
        Arc::new(Faults {
            plan: Mutex::new(plan),
            ..Faults::default()
        })
    }

    /// A new process: alive again.
    fn restart(&self) {
        self.dead.store(false, Ordering::SeqCst);
    }

    /// Called before each step: whether to perform it, and whether to die after it.
    fn enter(&self) -> Result<bool, ()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(());
        }
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        let hit = self
            .plan
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, w)| *w);
        match hit {
            Some(When::Before) => {
                self.dead.store(true, Ordering::SeqCst);
                Err(())
            }
            Some(When::After) => Ok(true),
            None => Ok(false),
        }
    }

    fn die(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }

    fn steps(&self) -> u64 {
        self.step.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct CrashStore {
    inner: SqliteStore,
    faults: Arc<Faults>,
}

fn dead<T>() -> StoreResult<T> {
    Err(StoreError::Unavailable("process died".into()))
}

impl CrashStore {
    async fn write<F: std::future::Future<Output = StoreResult<()>>>(
        &self,
        f: F,
    ) -> StoreResult<()> {
        match self.faults.enter() {
            Err(()) => dead(),
            Ok(die_after) => {
                let r = f.await;
                if die_after {
                    self.faults.die();
                    return dead();
                }
                r
            }
        }
    }

    fn read(&self) -> StoreResult<()> {
        if self.faults.dead.load(Ordering::SeqCst) {
            return dead();
        }
        Ok(())
    }
}

impl Contacts for CrashStore {
    async fn contact(&self, id: &ContactId) -> StoreResult<Option<Contact>> {
        self.read()?;
        self.inner.contact(id).await
    }
    async fn contact_by_email(&self, email: &Email) -> StoreResult<Option<Contact>> {
        self.read()?;
        self.inner.contact_by_email(email).await
    }
    async fn put_contact(&self, contact: &Contact) -> StoreResult<()> {
        self.write(self.inner.put_contact(contact)).await
    }
    async fn contacts_in_slots(&self, from: u16, to: u16) -> StoreResult<Vec<Contact>> {
        self.read()?;
        self.inner.contacts_in_slots(from, to).await
    }
    async fn contacts_of_account(&self, account: &AccountKey) -> StoreResult<Vec<Contact>> {
        self.read()?;
        self.inner.contacts_of_account(account).await
    }
    async fn delete_contact(&self, id: &ContactId) -> StoreResult<()> {
        self.write(self.inner.delete_contact(id)).await
    }
}

impl Sends for CrashStore {
    async fn send(&self, id: &SendId) -> StoreResult<Option<SurveySend>> {
        self.read()?;
        self.inner.send(id).await
    }
    async fn put_send(&self, send: &SurveySend) -> StoreResult<()> {
        self.write(self.inner.put_send(send)).await
    }
    async fn reserve_send(&self, contact: &Contact, send: &SurveySend) -> StoreResult<()> {
        self.write(self.inner.reserve_send(contact, send)).await
    }
    async fn due_sends(&self, until: Timestamp, limit: usize) -> StoreResult<Vec<SurveySend>> {
        self.read()?;
        self.inner.due_sends(until, limit).await
    }
    async fn sends_of_contact(&self, contact: &ContactId) -> StoreResult<Vec<SurveySend>> {
        self.read()?;
        self.inner.sends_of_contact(contact).await
    }
    async fn delete_send(&self, id: &SendId) -> StoreResult<()> {
        self.write(self.inner.delete_send(id)).await
    }
}

impl Responses for CrashStore {
    async fn response(&self, send: &SendId) -> StoreResult<Option<Response>> {
        self.read()?;
        self.inner.response(send).await
    }
    async fn save_response(&self, r: &Response, deltas: &[RollupDelta]) -> StoreResult<()> {
        self.write(self.inner.save_response(r, deltas)).await
    }
    async fn responses_of_day(&self, day: Date) -> StoreResult<Vec<Response>> {
        self.read()?;
        self.inner.responses_of_day(day).await
    }
    async fn commented_responses_of_day(
        &self,
        day: Date,
        limit: usize,
    ) -> StoreResult<Vec<Response>> {
        self.read()?;
        self.inner.commented_responses_of_day(day, limit).await
    }
    async fn responses_of_contact(&self, contact: &ContactId) -> StoreResult<Vec<Response>> {
        self.read()?;
        self.inner.responses_of_contact(contact).await
    }
    async fn remove_comments_of_day(&self, day: Date) -> StoreResult<usize> {
        self.read()?;
        self.inner.remove_comments_of_day(day).await
    }
}

impl Rollups for CrashStore {
    async fn rollups(&self, from: Date, to: Date) -> StoreResult<Vec<Rollup>> {
        self.read()?;
        self.inner.rollups(from, to).await
    }
    async fn add_to_rollups(&self, deltas: &[RollupDelta]) -> StoreResult<()> {
        self.write(self.inner.add_to_rollups(deltas)).await
    }
}

impl Suppressions for CrashStore {
    async fn suppression(&self, email: &EmailHash) -> StoreResult<Option<Suppression>> {
        self.read()?;
        self.inner.suppression(email).await
    }
    async fn put_suppression(&self, s: &Suppression) -> StoreResult<()> {
        self.write(self.inner.put_suppression(s)).await
    }
}

#[derive(Clone)]
struct CrashMailer {
    inner: FakeMailer,
    faults: Arc<Faults>,
}

impl Mailer for CrashMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        match self.faults.enter() {
            Err(()) => Err(MailError::Unavailable("process died".into())),
            Ok(die_after) => {
                let r = self.inner.send(email).await;
                if die_after {
                    // The message went out; the process died before it heard so.
                    self.faults.die();
                    // A dead process hears nothing: make sure no code path treats this as an
                    // ordinary error by also failing every later step (done by `die`).
                    return Err(MailError::Unavailable("process died".into()));
                }
                r
            }
        }
    }
    async fn max_send_rate(&self) -> Result<Option<f64>, MailError> {
        Ok(Some(1000.0))
    }
}

/// The whole scenario: a wave slice of four contacts (one unsubscribed, one who answers), two
/// transactional events, runs at planning time, in the sending window, past every lease, at
/// reminder time and later. Returns what the checks need.
async fn scenario(plan: Vec<(u64, When)>) -> (SqliteStore, FakeMailer, Arc<Faults>, Vec<String>) {
    let config: Config = config("[email]\nmax_send_rate = 1000\n");
    let store = SqliteStore::in_memory().unwrap();
    let mailer = FakeMailer::new();
    let faults = Faults::new(plan);
    let clock = pulso_core::ports::FixedClock::at(ts("2026-03-04T00:05:00Z"));
    let ctx = Ctx {
        config: Arc::new(config.clone()),
        keys: keys().into(),
        store: CrashStore {
            inner: store.clone(),
            faults: faults.clone(),
        },
        mailer: CrashMailer {
            inner: mailer.clone(),
            faults: faults.clone(),
        },
        archive: (),
        clock: Arc::new(clock.clone()),
        ids: Arc::new(pulso_core::ports::SequentialIds::new("c")),
    };
    let day = date(2026, 3, 4);
    let mut ids = Vec::new();
    for p in ["a", "b", "c", "u"] {
        let id = id_in_slice(p, &config, day);
        let mut c = contact(&id);
        if p == "u" {
            c.unsubscribed_at = Some(ts("2026-02-01T00:00:00Z"));
        }
        store.put_contact(&c).await.unwrap();
        ids.push(id);
    }
    for id in ["e1", "e2"] {
        store.put_contact(&contact(id)).await.unwrap();
        ids.push(id.to_string());
    }
    let run = |t: &str| {
        clock.set(ts(t));
        faults.restart();
        let ctx = &ctx;
        async move {
            // A run may end in an error (the process died): the next run is a new process.
            let _ =
                pulso_core::dispatch::run(ctx, &ManualTimer::new(), Duration::from_secs(600)).await;
        }
    };
    // The caller retries an event until it is acknowledged (at-least-once delivery).
    let post_event = |t: &str, who: &'static str, event_id: &'static str| {
        clock.set(ts(t));
        let ctx = &ctx;
        let faults = faults.clone();
        async move {
            for _ in 0..5 {
                faults.restart();
                let Ok(Some(c)) = ctx.store.contact(&ContactId::parse(who).unwrap()).await else {
                    continue;
                };
                let req = EventRequest {
                    touchpoint: Touchpoint::parse("ticket_closed").unwrap(),
                    event_id: event_id.into(),
                    delay_hours: Some(1),
                };
                if schedule_event(&ctx.config, &ctx.store, ctx.clock.now(), c, &req)
                    .await
                    .is_ok()
                {
                    break;
                }
            }
        }
    };
    run("2026-03-04T00:05:00Z").await;
    post_event("2026-03-04T08:00:00Z", "e1", "T-1").await;
    run("2026-03-04T09:30:00Z").await;
    post_event("2026-03-04T10:00:00Z", "e2", "T-2").await;
    post_event("2026-03-04T10:05:00Z", "e2", "T-2").await; // a duplicate delivery
    for t in [
        "2026-03-04T12:30:00Z",
        "2026-03-04T12:50:00Z",
        "2026-03-04T13:10:00Z",
    ] {
        run(t).await;
    }
    // Contact "b" answers whatever it got.
    let b = ContactId::parse(&ids[1]).unwrap();
    for s in store.sends_of_contact(&b).await.unwrap() {
        if matches!(s.status, SendStatus::Sent { .. }) {
            let r = pulso_tests::fixtures::response(&s.key, b.as_str(), 3, None, day);
            store.save_response(&r, &[]).await.unwrap();
        }
    }
    for t in [
        "2026-03-09T13:00:00Z",
        "2026-03-09T13:20:00Z",
        "2026-03-09T13:40:00Z",
        "2026-03-10T13:00:00Z",
        "2026-03-20T13:00:00Z",
    ] {
        run(t).await;
    }
    (store, mailer, faults, ids)
}

/// The invariants every crash plan must keep.
async fn check(store: &SqliteStore, mailer: &FakeMailer, ids: &[String]) -> Result<(), String> {
    let by_header = mailer.counts_by_header();
    if let Some((h, n)) = by_header.iter().find(|(_, n)| **n > 1) {
        return Err(format!("{h} was mailed {n} times"));
    }
    let mut sends = Vec::new();
    for id in ids {
        sends.extend(
            store
                .sends_of_contact(&ContactId::parse(id).unwrap())
                .await
                .unwrap(),
        );
    }
    // Every contact of the slice has its wave send; both events have theirs.
    for id in &ids[..4] {
        if !sends
            .iter()
            .any(|s| s.contact_id.as_str() == id && s.key.starts_with("wave:"))
        {
            return Err(format!("the wave send of {id} was lost"));
        }
    }
    for (who, key) in [
        ("e1", "event:ticket_closed:T-1"),
        ("e2", "event:ticket_closed:T-2"),
    ] {
        let n = sends
            .iter()
            .filter(|s| s.contact_id.as_str() == who && s.key == key)
            .count();
        if n != 1 {
            return Err(format!("{key}: {n} sends"));
        }
    }
    for s in &sends {
        let survey_mails = by_header
            .get(&format!("survey.{}", s.id))
            .copied()
            .unwrap_or(0);
        let reminder_mails = by_header
            .get(&format!("reminder.{}", s.id))
            .copied()
            .unwrap_or(0);
        match &s.status {
            SendStatus::Sent { .. } => {
                if survey_mails != 1 {
                    return Err(format!(
                        "{} is sent but was mailed {survey_mails} times",
                        s.key
                    ));
                }
            }
            SendStatus::Skipped { .. } => {
                if survey_mails != 0 {
                    return Err(format!("{} is skipped but was mailed", s.key));
                }
            }
            SendStatus::Failed { reason, .. } => {
                if reason != INTERRUPTED && survey_mails != 0 {
                    return Err(format!("{} failed ({reason}) but was mailed", s.key));
                }
                if reason.is_empty() {
                    return Err(format!("{} failed without a reason", s.key));
                }
            }
            other => return Err(format!("{} is left {other:?}", s.key)),
        }
        match &s.reminder {
            ReminderState::Sent { .. } => {
                if reminder_mails != 1 {
                    return Err(format!("{}: reminder sent, mailed {reminder_mails}", s.key));
                }
            }
            ReminderState::Cancelled { reason } => {
                if reason != INTERRUPTED && reminder_mails != 0 {
                    return Err(format!(
                        "{}: reminder cancelled ({reason}) but mailed",
                        s.key
                    ));
                }
            }
            ReminderState::None => {
                if reminder_mails != 0 {
                    return Err(format!("{}: no reminder planned, one mailed", s.key));
                }
            }
            other => return Err(format!("{}: reminder left {other:?}", s.key)),
        }
        if s.next_action_at.is_some() {
            return Err(format!("{} is still queued", s.key));
        }
        if s.key.starts_with("wave:")
            && s.contact_id.as_str() == ids[1]
            && matches!(s.reminder, ReminderState::Sent { .. })
        {
            return Err("a reminder went to a contact who had answered".into());
        }
    }
    Ok(())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn without_crashes_everything_is_sent_once() {
    block_on(async {
        let (store, mailer, faults, ids) = scenario(vec![]).await;
        check(&store, &mailer, &ids).await.unwrap();
        // Four surveys (a, b, c, e1, e2 minus the unsubscribed u) and three reminders (b answered).
        let headers = mailer.counts_by_header();
        let surveys = headers.keys().filter(|h| h.starts_with("survey.")).count();
        let reminders = headers
            .keys()
            .filter(|h| h.starts_with("reminder."))
            .count();
        assert_eq!((surveys, reminders), (5, 4), "{headers:?}");
        assert!(faults.steps() > 20);
    });
}

#[test]
fn a_crash_at_any_single_step_loses_nothing_and_mails_nothing_twice() {
    block_on(async {
        let (_, _, faults, _) = scenario(vec![]).await;
        let total = faults.steps();
        for k in 1..=total {
            for when in [When::Before, When::After] {
                let (store, mailer, _, ids) = scenario(vec![(k, when)]).await;
                if let Err(e) = check(&store, &mailer, &ids).await {
                    panic!("crash {when:?} step {k} of {total}: {e}");
                }
            }
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_crashes_lose_nothing_and_mail_nothing_twice(
        crashes in proptest::collection::vec((1u64..120, any::<bool>()), 1..4)
    ) {
        let plan: Vec<(u64, When)> = crashes
            .into_iter()
            .map(|(k, after)| (k, if after { When::After } else { When::Before }))
            .collect();
        let result = block_on(async {
            let (store, mailer, _, ids) = scenario(plan.clone()).await;
            check(&store, &mailer, &ids).await
        });
        prop_assert!(result.is_ok(), "{:?}: {:?}", plan, result);
    }
}
