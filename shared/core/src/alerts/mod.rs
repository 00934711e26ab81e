//! Closing the loop: what follows an answer. One handler, [`on_answer`], runs for every change of
//! an answer — from the DynamoDB stream in AWS (functions/alerts), inline after each save locally
//! ([`InlineLoop`]) — and:
//! - records the signed webhooks of the change ([`webhooks`]);
//! - for an answer that counts and is a detractor's (a passive's too with
//!   `follow_ups.include_passives`) and has no follow-up yet: emails the alert audience and opens
//!   the follow-up (one per send);
//! - when the comment of such an answer is added or changed while its follow-up is open: emails the
//!   audience again, so the alert they act on carries the reason;
//! - when an answer that opened a follow-up turns out automated (a scanner's burst): closes the
//!   follow-up as [`SYSTEM_CLOSER`].
//!
//! An answer that changes from detractor to passive or promoter keeps its follow-up open: the
//! customer was unhappy, and the follow-up page shows the new score.
//!
//! The alert is emailed before the follow-up is recorded: a retry after a failure between the two
//! may email twice, but an alert is never lost.

pub mod inline;
pub mod webhooks;

use askama::Template;

use crate::config::Config;
use crate::context::Ctx;
use crate::i18n;
use crate::links;
use crate::mail;
use crate::model::{Contact, FollowUp, FollowUpStatus, Response, SurveyKind, WebhookDelivery};
use crate::nps::Category;
use crate::ports::{MailError, Mailer, Store, StoreError};
use crate::types::ContactId;
use crate::types::Locale;

pub use inline::InlineLoop;

/// `closed_by` of follow-ups Pulso closed itself (their answer was flagged as automated).
pub const SYSTEM_CLOSER: &str = "pulso";
/// Earlier answers shown in an alert.
const EARLIER_SHOWN: usize = 5;
/// Longest excerpt of an earlier comment in an alert.
const EARLIER_EXCERPT: usize = 160;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    #[error("could not build the alert email: {0}")]
    Build(String),
    #[error("link-signing keys: {0}")]
    Keys(#[from] crate::token::KeysUnavailable),
}

/// Whether an answer calls for a follow-up: it counts, and it is a detractor's (or a passive's,
/// when configured).
pub fn alert_worthy(config: &Config, r: &Response) -> bool {
    r.counted()
        && match r.category() {
            Category::Detractor => true,
            Category::Passive => config.follow_ups.include_passives,
            Category::Promoter => false,
        }
}

/// What [`on_answer`] did.
#[derive(Debug, Clone, Default)]
pub struct AnswerEffects {
    pub follow_up_opened: bool,
    pub follow_up_closed: bool,
    pub alerts_emailed: usize,
    /// Webhook deliveries recorded, due now (the caller posts them if it can).
    pub deliveries: Vec<WebhookDelivery>,
}

