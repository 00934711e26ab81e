//! A company for the report tests, on the real local adapters (SQLite in memory, outbox and archive
//! directories): contacts with accounts and plans, answers saved with their rollup deltas as the
//! capture service saves them, `sent` counters, follow-ups. The fixture keeps every answer it
//! saved, so that tests recount the figures independently of the rollups.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};
use pulso_core::model::{
    AnswerSource, Contact, Dimension, FollowUp, FollowUpStatus, Response, Rollup, SurveyKind,
    rollup_deltas, slot_of,
};
use pulso_core::ports::{Contacts, FixedClock, FollowUps, Responses, Rollups, SequentialIds};
use pulso_core::{
    AccountName, Attributes, Config, ContactId, Ctx, Email, Locale, Score, SendId, SigningKeys,
};
use pulso_local::{DirArchive, Outbox, SqliteStore};

pub type TestCtx = Ctx<SqliteStore, Outbox, DirArchive>;

pub const CONFIG: &str = r##"
[company]
name = "Acme Analytics"
time_zone = "Europe/Madrid"
default_locale = "en"

[email]
from = "Acme Analytics <nps@acme.example>"

[links]
base_url = "https://nps.acme.example"

[audiences.daily]
recipients = ["support@acme.example"]
locale = "es"

[audiences.weekly]
recipients = ["product@acme.example", "marketing@acme.example"]
locale = "en"

[audiences.quarterly]
recipients = ["all@acme.example"]

[reports]
max_comments = 5
"##;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub ctx: TestCtx,
    pub clock: FixedClock,
    /// Every answer as it stands now (re-answers replace), by send.
    pub answers: BTreeMap<String, Response>,
    pub follow_ups: Vec<FollowUp>,
    next: u64,
}

pub fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Madrid").unwrap()
}

/// `hh:mm` on `day`, company time.
pub fn local(day: Date, h: i8, m: i8) -> Timestamp {
    pulso_core::time::at_local(day, Time::new(h, m, 0, 0).unwrap(), &tz())
}

