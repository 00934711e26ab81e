//! Shared pieces of the dispatch and events tests: a context over an in-memory SQLite store, a
//! scriptable mailer (throttles, rejections, outages, a rate limit) that records every message, a
//! fixed clock and a manual timer.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use pulso_core::Ctx;
use pulso_core::config::Config;
use pulso_core::dispatch::{DispatchOutcome, ManualTimer};
use pulso_core::model::{Contact, SurveySend, slot_of};
use pulso_core::ports::{
    Contacts, FixedClock, MailError, Mailer, OutgoingEmail, Sends, SequentialIds,
};
use pulso_core::token::SigningKeys;
use pulso_core::types::{Attributes, ContactId, Email, Locale};
use pulso_local::SqliteStore;

pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

pub fn keys() -> SigningKeys {
    SigningKeys::single("k1", &[9u8; 32]).expect("keys")
}

/// The configuration of `toml` (company in UTC unless it says otherwise).
pub fn config(toml: &str) -> Config {
    Config::load(toml, Vec::<(String, String)>::new()).expect("config")
}

/// One message the fake mailer accepted.
#[derive(Clone)]
pub struct Delivered {
    pub email: OutgoingEmail,
    pub message_id: String,
    /// The `Message-ID` header (`survey.<send>` / `reminder.<send>`).
    pub header_id: String,
}

/// What the fake mailer will answer next.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Accept,
    Throttle,
    Reject,
    Unavailable,
    /// Accepts the message, then reports a failure (the answer got lost): the mail went out.
    AcceptThenFail,
}

#[derive(Default)]
struct MailerState {
    delivered: Vec<Delivered>,
    script: VecDeque<Answer>,
    reject_to: Vec<String>,
    rate: Option<f64>,
    calls: u64,
}

/// A mailer that records what it accepts and answers from a script (accepting when the script is
/// empty).
#[derive(Clone, Default)]
pub struct FakeMailer(Arc<Mutex<MailerState>>);

impl FakeMailer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_rate(rate: f64) -> Self {
        let m = Self::default();
        m.0.lock().unwrap().rate = Some(rate);
        m
    }

    /// The next answers, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.0.lock().unwrap().script.extend(answers);
    }

    /// Rejects every message to `address` for good.
    pub fn reject_to(&self, address: &str) {
        self.0.lock().unwrap().reject_to.push(address.to_string());
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.0.lock().unwrap().delivered.clone()
    }

    pub fn calls(&self) -> u64 {
        self.0.lock().unwrap().calls
    }

    /// How many messages each `Message-ID` was delivered with.
    pub fn counts_by_header(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for d in self.delivered() {
            *m.entry(d.header_id).or_insert(0) += 1;
        }
        m
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().delivered.clear();
    }
}

pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let prefix = format!("{name}: ");
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

impl Mailer for FakeMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let mut s = self.0.lock().unwrap();
        s.calls += 1;
        if email.to.iter().any(|t| s.reject_to.contains(t)) {
            return Err(MailError::Rejected("address refused".into()));
        }
        let answer = s.script.pop_front().unwrap_or(Answer::Accept);
        let deliver = |s: &mut MailerState| {
            let n = s.delivered.len() + 1;
            let message_id = format!("m-{n}");
            let header_id = header(&email.raw, "Message-ID")
                .unwrap_or_default()
                .trim_matches(['<', '>'])
                .split('@')
                .next()
                .unwrap_or_default()
                .to_string();
            s.delivered.push(Delivered {
                email: email.clone(),
                message_id: message_id.clone(),
                header_id,
            });
            message_id
        };
        match answer {
            Answer::Accept => Ok(deliver(&mut s)),
            Answer::Throttle => Err(MailError::Throttled("slow down".into())),
            Answer::Reject => Err(MailError::Rejected("refused".into())),
            Answer::Unavailable => Err(MailError::Unavailable("down".into())),
            Answer::AcceptThenFail => {
                deliver(&mut s);
                Err(MailError::Unavailable("connection reset".into()))
            }
        }
    }

    async fn max_send_rate(&self) -> Result<Option<f64>, MailError> {
        Ok(self.0.lock().unwrap().rate)
    }
}

