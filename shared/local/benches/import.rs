//! Contacts-import throughput on the local store, as `pulso contacts import` runs it: a generated
//! CSV of 100,000 rows (override with PULSO_BENCH_ROWS) into a file-backed SQLite store (WAL),
//! imported once (all created), then again (all unchanged), then read back by slot ranges as
//! `pulso contacts export` does. Prints rows per second and total seconds.
//!
//! Run: `cargo bench -p pulso-local --bench import`

use std::io::Write;
use std::time::Instant;

use pulso_core::contacts;
use pulso_core::model::SLOTS;
use pulso_core::ports::Contacts;
use pulso_core::types::Locale;
use pulso_local::{RandomIds, SqliteStore};

const PLANS: [&str; 3] = ["starter", "pro", "enterprise"];
const REGIONS: [&str; 3] = ["emea", "americas", "apac"];
const ZONES: [&str; 4] = [
    "Europe/Madrid",
    "America/New_York",
    "America/Mexico_City",
    "Asia/Singapore",
];

fn write_csv(path: &std::path::Path, rows: usize) -> std::io::Result<u64> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        f,
        "email,name,locale,account,time_zone,customer_since,plan,region,industry,owner"
    )?;
    for i in 0..rows {
        let account = i / 50;
        writeln!(
            f,
            "person{i}@customer{account}.example,Person {i},{},Customer {account},{},2025-{:02}-{:02},{},{},industry{},owner{}",
            if i % 3 == 0 { "es" } else { "en" },
            ZONES[i % ZONES.len()],
            1 + i % 12,
            1 + i % 28,
            PLANS[account % PLANS.len()],
            REGIONS[account % REGIONS.len()],
            account % 17,
            i % 40,
        )?;
    }
    f.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn rate(n: u64, secs: f64) -> String {
    format!("{:.0} rows/s", n as f64 / secs.max(1e-9))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::var("PULSO_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("contacts.csv");
    let bytes = write_csv(&csv, rows)?;
    let store = SqliteStore::open(dir.path().join("pulso.db"))?;
    let now = jiff::Timestamp::now();
    println!(
        "contacts import on a file-backed SQLite store: {rows} rows, {:.1} MB of CSV",
        bytes as f64 / 1e6
    );

    for pass in [
        "first import (all created)",
        "second import (all unchanged)",
    ] {
        let file = std::io::BufReader::with_capacity(64 * 1024, std::fs::File::open(&csv)?);
        let start = Instant::now();
        let s = contacts::import(&store, &RandomIds, now, Locale::En, file, |_| {}).await?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "  {pass}: {secs:.2} s, {} ({} created, {} updated, {} unchanged, {} skipped)",
            rate(s.rows(), secs),
            s.created,
            s.updated,
            s.unchanged,
            s.skipped()
        );
        anyhow::ensure!(
            s.skipped() == 0 && s.rows() == rows as u64,
            "unexpected import result"
        );
    }

    let start = Instant::now();
    let mut n = 0u64;
    let mut from = 0u16;
    while from < SLOTS {
        let to = (from + 500).min(SLOTS);
        n += store.contacts_in_slots(from, to).await?.len() as u64;
        from = to;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  read back by slot ranges (export): {secs:.2} s, {}",
        rate(n, secs)
    );
    anyhow::ensure!(n == rows as u64, "read back {n} contacts");
    Ok(())
}