/// A small deterministic generator (tests must be reproducible).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl Fixture {
    pub async fn new() -> Fixture {
        Self::with_config(CONFIG).await
    }

    pub async fn with_config(toml: &str) -> Fixture {
        let config = Config::load(toml, Vec::<(String, String)>::new()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let clock = FixedClock::at("2026-03-02T07:00:00Z".parse().unwrap());
        let ctx = Ctx {
            config: Arc::new(config),
            keys: SigningKeys::single("k1", &[7u8; 32]).unwrap().into(),
            store: SqliteStore::in_memory().unwrap(),
            mailer: Outbox::with_clock(dir.path().join("outbox"), Arc::new(clock.clone())).unwrap(),
            archive: DirArchive::new(dir.path().join("archive")).unwrap(),
            clock: Arc::new(clock.clone()),
            ids: Arc::new(SequentialIds::new("t")),
        };
        Fixture {
            dir,
            ctx,
            clock,
            answers: BTreeMap::new(),
            follow_ups: Vec::new(),
            next: 0,
        }
    }

    pub async fn contact(
        &self,
        email: &str,
        name: &str,
        locale: Locale,
        account: Option<&str>,
        plan: Option<&str>,
    ) -> Contact {
        let id = ContactId::parse(&format!(
            "c{}",
            email
                .replace(['@', '.'], "_")
                .chars()
                .take(60)
                .collect::<String>()
        ))
        .unwrap();
        let mut attributes = Attributes::new();
        if let Some(p) = plan {
            attributes.set("plan", p).unwrap();
        }
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let c = Contact {
            slot: slot_of(&id),
            id,
            email: Email::parse(email).unwrap(),
            name: Some(name.to_string()),
            locale,
            account: account.map(|a| AccountName::parse(a).unwrap()),
            time_zone: None,
            attributes,
            customer_since: None,
            created_at: now,
            updated_at: now,
            last_surveyed_at: None,
            unsubscribed_at: None,
            version: 1,
        };
        self.ctx.store.put_contact(&c).await.unwrap();
        c
    }

    /// An answer committed at `at`: counted in the company-local day of `at`.
    pub async fn answer_at(
        &mut self,
        c: &Contact,
        at: Timestamp,
        score: u8,
        comment: Option<&str>,
        source: AnswerSource,
    ) -> Response {
        self.next += 1;
        let r = Response {
            send_id: SendId::for_key(&format!("test:{}", self.next)),
            contact_id: Some(c.id.clone()),
            score: Score::new(score).unwrap(),
            comment: comment.map(String::from),
            locale: c.locale,
            kind: SurveyKind::Relational,
            touchpoint: None,
            account: c.account.clone(),
            attributes: c.attributes.clone(),
            day: pulso_core::time::local_day(at, &tz()),
            answered_at: at,
            updated_at: at,
            source,
            flag_reason: (source == AnswerSource::Automated).then(|| "burst".to_string()),
            commits: vec![at],
            version: 1,
        };
        self.ctx
            .store
            .save_response(&r, &rollup_deltas(None, &r))
            .await
            .unwrap();
        self.answers
            .insert(r.send_id.as_str().to_string(), r.clone());
        r
    }

    pub async fn answer(
        &mut self,
        c: &Contact,
        day: Date,
        score: u8,
        comment: Option<&str>,
    ) -> Response {
        self.answer_at(c, local(day, 10, 0), score, comment, AnswerSource::Human)
            .await
    }

    /// The contact changes its answer (score and comment), as capture saves it.
    pub async fn reanswer(&mut self, r: &Response, score: u8, comment: Option<&str>) -> Response {
        let before = self.answers[r.send_id.as_str()].clone();
        let mut after = before.clone();
        after.score = Score::new(score).unwrap();
        after.comment = comment.map(String::from);
        after.source = AnswerSource::Human;
        after.flag_reason = None;
        after.version += 1;
        after.updated_at = after
            .updated_at
            .checked_add(SignedDuration::from_mins(3))
            .unwrap();
        self.ctx
            .store
            .save_response(&after, &rollup_deltas(Some(&before), &after))
            .await
            .unwrap();
        self.answers
            .insert(after.send_id.as_str().to_string(), after.clone());
        after
    }

    /// `n` surveys sent on `day` (the counter dispatch keeps).
    pub async fn sent(&self, day: Date, n: i64) {
        let counts = pulso_core::model::Counts {
            sent: n,
            ..Default::default()
        };
        self.ctx
            .store
            .add_to_rollups(&[Rollup {
                day,
                dimension: Dimension::All,
                counts,
            }])
            .await
            .unwrap();
    }

    /// A follow-up of answer `r`, opened when it was answered, done `hours_to_close` later.
    pub async fn follow_up(&mut self, r: &Response, hours_to_close: Option<i64>) -> FollowUp {
        let mut f = FollowUp {
            send_id: r.send_id.clone(),
            contact_id: r.contact_id.clone(),
            score: r.score,
            account: r.account.clone(),
            opened_at: r.answered_at,
            opened_day: r.day,
            status: FollowUpStatus::Open,
            closed_at: None,
            closed_by: None,
            note: None,
            version: 1,
        };
        self.ctx.store.put_follow_up(&f).await.unwrap();
        if let Some(h) = hours_to_close {
            f.status = FollowUpStatus::Done;
            f.closed_at = r
                .answered_at
                .checked_add(SignedDuration::from_hours(h))
                .ok();
            f.closed_by = Some("ana".into());
            f.version = 2;
            self.ctx.store.put_follow_up(&f).await.unwrap();
        }
        self.follow_ups.retain(|x| x.send_id != f.send_id);
        self.follow_ups.push(f.clone());
        f
    }

    pub fn set_now(&self, t: &str) {
        self.clock.set(t.parse().unwrap());
    }

    /// The outbox's messages, parsed back (file name, raw bytes).
    pub fn outbox(&self) -> Vec<(String, Vec<u8>)> {
        let names = self.ctx.mailer.list().unwrap();
        names
            .into_iter()
            .map(|n| {
                let raw = self.ctx.mailer.read(&n).unwrap();
                (n, raw)
            })
            .collect()
    }

    pub fn archived(&self, key: &str) -> Option<String> {
        let path = self.ctx.archive.path_of(key).ok()?;
        std::fs::read_to_string(path).ok()
    }
}

