//! NPS aggregation throughput: scores into a histogram with its statistics, and a year of rollups
//! (365 days x 20 dimensions) summed per dimension into NPS figures, as reports and the metrics
//! query do. Prints operations per second.
//!
//! Run: `cargo bench -p pulso-core --bench nps`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use pulso_core::model::{Counts, Dimension, Rollup};
use pulso_core::nps::{Histogram, NpsStats};
use pulso_core::types::Score;

/// A fixed pseudo-random sequence (xorshift64*), so every run measures the same work.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn per_second(n: f64, secs: f64) -> String {
    let r = n / secs.max(1e-12);
    if r >= 1e9 {
        format!("{:.2} G/s", r / 1e9)
    } else if r >= 1e6 {
        format!("{:.1} M/s", r / 1e6)
    } else {
        format!("{:.0} /s", r)
    }
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // 1. One million scores into a histogram, then NPS, n, SE, margins.
    let scores: Vec<Score> = (0..1_000_000)
        .map(|_| Score::new((rng.next() % 11) as u8).unwrap_or(Score::new(0).unwrap()))
        .collect();
    let rounds = 20;
    let start = Instant::now();
    let mut last: Option<NpsStats> = None;
    for _ in 0..rounds {
        let h: Histogram = black_box(&scores).iter().copied().collect();
        last = Some(black_box(h.stats()));
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = last.expect("rounds > 0");
    println!(
        "1M scores -> histogram + stats: {:.2} ms per million, {} scores (n = {}, NPS {:?})",
        secs * 1e3 / rounds as f64,
        per_second(1e6 * rounds as f64, secs),
        stats.n,
        stats.score
    );

    // 2. A year of rollups: 365 days x 20 dimensions, summed per dimension, then NPS of each.
    let dims: Vec<Dimension> = std::iter::once(Dimension::All)
        .chain((0..19).map(|i| Dimension::Segment {
            name: format!("seg{}", i % 4),
            value: format!("value{i}"),
        }))
        .collect();
    let first = jiff::civil::date(2025, 1, 1);
    let mut rollups = Vec::with_capacity(365 * dims.len());
    for d in 0..365 {
        let day = first + jiff::Span::new().days(d);
        for dim in &dims {
            let mut counts = Counts::default();
            for s in counts.scores.iter_mut() {
                *s = (rng.next() % 5) as i64;
            }
            counts.sent = (rng.next() % 50) as i64;
            counts.comments = (rng.next() % 3) as i64;
            rollups.push(Rollup {
                day,
                dimension: dim.clone(),
                counts,
            });
        }
    }
    let rounds = 200;
    let start = Instant::now();
    let mut figures = 0usize;
    for _ in 0..rounds {
        let mut sums: HashMap<&Dimension, Counts> = HashMap::with_capacity(dims.len());
        for r in black_box(&rollups) {
            sums.entry(&r.dimension).or_default().add(&r.counts);
        }
        let stats: Vec<NpsStats> = sums.values().map(|c| c.histogram().stats()).collect();
        figures += black_box(stats).len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "365 x 20 rollups -> per-dimension sums + stats: {:.3} ms per year, {} rollups ({} figures)",
        secs * 1e3 / rounds as f64,
        per_second((rollups.len() * rounds) as f64, secs),
        figures / rounds
    );
}
