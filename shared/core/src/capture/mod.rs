//! Capture: what Pulso does when someone follows one of its public links — the score link and
//! comment page, the answer commit, unsubscribe, the follow-up "done" link and archived reports.
//!
//! The HTTP router (functions/capture) parses requests and calls one function here per route;
//! these functions verify the link, read and write through the store ports, and return what the
//! page needs. A GET never writes. Answers are written with their rollup deltas in one
//! `save_response`; concurrent commits of one send are serialised by the versioned write
//! (re-read and retried on conflict), so a send has exactly one answer.
//!
//! What happens after a write (alerts, follow-ups, webhooks) is the [`AfterCapture`] hook's
//! business: in AWS the DynamoDB stream feeds the alerts function, so the hook does nothing; the
//! local host runs the alerts inline.

pub mod pages;
pub mod rule;

use std::future::Future;

use jiff::Timestamp;

use crate::alerts::webhooks;
use crate::context::Ctx;
use crate::model::{
    Contact, FollowUp, FollowUpStatus, ReminderState, Response, SendStatus, Suppression,
    SuppressionReason, SurveySend, WebhookDelivery, rollup_deltas,
};
use crate::ports::{Archive, ArchiveError, Mailer, Store, StoreError, valid_archive_key};
use crate::token::{Claims, Purpose, TokenError};
use crate::types::{Locale, Score, SendId};

pub use rule::{CommentChange, FlagReason, Timing, Verdict};

/// How often a versioned write is retried after losing to a concurrent writer.
const MAX_TRIES: usize = 16;

/// Why a public link could not be served. `functions/capture` maps each to a status and a page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaptureError {
    #[error("bad link: {0}")]
    Link(#[from] TokenError),
    /// The link is authentic but its send is gone (erased contact) or never existed.
    #[error("the link's survey no longer exists")]
    UnknownSend,
    #[error("there is no follow-up for this link")]
    UnknownFollowUp,
    #[error("there is no such report")]
    UnknownReport,
    #[error("score must be a whole number from 0 to 10")]
    BadScore,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("archive: {0}")]
    Archive(#[from] ArchiveError),
    /// Too many concurrent writers on one record: try again.
    #[error("busy, try again")]
    Busy,
    /// The link-signing keys could not be read, so no link can be checked: try again.
    #[error("link-signing keys: {0}")]
    Keys(#[from] crate::token::KeysUnavailable),
}

/// What a form said that cannot be accepted; the page is shown again with what was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormProblem {
    #[error("no score was chosen")]
    MissingScore,
    #[error("the comment is longer than {max} characters")]
    CommentTooLong { max: usize },
    #[error("the name is missing")]
    NameMissing,
    #[error("the name is longer than {max} characters")]
    NameTooLong { max: usize },
    #[error("the note is longer than {max} characters")]
    NoteTooLong { max: usize },
}

/// Longest name accepted on the follow-up page.
pub const MAX_CLOSER_NAME: usize = 100;

/// Normalises text typed into a form: CRLF to LF (browsers send CRLF; the character limit counts a
/// line break once, as the page's counter does), control characters other than line breaks and
/// tabs dropped, trimmed. Empty text is `None`.
pub fn clean_text(raw: &str) -> Option<String> {
    let text: String = raw
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A comment as typed: cleaned and within `max_chars` characters.
pub fn parse_comment(raw: &str, max_chars: usize) -> Result<Option<String>, FormProblem> {
    let c = clean_text(raw);
    if c.as_ref().is_some_and(|c| c.chars().count() > max_chars) {
        return Err(FormProblem::CommentTooLong { max: max_chars });
    }
    Ok(c)
}

/// The name of whoever closes a follow-up: required, one line, bounded.
pub fn parse_closer_name(raw: &str) -> Result<String, FormProblem> {
    let name = clean_text(raw)
        .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
        .ok_or(FormProblem::NameMissing)?;
    if name.chars().count() > MAX_CLOSER_NAME {
        return Err(FormProblem::NameTooLong {
            max: MAX_CLOSER_NAME,
        });
    }
    Ok(name)
}

/// What runs after capture wrote something. See the module doc.
pub trait AfterCapture: Send + Sync + 'static {
    /// An answer was saved (`before` is what was stored before this commit).
    fn answer_saved<S: Store, M: Mailer, A: Archive>(
        &self,
        ctx: &Ctx<S, M, A>,
        before: Option<&Response>,
        after: &Response,
    ) -> impl Future<Output = ()> + Send;

    /// Webhook deliveries were recorded (an unsubscribe) and are due now.
    fn deliveries_enqueued<S: Store, M: Mailer, A: Archive>(
        &self,
        ctx: &Ctx<S, M, A>,
        deliveries: &[WebhookDelivery],
    ) -> impl Future<Output = ()> + Send;
}