/// Counted answers of `from..=to` that `keep` accepts: (promoters, passives, detractors,
/// comments), recounted from the answers themselves.
pub fn recount(
    f: &Fixture,
    from: Date,
    to: Date,
    keep: impl Fn(&Response) -> bool,
) -> (u64, u64, u64, u64) {
    let mut out = (0, 0, 0, 0);
    for r in f.answers.values() {
        if r.day < from || r.day > to || r.source != AnswerSource::Human || !keep(r) {
            continue;
        }
        match r.score.value() {
            9..=10 => out.0 += 1,
            7..=8 => out.1 += 1,
            _ => out.2 += 1,
        }
        if r.comment.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            out.3 += 1;
        }
    }
    out
}

/// NPS and its standard error computed by hand from counts (the brief's formulas).
pub fn nps_by_hand(p: u64, a: u64, d: u64) -> Option<(i32, f64)> {
    let n = (p + a + d) as f64;
    if n == 0.0 {
        return None;
    }
    let (ps, ds) = (p as f64 / n, d as f64 / n);
    let nps = 100.0 * (ps - ds);
    let se = 100.0 * ((ps + ds - (ps - ds) * (ps - ds)) / n).sqrt();
    Some((nps.round() as i32, se))
}

/// A company with random answers over many days: `per_day` answers a day on average from
/// `contacts` contacts in accounts and plans, comments in both languages, some flagged answers
/// and some re-answers. Returns the contacts.
pub async fn populate(
    f: &mut Fixture,
    from: Date,
    to: Date,
    per_day: u64,
    seed: u64,
) -> Vec<Contact> {
    let mut rng = Lcg(seed);
    let accounts = [
        "Globex",
        "Initech",
        "Umbrella",
        "Hooli",
        "Stark Industries",
        "Wayne Co",
    ];
    let plans = ["free", "pro", "enterprise"];
    let mut contacts = Vec::new();
    for i in 0..40 {
        let locale = if i % 3 == 0 { Locale::Es } else { Locale::En };
        let account = (i % 5 != 4).then(|| accounts[i % accounts.len()]);
        let plan = plans[i % plans.len()];
        contacts.push(
            f.contact(
                &format!("person{i}@example.com"),
                &format!("Person {i}"),
                locale,
                account,
                Some(plan),
            )
            .await,
        );
    }
    let det_en = [
        "Support is slow and the invoice was wrong",
        "Too expensive for what it does",
        "The app crashes every week",
    ];
    let det_es = [
        "El soporte es lento y la factura llegó mal",
        "Demasiado caro",
        "La aplicación se cuelga",
    ];
    let pro_en = [
        "Easy to use, great team",
        "Love the reports",
        "Easy setup and quick answers",
    ];
    let pro_es = [
        "Muy fácil de usar",
        "Excelente equipo",
        "Me encantan los informes",
    ];
    let mut day = from;
    let mut made = Vec::new();
    while day <= to {
        let n = rng.below(per_day * 2 + 1);
        f.sent(day, (n as i64) * 3 + 2).await;
        for _ in 0..n {
            let c = contacts[rng.below(contacts.len() as u64) as usize].clone();
            // Skewed by plan so that segments differ.
            let bias = match c.attributes.get("plan") {
                Some("enterprise") => 2,
                Some("free") => 0,
                _ => 1,
            };
            let score = (rng.below(9) + bias).min(10) as u8 + (rng.below(3) as u8).min(10);
            let score = score.min(10);
            let comment = match (rng.below(3), score, c.locale) {
                (0, _, _) => None,
                (_, 0..=6, Locale::En) => Some(det_en[rng.below(3) as usize]),
                (_, 0..=6, Locale::Es) => Some(det_es[rng.below(3) as usize]),
                (_, 9..=10, Locale::En) => Some(pro_en[rng.below(3) as usize]),
                (_, 9..=10, Locale::Es) => Some(pro_es[rng.below(3) as usize]),
                _ => Some("ok"),
            };
            let source = if rng.below(25) == 0 {
                AnswerSource::Automated
            } else {
                AnswerSource::Human
            };
            let at = local(day, 8 + rng.below(12) as i8, rng.below(60) as i8);
            let r = f.answer_at(&c, at, score, comment, source).await;
            made.push(r);
        }
        day = day.tomorrow().unwrap();
    }
    // Some people change their minds (and a scanner's answer is replaced by a human one).
    for (i, r) in made.iter().enumerate() {
        if i % 11 == 3 {
            let new = (r.score.value() + 5) % 11;
            f.reanswer(r, new, Some("Changed my mind")).await;
        }
    }
    contacts
}

/// The cells of a CSV text (RFC 4180 quoting), row by row.
pub fn csv_cells(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}
