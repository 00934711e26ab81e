//! Simulated respondents, for `pulso demo` and the load bench: people — and mail scanners — using
//! the capture router exactly as a browser does (the score link's GET, the page's script commit,
//! the Send button with a comment, the unsubscribe page, customer service closing a follow-up), on a
//! clock the simulation moves. Requests go through the router itself (`tower::ServiceExt::oneshot`),
//! so the demo's answers, alerts and follow-ups are made by the same code a real person reaches.
//!
//! [`plan`] draws, for one mailed survey, what happens to it: about 38 % of people answer —
//! promoters, passives and detractors in the proportions of a healthy B2B program (NPS around
//! +25 to +35) — two thirds of them with a comment on a common theme (price, support, onboarding,
//! speed, bugs, …) in their language; a few open the page with JavaScript off; a few change their
//! score a day later; some unsubscribe; mail scanners fetch the links of some emails at delivery
//! (and a few run the page's script: flagged); customer service closes about half of the
//! follow-ups within two days. The draw is deterministic per send, so a demo run at the same time
//! gives the same answers.

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use tower::ServiceExt;

use pulso_core::ports::{FixedClock, Store};
use pulso_core::types::{Locale, Score, SendId};
use pulso_core::{Ctx, links};

/// Largest page the simulation reads.
const MAX_PAGE: usize = 1 << 20;

/// A small deterministic generator (SplitMix64), seeded per send.
#[derive(Debug, Clone)]
pub struct Draw(u64);

impl Draw {
    pub fn seeded(text: &str) -> Draw {
        // FNV-1a of the text: stable across runs and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Draw(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len().max(1) as u64) as usize]
    }
}

/// One thing that happens, at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub at: Timestamp,
    pub send: SendId,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A mail scanner fetches every score link (plain GETs).
    ScannerSweep,
    /// A scanner that runs the page's script on a few links.
    ScannerScript { scores: Vec<u8> },
    /// A person opens a score link, and the page commits the score (script) or the person presses
    /// Send (no script); `comment` is sent with Send.
    Answer {
        score: u8,
        script: bool,
        comment: Option<String>,
        /// Seconds the page stays open before Send.
        dwell: i64,
    },
    /// The person opens the unsubscribe link and confirms.
    Unsubscribe,
    /// Customer service marks the follow-up of this send done.
    CloseFollowUp { by: String, note: Option<String> },
}

const PROMOTER_EN: &[&str] = &[
    "Great product, the weekly reports save us hours.",
    "Support answers fast and actually solves the problem.",
    "Onboarding was smooth: the whole team was working with it in a day.",
    "Fast and reliable. We rarely have to think about it.",
    "The CRM integration works really well for us.",
    "Good value for the price, and it keeps getting better.",
];
const PASSIVE_EN: &[&str] = &[
    "Good overall, but the price went up this year.",
    "Works fine, though the dashboard is slow with big accounts.",
    "Useful, but some features are hard to find.",
    "Support is friendly but answers take a day or two.",
    "Does the job. The documentation could be clearer.",
];
const DETRACTOR_EN: &[&str] = &[
    "Too expensive for what we actually use.",
    "Support took a week to answer a simple question.",
    "Onboarding was confusing and nobody helped us set it up.",
    "The app is slow and crashes with large exports.",
    "Bugs in every release; the CSV export keeps failing.",
    "Billing errors two months in a row.",
    "We lost data after the last update and nobody explained why.",
];
const PROMOTER_ES: &[&str] = &[
    "Muy buen producto, los informes semanales nos ahorran horas.",
    "El soporte responde rápido y de verdad resuelve el problema.",
    "La puesta en marcha fue sencilla: todo el equipo lo usaba en un día.",
    "Rápido y fiable. Casi nunca tenemos que pensar en él.",
    "La integración con el CRM funciona muy bien.",
    "Buena relación calidad-precio y cada vez mejor.",
];
const PASSIVE_ES: &[&str] = &[
    "Bien en general, pero el precio subió este año.",
    "Funciona, aunque el panel va lento con cuentas grandes.",
    "Útil, pero algunas funciones cuestan de encontrar.",
    "El soporte es amable pero tarda uno o dos días en responder.",
    "Cumple. La documentación podría ser más clara.",
];
const DETRACTOR_ES: &[&str] = &[
    "Demasiado caro para lo que usamos.",
    "Soporte tardó una semana en responder una pregunta sencilla.",
    "La puesta en marcha fue confusa y nadie nos ayudó.",
    "La aplicación es lenta y se cuelga con exportaciones grandes.",
    "Errores en cada versión; la exportación a CSV falla siempre.",
    "Errores de facturación dos meses seguidos.",
    "Perdimos datos con la última actualización y nadie nos explicó por qué.",
];
const STAFF: &[&str] = &["Marta Ruiz", "John Carter", "Lucía Fernández", "Sam Okafor"];
const NOTES_EN: &[&str] = &[
    "Called the customer and walked through the new pricing plan.",
    "Opened a ticket with engineering and shared a workaround.",
    "Booked a training session for their team next week.",
    "Credited the wrong invoice and apologised.",
    "Escalated to the account manager; follow-up call on Friday.",
];
const NOTES_ES: &[&str] = &[
    "Llamé al cliente y le expliqué el nuevo plan de precios.",
    "Abrí una incidencia con ingeniería y compartí una solución temporal.",
    "Agendamos una formación para su equipo la semana que viene.",
    "Abonamos la factura errónea y pedimos disculpas.",
    "Escalado al gestor de la cuenta; llamada de seguimiento el viernes.",
];

