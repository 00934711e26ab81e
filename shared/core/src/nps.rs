//! NPS exactly as the product brief defines it: categories, the score, its standard error, the 95%
//! margin (Wald and adjusted-Wald) and whether a change between two periods is larger than the noise.

use serde::{Deserialize, Serialize};

use crate::types::Score;

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.96;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Detractor,
    Passive,
    Promoter,
}

impl Category {
    /// Promoters 9–10, passives 7–8, detractors 0–6.
    pub fn of(score: Score) -> Category {
        match score.value() {
            9..=10 => Category::Promoter,
            7..=8 => Category::Passive,
            _ => Category::Detractor,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Detractor => "detractor",
            Category::Passive => "passive",
            Category::Promoter => "promoter",
        }
    }
}

/// How many answers gave each score, 0 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Histogram(pub [u64; 11]);

impl Histogram {
    pub fn add(&mut self, score: Score) {
        self.0[score.value() as usize] += 1;
    }

    pub fn add_all(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += *b;
        }
    }

    pub fn count(&self, score: Score) -> u64 {
        self.0[score.value() as usize]
    }

    pub fn n(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn promoters(&self) -> u64 {
        self.0[9] + self.0[10]
    }

    pub fn passives(&self) -> u64 {
        self.0[7] + self.0[8]
    }

    pub fn detractors(&self) -> u64 {
        self.0[..=6].iter().sum()
    }

    pub fn stats(&self) -> NpsStats {
        NpsStats::from_counts(self.promoters(), self.passives(), self.detractors())
    }
}

impl FromIterator<Score> for Histogram {
    fn from_iter<I: IntoIterator<Item = Score>>(iter: I) -> Self {
        let mut h = Histogram::default();
        for s in iter {
            h.add(s);
        }
        h
    }
}

/// A closed interval on the NPS scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The figures of one period. With no answers there is no NPS: `score`, `se` and the margins are
/// `None`, never zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NpsStats {
    pub n: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// % promoters − % detractors, rounded half away from zero.
    pub score: Option<i32>,
    /// The unrounded figure, for comparisons.
    pub exact: Option<f64>,
    /// Standard error in NPS points: 100·√((p + d − (p − d)²) / n).
    pub se: Option<f64>,
    /// 95% Wald margin: ±1.96·SE.
    pub margin: Option<f64>,
    /// 95% adjusted-Wald interval (¾ added to promoters and detractors, n + 3): better for small n.
    pub adjusted: Option<Interval>,
}

impl NpsStats {
    pub fn from_counts(promoters: u64, passives: u64, detractors: u64) -> NpsStats {
        let n = promoters + passives + detractors;
        let empty = NpsStats {
            n,
            promoters,
            passives,
            detractors,
            score: None,
            exact: None,
            se: None,
            margin: None,
            adjusted: None,
        };
        if n == 0 {
            return empty;
        }
        let nf = n as f64;
        let (p, d) = (promoters as f64 / nf, detractors as f64 / nf);
        let exact = 100.0 * (p - d);
        let se = standard_error(p, d, nf);
        let (pa, da, na) = (
            (promoters as f64 + 0.75) / (nf + 3.0),
            (detractors as f64 + 0.75) / (nf + 3.0),
            nf + 3.0,
        );
        let centre = 100.0 * (pa - da);
        let half = Z95 * standard_error(pa, da, na);
        NpsStats {
            score: Some(exact.round() as i32),
            exact: Some(exact),
            se: Some(se),
            margin: Some(Z95 * se),
            adjusted: Some(Interval {
                low: (centre - half).max(-100.0),
                high: (centre + half).min(100.0),
            }),
            ..empty
        }
    }

    pub fn share(&self, category: Category) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let c = match category {
            Category::Promoter => self.promoters,
            Category::Passive => self.passives,
            Category::Detractor => self.detractors,
        };
        Some(100.0 * c as f64 / self.n as f64)
    }
}

fn standard_error(p: f64, d: f64, n: f64) -> f64 {
    // The variance term is ≥ 0 mathematically; clamp away rounding below zero.
    100.0 * ((p + d - (p - d).powi(2)).max(0.0) / n).sqrt()
}

/// How a period compares with an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    /// A difference, but within the noise: not called up or down.
    NoSignificantChange,
    /// One of the periods has no answers.
    NotComparable,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// now − before, in NPS points (unrounded), when both periods have answers.
    pub delta: Option<f64>,
    /// 1.96·√(SE₁² + SE₂²): the difference must exceed this to count.
    pub threshold: Option<f64>,
    pub direction: Direction,
}

