//! The survey email and its reminder: multipart HTML + plain text, in the send's language, with
//! the question, eleven colour-coded score buttons (each a signed link), the scale's ends labelled,
//! a visible unsubscribe link and RFC 8058 one-click unsubscribe headers.
//!
//! Everything that is the same for every contact (the catalog texts, the button labels and colours)
//! is prepared once per [`SurveyRenderer`]; per email only the two tokens, the greeting and the
//! MIME envelope are made. Templates: `templates/survey/email.{html,txt}`.

use askama::Template;
use jiff::Timestamp;

use crate::config::Config;
use crate::i18n::{t, tf};
use crate::links;
use crate::mail::{self, Content, Envelope, MailBuildError, Unsubscribe};
use crate::model::{Contact, SurveyKind, SurveySend};
use crate::nps::Category;
use crate::ports::OutgoingEmail;
use crate::token::SigningKeys;
use crate::types::{Locale, Score};

/// Which of the two emails of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// The survey itself.
    Survey,
    /// The one reminder to a non-responder: same buttons, reminder wording.
    Reminder,
}

impl EmailKind {
    /// The `X-Pulso-Kind` tag and Message-ID prefix.
    pub fn tag(self) -> &'static str {
        match self {
            EmailKind::Survey => "survey",
            EmailKind::Reminder => "reminder",
        }
    }
}

/// Button colours: background and text, per category. Each pair has a contrast ratio of at least
/// 4.5:1 (WCAG AA for normal text; checked by a test).
pub const DETRACTOR_COLORS: (&str, &str) = ("#c92a2a", "#ffffff");
pub const PASSIVE_COLORS: (&str, &str) = ("#fab005", "#212529");
pub const PROMOTER_COLORS: (&str, &str) = ("#237a3b", "#ffffff");

fn colors(score: Score) -> (&'static str, &'static str) {
    match Category::of(score) {
        Category::Detractor => DETRACTOR_COLORS,
        Category::Passive => PASSIVE_COLORS,
        Category::Promoter => PROMOTER_COLORS,
    }
}

/// One score button as the templates see it.
pub struct Button<'a> {
    pub score: u8,
    pub url: String,
    pub label: &'a str,
    pub bg: &'static str,
    pub fg: &'static str,
}

#[derive(Template)]
#[template(path = "survey/email.html")]
struct HtmlEmail<'a> {
    lang: &'a str,
    subject: &'a str,
    preheader: &'a str,
    company: &'a str,
    primary: &'a str,
    on_primary: &'a str,
    greeting: &'a str,
    intro: &'a str,
    question: &'a str,
    choose: &'a str,
    buttons: &'a [Button<'a>],
    low: &'a str,
    high: &'a str,
    instructions: &'a str,
    signature: &'a str,
    footer_why: &'a str,
    footer_unsubscribe: &'a str,
    unsubscribe: &'a str,
    unsubscribe_url: &'a str,
}

#[derive(Template)]
#[template(path = "survey/email.txt")]
struct TextEmail<'a> {
    greeting: &'a str,
    intro: &'a str,
    question: &'a str,
    choose: &'a str,
    buttons: &'a [Button<'a>],
    instructions: &'a str,
    signature: &'a str,
    footer_why: &'a str,
    footer_unsubscribe: &'a str,
    unsubscribe: &'a str,
    unsubscribe_url: &'a str,
}

/// The texts of one language, filled with the company's name once.
struct Texts {
    locale: Locale,
    subject: String,
    reminder_subject: String,
    preheader: String,
    greeting: String,
    anonymous: String,
    intro_relational: String,
    intro_transactional: String,
    reminder_intro: String,
    question: String,
    choose: String,
    instructions: String,
    signature: String,
    footer_why: String,
    footer_unsubscribe: String,
    unsubscribe: String,
    low: String,
    high: String,
    labels: Vec<String>,
}

