//! Signed webhooks against a receiver on loopback (a small axum server that checks
//! `Pulso-Signature` as the docs tell receivers to, and can fail its first N calls): the three
//! events, retries with backoff, the dead-letter state and requeue, and what happens without a
//! secret or with the wrong one.

mod capture_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use capture_support::*;
use jiff::SignedDuration;
use pulso_alerts::ReqwestClient;
use pulso_core::alerts::webhooks::{
    self, FIRST_BACKOFF, RESPONSE_CREATED, RESPONSE_UPDATED, Sender, UNSUBSCRIBE_CREATED,
    WebhookSecret, verify_signature,
};
use pulso_core::model::DeliveryStatus;
use pulso_core::ports::{FixedClock, WebhookDeliveries};

const SECRET: &str = "whsec_3c1f9e0b7d";

struct Receiver {
    secret: WebhookSecret,
    clock: FixedClock,
    fail_first: AtomicUsize,
    always_fail: AtomicBool,
    bad_signatures: AtomicUsize,
    received: Mutex<Vec<(String, serde_json::Value)>>,
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("pulso-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // What a receiver does: HMAC over "<t>.<raw body>", constant-time, and a fresh t.
    if !verify_signature(
        &r.secret,
        signature,
        &body,
        r.clock.0.lock().map(|t| *t).unwrap(),
        SignedDuration::from_mins(5),
    ) {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if r.always_fail.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if r.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let event = headers
        .get("pulso-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    r.received.lock().unwrap().push((event, json));
    StatusCode::NO_CONTENT
}

struct Setup {
    h: Harness,
    receiver: Arc<Receiver>,
    sender: Sender<ReqwestClient>,
}

/// A receiver on loopback and a harness whose webhooks go to it; Pulso signs with `secret`.
async fn receiver_setup(
    fail_first: usize,
    always_fail: bool,
    max_attempts: u32,
    secret: Option<&str>,
) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = Harness::new(&format!(
        "[webhooks]\nurls = [\"http://{addr}/hooks/pulso\"]\nmax_attempts = {max_attempts}\n"
    ));
    // The receiver reads Pulso's clock, so signature freshness is checked on the test's time.
    let receiver = Arc::new(Receiver {
        secret: WebhookSecret::new(SECRET).unwrap(),
        clock: h.clock.clone(),
        fail_first: AtomicUsize::new(fail_first),
        always_fail: AtomicBool::new(always_fail),
        bad_signatures: AtomicUsize::new(0),
        received: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/hooks/pulso", axum::routing::post(hook))
        .with_state(receiver.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let sender = Sender {
        client: ReqwestClient::new(std::time::Duration::from_secs(5)),
        secret: secret.and_then(WebhookSecret::new),
    };
    Setup {
        h,
        receiver,
        sender,
    }
}

#[tokio::test]
async fn the_three_events_are_signed_and_delivered() {
    let s = receiver_setup(0, false, 8, Some(SECRET)).await;
    let h = &s.h;
    let (contact, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline(s.sender.clone())).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 6)).await;
    h.advance_secs(30);
    press_send(addr, &token, &page.body, 6, "ok").await;
    h.advance_secs(3600);
    press_send(addr, &token, &page.body, 8, "better after the call").await;
    post_raw(addr, &h.unsubscribe_path(&send), "text/plain", vec![]).await;

    let received = s.receiver.received.lock().unwrap().clone();
    assert_eq!(s.receiver.bad_signatures.load(Ordering::SeqCst), 0);
    let events: Vec<&str> = received.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        events,
        [RESPONSE_CREATED, RESPONSE_UPDATED, UNSUBSCRIBE_CREATED]
    );
    let created = &received[0].1;
    assert_eq!(created["type"], RESPONSE_CREATED);
    assert_eq!(created["data"]["score"], 6);
    assert_eq!(created["data"]["category"], "detractor");
    assert_eq!(created["data"]["email"], "person1@example.com");
    assert_eq!(created["data"]["counted"], true);
    let updated = &received[1].1;
    assert_eq!(updated["data"]["score"], 8);
    assert_eq!(updated["data"]["comment"], "better after the call");
    assert_ne!(updated["id"], created["id"]);
    let unsub = &received[2].1;
    assert_eq!(unsub["data"]["contact_id"], contact.id.as_str());
    // Delivered deliveries keep no body (personal data) and nothing is pending.
    assert!(
        h.ctx
            .store
            .due_deliveries(h.now() + SignedDuration::from_hours(48), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn failures_are_retried_with_backoff_until_delivered() {
    let s = receiver_setup(2, false, 8, Some(SECRET)).await;
    let h = &s.h;
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline(s.sender.clone())).await;
    script_commit(addr, &h.answer_token(&send), 9).await;
    assert!(
        s.receiver.received.lock().unwrap().is_empty(),
        "first call failed"
    );
    let pending = h
        .ctx
        .store
        .due_deliveries(h.now() + SignedDuration::from_hours(1), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let d = &pending[0];
    assert_eq!((d.attempts, d.status), (1, DeliveryStatus::Pending));
    assert!(d.last_error.as_deref().unwrap_or("").contains("503"));
    let wait = d.next_attempt_at.unwrap().duration_since(h.now());
    assert!(
        wait >= FIRST_BACKOFF && wait <= FIRST_BACKOFF * 6 / 5,
        "{wait:?}"
    );

    // Not due yet: nothing is tried.
    let r = webhooks::retry_due(&h.ctx, &s.sender, 10).await.unwrap();
    assert_eq!(r.delivered + r.retrying + r.dead, 0);
    h.advance_secs(40);
    let r = webhooks::retry_due(&h.ctx, &s.sender, 10).await.unwrap();
    assert_eq!(r.retrying, 1);
    let d = h.ctx.store.delivery(&d.id).await.unwrap().unwrap();
    let wait = d.next_attempt_at.unwrap().duration_since(h.now());
    assert!(wait >= FIRST_BACKOFF * 2, "the delay doubles: {wait:?}");
    h.advance_secs(90);
    let r = webhooks::retry_due(&h.ctx, &s.sender, 10).await.unwrap();
    assert_eq!(r.delivered, 1);
    let d = h.ctx.store.delivery(&d.id).await.unwrap().unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Delivered, 3));
    assert!(d.body.is_empty());
    assert_eq!(s.receiver.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_dead_listed_and_can_be_requeued() {
    let s = receiver_setup(0, true, 3, Some(SECRET)).await;
    let h = &s.h;
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline(s.sender.clone())).await;
    script_commit(addr, &h.answer_token(&send), 2).await;
    for _ in 0..5 {
        h.advance_secs(3600);
        webhooks::retry_due(&h.ctx, &s.sender, 10).await.unwrap();
    }
    let dead = h.ctx.store.dead_deliveries(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    assert!(dead[0].last_error.as_deref().unwrap().contains("HTTP 500"));
    assert!(
        !dead[0].body.is_empty(),
        "a dead delivery keeps its body for the retry"
    );
    assert!(
        h.ctx
            .store
            .due_deliveries(h.now() + SignedDuration::from_hours(48), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The operator requeues it once the endpoint is fixed.
    s.receiver.always_fail.store(false, Ordering::SeqCst);
    assert!(webhooks::requeue(&h.ctx, &dead[0]).await.unwrap());
    let due = h.ctx.store.due_deliveries(h.now(), 10).await.unwrap();
    assert_eq!((due.len(), due[0].attempts), (1, 0));
    let r = webhooks::retry_due(&h.ctx, &s.sender, 10).await.unwrap();
    assert_eq!(r.delivered, 1);
    assert_eq!(s.receiver.received.lock().unwrap().len(), 1);
    assert!(h.ctx.store.dead_deliveries(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver() {
    let s = receiver_setup(0, false, 8, Some("not-the-secret")).await;
    let h = &s.h;
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline(s.sender.clone())).await;
    script_commit(addr, &h.answer_token(&send), 10).await;
    assert_eq!(s.receiver.bad_signatures.load(Ordering::SeqCst), 1);
    assert!(s.receiver.received.lock().unwrap().is_empty());
    let pending = h
        .ctx
        .store
        .due_deliveries(h.now() + SignedDuration::from_hours(1), 10)
        .await
        .unwrap();
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("HTTP 401")
    );
}

#[tokio::test]
async fn without_a_secret_nothing_is_posted_and_the_delivery_says_why() {
    let s = receiver_setup(0, false, 8, None).await;
    let h = &s.h;
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline(s.sender.clone())).await;
    script_commit(addr, &h.answer_token(&send), 10).await;
    assert_eq!(s.receiver.bad_signatures.load(Ordering::SeqCst), 0);
    assert!(s.receiver.received.lock().unwrap().is_empty());
    let pending = h
        .ctx
        .store
        .due_deliveries(h.now() + SignedDuration::from_hours(1), 10)
        .await
        .unwrap();
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("PULSO_WEBHOOK_SECRET")
    );
}

#[tokio::test]
async fn recording_the_same_change_twice_records_one_delivery() {
    let s = receiver_setup(0, false, 8, Some(SECRET)).await;
    let h = &s.h;
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    script_commit(addr, &h.answer_token(&send), 7).await;
    let after = h.answer(&send).await.unwrap();
    let first = webhooks::enqueue_response(&h.ctx, None, &after)
        .await
        .unwrap();
    let second = webhooks::enqueue_response(&h.ctx, None, &after)
        .await
        .unwrap();
    assert_eq!((first.len(), second.len()), (1, 0));
    // Flagged answers send nothing; a change that touches neither score nor comment neither.
    let mut flagged = after.clone();
    flagged.source = pulso_core::model::AnswerSource::Automated;
    assert_eq!(webhooks::response_event(None, &flagged), None);
    assert_eq!(webhooks::response_event(Some(&after), &after), None);
    assert_eq!(
        webhooks::response_event(Some(&after), &flagged),
        Some(RESPONSE_UPDATED)
    );
}
