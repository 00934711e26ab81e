//! How the quarterly report's cost grows with answers: it builds (and renders, and writes as CSV
//! and JSON) the quarterly report of 2026-Q1 from a file-backed SQLite store holding 1,000,000
//! answers over the 365 days to 31 March 2026, with 20 values of one segment attribute, comments
//! in English and Spanish and a follow-up for every detractor; then the same from a store of
//! 10,000 answers, and prints both times, the peak memory of each, and their ratio. It does so
//! twice: as is, and with the follow-ups hidden from the report (`no-follow-ups`), to show what the
//! loop-closing section costs: it counts the follow-ups opened from the rollups and reads at most
//! `FOLLOW_UP_SAMPLE` (1,000) of them, the latest, so its cost no longer grows with answers.
//!
//!     cargo bench -p pulso-reports --bench reports_quarterly
//!
//! The stores are populated once under `target/bench-data/` and reused (populating a million
//! answers takes a few minutes). Each measurement runs in a fresh child process so that its peak
//! resident memory (VmHWM) is the report's own, not the population's.
//! Targets: ≤ 1 s to build the report from 1,000,000 answers; ≤ 2× the time for 10,000.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use jiff::civil::{Date, Time, date};
use jiff::{SignedDuration, Timestamp};
use std::future::Future;

use pulso_core::model::{
    AnswerSource, Contact, Counts, Dimension, FollowUp, FollowUpStatus, ReportKind, Response,
    Rollup, RollupDelta, SurveyKind, rollup_deltas,
};
use pulso_core::ports::{Contacts, FollowUps, Responses, Rollups, StoreResult};
use pulso_core::reports::archive::{to_csv, to_json};
use pulso_core::reports::build::{COMMENTS_PER_REPORT, FOLLOW_UP_SAMPLE, ReportStore};
use pulso_core::reports::build::{Report, ReportBody, build};
use pulso_core::reports::periods::each_day;
use pulso_core::reports::render::render;
use pulso_core::reports::themes::ThemeFinder;
use pulso_core::reports::{Period, report_period};
use pulso_core::{AccountKey, Attributes, Config, ContactId, Email, Locale, Score, SendId};
use pulso_local::SqliteStore;

const DAYS: i64 = 365;
const SEGMENT_VALUES: u64 = 20;
const RUNS: usize = 15;

fn first_day() -> Date {
    date(2025, 4, 1)
}

fn config() -> Config {
    Config::load(
        "[company]\ntime_zone = \"Europe/Madrid\"\n[reports]\nmax_comments = 20\n",
        Vec::<(String, String)>::new(),
    )
    .expect("bench configuration")
}

/// The store, except that it has no follow-ups: the same report without the follow-up records the
/// loop-closing section reads (at most `FOLLOW_UP_SAMPLE`), to show what that read costs.
#[derive(Clone)]
struct NoFollowUps(SqliteStore);

impl Rollups for NoFollowUps {
    fn rollups(
        &self,
        from: Date,
        to: Date,
    ) -> impl Future<Output = StoreResult<Vec<Rollup>>> + Send {
        self.0.rollups(from, to)
    }
    fn add_to_rollups(
        &self,
        deltas: &[RollupDelta],
    ) -> impl Future<Output = StoreResult<()>> + Send {
        self.0.add_to_rollups(deltas)
    }
}

