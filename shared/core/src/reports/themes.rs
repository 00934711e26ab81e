//! Themes: the words and two-word phrases that set detractors' comments apart from promoters' (and
//! the other way round), by the weighted log-odds ratio with an informative Dirichlet prior
//! (Monroe, Colaresi & Quinn 2008, "Fightin' Words"), in English and Spanish.
//!
//! Each comment is cut into words in its own language, stop words are dropped (the `stop-words`
//! crate's ISO lists, minus the opinion words they would wrongly drop, see [`KEEP`]), and words are
//! stemmed (Snowball, `rust-stemmers`) so that "slow", "slowly" and "slower" count as one term.
//! Terms are the stems and the pairs of adjacent stems (a negation may start a pair: "not working",
//! "no funciona"). Each comment counts a term once, so one long rant does not make a theme.
//!
//! For each term w the comments of a group either mention it or not: a two-category multinomial
//! per term, to which Monroe et al.'s estimator applies directly. With yᵢ of nᵢ detractors' comments
//! and yⱼ of nⱼ promoters' comments mentioning w, and the informative Dirichlet prior
//! αw = α₀·πw, α₀·(1 − πw) (πw the pooled share of comments mentioning w, α₀ = [`PRIOR_COMMENTS`]):
//! δ = ln((yᵢ+αw)/(nᵢ−yᵢ+α₀−αw)) − ln((yⱼ+αw)/(nⱼ−yⱼ+α₀−αw)), σ² the sum of the four reciprocals,
//! z = δ/σ. A term is a theme when |z| > 1.96 and at least [`MIN_COMMENTS`] comments hold it; the
//! prior shrinks rare terms towards zero, so a theme is a difference, not a raw count. Counting
//! comments rather than word tokens keeps long comments (detractors write longer ones) from
//! diluting their own words.
//!
//! Each term is shown in the surface form its comments use most ("crashes", not the stem "crash").

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};

use crate::nps::{Category, Z95};
use crate::types::Locale;

/// A term must appear in at least this many comments (both groups together) to be a theme.
pub const MIN_COMMENTS: u64 = 3;
/// Each group needs at least this many comments before the two are compared.
pub const MIN_GROUP_COMMENTS: usize = 5;
/// The prior's weight, in comments (α₀): enough to keep a term seen in two or three comments from
/// looking decisive, small enough to fade as comments accumulate.
pub const PRIOR_COMMENTS: f64 = 10.0;
/// Most themes listed per side.
pub const MAX_THEMES: usize = 8;
/// Longest comment read (characters): bounds the work per comment.
const MAX_COMMENT_CHARS: usize = 2_000;

/// Words the ISO stop-word lists drop that carry opinion in feedback: kept as terms.
pub const KEEP: &[&str] = &[
    // en
    "good",
    "great",
    "greater",
    "greatest",
    "best",
    "better",
    "poorly",
    "problem",
    "problems",
    "help",
    "useful",
    "usefulness",
    "value",
    "work",
    "worked",
    "working",
    "works",
    "thank",
    "thanks",
    "sorry",
    "unfortunately",
    "promptly",
    "quickly",
    "free",
    "bill",
    "serious",
    "seriously",
    "welcome",
    "important",
    "available",
    "clear",
    "clearly",
    "page",
    "pages",
    "website",
    "system",
    "information",
    "slightly",
    "hardly",
    "difficult",
    "easy",
    "fast",
    "slow",
    "price",
    "support", // (the last few are not in the lists; listed for clarity)
    // es
    "bien",
    "buen",
    "buena",
    "buenas",
    "bueno",
    "buenos",
    "mal",
    "mejor",
    "peor",
    "tiempo",
    "trabajo",
    "trabaja",
    "trabajar",
    "demasiado",
    "tarde",
    "pronto",
    "valor",
    "lento",
    "despacio",
    "deprisa",
    "gran",
    "grandes",
    "nuevo",
    "nueva",
    "horas",
    "dias",
    "días",
    "verdad",
    "claro",
    "fácil",
];

/// Negations: stop words, but allowed to start a two-word term ("not working", "no funciona").
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "wont", "wasnt",
    "arent", "nunca", "nada", "ni", "sin", "tampoco",
];

/// One theme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Theme {
    /// As the comments write it: the most frequent surface form of the term.
    pub term: String,
    /// The stems that identify the term.
    pub key: String,
    /// The z-score of the log-odds difference: positive leans detractor, negative promoter.
    pub z: f64,
    /// Detractors' comments holding the term.
    pub detractor_comments: u64,
    /// Promoters' comments holding the term.
    pub promoter_comments: u64,
}