/// Two independent periods differ significantly when |ΔNPS| > 1.96·√(SE₁² + SE₂²).
pub fn compare(now: &NpsStats, before: &NpsStats) -> Change {
    match (now.exact, before.exact, now.se, before.se) {
        (Some(a), Some(b), Some(sa), Some(sb)) => {
            let delta = a - b;
            let threshold = Z95 * (sa * sa + sb * sb).sqrt();
            let direction = if delta.abs() > threshold && delta > 0.0 {
                Direction::Up
            } else if delta.abs() > threshold && delta < 0.0 {
                Direction::Down
            } else {
                Direction::NoSignificantChange
            };
            Change {
                delta: Some(delta),
                threshold: Some(threshold),
                direction,
            }
        }
        _ => Change {
            delta: None,
            threshold: None,
            direction: Direction::NotComparable,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: u8) -> Score {
        Score::new(v).unwrap()
    }

    #[test]
    fn categories_follow_the_brief() {
        let cats: Vec<Category> = Score::all().map(Category::of).collect();
        assert!(cats[..=6].iter().all(|c| *c == Category::Detractor));
        assert_eq!(&cats[7..=8], &[Category::Passive, Category::Passive]);
        assert_eq!(&cats[9..=10], &[Category::Promoter, Category::Promoter]);
    }

    #[test]
    fn the_briefs_worked_example() {
        // 100 promoters, 40 detractors of 200 → NPS 30, SE 5.5, margin ±10.8.
        let st = NpsStats::from_counts(100, 60, 40);
        assert_eq!(st.n, 200);
        assert_eq!(st.score, Some(30));
        assert!((st.se.unwrap() - 5.52).abs() < 0.01, "{:?}", st.se);
        assert!((st.margin.unwrap() - 10.8).abs() < 0.05, "{:?}", st.margin);
        let adj = st.adjusted.unwrap();
        assert!(adj.low < 30.0 && adj.high > 30.0);
        assert!(((adj.high - adj.low) / 2.0 - 10.8).abs() < 0.3);
    }

    #[test]
    fn no_answers_means_no_nps() {
        let st = NpsStats::from_counts(0, 0, 0);
        assert_eq!(st.score, None);
        assert_eq!(st.margin, None);
        assert_eq!(
            compare(&st, &NpsStats::from_counts(1, 0, 0)).direction,
            Direction::NotComparable
        );
    }

    #[test]
    fn histogram_counts_categories() {
        let h: Histogram = [0, 6, 7, 8, 9, 10, 10].into_iter().map(s).collect();
        assert_eq!(
            (h.detractors(), h.passives(), h.promoters(), h.n()),
            (2, 2, 3, 7)
        );
        // 3/7 − 2/7 = 14.28… → 14
        assert_eq!(h.stats().score, Some(14));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        // 1 promoter, 1 passive, 0 detractors of ... use 3 promoters of 8 minus 1 detractor: 25.0
        assert_eq!(NpsStats::from_counts(1, 0, 1).score, Some(0));
        // 1/8 = 12.5 → 13 ; −12.5 → −13
        assert_eq!(NpsStats::from_counts(1, 7, 0).score, Some(13));
        assert_eq!(NpsStats::from_counts(0, 7, 1).score, Some(-13));
    }

    #[test]
    fn significance_needs_more_than_noise() {
        let before = NpsStats::from_counts(100, 60, 40); // 30 ± 10.8
        let small_up = NpsStats::from_counts(110, 55, 35); // 37.5
        let big_up = NpsStats::from_counts(150, 40, 10); // 70
        assert_eq!(
            compare(&small_up, &before).direction,
            Direction::NoSignificantChange
        );
        assert_eq!(compare(&big_up, &before).direction, Direction::Up);
        assert_eq!(compare(&before, &big_up).direction, Direction::Down);
        let c = compare(&big_up, &before);
        assert!(c.delta.unwrap() > c.threshold.unwrap());
    }

    proptest! {
        #[test]
        fn nps_stays_within_bounds(p in 0u64..5000, a in 0u64..5000, d in 0u64..5000) {
            let st = NpsStats::from_counts(p, a, d);
            if let Some(score) = st.score {
                prop_assert!((-100..=100).contains(&score));
                let adj = st.adjusted.unwrap();
                prop_assert!(adj.low >= -100.0 && adj.high <= 100.0 && adj.low <= adj.high);
                prop_assert!(st.se.unwrap() >= 0.0);
            } else {
                prop_assert_eq!(p + a + d, 0);
            }
        }

        #[test]
        fn margin_shrinks_as_n_grows(p in 1u64..200, a in 0u64..200, d in 1u64..200, k in 2u64..20) {
            let small = NpsStats::from_counts(p, a, d);
            let large = NpsStats::from_counts(p * k, a * k, d * k);
            prop_assert!(large.margin.unwrap() < small.margin.unwrap());
            prop_assert_eq!(large.score, small.score);
        }

        #[test]
        fn all_promoters_is_one_hundred(n in 1u64..100_000) {
            let st = NpsStats::from_counts(n, 0, 0);
            prop_assert_eq!(st.score, Some(100));
            prop_assert_eq!(st.se, Some(0.0));
        }

        #[test]
        fn all_detractors_is_minus_one_hundred(n in 1u64..100_000) {
            prop_assert_eq!(NpsStats::from_counts(0, 0, n).score, Some(-100));
        }
    }
}
