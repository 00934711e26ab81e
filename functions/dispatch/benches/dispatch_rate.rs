//! Dispatch against a rate-limited mail service: 10,000 due transactional sends over the SQLite
//! store, a fake SES that answers "throttled" whenever the sender goes faster than its rate (a token
//! bucket holding 100 ms of sends, at least two), and the real dispatch run (tokio clock). Prints the rate reached
//! against the configured one (target: at least 95%), throttles, and duplicates (must be zero).
//!
//! Run: `cargo bench -p pulso-dispatch --bench dispatch_rate`
//! (`PULSO_BENCH_RATE` messages/second, default 500; `PULSO_BENCH_N` sends, default 10,000).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pulso_core::Ctx;
use pulso_core::config::Config;
use pulso_core::dispatch::{EventRequest, schedule_event};
use pulso_core::model::{Contact, SendStatus, slot_of};
use pulso_core::ports::{
    Contacts, FixedClock, MailError, Mailer, OutgoingEmail, Sends, SequentialIds,
};
use pulso_core::token::SigningKeys;
use pulso_core::types::{Attributes, ContactId, Email, Locale, Touchpoint};
use pulso_local::SqliteStore;

struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
    accepted: Vec<Instant>,
    throttled: u64,
    by_message: HashMap<String, u32>,
}

/// A mail service that allows `rate` messages a second, like SES's maximum send rate.
#[derive(Clone)]
struct RateLimited(Arc<Mutex<Bucket>>);

impl RateLimited {
    fn new(rate: f64) -> Self {
        let capacity = (rate / 10.0).max(2.0);
        RateLimited(Arc::new(Mutex::new(Bucket {
            rate,
            capacity,
            tokens: capacity,
            last: Instant::now(),
            accepted: Vec::new(),
            throttled: 0,
            by_message: HashMap::new(),
        })))
    }
}

impl Mailer for RateLimited {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let mut b = self
            .0
            .lock()
            .map_err(|_| MailError::Unavailable("poisoned".into()))?;
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() * b.rate;
        b.tokens = (b.tokens + refill).min(b.capacity);
        b.last = now;
        if b.tokens < 1.0 {
            b.throttled += 1;
            return Err(MailError::Throttled("Maximum sending rate exceeded".into()));
        }
        b.tokens -= 1.0;
        b.accepted.push(now);
        let id = String::from_utf8_lossy(&email.raw)
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_string))
            .unwrap_or_default();
        *b.by_message.entry(id.clone()).or_default() += 1;
        Ok(id)
    }

    async fn max_send_rate(&self) -> Result<Option<f64>, MailError> {
        Ok(self.0.lock().ok().map(|b| b.rate))
    }
}

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rate = env_or("PULSO_BENCH_RATE", 500.0);
    let n = env_or("PULSO_BENCH_N", 10_000.0) as usize;
    // The rate comes from the mail service (as from SES GetAccount): nothing configured.
    let config = Config::load(
        "[surveys]\nrelational = false\nreminder_after_days = 0\n",
        Vec::<(String, String)>::new(),
    )
    .expect("config");
    let now: Timestamp = "2026-03-04T10:00:00Z".parse().expect("time");
    let store = SqliteStore::in_memory().expect("store");
    let mailer = RateLimited::new(rate);
    let ctx = Ctx {
        config: Arc::new(config.clone()),
        keys: SigningKeys::single("k1", &[3u8; 32]).expect("keys").into(),
        store: store.clone(),
        mailer: mailer.clone(),
        archive: (),
        clock: Arc::new(FixedClock::at(now)),
        ids: Arc::new(SequentialIds::new("c")),
    };
    let touchpoint = Touchpoint::parse("order_delivered").expect("touchpoint");
    for i in 0..n {
        let id = ContactId::parse(&format!("c{i}")).expect("id");
        let contact = Contact {
            slot: slot_of(&id),
            id,
            email: Email::parse(&format!("person{i}@example.com")).expect("email"),
            name: Some(format!("Person {i}")),
            locale: if i % 2 == 0 { Locale::En } else { Locale::Es },
            account: None,
            time_zone: None,
            attributes: Attributes::new(),
            customer_since: None,
            created_at: now,
            updated_at: now,
            last_surveyed_at: None,
            unsubscribed_at: None,
            version: 1,
        };
        store.put_contact(&contact).await.expect("contact");
        let request = EventRequest {
            touchpoint: touchpoint.clone(),
            event_id: format!("O-{i}"),
            delay_hours: Some(0),
        };
        schedule_event(&config, &store, now, contact, &request)
            .await
            .expect("event");
    }

    let started = Instant::now();
    let mut runs = 0;
    let mut sent = 0;
    // A run stops early only when throttled for good; the scheduler would call it again.
    while sent < n as u64 && runs < 20 {
        let out = pulso_dispatch::run(&ctx, Duration::from_secs(3_600))
            .await
            .expect("dispatch run");
        sent += out.sent;
        runs += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    let (accepted, span, duplicates, throttled) = {
        let b = mailer.0.lock().expect("mailer");
        let span = match (b.accepted.first(), b.accepted.last()) {
            (Some(f), Some(l)) if b.accepted.len() > 1 => l.duration_since(*f).as_secs_f64(),
            _ => f64::NAN,
        };
        let duplicates: u32 = b.by_message.values().map(|c| c - 1).sum();
        (b.accepted.len(), span, duplicates, b.throttled)
    };
    let achieved = (accepted as f64 - 1.0) / span;
    let mut not_sent = 0;
    for i in 0..n {
        let sends = store
            .sends_of_contact(&ContactId::parse(&format!("c{i}")).expect("id"))
            .await
            .expect("sends");
        if !sends
            .iter()
            .all(|s| matches!(s.status, SendStatus::Sent { .. }))
        {
            not_sent += 1;
        }
    }
    println!(
        "dispatch_rate: {accepted} of {n} sends in {runs} run(s), {wall:.2} s; configured {rate:.0}/s, reached {achieved:.1}/s = {:.1}% of it",
        100.0 * achieved / rate
    );
    println!(
        "dispatch_rate: throttled answers {throttled}, duplicates {duplicates}, sends not marked sent {not_sent}"
    );
}