/// The themes of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Themes {
    /// Detractors' comments read.
    pub detractor_comments: usize,
    /// Promoters' comments read.
    pub promoter_comments: usize,
    /// Whether both groups had enough comments to compare.
    pub comparable: bool,
    /// What sets detractors apart, strongest first.
    pub detractor: Vec<Theme>,
    /// What sets promoters apart, strongest first.
    pub promoter: Vec<Theme>,
}

struct Language {
    stop: HashSet<&'static str>,
    stemmer: Stemmer,
}

fn language(locale: Locale) -> &'static Language {
    static EN: OnceLock<Language> = OnceLock::new();
    static ES: OnceLock<Language> = OnceLock::new();
    let (cell, code, algorithm) = match locale {
        Locale::En => (&EN, "en", Algorithm::English),
        Locale::Es => (&ES, "es", Algorithm::Spanish),
    };
    cell.get_or_init(|| {
        let keep: HashSet<&str> = KEEP.iter().copied().collect();
        let stop = stop_words::lookup(code)
            .unwrap_or(&[])
            .iter()
            .copied()
            .filter(|w| !keep.contains(w))
            .collect();
        Language {
            stop,
            stemmer: Stemmer::create(algorithm),
        }
    })
}

/// A word of a comment: its surface form, stem, and whether it is a stop word / negation.
struct Word {
    surface: String,
    stem: String,
    stop: bool,
    negation: bool,
}

fn words(text: &str, locale: Locale) -> Vec<Word> {
    let lang = language(locale);
    let text: String = text.chars().take(MAX_COMMENT_CHARS).collect();
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    // Apostrophes join ("don't" → "dont", as the stop-word lists spell it); anything else that is
    // not a letter or digit splits.
    for raw in lower.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')) {
        let w: String = raw.chars().filter(|c| *c != '\'' && *c != '’').collect();
        if w.is_empty() {
            continue;
        }
        let negation = NEGATIONS.contains(&w.as_str());
        let stop = negation
            || lang.stop.contains(w.as_str())
            || w.chars().count() < 2
            || w.chars().all(|c| c.is_numeric());
        let stem = lang.stemmer.stem(&w).into_owned();
        out.push(Word {
            surface: w,
            stem,
            stop,
            negation,
        });
    }
    out
}

/// The terms of one comment (each once), with the surface form they had in it.
pub fn terms(text: &str, locale: Locale) -> Vec<(String, String)> {
    let ws = words(text, locale);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut push = |key: String, surface: String| {
        if seen.insert(key.clone()) {
            out.push((key, surface));
        }
    };
    for w in ws.iter().filter(|w| !w.stop) {
        push(w.stem.clone(), w.surface.clone());
    }
    for pair in ws.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if !b.stop && (!a.stop || a.negation) {
            push(
                format!("{} {}", a.stem, b.stem),
                format!("{} {}", a.surface, b.surface),
            );
        }
    }
    out
}

#[derive(Default)]
struct TermCounts {
    detractor: u64,
    promoter: u64,
    surfaces: HashMap<String, u64>,
}

/// Collects comments, then finds the themes.
#[derive(Default)]
pub struct ThemeFinder {
    terms: HashMap<String, TermCounts>,
    detractor_comments: usize,
    promoter_comments: usize,
}

