//! The pages capture shows: the comment page (score pre-selected), thank-you, unsubscribe
//! (confirm and done), follow-up done and every error page. Askama templates under
//! `templates/pages/`; every word from the `pages` catalog; user text escaped by askama.
//!
//! Pages are self-contained: one inline stylesheet (company colours as CSS variables) and, on the
//! comment page only, one small inline script; both are allowed by their SHA-256 hash in the
//! Content-Security-Policy ([`Assets::csp`]), so nothing else can run or load.

use askama::Template;
use base64::Engine;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::{AnswerView, FollowUpView, FormProblem, UnsubscribeView};
use crate::config::Config;
use crate::i18n;
use crate::model::{AnswerSource, Contact, FollowUpStatus};
use crate::nps::Category;
use crate::types::{Email, Locale, Score};

/// The comment page's script: after `data-delay` ms, if the page is visible, it posts the
/// pre-selected score with how long the page has been open (`via=script`, `open_ms`) and shows
/// the "saved" note; on submit it adds `open_ms` to the form. It needs no other data, so its hash
/// is fixed.
pub const SCRIPT: &str = r#"(function(){var f=document.getElementById("answer");if(!f)return;var t0=performance.now();var o=f.querySelector("input[name=open_ms]");f.addEventListener("submit",function(){if(o){o.value=String(Math.round(performance.now()-t0));}});if(f.getAttribute("data-autocommit")!=="1")return;var d=parseInt(f.getAttribute("data-delay"),10);if(!(d>=0))d=1500;var done=false;function commit(){if(done)return;if(document.visibilityState==="hidden"){document.addEventListener("visibilitychange",function v(){if(document.visibilityState!=="hidden"){document.removeEventListener("visibilitychange",v);setTimeout(commit,d);}});return;}var r=f.querySelector("input[name=s]:checked");if(!r)return;done=true;var b=new URLSearchParams();b.set("s",r.value);b.set("via","script");b.set("open_ms",String(Math.round(performance.now()-t0)));fetch(location.pathname,{method:"POST",body:b,credentials:"omit",cache:"no-store",headers:{"Accept":"application/json"}}).then(function(x){if(x.ok){var m=document.getElementById("saved");if(m)m.hidden=false;f.setAttribute("data-committed","1");}else{done=false;}},function(){done=false;});}setTimeout(commit,d);})();"#;