impl Responses for NoFollowUps {
    fn response(
        &self,
        send: &SendId,
    ) -> impl Future<Output = StoreResult<Option<Response>>> + Send {
        self.0.response(send)
    }
    fn save_response(
        &self,
        response: &Response,
        deltas: &[RollupDelta],
    ) -> impl Future<Output = StoreResult<()>> + Send {
        self.0.save_response(response, deltas)
    }
    fn responses_of_day(
        &self,
        day: Date,
    ) -> impl Future<Output = StoreResult<Vec<Response>>> + Send {
        self.0.responses_of_day(day)
    }
    fn commented_responses_of_day(
        &self,
        day: Date,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Response>>> + Send {
        self.0.commented_responses_of_day(day, limit)
    }
    fn responses_of_contact(
        &self,
        contact: &ContactId,
    ) -> impl Future<Output = StoreResult<Vec<Response>>> + Send {
        self.0.responses_of_contact(contact)
    }
    fn remove_comments_of_day(&self, day: Date) -> impl Future<Output = StoreResult<usize>> + Send {
        self.0.remove_comments_of_day(day)
    }
}

impl FollowUps for NoFollowUps {
    fn follow_up(
        &self,
        send: &SendId,
    ) -> impl Future<Output = StoreResult<Option<FollowUp>>> + Send {
        self.0.follow_up(send)
    }
    fn put_follow_up(&self, f: &FollowUp) -> impl Future<Output = StoreResult<()>> + Send {
        self.0.put_follow_up(f)
    }
    async fn open_follow_ups(&self) -> StoreResult<Vec<FollowUp>> {
        Ok(Vec::new())
    }
    async fn follow_ups_opened_between(
        &self,
        _: Date,
        _: Date,
        _: usize,
    ) -> StoreResult<Vec<FollowUp>> {
        Ok(Vec::new())
    }
}

impl Contacts for NoFollowUps {
    fn contact(&self, id: &ContactId) -> impl Future<Output = StoreResult<Option<Contact>>> + Send {
        self.0.contact(id)
    }
    fn contact_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = StoreResult<Option<Contact>>> + Send {
        self.0.contact_by_email(email)
    }
    fn put_contact(&self, contact: &Contact) -> impl Future<Output = StoreResult<()>> + Send {
        self.0.put_contact(contact)
    }
    fn contacts_in_slots(
        &self,
        from: u16,
        to: u16,
    ) -> impl Future<Output = StoreResult<Vec<Contact>>> + Send {
        self.0.contacts_in_slots(from, to)
    }
    fn contacts_of_account(
        &self,
        account: &AccountKey,
    ) -> impl Future<Output = StoreResult<Vec<Contact>>> + Send {
        self.0.contacts_of_account(account)
    }
    fn delete_contact(&self, id: &ContactId) -> impl Future<Output = StoreResult<()>> + Send {
        self.0.delete_contact(id)
    }
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const EN_DET: &[&str] = &[
    "Support is slow and nobody answers my tickets",
    "The invoice was wrong again this month",
    "Too expensive for what it does",
    "The app crashes when I export reports",
    "Onboarding was confusing and the docs are outdated",
];
const EN_PRO: &[&str] = &[
    "Easy to use and the team is great",
    "Love the dashboards, setup took minutes",
    "Quick answers from support, very helpful",
    "The reports save me hours every week",
];
const ES_DET: &[&str] = &[
    "El soporte es lento y nadie responde",
    "La factura llegó mal otra vez",
    "Demasiado caro para lo que ofrece",
    "La aplicación se cuelga al exportar",
];
const ES_PRO: &[&str] = &[
    "Muy fácil de usar y el equipo es excelente",
    "Me encantan los paneles, se configura en minutos",
    "El soporte responde rápido",
];
const PASSIVE: &[&str] = &["It is fine", "Está bien", "Does the job", "Cumple"];

async fn populate(path: &Path, answers: u64) -> anyhow::Result<()> {
    let done = path.with_extension("done");
    if done.exists() && path.exists() {
        return Ok(());
    }
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    eprintln!(
        "populating {} with {answers} answers (once)…",
        path.display()
    );
    let started = Instant::now();
    let store = SqliteStore::open(path)?;
    let tz = jiff::tz::TimeZone::get("Europe/Madrid")?;
    let mut rng = Lcg(answers);
    let per_day = answers / DAYS as u64;
    let mut made = 0u64;
    for d in 0..DAYS {
        let day = first_day().saturating_add(jiff::Span::new().days(d));
        let today = if d == DAYS - 1 {
            answers - made
        } else {
            per_day
        };
        let sent = Counts {
            sent: (today * 3) as i64,
            ..Counts::default()
        };
        store
            .add_to_rollups(&[Rollup {
                day,
                dimension: Dimension::All,
                counts: sent,
            }])
            .await?;
        for _ in 0..today {
            made += 1;
            let region = rng.next() % SEGMENT_VALUES;
            let mut attributes = Attributes::new();
            attributes.set("region", &format!("r{region:02}"))?;
            // About 50% promoters, 30% passives, 20% detractors (NPS near +30, a typical B2B
            // figure), a little better or worse by region.
            let u = (rng.next() % 100) as i64 + (region as i64 % 5) * 3 - 6;
            let score = match u {
                ..20 => (rng.next() % 7) as u8,
                20..50 => 7 + (rng.next() % 2) as u8,
                _ => 9 + (rng.next() % 2) as u8,
            };
            let locale = if rng.next().is_multiple_of(3) {
                Locale::Es
            } else {
                Locale::En
            };
            let comment = if rng.next() % 10 < 4 {
                let pool = match (score, locale) {
                    (0..=6, Locale::En) => EN_DET,
                    (0..=6, Locale::Es) => ES_DET,
                    (9..=10, Locale::En) => EN_PRO,
                    (9..=10, Locale::Es) => ES_PRO,
                    _ => PASSIVE,
                };
                Some(pool[(rng.next() % pool.len() as u64) as usize].to_string())
            } else {
                None
            };
            let hour = 8 + (rng.next() % 12) as i8;
            let at = pulso_core::time::at_local(
                day,
                Time::new(hour, (rng.next() % 60) as i8, 0, 0)?,
                &tz,
            );
            let source = if rng.next().is_multiple_of(50) {
                AnswerSource::Automated
            } else {
                AnswerSource::Human
            };
            let r = Response {
                send_id: SendId::for_key(&format!("bench:{made}")),
                contact_id: Some(ContactId::parse(&format!("c{}", rng.next() % 200_000))?),
                score: Score::new(score)?,
                comment,
                locale,
                kind: SurveyKind::Relational,
                touchpoint: None,
                account: None,
                attributes,
                day,
                answered_at: at,
                updated_at: at,
                source,
                flag_reason: None,
                commits: vec![at],
                version: 1,
            };
            store.save_response(&r, &rollup_deltas(None, &r)).await?;
            if score <= 6 && source == AnswerSource::Human {
                let closed = rng.next() % 100 < 85;
                let hours = 1 + (rng.next() % 120) as i64;
                store
                    .put_follow_up(&FollowUp {
                        send_id: r.send_id.clone(),
                        contact_id: r.contact_id.clone(),
                        score: r.score,
                        account: None,
                        opened_at: at,
                        opened_day: day,
                        status: if closed {
                            FollowUpStatus::Done
                        } else {
                            FollowUpStatus::Open
                        },
                        closed_at: closed
                            .then(|| at.checked_add(SignedDuration::from_hours(hours)).ok())
                            .flatten(),
                        closed_by: closed.then(|| "cs".to_string()),
                        note: None,
                        version: 1,
                    })
                    .await?;
            }
        }
        if d % 30 == 0 {
            eprintln!(
                "  day {d}/{DAYS}: {made} answers, {:.0?}",
                started.elapsed()
            );
        }
    }
    std::fs::write(&done, format!("{answers}\n"))?;
    eprintln!("  populated in {:.1?}", started.elapsed());
    Ok(())
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Built, rendered, written as CSV and JSON: everything but the archive's write and the email.
async fn one_report<S: ReportStore>(
    store: &S,
    config: &Config,
    at: Timestamp,
) -> anyhow::Result<(Report, usize)> {
    let period: Period = report_period(ReportKind::Quarterly, at, &config.company.time_zone.tz())?;
    let report = build(store, config, ReportKind::Quarterly, period, at, Locale::En).await?;
    let rendered = render(&report, config, Some("https://nps.example/r/x".into()))?;
    let csv = to_csv(&report)?;
    let json = to_json(&report)?;
    Ok((
        report,
        rendered.html.len() + rendered.text.len() + csv.len() + json.len(),
    ))
}

async fn timed<S: ReportStore>(store: &S) -> anyhow::Result<serde_json::Value> {
    let config = config();
    let at: Timestamp = "2026-04-01T06:00:00Z".parse()?;
    let mut times = Vec::new();
    let mut facts = serde_json::Value::Null;
    for _ in 0..RUNS {
        let t = Instant::now();
        let (report, bytes) = one_report(store, &config, at).await?;
        times.push(t.elapsed());
        if let ReportBody::Quarterly(q) = &report.body {
            facts = serde_json::json!({
                "quarter_answers": q.quarter.stats.n,
                "comments_read": q.comments_read,
                "follow_ups": q.loop_closing.opened,
                "follow_ups_read": q.loop_closing.sample,
                "output_bytes": bytes,
            });
        }
    }
    let first = times[0];
    times.sort();
    Ok(serde_json::json!({
        "first_ms": first.as_secs_f64() * 1e3,
        "median_ms": times[times.len() / 2].as_secs_f64() * 1e3,
        "min_ms": times[0].as_secs_f64() * 1e3,
        "hwm_kib": vm_hwm_kib(),
        "facts": facts,
    }))
}

/// Where a 1M report's time goes: the median of [`RUNS`] of each bounded read the quarterly
/// report makes (comments for themes, the themes themselves, the follow-ups), in milliseconds.
async fn parts<S: ReportStore>(store: &S) -> anyhow::Result<serde_json::Value> {
    let (first, last) = (date(2026, 1, 1), date(2026, 3, 31));
    let cap = (COMMENTS_PER_REPORT / 90).max(1);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut comments_ms, mut themes_ms, mut follow_ups_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut read = Vec::new();
        for day in each_day(first, last) {
            read.extend(store.commented_responses_of_day(day, cap).await?);
        }
        comments_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let mut finder = ThemeFinder::new();
        for r in read.iter().filter(|r| r.counted() && r.has_comment()) {
            finder.add(r.category(), r.locale, r.comment.as_deref().unwrap_or(""));
        }
        std::hint::black_box(finder.finish());
        themes_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let fus = store
            .follow_ups_opened_between(first, last, FOLLOW_UP_SAMPLE)
            .await?;
        std::hint::black_box(fus);
        follow_ups_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(serde_json::json!({
        "comments_read_ms": median(comments_ms),
        "themes_ms": median(themes_ms),
        "follow_ups_read_ms": median(follow_ups_ms),
    }))
}

/// Child process: measures one store (`full`, or `no-follow-ups`) and prints one line of JSON.
async fn measure(db: &Path, mode: &str) -> anyhow::Result<()> {
    let store = SqliteStore::open(db)?;
    let mut out = if mode == "no-follow-ups" {
        timed(&NoFollowUps(store.clone())).await?
    } else {
        timed(&store).await?
    };
    let t = Instant::now();
    let rollups = store
        .rollups(date(2025, 1, 1), date(2026, 3, 31))
        .await?
        .len();
    out["rollups"] = rollups.into();
    out["rollups_read_ms"] = (t.elapsed().as_secs_f64() * 1e3).into();
    if mode == "full" {
        out["parts"] = parts(&store).await?;
    }
    println!("{out}");
    Ok(())
}

fn run_child(db: &Path, mode: &str) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--measure")
        .arg(db)
        .arg(mode)
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "measurement failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8(out.stdout)?;
    Ok(serde_json::from_str(line.trim())?)
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        let db = args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--measure needs a database"))?;
        let mode = args.get(i + 2).map(String::as_str).unwrap_or("full");
        return measure(Path::new(db), mode).await;
    }
    let dir = data_dir();
    std::fs::create_dir_all(&dir)?;
    // `v2`: the score mix of a typical program (about 50/30/20); older files are not reused.
    let large = dir.join("reports-v2-1m.db");
    let small = dir.join("reports-v2-10k.db");
    populate(&small, 10_000).await?;
    populate(&large, 1_000_000).await?;
    let ms = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "quarterly report 2026-Q1 (built + rendered + CSV + JSON), median of {RUNS} runs, \
         SQLite file store, release build"
    );
    let mut medians = Vec::new();
    for mode in ["full", "no-follow-ups"] {
        let s = run_child(&small, mode)?;
        let l = run_child(&large, mode)?;
        for (name, v) in [("10,000 answers", &s), ("1,000,000 answers", &l)] {
            let f = &v["facts"];
            println!(
                "  {mode:>13} {name:>18}: median {:7.1} ms (first {:6.1}, min {:6.1}); \
                 peak RSS {:5.1} MiB; quarter: {} answers, {} comments read, {} follow-ups \
                 opened ({} read); {} rollups read in {:.1} ms",
                ms(v, "median_ms"),
                ms(v, "first_ms"),
                ms(v, "min_ms"),
                ms(v, "hwm_kib") / 1024.0,
                f["quarter_answers"],
                f["comments_read"],
                f["follow_ups"],
                f["follow_ups_read"],
                v["rollups"],
                ms(v, "rollups_read_ms"),
            );
        }
        for (name, v) in [("10,000", &s), ("1,000,000", &l)] {
            let p = &v["parts"];
            if p.is_object() {
                println!(
                    "  {mode:>13} {name:>10} answers, parts (median): comments read {:.1} ms, \
                     themes {:.1} ms, follow-ups read {:.1} ms",
                    ms(p, "comments_read_ms"),
                    ms(p, "themes_ms"),
                    ms(p, "follow_ups_read_ms"),
                );
            }
        }
        medians.push((
            mode,
            ms(&l, "median_ms"),
            ms(&l, "median_ms") / ms(&s, "median_ms"),
            ms(&l, "min_ms") / ms(&s, "min_ms"),
        ));
    }
    // The ratio of the fastest runs too: on a shared machine, other work inflates medians unevenly.
    for (mode, large_ms, ratio, min_ratio) in medians {
        println!(
            "  {mode:>13}: 1M in {large_ms:.1} ms ({} the 1 s target); ratio 1M / 10k {ratio:.2} \
             (target ≤ 2; {min_ratio:.2} between the fastest runs)",
            if large_ms <= 1000.0 {
                "meets"
            } else {
                "misses"
            }
        );
    }
    Ok(())
}
