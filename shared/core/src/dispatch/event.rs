//! Transactional surveys: another system reports an event (a ticket closed, an order delivered)
//! and the contact is surveyed after a delay. Scheduling is idempotent per event: the send id comes
//! from `event:<touchpoint>:<event id>`, so a retried request finds the send it already recorded.
//!
//! The fatigue rule is checked here, against every survey of the contact that was mailed or is
//! about to be — except relational sends not mailed yet: a transactional survey goes first, and the
//! relational one is moved later when its turn comes. Unsubscribed, suppressed and fatigued
//! contacts get a `Skipped` send with the reason, so the event's outcome is on record.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::config::Config;
use crate::model::{Contact, ReminderState, SendStatus, SkipReason, SurveyKind, SurveySend};
use crate::ports::StoreError;
use crate::types::{SendId, Touchpoint};

use super::DispatchStore;
use super::rules::{clear_of, counted_times, fatigue_gap, suppression_reason};

/// The longest delay an event may ask for (30 days).
pub const MAX_DELAY_HOURS: u32 = 720;

/// An event to survey a contact after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    pub touchpoint: Touchpoint,
    /// The caller's id of the event (1–200 characters): the idempotency key.
    pub event_id: String,
    /// Hours to wait; else the touchpoint's `delay_hours`, else `surveys.default_delay_hours`.
    pub delay_hours: Option<u32>,
}

impl EventRequest {
    /// The idempotency key of the event's send.
    pub fn key(&self) -> String {
        format!("event:{}:{}", self.touchpoint.as_str(), self.event_id)
    }

    /// The delay that applies to this event.
    pub fn delay(&self, config: &Config) -> SignedDuration {
        let hours = self
            .delay_hours
            .or(config.touchpoint(&self.touchpoint).delay_hours)
            .unwrap_or(config.surveys.default_delay_hours)
            .min(MAX_DELAY_HOURS);
        SignedDuration::from_hours(i64::from(hours))
    }
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduledEvent {
    pub send: SurveySend,
    /// The event had been received before: nothing new was written.
    pub duplicate: bool,
}

impl ScheduledEvent {
    /// `scheduled`, `skipped`, `sent`, … — the send's status name.
    pub fn status(&self) -> &'static str {
        match self.send.status {
            SendStatus::Scheduled => "scheduled",
            SendStatus::Sending { .. } => "sending",
            SendStatus::Sent { .. } => "sent",
            SendStatus::Skipped { .. } => "skipped",
            SendStatus::Failed { .. } => "failed",
        }
    }

    pub fn skip_reason(&self) -> Option<SkipReason> {
        match self.send.status {
            SendStatus::Skipped { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Schedules (or records as skipped) the survey that follows `event` for `contact` (as stored:
/// upsert it first). Idempotent per event.
pub async fn schedule_event<S: DispatchStore>(
    config: &Config,
    store: &S,
    now: Timestamp,
    contact: Contact,
    event: &EventRequest,
) -> Result<ScheduledEvent, StoreError> {
    let key = event.key();
    let id = SendId::for_key(&key);
    let due = now.checked_add(event.delay(config)).unwrap_or(now);
    let mut contact = contact;
    for _ in 0..3 {
        if let Some(existing) = store.send(&id).await? {
            return Ok(ScheduledEvent {
                send: existing,
                duplicate: true,
            });
        }
        let skip = skip_reason(config, store, &contact, event, &id, due).await?;
        let status = match skip {
            Some(reason) => SendStatus::Skipped { reason, at: now },
            None => SendStatus::Scheduled,
        };
        let send = SurveySend {
            id: id.clone(),
            contact_id: contact.id.clone(),
            kind: SurveyKind::Transactional,
            touchpoint: Some(event.touchpoint.clone()),
            key: key.clone(),
            locale: contact.locale,
            created_at: now,
            due_at: due,
            next_action_at: skip.is_none().then_some(due),
            status,
            reminder: ReminderState::None,
            message_id: None,
            answered_at: None,
            version: 1,
        };
        let written = if skip.is_some() {
            store.put_send(&send).await
        } else {
            let mut updated = contact.clone();
            updated.last_surveyed_at = Some(contact.last_surveyed_at.map_or(due, |l| l.max(due)));
            updated.version = contact.version + 1;
            store.reserve_send(&updated, &send).await
        };
        match written {
            Ok(()) => {
                tracing::info!(send = %send.id, contact = %contact.id, touchpoint = event.touchpoint.as_str(), skipped = ?skip, "event survey recorded");
                return Ok(ScheduledEvent {
                    send,
                    duplicate: false,
                });
            }
            // Another request for the same event, or a change to the contact: look again.
            Err(StoreError::Conflict(_)) => match store.contact(&contact.id).await? {
                Some(fresh) => contact = fresh,
                None => return Err(StoreError::Conflict("the contact was removed".into())),
            },
            Err(e) => return Err(e),
        }
    }
    match store.send(&id).await? {
        Some(existing) => Ok(ScheduledEvent {
            send: existing,
            duplicate: true,
        }),
        None => Err(StoreError::Conflict(format!(
            "contact {} kept changing while scheduling",
            contact.id
        ))),
    }
}

async fn skip_reason<S: DispatchStore>(
    config: &Config,
    store: &S,
    contact: &Contact,
    event: &EventRequest,
    id: &SendId,
    due: Timestamp,
) -> Result<Option<SkipReason>, StoreError> {
    if contact.unsubscribed_at.is_some() {
        return Ok(Some(SkipReason::Unsubscribed));
    }
    if let Some(reason) = store
        .suppression(&contact.email.hash())
        .await?
        .as_ref()
        .and_then(suppression_reason)
    {
        return Ok(Some(reason));
    }
    if contact.last_surveyed_at.is_some() {
        let sends = store.sends_of_contact(&contact.id).await?;
        let others = counted_times(&sends, id, true);
        if !clear_of(due, &others, fatigue_gap(config, Some(&event.touchpoint))) {
            return Ok(Some(SkipReason::Fatigue));
        }
    }
    Ok(None)
}