const BASE_CSS: &str = "*{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%}\
body{margin:0;background:#f3f4f6;color:#1f2937;font:1rem/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}\
.brand{background:var(--brand);color:var(--on-brand);padding:.75rem 1rem;font-weight:700;font-size:1.05rem}\
.brand span{display:block;max-width:40rem;margin:0 auto}\
main{display:block;background:#fff;max-width:40rem;margin:0 auto;padding:1.25rem 1rem 1.5rem}\
@media (min-width:42rem){main{margin:2rem auto;border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.15);padding:2rem}}\
h1{font-size:1.3rem;line-height:1.3;margin:0 0 1rem}\
p{margin:0 0 1rem}\
fieldset{border:0;margin:0 0 1rem;padding:0;min-width:0}\
legend{font-weight:600;margin:0 0 .5rem;padding:0}\
.scale{position:relative;display:grid;grid-template-columns:repeat(6,1fr);gap:.5rem}\
@media (min-width:30rem){.scale{grid-template-columns:repeat(11,1fr)}}\
.scale input{position:absolute;opacity:0;width:1px;height:1px;margin:0}\
.scale label{display:flex;align-items:center;justify-content:center;min-height:2.75rem;border:2px solid #6b7280;border-radius:.5rem;font-weight:700;cursor:pointer;background:#fff;color:#1f2937}\
.scale input:checked+label{background:var(--brand);border-color:var(--brand);color:var(--on-brand)}\
.scale input:focus-visible+label{outline:3px solid #1f2937;outline-offset:2px}\
.ends{display:flex;justify-content:space-between;gap:1rem;color:#4b5563;font-size:.875rem;margin-top:.5rem}\
.field{display:block;font-weight:600;margin:1rem 0 .5rem}\
textarea,input[type=text]{display:block;width:100%;font:inherit;padding:.7rem;border:2px solid #6b7280;border-radius:.5rem;color:#1f2937;background:#fff}\
textarea:focus,input[type=text]:focus{outline:3px solid #1f2937;outline-offset:1px}\
.hint{color:#4b5563;font-size:.875rem;margin:.35rem 0 1rem}\
.primary{display:block;width:100%;min-height:2.75rem;margin-top:1rem;padding:.7rem 1.5rem;border:0;border-radius:.5rem;background:var(--brand);color:var(--on-brand);font:inherit;font-weight:700;cursor:pointer}\
@media (min-width:30rem){.primary{display:inline-block;width:auto}}\
.primary:focus-visible{outline:3px solid #1f2937;outline-offset:2px}\
a{color:var(--link)}\
a:focus-visible{outline:3px solid #1f2937;outline-offset:2px}\
.error{color:#991b1b;font-weight:600;border-left:4px solid #991b1b;padding-left:.75rem}\
.notice{color:#14532d;border-left:4px solid #15803d;padding-left:.75rem}\
.quote{white-space:pre-wrap;overflow-wrap:anywhere;border-left:4px solid #6b7280;padding-left:.75rem;color:#1f2937}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0 0 1rem}\
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}\
.muted{color:#4b5563}\
.status{color:#4b5563;font-size:.875rem}\
footer{max-width:40rem;margin:0 auto;padding:1rem;text-align:center;color:#4b5563;font-size:.8rem}";

fn hex_rgb(c: &str) -> Option<(u8, u8, u8)> {
    let c = c.strip_prefix('#')?;
    if c.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(c, 16).ok()?;
    Some(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let ch = |v: u8| {
        let s = f64::from(v) / 255.0;
        if s <= 0.039_28 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)
}

/// WCAG contrast ratio of two `#rrggbb` colours (1–21); 1 when either does not parse.
pub fn contrast(a: &str, b: &str) -> f64 {
    match (hex_rgb(a), hex_rgb(b)) {
        (Some(a), Some(b)) => {
            let (la, lb) = (luminance(a), luminance(b));
            let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
            (hi + 0.05) / (lo + 0.05)
        }
        _ => 1.0,
    }
}

/// The brand colours made readable: text on the brand colour keeps at least 4.5:1 (else black or
/// white, whichever reads better), and links use the brand colour only where it reads on white.
pub(crate) fn palette(config: &Config) -> (String, String, String) {
    let brand = config.company.primary_color.to_ascii_lowercase();
    let brand = if hex_rgb(&brand).is_some() {
        brand
    } else {
        "#3b5bdb".to_string()
    };
    let mut on = config.company.on_primary_color.to_ascii_lowercase();
    if contrast(&brand, &on) < 4.5 {
        on = if contrast(&brand, "#000000") >= contrast(&brand, "#ffffff") {
            "#000000".into()
        } else {
            "#ffffff".into()
        };
    }
    let link = if contrast(&brand, "#ffffff") >= 4.5 {
        brand.clone()
    } else {
        "#1f2937".into()
    };
    (brand, on, link)
}

fn csp_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The stylesheet and the Content-Security-Policy of every page, built once from the config.
#[derive(Debug, Clone)]
pub struct Assets {
    pub style: String,
    /// For pages with the comment script.
    pub csp_with_script: String,
    /// For every other page: no script at all.
    pub csp: String,
}

impl Assets {
    pub fn new(config: &Config) -> Assets {
        let (brand, on, link) = palette(config);
        let style = format!(":root{{--brand:{brand};--on-brand:{on};--link:{link}}}{BASE_CSS}");
        let style_hash = csp_hash(&style);
        let common = "default-src 'none'; img-src 'self' data:; base-uri 'none'; \
                      form-action 'self'; frame-ancestors 'none'";
        Assets {
            csp_with_script: format!(
                "{common}; style-src {style_hash}; script-src {}; connect-src 'self'",
                csp_hash(SCRIPT)
            ),
            csp: format!("{common}; style-src {style_hash}"),
            style,
        }
    }
}

/// What every page has: language, company, title, stylesheet, footer.
pub struct Chrome<'a> {
    pub locale: Locale,
    pub lang: &'static str,
    pub company: &'a str,
    pub title: String,
    pub style: &'a str,
    pub footer: String,
}

