//! SES feedback: bounces and complaints put addresses on the suppression list.
//!
//! Accepted shapes (what the feedback function can be subscribed to):
//! - **EventBridge** events from SES event publishing (a configuration set's EventBridge
//!   destination): `source` `aws.ses`, `detail-type` `Email Bounced`, `Email Complaint Received`,
//!   `Email Delivered`, …, the SES record in `detail` (with `eventType`);
//! - **SNS** (Lambda's `Records[].Sns.Message`, a JSON string) carrying either an event-publishing
//!   record (`eventType`) or a classic feedback notification (`notificationType`);
//! - the same SNS envelope or EventBridge event delivered through **SQS** (`Records[].body`).
//!
//! Rules, per recipient address (kept only as its hash):
//! - a **permanent** bounce suppresses the address (`HardBounce`);
//! - a **complaint** suppresses it (`Complaint`);
//! - a **transient** (or undetermined) bounce is counted in `soft_bounces`; the
//!   [`SOFT_BOUNCE_LIMIT`]th in a row suppresses it (`SoftBounces`);
//! - a **delivery** resets the count ("in a row"), when the configuration set publishes deliveries;
//! - an address already suppressed keeps its first reason.
//!
//! Other event types (send, open, click, delivery delay, …) are ignored. An event that cannot be
//! read is logged by its id and skipped; it never fails the batch.

use jiff::Timestamp;
use serde_json::Value;

use crate::context::Ctx;
use crate::model::{Suppression, SuppressionReason};
use crate::ports::{Store, StoreError};
use crate::types::Email;

/// Transient bounces in a row that suppress an address.
pub const SOFT_BOUNCE_LIMIT: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    Permanent,
    /// Transient or undetermined.
    Transient,
}

/// What one SES record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    Bounce {
        kind: BounceKind,
        recipients: Vec<String>,
    },
    Complaint {
        recipients: Vec<String>,
    },
    Delivery {
        recipients: Vec<String>,
    },
}

/// One record of a Lambda event, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The event's id (EventBridge `id`, SNS `MessageId`, SQS `messageId`) for logs.
    pub id: String,
    /// `Ok(None)`: a kind of event Pulso does not act on. `Err`: why it could not be read.
    pub feedback: Result<Option<Feedback>, String>,
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn id_of(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| s(v, k))
        .map(|id| id.chars().take(100).collect())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Reads every record of a Lambda event (EventBridge, SNS or SQS).
pub fn read_event(event: &Value) -> Vec<Record> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        return records.iter().map(read_record).collect();
    }
    vec![read_envelope(event)]
}

fn read_record(record: &Value) -> Record {
    if let Some(sns) = record.get("Sns") {
        return read_sns(sns, &id_of(sns, &["MessageId"]));
    }
    let id = id_of(record, &["messageId", "MessageId"]);
    match s(record, "body") {
        Some(body) => match serde_json::from_str::<Value>(body) {
            // An SNS envelope delivered through SQS, or an EventBridge event.
            Ok(inner) if inner.get("Message").is_some() => read_sns(&inner, &id),
            Ok(inner) => Record {
                id,
                feedback: read_envelope(&inner).feedback,
            },
            Err(_) => Record {
                id,
                feedback: Err("the SQS body is not JSON".into()),
            },
        },
        None => Record {
            id,
            feedback: Err("a record with neither Sns nor body".into()),
        },
    }
}

fn read_sns(sns: &Value, id: &str) -> Record {
    let feedback = match s(sns, "Message") {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(msg) => read_ses(&msg),
            Err(_) => Err("the SNS message is not JSON".into()),
        },
        None => Err("the SNS record has no Message".into()),
    };
    Record {
        id: id.to_string(),
        feedback,
    }
}

/// An EventBridge event (SES record in `detail`) or a bare SES record.
fn read_envelope(v: &Value) -> Record {
    if v.get("detail-type").is_some() {
        let id = id_of(v, &["id"]);
        let feedback = if s(v, "source") != Some("aws.ses") {
            Err("an EventBridge event not from aws.ses".into())
        } else {
            match v.get("detail") {
                Some(detail) => read_ses(detail),
                None => Err("the EventBridge event has no detail".into()),
            }
        };
        return Record { id, feedback };
    }
    let id = v
        .get("mail")
        .map(|m| id_of(m, &["messageId"]))
        .unwrap_or_else(|| "unknown".to_string());
    Record {
        id,
        feedback: read_ses(v),
    }
}