/// Handles one change of an answer (see the module doc). `before` is the answer as it was before
/// the change (`None` for a first answer). Idempotent except that a retried alert may be emailed
/// twice.
pub async fn on_answer<S: Store, M: Mailer, A>(
    ctx: &Ctx<S, M, A>,
    before: Option<&Response>,
    after: &Response,
) -> Result<AnswerEffects, AlertError> {
    let mut fx = AnswerEffects {
        deliveries: webhooks::enqueue_response(ctx, before, after).await?,
        ..AnswerEffects::default()
    };
    // Decide on the answer as it is now, not as this change left it: changes handled out of
    // order (inline, concurrent requests) then still end where the last one leaves them. Where
    // this change may be alerted, the contact and their earlier answers are read in the same
    // round trip (a change that turns out not to be alerted has read them for nothing).
    let may_alert = alert_worthy(&ctx.config, after)
        && !Config::recipients(&ctx.config.audiences.alerts).is_empty();
    let ((current, existing), named) =
        futures::try_join!(ctx.store.answer_and_follow_up(&after.send_id), async {
            match may_alert {
                true => Named::read(ctx, after.contact_id.as_ref()).await.map(Some),
                false => Ok(None),
            }
        })?;
    let current = current.unwrap_or_else(|| after.clone());
    let named = named.filter(|n| n.contact_id == current.contact_id);
    match existing {
        None if alert_worthy(&ctx.config, &current) => {
            if send_alert(ctx, &current, false, named).await? {
                fx.alerts_emailed += 1;
            }
            let now = ctx.now();
            let follow_up = FollowUp {
                send_id: current.send_id.clone(),
                contact_id: current.contact_id.clone(),
                score: current.score,
                account: current.account.clone(),
                opened_at: now,
                opened_day: ctx.today(),
                status: FollowUpStatus::Open,
                closed_at: None,
                closed_by: None,
                note: None,
                version: 1,
            };
            match ctx.store.put_follow_up(&follow_up).await {
                Ok(()) => {
                    fx.follow_up_opened = true;
                    tracing::info!(send = %current.send_id, score = current.score.value(), "follow-up opened");
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Some(f) if f.status == FollowUpStatus::Open && alert_worthy(&ctx.config, &current) => {
            let comment_changed = before.is_some_and(|b| alert_worthy(&ctx.config, b))
                && before.is_some_and(|b| b.comment != after.comment)
                && after.has_comment()
                && current.comment == after.comment;
            if comment_changed && send_alert(ctx, &current, true, named).await? {
                fx.alerts_emailed += 1;
            }
        }
        Some(f) if f.status == FollowUpStatus::Open && !current.counted() => {
            let mut closed = f.clone();
            let now = ctx.now();
            closed.status = FollowUpStatus::Done;
            closed.closed_at = Some(now);
            closed.closed_by = Some(SYSTEM_CLOSER.to_string());
            closed.version += 1;
            match ctx.store.put_follow_up(&closed).await {
                Ok(()) => {
                    fx.follow_up_closed = true;
                    tracing::info!(send = %f.send_id, "follow-up closed: its answer was flagged as automated");
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        _ => {}
    }
    Ok(fx)
}

/// One earlier answer in an alert.
pub struct EarlierAnswer {
    pub date: String,
    pub score: String,
    pub comment: String,
}

/// Everything an alert email says, already in the audience's language.
pub struct AlertMail {
    pub lang: &'static str,
    pub company: String,
    pub brand: String,
    pub on_brand: String,
    pub subject: String,
    pub heading: String,
    pub intro: String,
    pub rows: Vec<(String, String)>,
    pub comment_label: String,
    pub comment: Option<String>,
    pub no_comment: String,
    pub button: String,
    pub link: String,
    pub link_hint: String,
    pub earlier_title: String,
    pub earlier: Vec<EarlierAnswer>,
    pub no_earlier: String,
    pub footer: String,
}

#[derive(Template)]
#[template(path = "alerts/alert.html")]
struct AlertHtml<'a> {
    m: &'a AlertMail,
}

#[derive(Template)]
#[template(path = "alerts/alert.txt")]
struct AlertText<'a> {
    m: &'a AlertMail,
}

fn category_name(locale: Locale, c: Category) -> &'static str {
    match c {
        Category::Promoter => i18n::t(locale, "nps.promoter"),
        Category::Passive => i18n::t(locale, "nps.passive"),
        Category::Detractor => i18n::t(locale, "nps.detractor"),
    }
}

fn excerpt(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut s: String = one_line.chars().take(max).collect();
        s.push('…');
        s
    }
}

/// Who an alert names: the answer's contact and their answers, as read for it.
#[derive(Debug, Clone)]
pub struct Named {
    /// The contact they were read for.
    pub contact_id: Option<ContactId>,
    pub contact: Option<Contact>,
    /// The contact's answers (the alerted one among them, or not).
    pub answers: Vec<Response>,
}

impl Named {
    /// The contact and their answers: two independent reads, sent together.
    pub async fn read<S: Store, M, A>(
        ctx: &Ctx<S, M, A>,
        contact_id: Option<&ContactId>,
    ) -> Result<Named, StoreError> {
        let (contact, answers) = match contact_id {
            Some(id) => {
                futures::try_join!(ctx.store.contact(id), ctx.store.responses_of_contact(id))?
            }
            None => (None, Vec::new()),
        };
        Ok(Named {
            contact_id: contact_id.cloned(),
            contact,
            answers,
        })
    }
}

/// Builds the alert for `answer` (an update alert when `update`), with the follow-up link, naming
/// `named` (read here when `None` or read for another contact).
pub async fn alert_mail<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    answer: &Response,
    update: bool,
    named: Option<Named>,
) -> Result<AlertMail, AlertError> {
    let config = &ctx.config;
    let locale = config.audience_locale(&config.audiences.alerts);
    let t = |k: &'static str| i18n::t(locale, k).to_string();
    let named = match named.filter(|n| n.contact_id == answer.contact_id) {
        Some(n) => n,
        None => Named::read(ctx, answer.contact_id.as_ref()).await?,
    };
    let (contact, earlier) = (named.contact, named.answers);
    let keys = ctx.keys.get().await?;
    let who = contact
        .as_ref()
        .map(Contact::display_name)
        .unwrap_or_else(|| t("alert.someone"));
    let score = answer.score.to_string();
    let category = category_name(locale, answer.category());
    let tz = config.company.time_zone.tz();
    let when = |ts: jiff::Timestamp| {
        ts.to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let mut rows = vec![(t("alert.contact"), who.clone())];
    if let Some(c) = &contact {
        rows.push((t("alert.email"), c.email.to_string()));
    }
    if let Some(a) = &answer.account {
        rows.push((t("alert.account"), a.as_str().to_string()));
    }
    rows.push((
        t("alert.survey"),
        match (&answer.kind, &answer.touchpoint) {
            (SurveyKind::Transactional, Some(tp)) => i18n::tf(
                locale,
                "alert.transactional",
                &[("touchpoint", tp.as_str())],
            ),
            _ => t("alert.relational"),
        },
    ));
    rows.push((t("alert.score"), format!("{score} ({category})")));
    rows.push((t("alert.answered_at"), when(answer.answered_at)));
    let mut earlier: Vec<Response> = earlier
        .into_iter()
        .filter(|r| r.send_id != answer.send_id && r.counted())
        .collect();
    earlier.sort_by_key(|r| std::cmp::Reverse(r.answered_at));
    let earlier = earlier
        .iter()
        .take(EARLIER_SHOWN)
        .map(|r| EarlierAnswer {
            date: r.day.to_string(),
            score: format!("{} ({})", r.score, category_name(locale, r.category())),
            comment: r
                .comment
                .as_deref()
                .map(|c| excerpt(c, EARLIER_EXCERPT))
                .unwrap_or_default(),
        })
        .collect();
    let subject_key = if update {
        "alert.subject.update"
    } else if answer.category() == Category::Passive {
        "alert.subject.passive"
    } else {
        "alert.subject.detractor"
    };
    let (brand, on_brand, _) = crate::capture::pages::palette(config);
    let company = config.company.name.clone();
    Ok(AlertMail {
        lang: locale.code(),
        subject: format!(
            "[{company}] {}",
            i18n::tf(locale, subject_key, &[("who", &who), ("score", &score)])
        ),
        heading: i18n::tf(
            locale,
            "alert.heading",
            &[("who", &who), ("score", &score), ("category", category)],
        ),
        intro: if update {
            t("alert.intro.update")
        } else {
            i18n::tf(locale, "alert.intro", &[("company", &company)])
        },
        rows,
        comment_label: t("alert.comment"),
        comment: answer.comment.clone(),
        no_comment: t("alert.no_comment"),
        button: t("alert.button"),
        link: links::follow_up_url(config, &keys, &answer.send_id, ctx.now()),
        link_hint: t("alert.link_hint"),
        earlier_title: t("alert.earlier"),
        earlier,
        no_earlier: t("alert.no_earlier"),
        footer: i18n::tf(locale, "alert.footer", &[("company", &company)]),
        company,
        brand,
        on_brand,
    })
}

/// Renders the alert's HTML and text parts.
pub fn render_alert(m: &AlertMail) -> Result<(String, String), AlertError> {
    let html = AlertHtml { m }
        .render()
        .map_err(|e| AlertError::Build(e.to_string()))?;
    let text = AlertText { m }
        .render()
        .map_err(|e| AlertError::Build(e.to_string()))?;
    Ok((html, text))
}

/// Emails the alert to the alert audience, naming `named` (see [`alert_mail`]). `Ok(false)` when
/// the audience is empty.
pub async fn send_alert<S: Store, M: Mailer, A>(
    ctx: &Ctx<S, M, A>,
    answer: &Response,
    update: bool,
    named: Option<Named>,
) -> Result<bool, AlertError> {
    let config = &ctx.config;
    let to = Config::recipients(&config.audiences.alerts);
    if to.is_empty() {
        tracing::warn!(send = %answer.send_id, "no alert audience configured: alert not emailed");
        return Ok(false);
    }
    let m = alert_mail(ctx, answer, update, named).await?;
    let (html, text) = render_alert(&m)?;
    let message_id = format!(
        "alert.{}.{}{}",
        answer.send_id,
        answer.version,
        if update { ".u" } else { "" }
    );
    let email = mail::build(
        &mail::Envelope {
            from: &config.email.from,
            to: &to,
            reply_to: config.email.reply_to.as_deref(),
            message_id: &message_id,
            date: ctx.now(),
            tag: "alert",
            reference: answer.send_id.to_string(),
        },
        &mail::Content {
            subject: m.subject,
            text,
            html,
            images: Vec::new(),
        },
        None,
    )
    .map_err(|e| AlertError::Build(e.to_string()))?;
    ctx.mailer.send(&email).await?;
    tracing::info!(send = %answer.send_id, update, "alert emailed");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt("a\n b", 10), "a b");
        assert_eq!(excerpt(&"x".repeat(12), 10), format!("{}…", "x".repeat(10)));
    }
}