fn comment_for(draw: &mut Draw, locale: Locale, score: u8) -> String {
    let list = match (locale, Score::new(score).map(Score::category)) {
        (Locale::Es, Ok(pulso_core::Category::Promoter)) => PROMOTER_ES,
        (Locale::Es, Ok(pulso_core::Category::Passive)) => PASSIVE_ES,
        (Locale::Es, _) => DETRACTOR_ES,
        (_, Ok(pulso_core::Category::Promoter)) => PROMOTER_EN,
        (_, Ok(pulso_core::Category::Passive)) => PASSIVE_EN,
        _ => DETRACTOR_EN,
    };
    draw.pick(list).to_string()
}

fn score_for(draw: &mut Draw) -> u8 {
    let u = draw.unit();
    if u < 0.50 {
        if draw.chance(0.55) { 10 } else { 9 }
    } else if u < 0.78 {
        if draw.chance(0.5) { 8 } else { 7 }
    } else {
        // Detractors lean to 5–6; a few are furious.
        *draw.pick(&[0, 2, 3, 4, 5, 5, 6, 6, 6])
    }
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

/// What happens to one survey mailed at `mailed_at` in `locale`; `staff_locale` is the language
/// of customer service's notes.
pub fn plan(
    send: &SendId,
    mailed_at: Timestamp,
    locale: Locale,
    staff_locale: Locale,
) -> Vec<Action> {
    let mut draw = Draw::seeded(send.as_str());
    let mut out = Vec::new();
    let mut push = |at: Timestamp, what: What| {
        out.push(Action {
            at,
            send: send.clone(),
            what,
        })
    };
    if draw.chance(0.06) {
        push(mailed_at + secs(draw.between(1, 4)), What::ScannerSweep);
    }
    if draw.chance(0.02) {
        let first = draw.between(0, 6) as u8;
        push(
            mailed_at + secs(draw.between(2, 6)),
            What::ScannerScript {
                scores: vec![first, first + 2, first + 4],
            },
        );
    }
    if draw.chance(0.015) {
        push(
            mailed_at + secs(draw.between(600, 3 * 86_400)),
            What::Unsubscribe,
        );
        return out;
    }
    if !draw.chance(0.38) {
        return out;
    }
    // Most answers come within hours of the email; some the next day.
    let delay = if draw.chance(0.7) {
        draw.between(120, 4 * 3600)
    } else {
        draw.between(4 * 3600, 30 * 3600)
    };
    let at = mailed_at + secs(delay);
    let score = score_for(&mut draw);
    let detractor = score <= 6;
    let comment = draw
        .chance(if detractor { 0.85 } else { 0.6 })
        .then(|| comment_for(&mut draw, locale, score));
    let script = draw.chance(0.8);
    push(
        at,
        What::Answer {
            score,
            script,
            comment: comment.clone(),
            dwell: draw.between(8, 120),
        },
    );
    let mut last = score;
    if draw.chance(0.05) {
        // Changes their mind a day later (the page no longer commits by itself: Send does).
        let new = if detractor {
            score + 2
        } else {
            score.saturating_sub(1)
        }
        .min(10);
        last = new;
        push(
            at + secs(draw.between(86_400, 2 * 86_400)),
            What::Answer {
                score: new,
                script: false,
                comment,
                dwell: draw.between(15, 90),
            },
        );
    }
    if last <= 6 && draw.chance(0.5) {
        let notes = if staff_locale == Locale::Es {
            NOTES_ES
        } else {
            NOTES_EN
        };
        push(
            at + secs(draw.between(3600, 40 * 3600)),
            What::CloseFollowUp {
                by: draw.pick(STAFF).to_string(),
                note: draw.chance(0.8).then(|| draw.pick(notes).to_string()),
            },
        );
    }
    out
}

/// What a simulation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub people_answered: usize,
    pub comments_sent: usize,
    pub re_answers: usize,
    pub without_javascript: usize,
    pub scanner_sweeps: usize,
    pub scanner_script_runs: usize,
    pub unsubscribed: usize,
    pub follow_ups_closed: usize,
    pub requests: usize,
    /// Requests answered with a status the simulation did not expect (should be 0).
    pub unexpected: usize,
}