impl<'a> Chrome<'a> {
    fn new(
        assets: &'a Assets,
        config: &'a Config,
        locale: Locale,
        title_key: &'static str,
    ) -> Self {
        Chrome {
            locale,
            lang: locale.code(),
            company: &config.company.name,
            title: i18n::t(locale, title_key).to_string(),
            style: &assets.style,
            footer: i18n::tf(
                locale,
                "page.footer",
                &[("company", config.company.name.as_str())],
            ),
        }
    }

    /// A message of the page's language (for templates).
    pub fn t(&self, key: &'static str) -> &'static str {
        i18n::t(self.locale, key)
    }
}

fn category_class(c: Category) -> &'static str {
    match c {
        Category::Promoter => "promoter",
        Category::Passive => "passive",
        Category::Detractor => "detractor",
    }
}

/// One radio of the 0–10 scale.
pub struct ScoreOption {
    pub value: u8,
    pub checked: bool,
    pub category: &'static str,
}

#[derive(Template)]
#[template(path = "pages/answer.html")]
struct AnswerPage<'a> {
    c: Chrome<'a>,
    question: String,
    options: Vec<ScoreOption>,
    low: String,
    high: String,
    reason: String,
    comment: String,
    max_chars: usize,
    hint: String,
    notice: Option<String>,
    error: Option<String>,
    autocommit: bool,
    delay_ms: u32,
    rendered_at: i64,
    script: &'static str,
}

/// What the comment page's form holds when it is shown again.
#[derive(Debug, Clone, Default)]
pub struct AnswerForm {
    /// The score to pre-select (`?s=` on the link, or what was posted).
    pub score: Option<Score>,
    /// The comment as typed (`None`: show the stored one).
    pub comment: Option<String>,
    pub problem: Option<FormProblem>,
}

/// The comment page. It commits by itself (after the delay) only when a score is pre-selected and
/// the send has no counted answer yet.
pub fn answer_page(
    assets: &Assets,
    config: &Config,
    view: &AnswerView,
    form: &AnswerForm,
    now: Timestamp,
) -> Result<String, askama::Error> {
    let locale = view.locale();
    let stored = view.response.as_ref();
    let selected = form
        .score
        .or_else(|| stored.filter(|r| r.counted()).map(|r| r.score));
    let comment = form
        .comment
        .clone()
        .or_else(|| stored.and_then(|r| r.comment.clone()))
        .unwrap_or_default();
    let max = config.capture.comment_max_chars;
    let notice = stored.filter(|r| r.source == AnswerSource::Human).map(|r| {
        i18n::tf(
            locale,
            "answer.answered",
            &[("score", &r.score.to_string())],
        )
    });
    let error = form.problem.map(|p| match p {
        FormProblem::CommentTooLong { max } => i18n::tf(
            locale,
            "answer.comment_too_long",
            &[
                ("count", &comment.chars().count().to_string()),
                ("max", &max.to_string()),
            ],
        ),
        _ => i18n::t(locale, "answer.missing_score").to_string(),
    });
    AnswerPage {
        c: Chrome::new(assets, config, locale, "answer.title"),
        question: i18n::tf(
            locale,
            "nps.question",
            &[("company", config.company.name.as_str())],
        ),
        options: Score::all()
            .map(|s| ScoreOption {
                value: s.value(),
                checked: selected == Some(s),
                category: category_class(s.category()),
            })
            .collect(),
        low: i18n::t(locale, "scale.low").to_string(),
        high: i18n::t(locale, "scale.high").to_string(),
        reason: i18n::t(locale, "nps.reason").to_string(),
        hint: i18n::tf(locale, "answer.hint", &[("max", &max.to_string())]),
        comment,
        max_chars: max,
        notice,
        error,
        autocommit: selected.is_some() && form.problem.is_none() && !view.answered(),
        delay_ms: config.capture.commit_delay_ms,
        rendered_at: now.as_millisecond(),
        script: SCRIPT,
    }
    .render()
}