/// `addr@example.com` or `Name <addr@example.com>`.
fn address(raw: &str) -> String {
    match (raw.rfind('<'), raw.rfind('>')) {
        (Some(a), Some(b)) if a < b => raw[a + 1..b].to_string(),
        _ => raw.to_string(),
    }
}

fn recipients(list: Option<&Value>, field: Option<&str>) -> Result<Vec<String>, String> {
    let list = list
        .and_then(Value::as_array)
        .ok_or_else(|| "the recipient list is missing".to_string())?;
    let out: Vec<String> = list
        .iter()
        .filter_map(|r| match field {
            Some(f) => s(r, f),
            None => r.as_str(),
        })
        .map(address)
        .collect();
    if out.is_empty() {
        return Err("the recipient list is empty".into());
    }
    Ok(out)
}

/// One SES record: event publishing (`eventType`) or a feedback notification
/// (`notificationType`).
pub fn read_ses(v: &Value) -> Result<Option<Feedback>, String> {
    let kind = s(v, "eventType")
        .or_else(|| s(v, "notificationType"))
        .ok_or("neither eventType nor notificationType")?;
    match kind {
        "Bounce" => {
            let b = v.get("bounce").ok_or("a Bounce without bounce")?;
            let kind = match s(b, "bounceType") {
                Some("Permanent") => BounceKind::Permanent,
                Some("Transient") | Some("Undetermined") => BounceKind::Transient,
                _ => return Err("unknown bounceType".into()),
            };
            Ok(Some(Feedback::Bounce {
                kind,
                recipients: recipients(b.get("bouncedRecipients"), Some("emailAddress"))?,
            }))
        }
        "Complaint" => {
            let c = v.get("complaint").ok_or("a Complaint without complaint")?;
            Ok(Some(Feedback::Complaint {
                recipients: recipients(c.get("complainedRecipients"), Some("emailAddress"))?,
            }))
        }
        "Delivery" => {
            let d = v.get("delivery").ok_or("a Delivery without delivery")?;
            Ok(Some(Feedback::Delivery {
                recipients: recipients(d.get("recipients"), None)?,
            }))
        }
        "Send"
        | "Reject"
        | "Open"
        | "Click"
        | "Rendering Failure"
        | "RenderingFailure"
        | "DeliveryDelay"
        | "Subscription"
        | "AmazonSnsSubscriptionSucceeded" => Ok(None),
        _ => Err("an unknown SES event type".into()),
    }
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedbackSummary {
    /// Addresses suppressed for a permanent bounce.
    pub hard_bounces: usize,
    /// Addresses suppressed for a complaint.
    pub complaints: usize,
    /// Transient bounces counted (below the limit).
    pub soft_bounces: usize,
    /// Addresses suppressed for reaching the transient-bounce limit.
    pub suppressed_after_soft: usize,
    /// Transient-bounce counts reset by a delivery.
    pub resets: usize,
    /// Records or addresses with nothing to do (already suppressed, other event types).
    pub ignored: usize,
    /// Records or addresses that could not be read (logged by id).
    pub unreadable: usize,
}

async fn apply_one<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    feedback: &Feedback,
    address: &Email,
    now: Timestamp,
    summary: &mut FeedbackSummary,
) -> Result<(), StoreError> {
    let hash = address.hash();
    let existing = ctx.store.suppression(&hash).await?;
    let soft = existing.as_ref().map(|e| e.soft_bounces).unwrap_or(0);
    let suppressed = existing.as_ref().is_some_and(Suppression::suppresses);
    let put = |reason, soft_bounces| Suppression {
        email_hash: hash.clone(),
        reason,
        at: now,
        soft_bounces,
    };
    let next = match feedback {
        _ if suppressed => {
            summary.ignored += 1;
            None
        }
        Feedback::Bounce {
            kind: BounceKind::Permanent,
            ..
        } => {
            summary.hard_bounces += 1;
            Some(put(Some(SuppressionReason::HardBounce), soft))
        }
        Feedback::Complaint { .. } => {
            summary.complaints += 1;
            Some(put(Some(SuppressionReason::Complaint), soft))
        }
        Feedback::Bounce {
            kind: BounceKind::Transient,
            ..
        } => {
            let n = soft.saturating_add(1);
            if n >= SOFT_BOUNCE_LIMIT {
                summary.suppressed_after_soft += 1;
                Some(put(Some(SuppressionReason::SoftBounces), n))
            } else {
                summary.soft_bounces += 1;
                Some(put(None, n))
            }
        }
        Feedback::Delivery { .. } if soft > 0 => {
            summary.resets += 1;
            Some(put(None, 0))
        }
        Feedback::Delivery { .. } => {
            summary.ignored += 1;
            None
        }
    };
    if let Some(s) = next {
        ctx.store.put_suppression(&s).await?;
    }
    Ok(())
}