/// The router, called the way a browser calls it.
#[derive(Clone)]
pub struct Browser {
    router: Router,
}

impl Browser {
    pub fn new(router: Router) -> Browser {
        Browser { router }
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, String) {
        match self.router.clone().oneshot(req).await {
            Ok(res) => {
                let status = res.status();
                let body = axum::body::to_bytes(res.into_body(), MAX_PAGE)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                (status, body)
            }
            Err(never) => match never {},
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let req = Request::get(path).body(Body::empty());
        match req {
            Ok(r) => self.call(r).await,
            Err(_) => (StatusCode::BAD_REQUEST, String::new()),
        }
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body));
        match req {
            Ok(r) => self.call(r).await,
            Err(_) => (StatusCode::BAD_REQUEST, String::new()),
        }
    }
}

/// Form-urlencodes a value.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The render time a comment page carries (for the Send button's timing).
pub fn rendered_at(page: &str) -> Option<&str> {
    let marker = "name=\"rendered_at\" value=\"";
    let start = page.find(marker)? + marker.len();
    let len = page[start..].find('"')?;
    Some(&page[start..start + len])
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/')
        .map(|i| rest[i..].to_string())
        .unwrap_or_else(|| "/".into())
}

/// Plays `actions` in time order through `browser`, moving `clock` to each action's time (and
/// through each page's dwell). `mailed` gives each send's mailing time, for its links.
pub async fn run<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    browser: &Browser,
    clock: &FixedClock,
    mailed: &std::collections::HashMap<SendId, Timestamp>,
    mut actions: Vec<Action>,
) -> Outcome {
    actions.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.send.cmp(&b.send)));
    let mut out = Outcome::default();
    let mut answered = std::collections::HashSet::new();
    let config = &ctx.config;
    let Ok(keys) = ctx.keys.get().await else {
        // No link can be made: every action is a request that could not be made as expected.
        out.unexpected = actions.len();
        return out;
    };
    for action in actions {
        clock.set(action.at);
        let issued = mailed.get(&action.send).copied().unwrap_or(action.at);
        let token = links::answer_token(config, &keys, &action.send, issued);
        let score_path = |s: u8| {
            Score::all()
                .nth(usize::from(s.min(10)))
                .map(|score| path_of(&links::score_url(config, &token, score)))
                .unwrap_or_default()
        };
        let send = &action.send;
        let expect = |status: StatusCode, ok: &[StatusCode], out: &mut Outcome| {
            out.requests += 1;
            if !ok.contains(&status) {
                out.unexpected += 1;
                tracing::warn!(send = %send, status = status.as_u16(), "simulated request got an unexpected status");
            }
        };
        match &action.what {
            What::ScannerSweep => {
                for s in 0..=10 {
                    let (status, _) = browser.get(&score_path(s)).await;
                    expect(status, &[StatusCode::OK], &mut out);
                }
                out.scanner_sweeps += 1;
            }
            What::ScannerScript { scores } => {
                for s in scores {
                    let (status, _) = browser.get(&score_path(*s)).await;
                    expect(status, &[StatusCode::OK], &mut out);
                    clock.advance(secs(2));
                    let (status, _) = browser
                        .post_form(
                            &format!("/a/{token}"),
                            &[
                                ("s", &s.to_string()),
                                ("via", "script"),
                                ("open_ms", "1600"),
                            ],
                        )
                        .await;
                    expect(status, &[StatusCode::NO_CONTENT], &mut out);
                }
                out.scanner_script_runs += 1;
            }
            What::Answer {
                score,
                script,
                comment,
                dwell,
            } => {
                let (status, page) = browser.get(&score_path(*score)).await;
                expect(status, &[StatusCode::OK], &mut out);
                let rendered = rendered_at(&page).unwrap_or("").to_string();
                let first = answered.insert(action.send.clone());
                if *script && page.contains("data-autocommit=\"1\"") {
                    clock.advance(secs(2));
                    let (status, _) = browser
                        .post_form(
                            &format!("/a/{token}"),
                            &[
                                ("s", &score.to_string()),
                                ("via", "script"),
                                ("open_ms", "2000"),
                            ],
                        )
                        .await;
                    expect(status, &[StatusCode::NO_CONTENT], &mut out);
                }
                if !*script {
                    out.without_javascript += 1;
                }
                // With the script the score is already saved: Send only matters for a comment.
                if comment.is_some() || !*script {
                    clock.advance(secs(*dwell));
                    let (status, _) = browser
                        .post_form(
                            &format!("/a/{token}"),
                            &[
                                ("s", &score.to_string()),
                                ("comment", comment.as_deref().unwrap_or("")),
                                ("rendered_at", &rendered),
                                ("open_ms", ""),
                                ("via", "button"),
                            ],
                        )
                        .await;
                    expect(status, &[StatusCode::SEE_OTHER], &mut out);
                    let (status, _) = browser.get(&format!("/a/{token}/thanks")).await;
                    expect(status, &[StatusCode::OK], &mut out);
                    out.comments_sent += usize::from(comment.is_some() && first);
                }
                if first {
                    out.people_answered += 1;
                } else {
                    out.re_answers += 1;
                }
            }
            What::Unsubscribe => {
                let path = path_of(&links::unsubscribe_url(config, &keys, &action.send, issued));
                let (status, _) = browser.get(&path).await;
                expect(status, &[StatusCode::OK], &mut out);
                clock.advance(secs(5));
                let (status, _) = browser
                    .post_form(&path, &[("List-Unsubscribe", "One-Click")])
                    .await;
                expect(status, &[StatusCode::OK], &mut out);
                out.unsubscribed += 1;
            }
            What::CloseFollowUp { by, note } => {
                // Only answers that counted as a detractor's have a follow-up.
                let open = matches!(
                    ctx.store.follow_up(&action.send).await,
                    Ok(Some(f)) if f.status == pulso_core::model::FollowUpStatus::Open
                );
                if !open {
                    continue;
                }
                let path = path_of(&links::follow_up_url(
                    config,
                    &keys,
                    &action.send,
                    action.at,
                ));
                let (status, _) = browser.get(&path).await;
                expect(status, &[StatusCode::OK], &mut out);
                clock.advance(secs(40));
                let (status, _) = browser
                    .post_form(
                        &path,
                        &[("name", by), ("note", note.as_deref().unwrap_or(""))],
                    )
                    .await;
                expect(status, &[StatusCode::SEE_OTHER], &mut out);
                out.follow_ups_closed += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_spread() {
        let mut a = Draw::seeded("s1");
        let mut b = Draw::seeded("s1");
        assert_eq!(a.next_u64(), b.next_u64());
        let mut d = Draw::seeded("spread");
        let mean = (0..10_000).map(|_| d.unit()).sum::<f64>() / 10_000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }

    #[test]
    fn a_thousand_surveys_give_a_plausible_program() {
        let t: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let (mut answers, mut promoters, mut detractors, mut comments) = (0, 0, 0, 0);
        for i in 0..1000 {
            let send = SendId::for_key(&format!("wave:c{i}:1"));
            for a in plan(&send, t, Locale::En, Locale::En) {
                assert!(a.at > t, "nothing happens before the email");
                if let What::Answer { score, comment, .. } = &a.what {
                    answers += 1;
                    promoters += usize::from(*score >= 9);
                    detractors += usize::from(*score <= 6);
                    comments += usize::from(comment.is_some());
                }
            }
        }
        assert!((300..=460).contains(&answers), "{answers}");
        let nps = (promoters as f64 - detractors as f64) * 100.0 / answers as f64;
        assert!((10.0..=45.0).contains(&nps), "{nps}");
        assert!(comments * 2 > answers, "most answers carry a comment");
    }
}