/// The hook of the AWS host: the DynamoDB stream feeds the alerts function, which also sends the
/// pending webhook deliveries.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl AfterCapture for NoHooks {
    async fn answer_saved<S: Store, M: Mailer, A: Archive>(
        &self,
        _ctx: &Ctx<S, M, A>,
        _before: Option<&Response>,
        _after: &Response,
    ) {
    }

    async fn deliveries_enqueued<S: Store, M: Mailer, A: Archive>(
        &self,
        _ctx: &Ctx<S, M, A>,
        _deliveries: &[WebhookDelivery],
    ) {
    }
}

async fn verify<S, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
    purpose: Purpose,
) -> Result<Claims, CaptureError> {
    let keys = ctx.keys.get().await?;
    Ok(keys.verify(token, purpose, ctx.now())?)
}

fn send_id_of(claims: &Claims) -> Result<SendId, CaptureError> {
    // Only Pulso signs tokens, so a subject that is not a send id means no such send.
    SendId::parse(&claims.subject).map_err(|_| CaptureError::UnknownSend)
}

/// The subject of a token whose signature is good but which was refused (expired, or for another
/// purpose). Verification checks the signature before expiry and purpose, so these errors mean
/// the token is authentic and its payload (`<purpose>:<subject>:<expiry>`) can be read.
fn authentic_subject(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.split(':').nth(1).map(str::to_string)
}

/// The language of a refused link's page: the send's when the link is authentic and its send is
/// known, else `None` (the caller then negotiates from `Accept-Language`).
pub async fn locale_hint<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
    purpose: Purpose,
) -> Option<Locale> {
    let subject = match verify(ctx, token, purpose).await {
        Ok(claims) => claims.subject,
        Err(CaptureError::Link(TokenError::Expired | TokenError::WrongPurpose)) => {
            authentic_subject(token)?
        }
        Err(_) => return None,
    };
    let id = SendId::parse(&subject).ok()?;
    ctx.store.send(&id).await.ok().flatten().map(|s| s.locale)
}

/// When the survey email (or its reminder) was last mailed.
pub fn delivered_at(send: &SurveySend) -> Option<Timestamp> {
    let first = match send.status {
        SendStatus::Sent { at } => Some(at),
        _ => None,
    };
    let reminder = match send.reminder {
        ReminderState::Sent { at } => Some(at),
        _ => None,
    };
    first.max(reminder)
}

/// A send with its contact and answer: what the comment page shows.
#[derive(Debug, Clone)]
pub struct AnswerView {
    pub send: SurveySend,
    pub contact: Option<Contact>,
    pub response: Option<Response>,
}

impl AnswerView {
    /// Pages speak the language the survey email was sent in.
    pub fn locale(&self) -> Locale {
        self.send.locale
    }

    /// The person has an answer that counts: the page no longer commits by itself.
    pub fn answered(&self) -> bool {
        self.response.as_ref().is_some_and(Response::counted)
    }
}

async fn load_send<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    id: &SendId,
) -> Result<(SurveySend, Option<Contact>), CaptureError> {
    let send = ctx.store.send(id).await?.ok_or(CaptureError::UnknownSend)?;
    let contact = ctx.store.contact(&send.contact_id).await?;
    Ok((send, contact))
}

/// `GET /a/{token}`: the send, its contact and its answer. Writes nothing.
pub async fn answer_view<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
) -> Result<AnswerView, CaptureError> {
    let claims = verify(ctx, token, Purpose::Answer).await?;
    let id = send_id_of(&claims)?;
    let (send, contact) = load_send(ctx, &id).await?;
    let response = ctx.store.response(&id).await?;
    Ok(AnswerView {
        send,
        contact,
        response,
    })
}

/// One score commit, parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub score: Score,
    pub comment: CommentChange,
    pub timing: Timing,
}

/// What a commit did.
#[derive(Debug, Clone)]
pub struct Committed {
    pub before: Option<Response>,
    pub after: Response,
    pub verdict: Verdict,
    pub send: SurveySend,
    pub contact: Option<Contact>,
}