impl Texts {
    fn new(locale: Locale, company: &str) -> Texts {
        let c = [("company", company)];
        let low_meaning = t(locale, "scale.low");
        let high_meaning = t(locale, "scale.high");
        let labels = Score::all()
            .map(|s| {
                let n = s.value().to_string();
                match s.value() {
                    0 => tf(
                        locale,
                        "survey.button.end",
                        &[("score", &n), ("meaning", low_meaning)],
                    ),
                    10 => tf(
                        locale,
                        "survey.button.end",
                        &[("score", &n), ("meaning", high_meaning)],
                    ),
                    _ => tf(locale, "survey.button", &[("score", &n)]),
                }
            })
            .collect();
        Texts {
            locale,
            subject: tf(locale, "survey.subject", &c),
            reminder_subject: tf(locale, "survey.reminder.subject", &c),
            preheader: tf(locale, "survey.preheader", &c),
            greeting: t(locale, "survey.greeting").to_string(),
            anonymous: t(locale, "survey.greeting.anonymous").to_string(),
            intro_relational: tf(locale, "survey.intro.relational", &c),
            intro_transactional: tf(locale, "survey.intro.transactional", &c),
            reminder_intro: tf(locale, "survey.reminder.intro", &c),
            question: tf(locale, "nps.question", &c),
            choose: t(locale, "survey.choose").to_string(),
            instructions: t(locale, "survey.instructions").to_string(),
            signature: tf(locale, "survey.signature", &c),
            footer_why: tf(locale, "survey.footer.why", &c),
            footer_unsubscribe: t(locale, "survey.footer.unsubscribe").to_string(),
            unsubscribe: t(locale, "unsubscribe").to_string(),
            low: tf(locale, "survey.scale.low", &[("meaning", low_meaning)]),
            high: tf(locale, "survey.scale.high", &[("meaning", high_meaning)]),
            labels,
        }
    }
}

/// Builds survey and reminder emails for one configuration. Make one per dispatch run (or keep
/// one): it holds everything that does not change from contact to contact.
pub struct SurveyRenderer {
    from: String,
    reply_to: Option<String>,
    company: String,
    primary: String,
    on_primary: String,
    texts: Vec<Texts>,
}

impl SurveyRenderer {
    pub fn new(config: &Config) -> SurveyRenderer {
        SurveyRenderer {
            from: config.email.from.clone(),
            reply_to: config.email.reply_to.clone(),
            company: config.company.name.clone(),
            primary: config.company.primary_color.clone(),
            on_primary: config.company.on_primary_color.clone(),
            texts: Locale::ALL
                .iter()
                .map(|l| Texts::new(*l, &config.company.name))
                .collect(),
        }
    }

    fn texts(&self, locale: Locale) -> &Texts {
        self.texts
            .iter()
            .find(|t| t.locale == locale)
            .unwrap_or(&self.texts[0])
    }

