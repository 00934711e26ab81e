//! Survey emails rendered (HTML + text from the askama templates) and MIME-built (lettre, with the
//! RFC 8058 headers) per second on one core, as dispatch makes them: one `SurveyRenderer` per run,
//! two signed tokens and one message per contact.
//!
//! Run: `cargo bench -p pulso-core --bench survey_render` (target: at least 20,000 a second).

use std::hint::black_box;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pulso_core::config::Config;
use pulso_core::dispatch::{EmailKind, SurveyRenderer};
use pulso_core::model::{Contact, ReminderState, SendStatus, SurveyKind, SurveySend, slot_of};
use pulso_core::token::SigningKeys;
use pulso_core::types::{Attributes, ContactId, Email, Locale, SendId};

/// Time this thread has spent on a CPU (Linux: `/proc/thread-self/schedstat`), so that the figure
/// holds on a machine other work is also using; `None` elsewhere.
fn on_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn main() {
    let mut config = Config::default();
    config.company.name = "Acme Analytics".into();
    config.links.base_url = "https://nps.acme.example".into();
    let keys = SigningKeys::single("k1", &[7u8; 32]).expect("keys");
    let now: Timestamp = "2026-03-02T08:00:00Z".parse().expect("time");
    let n: usize = std::env::var("PULSO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let people: Vec<(Contact, SurveySend)> = (0..1_000)
        .map(|i| {
            let id = ContactId::parse(&format!("c{i}")).expect("id");
            let locale = if i % 2 == 0 { Locale::En } else { Locale::Es };
            let key = format!("wave:c{i}:9");
            let contact = Contact {
                slot: slot_of(&id),
                id: id.clone(),
                email: Email::parse(&format!("person{i}@example.com")).expect("email"),
                name: Some(if i % 2 == 0 {
                    "Ana Pérez".into()
                } else {
                    "James <Smith>".into()
                }),
                locale,
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
            let send = SurveySend {
                id: SendId::for_key(&key),
                contact_id: id,
                kind: SurveyKind::Relational,
                touchpoint: None,
                key,
                locale,
                created_at: now,
                due_at: now,
                status: SendStatus::Scheduled,
                reminder: ReminderState::None,
                message_id: None,
                answered_at: None,
                next_action_at: Some(now),
                version: 1,
            };
            (contact, send)
        })
        .collect();

    let renderer = SurveyRenderer::new(&config);
    // Warm up.
    for (c, s) in people.iter().take(500) {
        black_box(
            renderer
                .render(&config, &keys, s, c, EmailKind::Survey, now)
                .expect("render"),
        );
    }
    let start = Instant::now();
    let cpu_start = on_cpu();
    let mut bytes = 0usize;
    for i in 0..n {
        let (c, s) = &people[i % people.len()];
        let m = renderer
            .render(&config, &keys, s, c, EmailKind::Survey, now)
            .expect("render");
        bytes += m.raw.len();
        black_box(m);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "survey_render: {n} emails in {secs:.3} s wall = {:.0} emails/s (avg {} bytes each)",
        n as f64 / secs,
        bytes / n
    );
    if let (Some(a), Some(b)) = (cpu_start, on_cpu()) {
        let cpu = (b - a).as_secs_f64();
        println!(
            "survey_render: {cpu:.3} s on one core = {:.0} emails/s per core (target 20000)",
            n as f64 / cpu
        );
    }
}
