//! The send state machine: one due send at a time.
//!
//! Survey: `Scheduled` → (checks: contact exists, not unsubscribed, not suppressed, relational sends
//! clear of the fatigue gap) → claim `Sending{attempt, claimed_at}` (versioned write, lease
//! [`LEASE`]) → mailer → `Sent{at}` + `message_id` + the reminder planned + the day's `sent`
//! counter. Mail errors: throttled → retried in the run with backoff, then back to `Scheduled` for
//! the next run; unavailable → back to `Scheduled` with a backoff that grows with the send's age
//! (after two days: `Failed`); rejected → `Skipped(rejected)`. A claim whose lease ran out was
//! possibly mailed: `Failed` with [`INTERRUPTED`], never resent.
//!
//! Reminder (on a `Sent` send): `Due{due_at}` → (checks: no answer, not unsubscribed, not
//! suppressed) → claim `Sending` → mailer → `Sent`. Otherwise `Cancelled{reason}`; never twice.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::model::{
    Contact, Counts, Dimension, ReminderState, Rollup, SendStatus, SkipReason, SurveyKind,
    SurveySend,
};
use crate::ports::{MailError, Mailer, OutgoingEmail, StoreError};
use crate::time::local_day;

use super::calendar::{days, next_morning, working_days};
use super::email::EmailKind;
use super::rules::{
    contact_tz, counted_times, earliest_allowed, suppression_reason, wants_reminder,
};
use super::{
    DispatchError, DispatchOutcome, DispatchStore, Flow, INTERRUPTED, LEASE, Runner, Timer,
};

/// Throttling answers one send may get within a run before it is left for the next run.
const THROTTLE_RETRIES: u32 = 4;
/// The first throttling backoff; doubled on each retry (250 ms, 500 ms, 1 s, 2 s).
const THROTTLE_BACKOFF: Duration = Duration::from_millis(250);
/// Mail-service errors in a row after which a run stops sending.
const MAIL_ERRORS_TO_STOP: u32 = 3;
/// A send (or reminder) the mail service kept failing for this long is given up.
const GIVE_UP_AFTER: SignedDuration = SignedDuration::from_hours(48);

/// A later run's turn for a send that hit a mail-service error: a quarter of its age, between a
/// minute and an hour.
fn retry_at(now: Timestamp, since: Timestamp) -> Timestamp {
    let age = now.duration_since(since).max(SignedDuration::ZERO);
    let wait = (age / 4).clamp(SignedDuration::from_mins(1), SignedDuration::from_hours(1));
    now.checked_add(wait).unwrap_or(now)
}

/// Processes one due send.
pub(super) async fn process<S, M, A, T>(
    r: &mut Runner<'_, S, M, A, T>,
    send: SurveySend,
) -> Result<Flow, DispatchError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    let now = r.ctx.now();
    let result = match send.status.clone() {
        SendStatus::Scheduled => survey(r, send).await,
        SendStatus::Sending { claimed_at, .. } => {
            if claimed_at.checked_add(LEASE).is_ok_and(|end| end <= now) {
                let reason = INTERRUPTED;
                let done = update(r, send, |s| matches!(s.status, SendStatus::Sending { claimed_at: c, .. } if c == claimed_at), |s| {
                    s.status = SendStatus::Failed { reason: reason.into(), at: now };
                    s.next_action_at = None;
                })
                .await;
                if matches!(done, Ok(true)) {
                    tracing::warn!("a send's claim went stale: marked failed, not resent");
                    DispatchOutcome::bump(&mut r.out.failed, reason);
                }
                done.map(|_| Flow::Continue)
            } else {
                Ok(Flow::Continue)
            }
        }
        SendStatus::Sent { .. } => reminder(r, send).await,
        SendStatus::Skipped { .. } | SendStatus::Failed { .. } => {
            // Nothing is pending on a finished send: take it off the queue.
            update(
                r,
                send,
                |s| s.next_action_at.is_some(),
                |s| s.next_action_at = None,
            )
            .await
            .map(|_| Flow::Continue)
        }
    };
    match result {
        Ok(flow) => {
            r.store_ok();
            Ok(flow)
        }
        Err(e) => {
            r.store_error("send", &e)?;
            Ok(Flow::Continue)
        }
    }
}