pub type TestCtx = Ctx<SqliteStore, FakeMailer, ()>;

/// A context at `now` over a fresh in-memory store.
pub struct Harness {
    pub ctx: TestCtx,
    pub clock: FixedClock,
    pub mailer: FakeMailer,
}

impl Harness {
    pub fn new(config: Config, now: &str) -> Harness {
        let store = SqliteStore::in_memory().expect("store");
        Self::with_store(config, now, store)
    }

    pub fn with_store(config: Config, now: &str, store: SqliteStore) -> Harness {
        let clock = FixedClock::at(ts(now));
        let mailer = FakeMailer::new();
        let ctx = Ctx {
            config: Arc::new(config),
            keys: keys().into(),
            store,
            mailer: mailer.clone(),
            archive: (),
            clock: Arc::new(clock.clone()),
            ids: Arc::new(SequentialIds::new("c")),
        };
        Harness { ctx, clock, mailer }
    }

    pub fn set_now(&self, t: &str) {
        self.clock.set(ts(t));
    }

    /// One run at the current clock, with a generous budget on a manual timer.
    pub async fn dispatch(&self) -> DispatchOutcome {
        pulso_core::dispatch::run(&self.ctx, &ManualTimer::new(), Duration::from_secs(3600))
            .await
            .expect("dispatch run")
    }

    /// One run at `t`.
    pub async fn dispatch_at(&self, t: &str) -> DispatchOutcome {
        self.set_now(t);
        self.dispatch().await
    }

    /// Stores a contact `id` (settled long ago unless changed by `edit`).
    pub async fn add_contact(&self, id: &str, edit: impl FnOnce(&mut Contact)) -> Contact {
        let mut c = contact(id);
        edit(&mut c);
        self.ctx.store.put_contact(&c).await.expect("put contact");
        c
    }

    pub async fn contact(&self, id: &str) -> Contact {
        self.ctx
            .store
            .contact(&ContactId::parse(id).unwrap())
            .await
            .unwrap()
            .expect("contact")
    }

    pub async fn sends_of(&self, id: &str) -> Vec<SurveySend> {
        self.ctx
            .store
            .sends_of_contact(&ContactId::parse(id).unwrap())
            .await
            .unwrap()
    }
}

/// A contact, customer since 2024, English, no time zone.
pub fn contact(id: &str) -> Contact {
    let cid = ContactId::parse(id).expect("id");
    Contact {
        slot: slot_of(&cid),
        id: cid,
        email: Email::parse(&format!("{id}@example.com")).expect("email"),
        name: Some(format!("Person {id}")),
        locale: Locale::En,
        account: None,
        time_zone: None,
        attributes: Attributes::new(),
        customer_since: Some(jiff::civil::date(2024, 1, 1)),
        created_at: ts("2024-01-01T00:00:00Z"),
        updated_at: ts("2024-01-01T00:00:00Z"),
        last_surveyed_at: None,
        unsubscribed_at: None,
        version: 1,
    }
}

/// A contact id whose slot falls in the slice of `day` (searching `c-<prefix>-N`).
pub fn id_in_slice(prefix: &str, config: &Config, day: jiff::civil::Date) -> String {
    use pulso_core::dispatch::calendar::{Cycle, working_days};
    let w = working_days(&config.surveys);
    let cycle = Cycle::containing(day, config.surveys.cadence_days, &w);
    let (from, to) = cycle.slots_of(cycle.index_of(day).expect("a working day"));
    (0..1_000_000)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| {
            let s = slot_of(&ContactId::parse(id).unwrap());
            from <= s && s < to
        })
        .expect("an id in the slice")
}