#[derive(Template)]
#[template(path = "pages/thanks.html")]
struct ThanksPage<'a> {
    c: Chrome<'a>,
    heading: String,
    body: String,
    score_line: Option<String>,
    comment: Option<String>,
    change_href: String,
}

/// The thank-you page, with the answer as saved and a link back to change it.
pub fn thanks_page(
    assets: &Assets,
    config: &Config,
    view: &AnswerView,
    token: &str,
) -> Result<String, askama::Error> {
    let locale = view.locale();
    let name = view
        .contact
        .as_ref()
        .and_then(|c| c.name.as_deref())
        .and_then(|n| n.split_whitespace().next());
    let heading = match name {
        Some(n) => i18n::tf(locale, "thanks.heading_named", &[("name", n)]),
        None => i18n::t(locale, "thanks.heading").to_string(),
    };
    let counted = view.response.as_ref().filter(|r| r.counted());
    ThanksPage {
        c: Chrome::new(assets, config, locale, "thanks.title"),
        heading,
        body: i18n::tf(
            locale,
            "thanks.body",
            &[("company", config.company.name.as_str())],
        ),
        score_line: counted.map(|r| {
            i18n::tf(
                locale,
                "thanks.your_score",
                &[("score", &r.score.to_string())],
            )
        }),
        comment: counted.and_then(|r| r.comment.clone()),
        change_href: format!("/a/{token}"),
    }
    .render()
}

#[derive(Template)]
#[template(path = "pages/unsubscribe.html")]
struct UnsubscribePage<'a> {
    c: Chrome<'a>,
    heading: String,
    body: String,
    button: Option<String>,
}

/// `a***@example.com`: enough for the person to recognise, not enough to read off a shared screen.
pub fn mask_email(email: &Email) -> String {
    let s = email.as_str();
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// The unsubscribe confirmation (with its button) or, once done, the confirmation that it is.
pub fn unsubscribe_page(
    assets: &Assets,
    config: &Config,
    view: &UnsubscribeView,
    done: bool,
) -> Result<String, askama::Error> {
    let locale = view.locale;
    let company = config.company.name.as_str();
    let page = if done || view.already {
        UnsubscribePage {
            c: Chrome::new(assets, config, locale, "unsubscribed.title"),
            heading: i18n::t(locale, "unsubscribed.heading").to_string(),
            body: i18n::tf(locale, "unsubscribed.body", &[("company", company)]),
            button: None,
        }
    } else {
        let email = view
            .contact
            .as_ref()
            .map(|c| mask_email(&c.email))
            .unwrap_or_default();
        UnsubscribePage {
            c: Chrome::new(assets, config, locale, "unsubscribe.title"),
            heading: i18n::tf(locale, "unsubscribe.heading", &[("company", company)]),
            body: i18n::tf(locale, "unsubscribe.body", &[("email", &email)]),
            button: Some(i18n::t(locale, "unsubscribe.button").to_string()),
        }
    };
    page.render()
}

#[derive(Template)]
#[template(path = "pages/follow_up.html")]
struct FollowUpPage<'a> {
    c: Chrome<'a>,
    heading: String,
    rows: Vec<(String, String)>,
    comment: Option<String>,
    flagged: bool,
    open: bool,
    closed_line: Option<String>,
    note: Option<String>,
    name_value: String,
    note_value: String,
    error: Option<String>,
    max_note: usize,
}