/// Applies a batch (see the module doc). Store failures fail the batch (so it is retried; every
/// rule is idempotent but the transient-bounce count); unreadable records do not.
pub async fn apply<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    records: &[Record],
) -> Result<FeedbackSummary, StoreError> {
    let mut summary = FeedbackSummary::default();
    let now = ctx.now();
    for record in records {
        let feedback = match &record.feedback {
            Ok(Some(f)) => f,
            Ok(None) => {
                summary.ignored += 1;
                continue;
            }
            Err(why) => {
                tracing::warn!(event = %record.id, why = %why, "SES event skipped");
                summary.unreadable += 1;
                continue;
            }
        };
        let list = match feedback {
            Feedback::Bounce { recipients, .. }
            | Feedback::Complaint { recipients }
            | Feedback::Delivery { recipients } => recipients,
        };
        for raw in list {
            match Email::parse(raw) {
                Ok(address) => apply_one(ctx, feedback, &address, now, &mut summary).await?,
                Err(_) => {
                    tracing::warn!(event = %record.id, "SES event names an unreadable address: skipped");
                    summary.unreadable += 1;
                }
            }
        }
    }
    tracing::info!(?summary, "SES feedback applied");
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounce_kinds_are_read_from_both_forms() {
        let publishing = json!({"eventType": "Bounce", "bounce": {"bounceType": "Permanent",
            "bouncedRecipients": [{"emailAddress": "a@example.com"}]}});
        assert_eq!(
            read_ses(&publishing),
            Ok(Some(Feedback::Bounce {
                kind: BounceKind::Permanent,
                recipients: vec!["a@example.com".into()]
            }))
        );
        let notification = json!({"notificationType": "Bounce", "bounce": {"bounceType": "Undetermined",
            "bouncedRecipients": [{"emailAddress": "Ana <a@example.com>"}]}});
        assert_eq!(
            read_ses(&notification),
            Ok(Some(Feedback::Bounce {
                kind: BounceKind::Transient,
                recipients: vec!["a@example.com".into()]
            }))
        );
    }

    #[test]
    fn other_events_are_ignored_and_broken_ones_are_errors() {
        assert_eq!(
            read_ses(&json!({"eventType": "Open", "open": {}})),
            Ok(None)
        );
        assert!(read_ses(&json!({"eventType": "Bounce"})).is_err());
        assert!(read_ses(&json!({"eventType": "Nope"})).is_err());
        assert!(read_ses(&json!({"hello": 1})).is_err());
        assert!(
            read_ses(&json!({"eventType": "Complaint", "complaint": {"complainedRecipients": []}}))
                .is_err()
        );
    }

    #[test]
    fn envelopes_are_unwrapped() {
        let ses = json!({"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "b@example.com"}]}});
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m1", "Message": ses.to_string()}},
                                     {"EventSource": "aws:sns", "Sns": {"MessageId": "m2", "Message": "not json"}}]});
        let records = read_event(&sns);
        assert_eq!(records.len(), 2);
        assert!(matches!(
            records[0].feedback,
            Ok(Some(Feedback::Complaint { .. }))
        ));
        assert_eq!(records[1].id, "m2");
        assert!(records[1].feedback.is_err());
        let eb = json!({"id": "e1", "source": "aws.ses", "detail-type": "Email Complaint Received", "detail": ses});
        let sqs = json!({"Records": [{"messageId": "q1", "body": eb.to_string()}]});
        let records = read_event(&sqs);
        assert_eq!(records[0].id, "q1");
        assert!(matches!(
            records[0].feedback,
            Ok(Some(Feedback::Complaint { .. }))
        ));
        let foreign = json!({"id": "e2", "source": "aws.ec2", "detail-type": "x", "detail": {}});
        assert!(read_event(&foreign)[0].feedback.is_err());
    }
}