    /// The whole message for `send` to `contact`, its links signed at `now`.
    pub fn render(
        &self,
        config: &Config,
        keys: &SigningKeys,
        send: &SurveySend,
        contact: &Contact,
        kind: EmailKind,
        now: Timestamp,
    ) -> Result<OutgoingEmail, MailBuildError> {
        let tx = self.texts(send.locale);
        let token = links::answer_token(config, keys, &send.id, now);
        let buttons: Vec<Button<'_>> = Score::all()
            .map(|s| {
                let (bg, fg) = colors(s);
                Button {
                    score: s.value(),
                    url: links::score_url(config, &token, s),
                    label: &tx.labels[usize::from(s.value())],
                    bg,
                    fg,
                }
            })
            .collect();
        let unsubscribe_url = links::unsubscribe_url(config, keys, &send.id, now);
        let greeting = match contact.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => crate::i18n::fill(&tx.greeting, &[("name", name)]),
            _ => tx.anonymous.clone(),
        };
        let (subject, intro) = match (kind, send.kind) {
            (EmailKind::Reminder, _) => (&tx.reminder_subject, &tx.reminder_intro),
            (EmailKind::Survey, SurveyKind::Relational) => (&tx.subject, &tx.intro_relational),
            (EmailKind::Survey, SurveyKind::Transactional) => {
                (&tx.subject, &tx.intro_transactional)
            }
        };
        let html = HtmlEmail {
            lang: tx.locale.code(),
            subject,
            preheader: &tx.preheader,
            company: &self.company,
            primary: &self.primary,
            on_primary: &self.on_primary,
            greeting: &greeting,
            intro,
            question: &tx.question,
            choose: &tx.choose,
            buttons: &buttons,
            low: &tx.low,
            high: &tx.high,
            instructions: &tx.instructions,
            signature: &tx.signature,
            footer_why: &tx.footer_why,
            footer_unsubscribe: &tx.footer_unsubscribe,
            unsubscribe: &tx.unsubscribe,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()
        .map_err(|e| MailBuildError::Build(e.to_string()))?;
        let text = TextEmail {
            greeting: &greeting,
            intro,
            question: &tx.question,
            choose: &tx.choose,
            buttons: &buttons,
            instructions: &tx.instructions,
            signature: &tx.signature,
            footer_why: &tx.footer_why,
            footer_unsubscribe: &tx.footer_unsubscribe,
            unsubscribe: &tx.unsubscribe,
            unsubscribe_url: &unsubscribe_url,
        }
        .render()
        .map_err(|e| MailBuildError::Build(e.to_string()))?;
        // lettre wants CRLF line ends and otherwise inserts each CR by moving the rest of the
        // body: giving them up front makes building the message several times faster.
        let (html, text) = (crlf(&html), crlf(&text));
        let to = [contact.email.clone()];
        let message_id = format!("{}.{}", kind.tag(), send.id.as_str());
        mail::build(
            &Envelope {
                from: &self.from,
                to: &to,
                reply_to: self.reply_to.as_deref(),
                message_id: &message_id,
                date: now,
                tag: kind.tag(),
                reference: send.id.as_str().to_string(),
            },
            &Content {
                subject: subject.clone(),
                text,
                html,
                images: Vec::new(),
            },
            Some(&Unsubscribe {
                https: unsubscribe_url.clone(),
                mailto: links::unsubscribe_mailto(config, &send.id),
            }),
        )
    }
}