/// What the follow-up form holds when it is shown again.
#[derive(Debug, Clone, Default)]
pub struct FollowUpForm {
    pub name: String,
    pub note: String,
    pub problem: Option<FormProblem>,
}

fn local_time(config: &Config, t: Timestamp) -> String {
    t.to_zoned(config.company.time_zone.tz())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// A duration for people: minutes, hours or days.
pub fn human_duration(locale: Locale, d: jiff::SignedDuration) -> String {
    let mins = (d.as_secs().max(0) + 59) / 60;
    let (n, key) = if mins < 120 {
        (mins, "duration.minutes")
    } else if mins < 48 * 60 {
        (mins / 60, "duration.hours")
    } else {
        (mins / (24 * 60), "duration.days")
    };
    i18n::tf(locale, key, &[("n", &n.to_string())])
}

/// The follow-up page: the answer and contact, and the "done" form while it is open.
pub fn follow_up_page(
    assets: &Assets,
    config: &Config,
    locale: Locale,
    view: &FollowUpView,
    form: &FollowUpForm,
) -> Result<String, askama::Error> {
    let f = &view.follow_up;
    let t = |k: &'static str| i18n::t(locale, k).to_string();
    let who = view
        .contact
        .as_ref()
        .map(Contact::display_name)
        .unwrap_or_else(|| t("followup.erased"));
    let response = view.response.as_ref();
    let score = response.map(|r| r.score).unwrap_or(f.score);
    let category = match score.category() {
        Category::Promoter => t("nps.promoter"),
        Category::Passive => t("nps.passive"),
        Category::Detractor => t("nps.detractor"),
    };
    let mut rows = vec![(t("followup.contact"), who.clone())];
    if let Some(c) = &view.contact {
        rows.push((t("followup.email"), c.email.to_string()));
    }
    if let Some(a) = response
        .and_then(|r| r.account.as_ref())
        .or(f.account.as_ref())
    {
        rows.push((t("followup.account"), a.as_str().to_string()));
    }
    rows.push((t("followup.score"), format!("{score} ({category})")));
    if let Some(r) = response {
        rows.push((t("followup.answered_at"), local_time(config, r.answered_at)));
    }
    rows.push((t("followup.opened_at"), local_time(config, f.opened_at)));
    rows.push((
        t("followup.status"),
        match f.status {
            FollowUpStatus::Open => t("followup.status_open"),
            FollowUpStatus::Done => t("followup.status_done"),
        },
    ));
    let closed_line = match (f.status, f.closed_at) {
        (FollowUpStatus::Done, Some(at)) => {
            let by = match f.closed_by.as_deref() {
                Some(crate::alerts::SYSTEM_CLOSER) | None => t("followup.closed_by_pulso"),
                Some(name) => name.to_string(),
            };
            let mut line = i18n::tf(
                locale,
                "followup.done_by",
                &[("name", &by), ("date", &local_time(config, at))],
            );
            if let Some(d) = f.time_to_close() {
                line.push(' ');
                line.push_str(&i18n::tf(
                    locale,
                    "followup.time_to_close",
                    &[("duration", &human_duration(locale, d))],
                ));
            }
            Some(line)
        }
        _ => None,
    };
    let max_note = config.capture.comment_max_chars;
    let error = form.problem.map(|p| match p {
        FormProblem::NameMissing => t("followup.name_missing"),
        FormProblem::NameTooLong { max } => i18n::tf(
            locale,
            "followup.name_too_long",
            &[("max", &max.to_string())],
        ),
        FormProblem::NoteTooLong { max } | FormProblem::CommentTooLong { max } => i18n::tf(
            locale,
            "followup.note_too_long",
            &[
                ("count", &form.note.chars().count().to_string()),
                ("max", &max.to_string()),
            ],
        ),
        FormProblem::MissingScore => t("followup.name_missing"),
    });
    FollowUpPage {
        c: Chrome::new(assets, config, locale, "followup.title"),
        heading: i18n::tf(locale, "followup.heading", &[("name", &who)]),
        rows,
        comment: response.and_then(|r| r.comment.clone()),
        flagged: response.is_some_and(|r| !r.counted()),
        open: f.status == FollowUpStatus::Open,
        closed_line,
        note: f.note.clone(),
        name_value: form.name.clone(),
        note_value: form.note.clone(),
        error,
        max_note,
    }
    .render()
}

/// Every error page there is. `functions/capture` decides which one a failure shows, with which
/// status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPage {
    Malformed,
    Forged,
    Expired,
    WrongPurpose,
    UnknownSurvey,
    UnknownFollowUp,
    UnknownReport,
    BadScore,
    TooLarge,
    NotFound,
    MethodNotAllowed,
    Unavailable,
}

