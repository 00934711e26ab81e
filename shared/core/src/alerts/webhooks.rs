//! Signed webhooks: `response.created`, `response.updated` and `unsubscribe.created`, posted to
//! every URL in `webhooks.urls`, each recorded as a [`WebhookDelivery`] and retried with
//! exponential backoff until `webhooks.max_attempts`, then kept as `Dead` for the operator.
//!
//! Signature: header `Pulso-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! computed at each attempt (so `t` is fresh), over the exact body bytes. A receiver recomputes the
//! HMAC over `t`, a dot and the raw body, compares in constant time, and refuses a `t` older than a
//! few minutes (see [`verify_signature`]). The body is the same at every attempt; its `id` names
//! the event (the same for every URL), so a receiver can drop repeats.
//!
//! Delivery is at least once: a delivery is claimed (versioned write, `next_attempt_at` moved a
//! lease ahead) before the POST, so two workers never post it at once; a crash after the POST and
//! before the result is recorded means one more POST once the lease ends.

use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::context::Ctx;
use crate::model::{Contact, DeliveryStatus, Response, WebhookDelivery};
use crate::ports::{Store, StoreError, WebhookClient};
use crate::types::{DeliveryId, SendId};

pub const RESPONSE_CREATED: &str = "response.created";
pub const RESPONSE_UPDATED: &str = "response.updated";
pub const UNSUBSCRIBE_CREATED: &str = "unsubscribe.created";

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Pulso-Signature";
/// How long a claimed delivery is left to its worker before another may try it.
pub const CLAIM_LEASE: SignedDuration = SignedDuration::from_secs(120);
/// First retry delay; each further retry doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: SignedDuration = SignedDuration::from_secs(30);
pub const MAX_BACKOFF: SignedDuration = SignedDuration::from_secs(6 * 3600);
/// Longest error text kept on a delivery.
const MAX_ERROR: usize = 300;

type HmacSha256 = Hmac<Sha256>;