impl ThemeFinder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one comment. Passives' comments are not part of the contrast and are ignored.
    pub fn add(&mut self, category: Category, locale: Locale, comment: &str) {
        let detractor = match category {
            Category::Detractor => true,
            Category::Promoter => false,
            Category::Passive => return,
        };
        if comment.trim().is_empty() {
            return;
        }
        if detractor {
            self.detractor_comments += 1;
        } else {
            self.promoter_comments += 1;
        }
        for (key, surface) in terms(comment, locale) {
            let t = self.terms.entry(key).or_default();
            if detractor {
                t.detractor += 1;
            } else {
                t.promoter += 1;
            }
            *t.surfaces.entry(surface).or_default() += 1;
        }
    }

    pub fn finish(self) -> Themes {
        let comparable = self.detractor_comments >= MIN_GROUP_COMMENTS
            && self.promoter_comments >= MIN_GROUP_COMMENTS;
        let mut themes = Themes {
            detractor_comments: self.detractor_comments,
            promoter_comments: self.promoter_comments,
            comparable,
            ..Themes::default()
        };
        if !comparable {
            return themes;
        }
        let n_i = self.detractor_comments as f64;
        let n_j = self.promoter_comments as f64;
        let mut scored: Vec<Theme> = Vec::new();
        for (key, t) in &self.terms {
            if t.detractor + t.promoter < MIN_COMMENTS {
                continue;
            }
            let (yi, yj) = (t.detractor as f64, t.promoter as f64);
            let z = log_odds_z(yi, n_i, yj, n_j);
            if !z.is_finite() || z.abs() <= Z95 {
                continue;
            }
            let term = t
                .surfaces
                .iter()
                .max_by(|a, b| {
                    a.1.cmp(b.1)
                        .then_with(|| b.0.len().cmp(&a.0.len()))
                        .then_with(|| b.0.cmp(a.0))
                })
                .map(|(s, _)| s.clone())
                .unwrap_or_else(|| key.clone());
            scored.push(Theme {
                term,
                key: key.clone(),
                z,
                detractor_comments: t.detractor,
                promoter_comments: t.promoter,
            });
        }
        // A word that only ever appears inside one listed phrase says less than the phrase: keep
        // the phrase ("great team", not "great" beside it).
        let pairs: Vec<(Vec<String>, u64, u64)> = scored
            .iter()
            .filter(|t| t.key.contains(' '))
            .map(|t| {
                (
                    t.key.split(' ').map(String::from).collect(),
                    t.detractor_comments,
                    t.promoter_comments,
                )
            })
            .collect();
        scored.retain(|t| {
            t.key.contains(' ')
                || !pairs.iter().any(|(words, d, p)| {
                    words.contains(&t.key)
                        && *d == t.detractor_comments
                        && *p == t.promoter_comments
                })
        });
        // Strongest first; between equals, phrases before words, then alphabetical.
        scored.sort_by(|a, b| {
            b.z.abs()
                .total_cmp(&a.z.abs())
                .then_with(|| b.key.contains(' ').cmp(&a.key.contains(' ')))
                .then_with(|| a.key.cmp(&b.key))
        });
        for t in scored {
            let side = if t.z > 0.0 {
                &mut themes.detractor
            } else {
                &mut themes.promoter
            };
            if side.len() < MAX_THEMES && !covered(side, &t) {
                side.push(t);
            }
        }
        themes
    }
}

/// The z-score of the weighted log-odds ratio of a term mentioned in `yi` of `ni` comments of one
/// group and `yj` of `nj` of the other, with the informative prior αw = α₀·πw (πw the pooled share
/// of comments mentioning the term) for "mentions" and α₀·(1 − πw) for "does not mention".
pub fn log_odds_z(yi: f64, ni: f64, yj: f64, nj: f64) -> f64 {
    let pi = (yi + yj) / (ni + nj).max(1.0);
    let aw = PRIOR_COMMENTS * pi;
    let rest = PRIOR_COMMENTS - aw;
    let (mi, mj) = (ni - yi + rest, nj - yj + rest);
    let delta = ((yi + aw) / mi).ln() - ((yj + aw) / mj).ln();
    let var = 1.0 / (yi + aw) + 1.0 / mi + 1.0 / (yj + aw) + 1.0 / mj;
    delta / var.sqrt()
}