/// `s` with every line ending as CRLF.
fn crlf(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 32);
    let mut rest = s;
    while let Some(i) = rest.find('\n') {
        let line = &rest[..i];
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push_str("\r\n");
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{ReminderState, SendStatus};
    use crate::token::Purpose;
    use crate::types::{Attributes, ContactId, Email, SendId};

    fn luminance(hex: &str) -> f64 {
        let ch = |i: usize| {
            let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(1) + 0.7152 * ch(3) + 0.0722 * ch(5)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    pub(crate) fn contact(name: Option<&str>, locale: Locale) -> Contact {
        let id = ContactId::parse("c-1").unwrap();
        Contact {
            slot: crate::model::slot_of(&id),
            id,
            email: Email::parse("ana@example.com").unwrap(),
            name: name.map(String::from),
            locale,
            account: None,
            time_zone: None,
            attributes: Attributes::new(),
            customer_since: None,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            last_surveyed_at: None,
            unsubscribed_at: None,
            version: 1,
        }
    }

    pub(crate) fn send(locale: Locale, kind: SurveyKind) -> SurveySend {
        SurveySend {
            id: SendId::for_key("wave:c-1:3"),
            contact_id: ContactId::parse("c-1").unwrap(),
            kind,
            touchpoint: None,
            key: "wave:c-1:3".into(),
            locale,
            created_at: Timestamp::UNIX_EPOCH,
            due_at: Timestamp::UNIX_EPOCH,
            status: SendStatus::Scheduled,
            reminder: ReminderState::None,
            message_id: None,
            answered_at: None,
            next_action_at: None,
            version: 1,
        }
    }

    fn keys() -> SigningKeys {
        SigningKeys::single("k1", &[7u8; 32]).unwrap()
    }

    fn render(name: Option<&str>, locale: Locale, kind: EmailKind) -> String {
        let mut config = Config::default();
        config.company.name = "Acme & Co".into();
        let r = SurveyRenderer::new(&config);
        let now: Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
        let m = r
            .render(
                &config,
                &keys(),
                &send(locale, SurveyKind::Relational),
                &contact(name, locale),
                kind,
                now,
            )
            .unwrap();
        String::from_utf8(m.raw).unwrap()
    }

    #[test]
    fn line_ends_become_crlf() {
        assert_eq!(crlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
        assert_eq!(crlf("no end"), "no end");
    }

    #[test]
    fn button_colours_have_enough_contrast() {
        for (bg, fg) in [DETRACTOR_COLORS, PASSIVE_COLORS, PROMOTER_COLORS] {
            let c = contrast(bg, fg);
            assert!(c >= 4.5, "{bg} on {fg}: {c:.2}");
        }
    }

    #[test]
    fn every_label_and_text_comes_from_the_catalog_in_both_languages() {
        let config = Config::default();
        let r = SurveyRenderer::new(&config);
        for l in Locale::ALL {
            let tx = r.texts(l);
            assert_eq!(tx.labels.len(), 11);
            assert!(tx.labels[0].contains(t(l, "scale.low")));
            assert!(tx.labels[10].contains(t(l, "scale.high")));
            for s in [
                &tx.subject,
                &tx.question,
                &tx.intro_relational,
                &tx.reminder_intro,
                &tx.low,
                &tx.high,
            ] {
                assert!(!s.contains("survey.") && !s.contains('{'), "{s}");
            }
        }
        assert_ne!(r.texts(Locale::En).subject, r.texts(Locale::Es).subject);
    }

    #[test]
    fn the_message_carries_both_parts_signed_links_and_unsubscribe_headers() {
        let raw = render(Some("Ana"), Locale::En, EmailKind::Survey);
        let msg = mail_text(&raw);
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("Message-ID: <survey.s"));
        assert!(raw.contains("multipart/alternative"));
        assert!(msg.contains("How likely is it that you would recommend Acme &#38; Co"));
        assert!(msg.contains("aria-label=\"0 out of 10: Not at all likely\""));
        assert!(msg.contains("aria-label=\"10 out of 10: Extremely likely\""));
        assert!(!msg.contains("<script") && !msg.contains("<img"));
        let k = keys();
        let now: Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
        let mut seen = 0;
        for s in 0..=10 {
            let needle = format!("?s={s}\"");
            let end = msg.find(&needle).unwrap();
            let start = msg[..end].rfind("/a/").unwrap() + 3;
            let token = &msg[start..end];
            assert_eq!(
                k.verify(token, Purpose::Answer, now).unwrap().subject,
                SendId::for_key("wave:c-1:3").as_str()
            );
            seen += 1;
        }
        assert_eq!(seen, 11);
    }

    #[test]
    fn hostile_names_are_escaped_and_reminders_say_so() {
        let raw = render(
            Some("<script>alert(1)</script>"),
            Locale::Es,
            EmailKind::Reminder,
        );
        let msg = mail_text(&raw);
        let html = &msg[msg.find("Content-Type: text/html").unwrap()..];
        assert!(!html.contains("<script>"));
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(msg.contains("Hace unos días"));
        assert!(raw.contains("Message-ID: <reminder.s"));
        assert!(msg.contains("lang=\"es\""));
        let anon = mail_text(&render(None, Locale::En, EmailKind::Survey));
        assert!(anon.contains("Hello,"));
    }

    /// The message with quoted-printable soft breaks undone, for searching.
    fn mail_text(raw: &str) -> String {
        let unfolded = raw.replace("=\r\n", "");
        let mut out = String::with_capacity(unfolded.len());
        let bytes = unfolded.as_bytes();
        let mut i = 0;
        let mut buf = Vec::new();
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(v) = u8::from_str_radix(&unfolded[i + 1..i + 3], 16)
            {
                buf.push(v);
                i += 3;
                continue;
            }
            buf.push(bytes[i]);
            i += 1;
        }
        out.push_str(&String::from_utf8_lossy(&buf));
        out
    }
}