fn first_answer<S, M, A>(
    ctx: &Ctx<S, M, A>,
    send: &SurveySend,
    contact: Option<&Contact>,
    req: &CommitRequest,
    verdict: Verdict,
    now: Timestamp,
) -> Response {
    let (source, flag_reason) = match verdict {
        Verdict::Human => (crate::model::AnswerSource::Human, None),
        Verdict::Automated(r) => (
            crate::model::AnswerSource::Automated,
            Some(r.as_str().to_string()),
        ),
    };
    Response {
        send_id: send.id.clone(),
        contact_id: Some(send.contact_id.clone()),
        score: req.score,
        comment: match &req.comment {
            CommentChange::Keep => None,
            CommentChange::Set(c) => c.clone(),
        },
        locale: send.locale,
        kind: send.kind,
        touchpoint: send.touchpoint.clone(),
        account: contact.and_then(|c| c.account.clone()),
        attributes: contact.map(|c| c.attributes.clone()).unwrap_or_default(),
        day: crate::time::local_day(now, &ctx.tz()),
        answered_at: now,
        updated_at: now,
        source,
        flag_reason,
        commits: vec![now],
        version: 1,
    }
}

/// `POST /a/{token}`: judges the commit (see [`rule`]) and saves the send's one answer with its
/// rollup deltas. Retries on a concurrent writer; a counted answer also marks the send answered
/// (so no reminder follows).
pub async fn commit<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
    req: &CommitRequest,
) -> Result<Committed, CaptureError> {
    let claims = verify(ctx, token, Purpose::Answer).await?;
    let id = send_id_of(&claims)?;
    let send = ctx
        .store
        .send(&id)
        .await?
        .ok_or(CaptureError::UnknownSend)?;
    let settings = &ctx.config.capture;
    // The contact is read only for a first answer (its account and segments are frozen then).
    let mut contact: Option<Option<Contact>> = None;
    for _ in 0..MAX_TRIES {
        let before = ctx.store.response(&id).await?;
        let now = ctx.now();
        let verdict = rule::judge(
            settings,
            &rule::CommitFacts {
                now,
                timing: req.timing,
                delivered_at: delivered_at(&send),
                previous_commits: before.as_ref().map(|b| b.commits.as_slice()).unwrap_or(&[]),
            },
        );
        let after = match &before {
            None => {
                if contact.is_none() {
                    contact = Some(ctx.store.contact(&send.contact_id).await?);
                }
                let c = contact.as_ref().and_then(Option::as_ref);
                first_answer(ctx, &send, c, req, verdict, now)
            }
            Some(b) => rule::apply(
                b,
                req.score,
                &req.comment,
                verdict,
                now,
                settings.automated_burst_seconds,
            ),
        };
        let deltas = rollup_deltas(before.as_ref(), &after);
        match ctx.store.save_response(&after, &deltas).await {
            Ok(()) => {
                tracing::info!(
                    send = %id,
                    version = after.version,
                    counted = after.counted(),
                    flag = after.flag_reason.as_deref().unwrap_or(""),
                    "answer saved"
                );
                if after.counted() && send.answered_at.is_none() {
                    mark_answered(ctx, send.clone(), after.answered_at).await;
                }
                return Ok(Committed {
                    before,
                    after,
                    verdict,
                    send,
                    contact: contact.flatten(),
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CaptureError::Busy)
}

/// Records on the send that it was answered. Best effort: the answer is already saved, and
/// dispatch also looks for an answer before reminding. Starts from the send as read for the
/// commit; re-reads only if it changed since.
async fn mark_answered<S: Store, M, A>(ctx: &Ctx<S, M, A>, mut send: SurveySend, at: Timestamp) {
    for _ in 0..MAX_TRIES {
        if send.answered_at.is_some() {
            return;
        }
        let mut next = send.clone();
        next.answered_at = Some(at);
        next.version += 1;
        match ctx.store.put_send(&next).await {
            Ok(()) => return,
            Err(StoreError::Conflict(_)) => match ctx.store.send(&send.id).await {
                Ok(Some(fresh)) => send = fresh,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(send = %send.id, error = %e, "could not mark the send answered");
                    return;
                }
            },
            Err(e) => {
                tracing::warn!(send = %send.id, error = %e, "could not mark the send answered");
                return;
            }
        }
    }
}

/// The unsubscribe page's subject.
#[derive(Debug, Clone)]
pub struct UnsubscribeView {
    pub locale: Locale,
    pub contact: Option<Contact>,
    /// Already unsubscribed (or erased: nothing left to mail).
    pub already: bool,
}

/// `GET /u/{token}`. Writes nothing.
pub async fn unsubscribe_view<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
) -> Result<UnsubscribeView, CaptureError> {
    let claims = verify(ctx, token, Purpose::Unsubscribe).await?;
    let id = send_id_of(&claims)?;
    let Some(send) = ctx.store.send(&id).await? else {
        return Ok(UnsubscribeView {
            locale: ctx.config.company.default_locale,
            contact: None,
            already: true,
        });
    };
    let contact = ctx.store.contact(&send.contact_id).await?;
    Ok(UnsubscribeView {
        locale: send.locale,
        already: contact.as_ref().is_none_or(|c| c.unsubscribed_at.is_some()),
        contact,
    })
}

/// What an unsubscribe did.
#[derive(Debug, Clone)]
pub struct Unsubscribed {
    pub view: UnsubscribeView,
    /// The contact was subscribed until now.
    pub newly: bool,
    /// `unsubscribe.created` webhook deliveries recorded (due now).
    pub deliveries: Vec<WebhookDelivery>,
}

/// `POST /u/{token}` (RFC 8058 one-click, or the page's button): in force at once — the contact's
/// `unsubscribed_at` and a suppression of its address. Idempotent. A link whose send is gone (the
/// contact was erased, and its address is suppressed) succeeds without writing.
pub async fn unsubscribe<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
) -> Result<Unsubscribed, CaptureError> {
    let claims = verify(ctx, token, Purpose::Unsubscribe).await?;
    let id = send_id_of(&claims)?;
    let Some(send) = ctx.store.send(&id).await? else {
        tracing::info!(send = %id, "unsubscribe for a send that is gone: nothing to do");
        return Ok(Unsubscribed {
            view: UnsubscribeView {
                locale: ctx.config.company.default_locale,
                contact: None,
                already: true,
            },
            newly: false,
            deliveries: Vec::new(),
        });
    };
    let now = ctx.now();
    let mut outcome = None;
    for _ in 0..MAX_TRIES {
        match ctx.store.contact(&send.contact_id).await? {
            None => {
                outcome = Some((None, false));
                break;
            }
            Some(c) if c.unsubscribed_at.is_some() => {
                outcome = Some((Some(c), false));
                break;
            }
            Some(c) => {
                let mut next = c;
                next.unsubscribed_at = Some(now);
                next.updated_at = now;
                next.version += 1;
                match ctx.store.put_contact(&next).await {
                    Ok(()) => {
                        outcome = Some((Some(next), true));
                        break;
                    }
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let (contact, newly) = outcome.ok_or(CaptureError::Busy)?;
    let Some(contact) = contact else {
        // The contact is gone (erased): its address is already suppressed.
        return Ok(Unsubscribed {
            view: UnsubscribeView {
                locale: send.locale,
                contact: None,
                already: true,
            },
            newly: false,
            deliveries: Vec::new(),
        });
    };
    let hash = contact.email.hash();
    let existing = ctx.store.suppression(&hash).await?;
    if !existing.as_ref().is_some_and(Suppression::suppresses) {
        ctx.store
            .put_suppression(&Suppression {
                email_hash: hash,
                reason: Some(SuppressionReason::Unsubscribed),
                at: now,
                soft_bounces: existing.map(|e| e.soft_bounces).unwrap_or(0),
            })
            .await?;
    }
    let deliveries = if newly {
        tracing::info!(contact = %contact.id, send = %id, "unsubscribed");
        webhooks::enqueue_unsubscribe(ctx, &contact, &id, now).await?
    } else {
        Vec::new()
    };
    Ok(Unsubscribed {
        view: UnsubscribeView {
            locale: send.locale,
            contact: Some(contact),
            already: !newly,
        },
        newly,
        deliveries,
    })
}

/// A follow-up with what its page shows.
#[derive(Debug, Clone)]
pub struct FollowUpView {
    pub follow_up: FollowUp,
    pub response: Option<Response>,
    pub contact: Option<Contact>,
}

/// `GET /f/{token}`. Writes nothing.
pub async fn follow_up_view<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
) -> Result<FollowUpView, CaptureError> {
    let claims = verify(ctx, token, Purpose::FollowUp).await?;
    let id = send_id_of(&claims)?;
    let follow_up = ctx
        .store
        .follow_up(&id)
        .await?
        .ok_or(CaptureError::UnknownFollowUp)?;
    let response = ctx.store.response(&id).await?;
    let contact = match &follow_up.contact_id {
        Some(c) => ctx.store.contact(c).await?,
        None => None,
    };
    Ok(FollowUpView {
        follow_up,
        response,
        contact,
    })
}

/// `POST /f/{token}`: the follow-up is done, by `closed_by`, now, with an optional note. A
/// follow-up already done stays as it was closed (the page says by whom).
pub async fn close_follow_up<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    token: &str,
    closed_by: &str,
    note: Option<String>,
) -> Result<FollowUpView, CaptureError> {
    for _ in 0..MAX_TRIES {
        let mut view = follow_up_view(ctx, token).await?;
        if view.follow_up.status == FollowUpStatus::Done {
            return Ok(view);
        }
        let now = ctx.now();
        let mut next = view.follow_up.clone();
        next.status = FollowUpStatus::Done;
        next.closed_at = Some(now);
        next.closed_by = Some(closed_by.to_string());
        next.note = note.clone();
        next.version += 1;
        match ctx.store.put_follow_up(&next).await {
            Ok(()) => {
                tracing::info!(
                    send = %next.send_id,
                    minutes_to_close = next.time_to_close().map(|d| d.as_secs() / 60).unwrap_or(0),
                    "follow-up done"
                );
                view.follow_up = next;
                return Ok(view);
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CaptureError::Busy)
}

/// An archived report file and how to serve it.
#[derive(Debug, Clone)]
pub struct ReportFile {
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

/// The content type of an archived report file, by extension; other files are not served.
pub fn report_content_type(key: &str) -> Option<&'static str> {
    let ext = key.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// `GET /r/{token}`: the archived report the token names. Writes nothing.
pub async fn report_file<S, M, A: Archive>(
    ctx: &Ctx<S, M, A>,
    token: &str,
) -> Result<ReportFile, CaptureError> {
    let claims = verify(ctx, token, Purpose::Report).await?;
    let key = claims.subject;
    if !valid_archive_key(&key) {
        return Err(CaptureError::UnknownReport);
    }
    let content_type = report_content_type(&key).ok_or(CaptureError::UnknownReport)?;
    let body = ctx
        .archive
        .get(&key)
        .await?
        .ok_or(CaptureError::UnknownReport)?;
    Ok(ReportFile { body, content_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cleaned_and_bounded() {
        assert_eq!(clean_text("  \r\n "), None);
        assert_eq!(
            clean_text(" a\r\nb\u{0}c\u{7} ").as_deref(),
            Some("a\nbc"),
            "CRLF becomes LF and control characters go"
        );
        let five = "ñ".repeat(5);
        assert_eq!(parse_comment(&five, 5), Ok(Some(five.clone())));
        assert_eq!(
            parse_comment(&"ñ".repeat(6), 5),
            Err(FormProblem::CommentTooLong { max: 5 })
        );
        // A line break counts once, as in the browser.
        assert!(parse_comment("ab\r\ncd", 5).is_ok());
    }

    #[test]
    fn closer_names_are_one_bounded_line() {
        assert_eq!(parse_closer_name("  Ana \n Ruiz "), Ok("Ana Ruiz".into()));
        assert_eq!(parse_closer_name(" \n"), Err(FormProblem::NameMissing));
        assert_eq!(
            parse_closer_name(&"x".repeat(101)),
            Err(FormProblem::NameTooLong { max: 100 })
        );
    }

    #[test]
    fn report_types_come_from_the_extension() {
        assert_eq!(
            report_content_type("reports/weekly/2026-W10/report.html"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            report_content_type("a/b.csv"),
            Some("text/csv; charset=utf-8")
        );
        assert_eq!(report_content_type("a/b.exe"), None);
        assert_eq!(report_content_type("noext"), None);
    }

    #[test]
    fn an_authentic_expired_token_names_its_subject() {
        let keys = crate::token::SigningKeys::single("k1", &[5u8; 32]).unwrap();
        let tok = keys.sign(
            Purpose::Answer,
            "s0123abc",
            Timestamp::from_second(10).unwrap(),
        );
        assert_eq!(authentic_subject(&tok).as_deref(), Some("s0123abc"));
        assert_eq!(authentic_subject("garbage"), None);
    }
}