/// A unigram already listed inside a stronger pair (or a pair whose words are both listed) adds
/// nothing: "slow" after "slow support".
fn covered(listed: &[Theme], t: &Theme) -> bool {
    let parts: Vec<&str> = t.key.split(' ').collect();
    listed.iter().any(|l| {
        let lp: Vec<&str> = l.key.split(' ').collect();
        (parts.len() == 1 && lp.contains(&parts[0]))
            || (parts.len() == 2 && lp.len() == 1 && parts.contains(&lp[0]) && {
                let other = if parts[0] == lp[0] {
                    parts[1]
                } else {
                    parts[0]
                };
                listed.iter().any(|x| x.key == other)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_stemmed_and_stop_words_dropped() {
        let t: Vec<String> = terms("The support was SLOW, slowly answering…", Locale::En)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(t.contains(&"support".to_string()), "{t:?}");
        assert!(t.contains(&"slow".to_string()), "{t:?}");
        assert!(!t.iter().any(|k| k == "the" || k == "was"), "{t:?}");
        // "slow" and "slowly" share a stem: the comment counts it once.
        assert_eq!(t.iter().filter(|k| *k == "slow").count(), 1);
        let es: Vec<(String, String)> = terms("El soporte no funciona, muy lento", Locale::Es);
        let keys: Vec<&str> = es.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"soport"), "{keys:?}");
        assert!(keys.contains(&"no funcion"), "{keys:?}");
        assert!(!keys.contains(&"el") && !keys.contains(&"muy"), "{keys:?}");
        let surf: Vec<&str> = es.iter().map(|(_, s)| s.as_str()).collect();
        assert!(surf.contains(&"no funciona"), "{surf:?}");
    }

    fn finder(det: &[&str], pro: &[&str], locale: Locale) -> Themes {
        let mut f = ThemeFinder::new();
        for c in det {
            f.add(Category::Detractor, locale, c);
        }
        for c in pro {
            f.add(Category::Promoter, locale, c);
        }
        f.finish()
    }

    #[test]
    fn themes_are_what_sets_the_groups_apart_not_what_is_frequent() {
        // "product" is everywhere; "slow support" only among detractors, "easy" among promoters.
        // Detractors write longer comments: shares are of comments, so that does not matter.
        let det: Vec<String> = (0..30)
            .map(|i| {
                if i % 3 == 0 {
                    format!("The product is fine but support is slow (ticket {i})")
                } else {
                    "Slow support, the product crashes and the invoice was wrong".to_string()
                }
            })
            .collect();
        let pro: Vec<String> = (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    "The product is easy to use".to_string()
                } else {
                    "Easy setup, I love the product".to_string()
                }
            })
            .collect();
        let det: Vec<&str> = det.iter().map(String::as_str).collect();
        let pro: Vec<&str> = pro.iter().map(String::as_str).collect();
        let th = finder(&det, &pro, Locale::En);
        assert!(th.comparable);
        let d: Vec<&str> = th.detractor.iter().map(|t| t.term.as_str()).collect();
        let p: Vec<&str> = th.promoter.iter().map(|t| t.term.as_str()).collect();
        assert!(d.contains(&"slow") || d.contains(&"slow support"), "{d:?}");
        assert!(p.contains(&"easy"), "{p:?}");
        assert!(
            !d.contains(&"product") && !p.contains(&"product"),
            "{d:?} {p:?}"
        );
        assert!(th.detractor.iter().all(|t| t.z > Z95));
        assert!(th.promoter.iter().all(|t| t.z < -Z95));
        // A word seen only inside a listed phrase is not listed again.
        // ("crashes" only ever follows "product" here.)
        assert!(
            d.contains(&"product crashes") && !d.contains(&"crashes"),
            "{d:?}"
        );
        // Surface forms, not stems: "crashes" (stem "crash").
        assert!(d.iter().any(|t| t.contains("crashes")), "{d:?}");
    }

    #[test]
    fn spanish_comments_have_spanish_themes() {
        let det = [
            "La factura llega tarde y el soporte no responde",
            "Facturación confusa, el soporte no responde nunca",
            "El soporte no responde a tiempo",
            "Demasiados errores en la factura",
            "Errores constantes, la factura mal",
            "No responde nadie en soporte",
        ];
        let pro = [
            "Muy fácil de usar, excelente equipo",
            "El equipo es excelente",
            "Fácil y rápido",
            "Excelente atención del equipo",
            "Me encanta, muy fácil",
            "Excelente producto",
        ];
        // Six of each are too few to tell anything from noise; four weeks of them are not.
        let det: Vec<&str> = det.iter().cycle().take(24).copied().collect();
        let pro: Vec<&str> = pro.iter().cycle().take(24).copied().collect();
        assert!(
            finder(&det[..6], &pro[..6], Locale::Es)
                .detractor
                .is_empty()
        );
        let th = finder(&det, &pro, Locale::Es);
        let d: Vec<&str> = th.detractor.iter().map(|t| t.term.as_str()).collect();
        let p: Vec<&str> = th.promoter.iter().map(|t| t.term.as_str()).collect();
        assert!(
            d.iter()
                .any(|t| t.contains("soporte") || t.contains("factura")),
            "{d:?}"
        );
        assert!(
            p.iter()
                .any(|t| t.contains("excelente") || t.contains("fácil")),
            "{p:?}"
        );
    }

    #[test]
    fn too_few_comments_are_not_compared() {
        let th = finder(&["slow", "slow", "slow"], &["great"; 10], Locale::En);
        assert!(!th.comparable);
        assert!(th.detractor.is_empty() && th.promoter.is_empty());
        assert_eq!((th.detractor_comments, th.promoter_comments), (3, 10));
    }

    #[test]
    fn the_same_words_on_both_sides_are_no_theme() {
        let same = ["Good product, slow support"; 12];
        let th = finder(&same, &same, Locale::En);
        assert!(th.comparable);
        assert!(th.detractor.is_empty() && th.promoter.is_empty(), "{th:?}");
    }
}