impl ErrorPage {
    fn key(self) -> &'static str {
        match self {
            ErrorPage::Malformed => "malformed",
            ErrorPage::Forged => "forged",
            ErrorPage::Expired => "expired",
            ErrorPage::WrongPurpose => "wrong_purpose",
            ErrorPage::UnknownSurvey => "unknown_survey",
            ErrorPage::UnknownFollowUp => "unknown_follow_up",
            ErrorPage::UnknownReport => "unknown_report",
            ErrorPage::BadScore => "bad_score",
            ErrorPage::TooLarge => "too_large",
            ErrorPage::NotFound => "not_found",
            ErrorPage::MethodNotAllowed => "method",
            ErrorPage::Unavailable => "unavailable",
        }
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorView<'a> {
    c: Chrome<'a>,
    heading: String,
    body: String,
    status_line: String,
}

/// An error page in `locale`.
pub fn error_page(
    assets: &Assets,
    config: &Config,
    locale: Locale,
    page: ErrorPage,
    status: u16,
) -> Result<String, askama::Error> {
    let key = page.key();
    ErrorView {
        c: Chrome::new(assets, config, locale, "error.title"),
        heading: i18n::t(locale, &format!("error.{key}.heading")).to_string(),
        body: i18n::tf(
            locale,
            &format!("error.{key}.body"),
            &[("company", config.company.name.as_str())],
        ),
        status_line: i18n::tf(locale, "error.status", &[("status", &status.to_string())]),
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_brand_colours_read_well() {
        assert!(contrast("#3b5bdb", "#ffffff") >= 4.5);
        assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 0.01);
    }

    #[test]
    fn unreadable_brand_colours_are_fixed() {
        let mut config = Config::default();
        config.company.primary_color = "#ffeb3b".into(); // yellow
        config.company.on_primary_color = "#ffffff".into();
        let (brand, on, link) = palette(&config);
        assert_eq!(brand, "#ffeb3b");
        assert_eq!(on, "#000000");
        assert_eq!(link, "#1f2937");
    }

    #[test]
    fn the_csp_allows_exactly_the_inline_style_and_script() {
        let assets = Assets::new(&Config::default());
        assert!(assets.csp.contains(&csp_hash(&assets.style)));
        assert!(!assets.csp.contains("script-src"));
        assert!(assets.csp_with_script.contains(&csp_hash(SCRIPT)));
        assert!(!assets.csp_with_script.contains("unsafe-inline"));
    }

    #[test]
    fn emails_are_masked() {
        let e = Email::parse("ana.garcia@example.com").unwrap();
        assert_eq!(mask_email(&e), "a***@example.com");
    }

    #[test]
    fn durations_read_naturally() {
        let d = jiff::SignedDuration::from_mins(90);
        assert_eq!(human_duration(Locale::En, d), "90 minutes");
        assert_eq!(
            human_duration(Locale::Es, jiff::SignedDuration::from_hours(30)),
            "30 horas"
        );
        assert_eq!(
            human_duration(Locale::En, jiff::SignedDuration::from_hours(72)),
            "3 days"
        );
    }
}