/// The webhook signing secret (`PULSO_WEBHOOK_SECRET`). Never printed.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    pub fn new(secret: impl AsRef<[u8]>) -> Option<WebhookSecret> {
        let s = secret.as_ref();
        (!s.is_empty()).then(|| WebhookSecret(s.to_vec()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

fn hmac_hex(secret: &WebhookSecret, t: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = match HmacSha256::new_from_slice(&secret.0) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Pulso-Signature` value for `body` sent at unix time `t`.
pub fn signature_header(secret: &WebhookSecret, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hmac_hex(secret, t, body))
}

/// Checks a `Pulso-Signature` header as a receiver should: the HMAC matches (constant time) and
/// `t` is within `tolerance` of `now`.
pub fn verify_signature(
    secret: &WebhookSecret,
    header: &str,
    body: &[u8],
    now: Timestamp,
    tolerance: SignedDuration,
) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let Ok(sent) = Timestamp::from_second(t) else {
        return false;
    };
    if now.duration_since(sent).abs() > tolerance {
        return false;
    }
    let expected = hmac_hex(secret, t, body);
    v1.iter().any(|given| {
        use subtle::ConstantTimeEq;
        given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// Who posts and with which secret. Without a secret nothing is posted: deliveries stay pending
/// with the error saying why (an unsigned webhook could not be trusted by its receiver).
#[derive(Debug, Clone)]
pub struct Sender<C> {
    pub client: C,
    pub secret: Option<WebhookSecret>,
}

/// A `WebhookClient` for hosts that post nothing (webhooks off).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWebhookClient;

impl WebhookClient for NoWebhookClient {
    async fn post(
        &self,
        _url: &str,
        _headers: &[(String, String)],
        _body: &[u8],
    ) -> Result<u16, String> {
        Err("this host does not post webhooks".into())
    }
}

fn hashed_id(prefix: &str, key: &str) -> String {
    format!(
        "{prefix}{}",
        hex::encode(&Sha256::digest(key.as_bytes())[..12])
    )
}

/// The retry delay after `attempts` failed attempts: 30 s doubling to 6 h, plus up to a fifth more
/// (from the delivery id, so retries of many deliveries do not all land together).
pub fn backoff(attempts: u32, id: &DeliveryId) -> SignedDuration {
    let exp = attempts.saturating_sub(1).min(20);
    let base = FIRST_BACKOFF
        .checked_mul(1i32 << exp.min(30))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    let spread = Sha256::digest(id.as_str().as_bytes())[0] as i64 % 21; // 0..=20 %
    base + SignedDuration::from_millis(base.as_millis() as i64 * spread / 100)
}

/// The JSON of an answer for webhooks.
pub fn response_json(r: &Response, contact: Option<&Contact>) -> serde_json::Value {
    json!({
        "send_id": r.send_id.as_str(),
        "contact_id": r.contact_id.as_ref().map(|c| c.as_str()),
        "email": contact.map(|c| c.email.as_str()),
        "score": r.score.value(),
        "category": match r.category() {
            crate::nps::Category::Promoter => "promoter",
            crate::nps::Category::Passive => "passive",
            crate::nps::Category::Detractor => "detractor",
        },
        "comment": r.comment,
        "counted": r.counted(),
        "flag_reason": r.flag_reason,
        "locale": r.locale.code(),
        "kind": r.kind,
        "touchpoint": r.touchpoint.as_ref().map(|t| t.as_str()),
        "account": r.account.as_ref().map(|a| a.as_str()),
        "attributes": r.attributes,
        "day": r.day.to_string(),
        "answered_at": r.answered_at.to_string(),
        "updated_at": r.updated_at.to_string(),
        "version": r.version,
    })
}

/// Which event an answer change is, if any: `response.created` when the answer starts to count,
/// `response.updated` when a counted answer's score or comment changes or it stops counting
/// (flagged as automated); nothing for flagged answers or changes that touch neither.
pub fn response_event(before: Option<&Response>, after: &Response) -> Option<&'static str> {
    let before_counted = before.is_some_and(Response::counted);
    match (before_counted, after.counted()) {
        (false, true) => Some(RESPONSE_CREATED),
        (true, false) => Some(RESPONSE_UPDATED),
        (true, true) => before
            .filter(|b| b.score != after.score || b.comment != after.comment)
            .map(|_| RESPONSE_UPDATED),
        (false, false) => None,
    }
}

/// Records one pending delivery of `event` per configured URL (none when webhooks are off).
/// Deliveries are keyed by `event_key` and URL, so recording the same event twice (a retried
/// stream batch) records nothing new; only new deliveries are returned.
pub async fn enqueue<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    event: &str,
    event_key: &str,
    data: serde_json::Value,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let urls = &ctx.config.webhooks.urls;
    if urls.is_empty() {
        return Ok(Vec::new());
    }
    let now = ctx.now();
    let event_id = hashed_id("evt_", &format!("{event}:{event_key}"));
    let body = json!({
        "id": event_id,
        "type": event,
        "created_at": now.to_string(),
        "data": data,
    })
    .to_string();
    let mut out = Vec::new();
    for url in urls {
        let id = DeliveryId::parse(&hashed_id("d", &format!("{event_id}:{url}")))
            .map_err(|_| StoreError::Corrupt("delivery id".into()))?;
        let d = WebhookDelivery {
            id,
            event: event.to_string(),
            url: url.clone(),
            body: body.clone(),
            created_at: now,
            attempts: 0,
            status: DeliveryStatus::Pending,
            next_attempt_at: Some(now),
            last_error: None,
            version: 1,
        };
        match ctx.store.put_delivery(&d).await {
            Ok(()) => out.push(d),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if !out.is_empty() {
        tracing::info!(event, deliveries = out.len(), "webhook deliveries recorded");
    }
    Ok(out)
}

/// Records the webhook of an answer change (see [`response_event`]).
pub async fn enqueue_response<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    before: Option<&Response>,
    after: &Response,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let Some(event) = response_event(before, after) else {
        return Ok(Vec::new());
    };
    if ctx.config.webhooks.urls.is_empty() {
        return Ok(Vec::new());
    }
    let contact = match &after.contact_id {
        Some(id) => ctx.store.contact(id).await?,
        None => None,
    };
    let key = format!("{}:{}", after.send_id, after.version);
    enqueue(ctx, event, &key, response_json(after, contact.as_ref())).await
}

/// Records the `unsubscribe.created` webhook.
pub async fn enqueue_unsubscribe<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    contact: &Contact,
    send: &SendId,
    at: Timestamp,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    let data = json!({
        "contact_id": contact.id.as_str(),
        "email": contact.email.as_str(),
        "send_id": send.as_str(),
        "unsubscribed_at": at.to_string(),
    });
    enqueue(ctx, UNSUBSCRIBE_CREATED, contact.id.as_str(), data).await
}

/// What one attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Failed; will be retried.
    Retrying,
    /// Failed for the last time.
    Dead,
    /// Another worker holds it, or it is no longer pending.
    Skipped,
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_ERROR).collect()
}

/// One attempt at one delivery: claim it, post it signed, record the result.
pub async fn attempt<S: Store, M, A, C: WebhookClient>(
    ctx: &Ctx<S, M, A>,
    sender: &Sender<C>,
    delivery: &WebhookDelivery,
) -> Result<AttemptResult, StoreError> {
    if delivery.status != DeliveryStatus::Pending {
        return Ok(AttemptResult::Skipped);
    }
    let now = ctx.now();
    let mut claimed = delivery.clone();
    claimed.version += 1;
    claimed.next_attempt_at = Some(now + CLAIM_LEASE);
    match ctx.store.put_delivery(&claimed).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(AttemptResult::Skipped),
        Err(e) => return Err(e),
    }
    let outcome = match &sender.secret {
        None => Err("no webhook secret is configured (PULSO_WEBHOOK_SECRET)".to_string()),
        Some(secret) => {
            let t = now.as_second();
            let headers = vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                (
                    SIGNATURE_HEADER.to_string(),
                    signature_header(secret, t, claimed.body.as_bytes()),
                ),
                ("Pulso-Event".to_string(), claimed.event.clone()),
                ("Pulso-Delivery".to_string(), claimed.id.to_string()),
            ];
            match sender
                .client
                .post(&claimed.url, &headers, claimed.body.as_bytes())
                .await
            {
                Ok(status) if (200..300).contains(&status) => Ok(()),
                Ok(status) => Err(format!("the endpoint answered HTTP {status}")),
                Err(e) => Err(e),
            }
        }
    };
    let finished = ctx.now();
    let mut next = claimed.clone();
    next.version += 1;
    next.attempts += 1;
    let result = match outcome {
        Ok(()) => {
            next.status = DeliveryStatus::Delivered;
            next.next_attempt_at = None;
            next.last_error = None;
            // Delivered bodies carry personal data that is no longer needed here.
            next.body = String::new();
            AttemptResult::Delivered
        }
        Err(e) if next.attempts >= ctx.config.webhooks.max_attempts.max(1) => {
            next.status = DeliveryStatus::Dead;
            next.next_attempt_at = None;
            next.last_error = Some(truncate(&e));
            AttemptResult::Dead
        }
        Err(e) => {
            next.next_attempt_at = Some(finished + backoff(next.attempts, &next.id));
            next.last_error = Some(truncate(&e));
            AttemptResult::Retrying
        }
    };
    ctx.store.put_delivery(&next).await?;
    match result {
        AttemptResult::Delivered => {
            tracing::info!(delivery = %next.id, event = %next.event, attempts = next.attempts, "webhook delivered")
        }
        _ => tracing::warn!(
            delivery = %next.id,
            event = %next.event,
            attempts = next.attempts,
            dead = result == AttemptResult::Dead,
            "webhook attempt failed"
        ),
    }
    Ok(result)
}

/// Counts of a retry run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetrySummary {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
    pub skipped: usize,
}

impl RetrySummary {
    fn add(&mut self, r: AttemptResult) {
        match r {
            AttemptResult::Delivered => self.delivered += 1,
            AttemptResult::Retrying => self.retrying += 1,
            AttemptResult::Dead => self.dead += 1,
            AttemptResult::Skipped => self.skipped += 1,
        }
    }
}

/// Attempts each of `deliveries` once (just recorded, so due now).
pub async fn deliver_all<S: Store, M, A, C: WebhookClient>(
    ctx: &Ctx<S, M, A>,
    sender: &Sender<C>,
    deliveries: &[WebhookDelivery],
) -> Result<RetrySummary, StoreError> {
    let mut summary = RetrySummary::default();
    for d in deliveries {
        summary.add(attempt(ctx, sender, d).await?);
    }
    Ok(summary)
}

/// Attempts the pending deliveries that are due, at most `limit`.
pub async fn retry_due<S: Store, M, A, C: WebhookClient>(
    ctx: &Ctx<S, M, A>,
    sender: &Sender<C>,
    limit: usize,
) -> Result<RetrySummary, StoreError> {
    let due = ctx.store.due_deliveries(ctx.now(), limit).await?;
    deliver_all(ctx, sender, &due).await
}

/// Puts a dead delivery back in the queue, due now, with its attempts reset.
pub async fn requeue<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    dead: &WebhookDelivery,
) -> Result<bool, StoreError> {
    if dead.status != DeliveryStatus::Dead {
        return Ok(false);
    }
    let mut next = dead.clone();
    next.version += 1;
    next.status = DeliveryStatus::Pending;
    next.attempts = 0;
    next.next_attempt_at = Some(ctx.now());
    match ctx.store.put_delivery(&next).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::new("whsec_test").unwrap()
    }

    #[test]
    fn a_signature_verifies_and_anything_else_does_not() {
        let body = br#"{"id":"evt_1"}"#;
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let h = signature_header(&secret(), now.as_second(), body);
        let tol = SignedDuration::from_mins(5);
        assert!(verify_signature(&secret(), &h, body, now, tol));
        assert!(
            !verify_signature(&secret(), &h, b"{}", now, tol),
            "other body"
        );
        let other = WebhookSecret::new("another").unwrap();
        assert!(
            !verify_signature(&other, &h, body, now, tol),
            "other secret"
        );
        let later = now + SignedDuration::from_mins(10);
        assert!(
            !verify_signature(&secret(), &h, body, later, tol),
            "too old"
        );
        assert!(!verify_signature(&secret(), "t=abc,v1=00", body, now, tol));
        assert!(!verify_signature(&secret(), "", body, now, tol));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body() {
        // Known answer computed independently: HMAC-SHA256(key="key", "1.{}").
        let s = WebhookSecret::new("key").unwrap();
        let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
        mac.update(b"1.{}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(signature_header(&s, 1, b"{}"), format!("t=1,v1={expected}"));
        assert!(!format!("{s:?}").contains("key"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let id = DeliveryId::parse("d1").unwrap();
        let b1 = backoff(1, &id);
        let b2 = backoff(2, &id);
        assert!(b1 >= FIRST_BACKOFF && b1 <= FIRST_BACKOFF * 6 / 5);
        assert!(b2 >= FIRST_BACKOFF * 2 && b2 <= FIRST_BACKOFF * 12 / 5);
        assert!(backoff(40, &id) <= MAX_BACKOFF * 6 / 5);
        assert!(backoff(40, &id) >= MAX_BACKOFF);
    }
}