/// Writes `change` applied to `send` (versioned). If the send changed meanwhile (e.g. an answer
/// arrived), re-reads it and applies `change` again as long as `still` holds. `Ok(false)`: the send
/// moved on and `change` no longer applies.
async fn update<S, M, A, T>(
    r: &Runner<'_, S, M, A, T>,
    send: SurveySend,
    still: impl Fn(&SurveySend) -> bool,
    change: impl Fn(&mut SurveySend),
) -> Result<bool, StoreError>
where
    S: DispatchStore,
{
    let mut current = send;
    for attempt in 0..4 {
        if !still(&current) {
            return Ok(false);
        }
        let mut next = current.clone();
        change(&mut next);
        next.version = current.version + 1;
        match r.ctx.store.put_send(&next).await {
            Ok(()) => return Ok(true),
            Err(StoreError::Conflict(_)) => match r.ctx.store.send(&current.id).await? {
                Some(fresh) => current = fresh,
                None => return Ok(false),
            },
            Err(StoreError::Unavailable(m)) if attempt < 3 => {
                tracing::warn!(error = %m, "store unavailable; retrying the write");
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(
        "the send kept changing or the store kept failing".into(),
    ))
}

/// Claims `send` for this run before its email is handed to the mailer: `mark` records the claim
/// (survey or reminder `Sending`), the lease becomes the next action, and the write goes over the
/// version read. `Ok(None)`: another run has it, or it changed — it is not ours to mail.
async fn claim<S, M, A, T>(
    r: &Runner<'_, S, M, A, T>,
    send: &SurveySend,
    mark: impl FnOnce(&mut SurveySend, jiff::Timestamp),
) -> Result<Option<(SurveySend, jiff::Timestamp)>, StoreError>
where
    S: DispatchStore,
{
    let claimed_at = r.ctx.now();
    let mut claimed = send.clone();
    mark(&mut claimed, claimed_at);
    claimed.next_action_at = claimed_at.checked_add(LEASE).ok();
    claimed.version = send.version + 1;
    match r.ctx.store.put_send(&claimed).await {
        Ok(()) => Ok(Some((claimed, claimed_at))),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why the contact must not be mailed now, if so.
async fn blocked<S: DispatchStore>(
    store: &S,
    contact: Option<&Contact>,
) -> Result<Option<SkipReason>, StoreError> {
    let Some(contact) = contact else {
        return Ok(Some(SkipReason::ContactGone));
    };
    if contact.unsubscribed_at.is_some() {
        return Ok(Some(SkipReason::Unsubscribed));
    }
    Ok(store
        .suppression(&contact.email.hash())
        .await?
        .as_ref()
        .and_then(suppression_reason))
}

/// The survey email of a scheduled send.
async fn survey<S, M, A, T>(
    r: &mut Runner<'_, S, M, A, T>,
    send: SurveySend,
) -> Result<Flow, StoreError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    let config = r.ctx.config.clone();
    let contact = r.ctx.store.contact(&send.contact_id).await?;
    let is_scheduled = |s: &SurveySend| s.status == SendStatus::Scheduled;
    if let Some(reason) = blocked(&r.ctx.store, contact.as_ref()).await? {
        let now = r.ctx.now();
        if update(r, send, is_scheduled, |s| {
            s.status = SendStatus::Skipped { reason, at: now };
            s.next_action_at = None;
        })
        .await?
        {
            DispatchOutcome::bump(&mut r.out.skipped, reason.as_str());
        }
        return Ok(Flow::Continue);
    }
    let Some(contact) = contact else {
        return Ok(Flow::Continue);
    };
    // Relational sends give way to any other survey within the fatigue gap (a transactional
    // survey scheduled after this send was planned goes first).
    if send.kind == SurveyKind::Relational {
        let sends = r.ctx.store.sends_of_contact(&contact.id).await?;
        let others = counted_times(&sends, &send.id, false);
        let gap = days(config.surveys.fatigue_days);
        let allowed = earliest_allowed(send.due_at, &others, gap);
        if allowed != send.due_at {
            let s = &config.surveys;
            let tz = contact_tz(&config, &contact);
            let later = next_morning(allowed, &tz, s, &working_days(s), &contact.id);
            let now = r.ctx.now();
            if later.duration_since(send.due_at) >= days(s.cadence_days) {
                if update(r, send, is_scheduled, |x| {
                    x.status = SendStatus::Skipped {
                        reason: SkipReason::Fatigue,
                        at: now,
                    };
                    x.next_action_at = None;
                })
                .await?
                {
                    DispatchOutcome::bump(&mut r.out.skipped, SkipReason::Fatigue.as_str());
                }
            } else if update(r, send, is_scheduled, |x| {
                x.due_at = later;
                x.next_action_at = Some(later);
            })
            .await?
            {
                r.out.deferred += 1;
            }
            return Ok(Flow::Continue);
        }
    }
    let now = r.ctx.now();
    let email = match r
        .renderer
        .render(&config, &r.keys, &send, &contact, EmailKind::Survey, now)
    {
        Ok(e) => e,
        Err(e) => {
            let reason = format!("could not build the email: {e}");
            if update(r, send, is_scheduled, |s| {
                s.status = SendStatus::Failed {
                    reason: reason.clone(),
                    at: now,
                };
                s.next_action_at = None;
            })
            .await?
            {
                DispatchOutcome::bump(&mut r.out.failed, "could not build the email");
            }
            return Ok(Flow::Continue);
        }
    };
    r.pacer.wait(r.timer).await;
    // Claim: from here until `Sent`, a crash leaves a claim that no run will mail again.
    let Some((claimed, claimed_at)) = claim(r, &send, |s, claimed_at| {
        s.status = SendStatus::Sending {
            attempt: 1,
            claimed_at,
        }
    })
    .await?
    else {
        return Ok(Flow::Continue);
    };
    let ours = move |s: &SurveySend| matches!(s.status, SendStatus::Sending { claimed_at: c, .. } if c == claimed_at);
    match mail(r, &email).await {
        Mailed::Accepted(message_id) => {
            let at = r.ctx.now();
            let reminder_due = wants_reminder(&config, &send)
                .then(|| {
                    at.checked_add(days(config.surveys.reminder_after_days))
                        .ok()
                })
                .flatten();
            let marked = update(r, claimed, ours, |s| {
                s.status = SendStatus::Sent { at };
                s.message_id = Some(message_id.clone());
                s.reminder = match reminder_due {
                    Some(due_at) => ReminderState::Due { due_at },
                    None => ReminderState::None,
                };
                s.next_action_at = reminder_due;
            })
            .await?;
            r.out.sent += 1;
            if marked {
                count_sent(r, &send, &contact, at).await;
            }
            Ok(Flow::Continue)
        }
        Mailed::Rejected(m) => {
            tracing::warn!(send = %send.id, error = %m, "the mail service rejected a survey");
            let at = r.ctx.now();
            if update(r, claimed, ours, |s| {
                s.status = SendStatus::Skipped {
                    reason: SkipReason::Rejected,
                    at,
                };
                s.next_action_at = None;
            })
            .await?
            {
                DispatchOutcome::bump(&mut r.out.skipped, SkipReason::Rejected.as_str());
            }
            Ok(Flow::Continue)
        }
        Mailed::NotNow { error, flow } => {
            let at = r.ctx.now();
            if at.duration_since(send.due_at) >= GIVE_UP_AFTER {
                let reason = format!("the mail service kept failing: {error}");
                if update(r, claimed, ours, |s| {
                    s.status = SendStatus::Failed {
                        reason: reason.clone(),
                        at,
                    };
                    s.next_action_at = None;
                })
                .await?
                {
                    DispatchOutcome::bump(&mut r.out.failed, "the mail service kept failing");
                }
            } else {
                let next = if flow == Flow::Stop && error.starts_with("throttled") {
                    at.checked_add(SignedDuration::from_mins(1)).unwrap_or(at)
                } else {
                    retry_at(at, send.due_at)
                };
                if update(r, claimed, ours, |s| {
                    s.status = SendStatus::Scheduled;
                    s.next_action_at = Some(next);
                })
                .await?
                {
                    r.out.retry_later += 1;
                }
            }
            Ok(flow)
        }
    }
}

/// The reminder of a sent survey.
async fn reminder<S, M, A, T>(
    r: &mut Runner<'_, S, M, A, T>,
    send: SurveySend,
) -> Result<Flow, StoreError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    let now = r.ctx.now();
    let due_at = match send.reminder.clone() {
        ReminderState::Due { due_at } if due_at <= now => due_at,
        ReminderState::Sending { claimed_at, .. }
            if claimed_at.checked_add(LEASE).is_ok_and(|end| end <= now) =>
        {
            let is_claim = move |s: &SurveySend| matches!(s.reminder, ReminderState::Sending { claimed_at: c, .. } if c == claimed_at);
            if update(r, send, is_claim, |s| {
                s.reminder = ReminderState::Cancelled {
                    reason: INTERRUPTED.into(),
                };
                s.next_action_at = None;
            })
            .await?
            {
                tracing::warn!("a reminder's claim went stale: cancelled, not resent");
                DispatchOutcome::bump(&mut r.out.reminders_cancelled, INTERRUPTED);
            }
            return Ok(Flow::Continue);
        }
        ReminderState::Due { .. } | ReminderState::Sending { .. } => return Ok(Flow::Continue),
        ReminderState::None | ReminderState::Sent { .. } | ReminderState::Cancelled { .. } => {
            update(
                r,
                send,
                |s| s.next_action_at.is_some(),
                |s| s.next_action_at = None,
            )
            .await?;
            return Ok(Flow::Continue);
        }
    };
    let is_due = |s: &SurveySend| matches!(s.reminder, ReminderState::Due { .. });
    let answered = send.answered_at.is_some() || r.ctx.store.response(&send.id).await?.is_some();
    let contact = r.ctx.store.contact(&send.contact_id).await?;
    let cancel_reason = if answered {
        Some("answered")
    } else {
        blocked(&r.ctx.store, contact.as_ref())
            .await?
            .map(SkipReason::as_str)
    };
    if let Some(reason) = cancel_reason {
        if update(r, send, is_due, |s| {
            s.reminder = ReminderState::Cancelled {
                reason: reason.into(),
            };
            s.next_action_at = None;
        })
        .await?
        {
            DispatchOutcome::bump(&mut r.out.reminders_cancelled, reason);
        }
        return Ok(Flow::Continue);
    }
    let Some(contact) = contact else {
        return Ok(Flow::Continue);
    };
    let config = r.ctx.config.clone();
    let email = match r
        .renderer
        .render(&config, &r.keys, &send, &contact, EmailKind::Reminder, now)
    {
        Ok(e) => e,
        Err(e) => {
            let reason = format!("could not build the reminder: {e}");
            if update(r, send, is_due, |s| {
                s.reminder = ReminderState::Cancelled {
                    reason: reason.clone(),
                };
                s.next_action_at = None;
            })
            .await?
            {
                DispatchOutcome::bump(
                    &mut r.out.reminders_cancelled,
                    "could not build the reminder",
                );
            }
            return Ok(Flow::Continue);
        }
    };
    r.pacer.wait(r.timer).await;
    let Some((claimed, claimed_at)) = claim(r, &send, |s, claimed_at| {
        s.reminder = ReminderState::Sending {
            attempt: 1,
            claimed_at,
        }
    })
    .await?
    else {
        return Ok(Flow::Continue);
    };
    let ours = move |s: &SurveySend| matches!(s.reminder, ReminderState::Sending { claimed_at: c, .. } if c == claimed_at);
    match mail(r, &email).await {
        Mailed::Accepted(_) => {
            let at = r.ctx.now();
            update(r, claimed, ours, |s| {
                s.reminder = ReminderState::Sent { at };
                s.next_action_at = None;
            })
            .await?;
            r.out.reminders_sent += 1;
            Ok(Flow::Continue)
        }
        Mailed::Rejected(_) => {
            if update(r, claimed, ours, |s| {
                s.reminder = ReminderState::Cancelled {
                    reason: SkipReason::Rejected.as_str().into(),
                };
                s.next_action_at = None;
            })
            .await?
            {
                DispatchOutcome::bump(
                    &mut r.out.reminders_cancelled,
                    SkipReason::Rejected.as_str(),
                );
            }
            Ok(Flow::Continue)
        }
        Mailed::NotNow { error, flow } => {
            let at = r.ctx.now();
            if at.duration_since(due_at) >= GIVE_UP_AFTER {
                let reason = format!("the mail service kept failing: {error}");
                if update(r, claimed, ours, |s| {
                    s.reminder = ReminderState::Cancelled {
                        reason: reason.clone(),
                    };
                    s.next_action_at = None;
                })
                .await?
                {
                    DispatchOutcome::bump(
                        &mut r.out.reminders_cancelled,
                        "the mail service kept failing",
                    );
                }
            } else {
                let next = retry_at(at, due_at);
                if update(r, claimed, ours, |s| {
                    s.reminder = ReminderState::Due { due_at };
                    s.next_action_at = Some(next);
                })
                .await?
                {
                    r.out.retry_later += 1;
                }
            }
            Ok(flow)
        }
    }
}

/// What the mail service made of one message.
enum Mailed {
    Accepted(String),
    Rejected(String),
    /// Not sent this time; `flow` says whether the run should go on sending.
    NotNow {
        error: String,
        flow: Flow,
    },
}

/// Hands one message to the mailer: throttling is retried with backoff (bounded), other errors
/// are reported.
async fn mail<S, M, A, T>(r: &mut Runner<'_, S, M, A, T>, email: &OutgoingEmail) -> Mailed
where
    M: Mailer,
    T: Timer,
{
    let mut backoff = THROTTLE_BACKOFF;
    let mut throttles = 0;
    loop {
        match r.ctx.mailer.send(email).await {
            Ok(id) => {
                r.consecutive_mail_errors = 0;
                r.pacer.accepted();
                return Mailed::Accepted(id);
            }
            Err(MailError::Rejected(m)) => {
                r.consecutive_mail_errors = 0;
                return Mailed::Rejected(m);
            }
            Err(MailError::Throttled(m)) => {
                r.out.throttled += 1;
                r.pacer.slow_down();
                throttles += 1;
                if throttles > THROTTLE_RETRIES || r.out_of_budget() {
                    r.out.stopped_early = Some("throttled".into());
                    return Mailed::NotNow {
                        error: format!("throttled: {m}"),
                        flow: Flow::Stop,
                    };
                }
                r.timer.sleep(backoff).await;
                backoff *= 2;
            }
            Err(MailError::Unavailable(m)) => {
                r.consecutive_mail_errors += 1;
                tracing::warn!(error = %m, "mail service unavailable");
                let flow = if r.consecutive_mail_errors >= MAIL_ERRORS_TO_STOP {
                    r.out.stopped_early = Some("mail_unavailable".into());
                    Flow::Stop
                } else {
                    Flow::Continue
                };
                return Mailed::NotNow {
                    error: format!("unavailable: {m}"),
                    flow,
                };
            }
        }
    }
}

/// Adds the survey to the day's `sent` counters, in every dimension an answer to it would count
/// in. A failure here loses a counter, never the send: it is logged.
async fn count_sent<S, M, A, T>(
    r: &Runner<'_, S, M, A, T>,
    send: &SurveySend,
    contact: &Contact,
    at: Timestamp,
) where
    S: DispatchStore,
{
    let day = local_day(at, &r.ctx.tz());
    let counts = Counts {
        sent: 1,
        ..Counts::default()
    };
    let mut dims = vec![Dimension::All];
    dims.extend(contact.attributes.iter().map(|(k, v)| Dimension::Segment {
        name: k.to_string(),
        value: v.to_string(),
    }));
    if let Some(a) = contact.account_key() {
        dims.push(Dimension::Account(a));
    }
    if let Some(t) = &send.touchpoint {
        dims.push(Dimension::Touchpoint(t.clone()));
    }
    let deltas: Vec<Rollup> = dims
        .into_iter()
        .map(|dimension| Rollup {
            day,
            dimension,
            counts,
        })
        .collect();
    if let Err(e) = r.ctx.store.add_to_rollups(&deltas).await {
        tracing::warn!(send = %send.id, error = %e, "could not count a sent survey");
    }
}
