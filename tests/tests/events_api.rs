//! The events API over HTTP on loopback: authentication, malformed bodies (400 naming the field,
//! nothing written), unknown contacts created, the delay respected, idempotency per event, contact
//! upserts, erasure on request and the metrics query.

mod dispatch_support;

use std::sync::Arc;

use dispatch_support::*;
use pulso_core::Ctx;
use pulso_core::model::{Counts, Dimension, Rollup, SendStatus};
use pulso_core::ports::{
    ApiKeys, Clock, Contacts, FixedClock, Rollups, Sends, SequentialIds, Suppressions,
};
use pulso_core::types::Email;
use pulso_local::{DirArchive, SqliteStore};
use serde_json::{Value, json};

struct Api {
    base: String,
    key: String,
    store: SqliteStore,
    clock: FixedClock,
    mailer: FakeMailer,
    ctx: Ctx<SqliteStore, FakeMailer, DirArchive>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn api(toml: &str) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let clock = FixedClock::at(ts("2026-03-04T10:00:00Z"));
    let mailer = FakeMailer::new();
    let ctx = Ctx {
        config: Arc::new(config(toml)),
        keys: keys().into(),
        store: store.clone(),
        mailer: mailer.clone(),
        archive: DirArchive::new(dir.path().join("archive")).unwrap(),
        clock: Arc::new(clock.clone()),
        ids: Arc::new(SequentialIds::new("c")),
    };
    let key = pulso_events::keys::new_key(&[42u8; 32], "tests", clock.now()).unwrap();
    store.put_api_key(&key.record).await.unwrap();
    let router = pulso_events::router(ctx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Api {
        base,
        key: key.plaintext,
        store,
        clock,
        mailer,
        ctx,
        server,
        _dir: dir,
        http: reqwest::Client::new(),
    }
}

impl Api {
    async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.post_with(path, Some(&self.key), body).await
    }

    async fn post_with(
        &self,
        path: &str,
        key: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A GET with the key, the response as it came (headers included).
    async fn get_response(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.get_response(path).await;
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// Whether the store holds no contact with this address.
    async fn no_contact(&self, email: &str) -> bool {
        self.store
            .contact_by_email(&Email::parse(email).unwrap())
            .await
            .unwrap()
            .is_none()
    }

    async fn nothing_written(&self) {
        assert!(self.no_contact("new@example.com").await);
        assert!(
            self.store
                .due_sends(ts("2100-01-01T00:00:00Z"), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

fn event_body() -> Value {
    json!({
        "event": "ticket_closed",
        "event_id": "T-1",
        "email": "New@Example.com",
        "name": "Nuevo <b>Cliente</b>",
        "account": "Acme",
        "locale": "es",
        "time_zone": "Europe/Madrid",
        "attributes": {"plan": "pro", "seats": 12},
        "delay_hours": 24
    })
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused() {
    let api = api("").await;
    let body = event_body().to_string();
    for key in [None, Some("pulso_00000000_nope"), Some("")] {
        let (status, json) = api.post_with("/v1/events", key, body.clone()).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(json["error"], "unauthorized");
    }
    let resp = api
        .http
        .post(format!("{}/v1/events", api.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"pulso\""
    );
    // A revoked key stops working at once.
    let k = pulso_events::keys::revoke(&api.store, "pulso_2a2a", api.clock.now())
        .await
        .unwrap();
    assert!(k.revoked_at.is_some());
    let (status, _) = api.post("/v1/events", body).await;
    assert_eq!(status, 401);
    api.nothing_written().await;
    let (status, _) = api.get("/v1/metrics").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_json_and_write_nothing() {
    let api = api("").await;
    let body = event_body().to_string();
    for path in ["/v1/event", "/v1/events/extra", "/v2/events", "/"] {
        let (status, json) = api.post(path, body.clone()).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(json["error"], "not_found", "{path}");
    }
    let resp = api.get_response("/v1/events").await;
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers().get("allow").unwrap(), "POST");
    let json: Value = resp.json().await.unwrap();
    assert_eq!(json["error"], "method_not_allowed");
    let (status, json) = api.post("/v1/metrics", body).await;
    assert_eq!(status, 405);
    assert_eq!(json["error"], "method_not_allowed");
    api.nothing_written().await;
}

#[tokio::test]
async fn malformed_bodies_name_the_field_and_write_nothing() {
    let api = api("").await;
    let mut cases: Vec<(String, &str)> = Vec::new();
    for (field, value) in [
        ("email", json!("not an address")),
        ("email", json!(null)),
        ("event", json!("Ticket Closed")),
        ("locale", json!("fr")),
        ("time_zone", json!("Nowhere/City")),
        ("delay_hours", json!(-3)),
        ("attributes", json!("plan=pro")),
        ("account", json!(["Acme"])),
        ("customer_since", json!("31/01/2025")),
    ] {
        let mut b = event_body();
        if value.is_null() {
            b.as_object_mut().unwrap().remove(field);
        } else {
            b[field] = value;
        }
        cases.push((b.to_string(), field));
    }
    for (body, field) in cases {
        let (status, json) = api.post("/v1/events", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(json["error"], "invalid_field", "{json}");
        assert_eq!(json["field"], field, "{json}");
        assert!(json["message"].as_str().unwrap().len() > 3);
    }
    for body in ["{", "[]", "\"x\"", ""] {
        let (status, json) = api.post("/v1/events", body).await;
        assert_eq!(status, 400, "{body:?}");
        assert_eq!(json["error"], "invalid_json");
    }
    let mut extra = event_body();
    extra["emial"] = json!("typo@example.com");
    let (status, json) = api.post("/v1/events", extra.to_string()).await;
    assert_eq!((status, json["field"].as_str()), (400, Some("emial")));
    // Too large: refused before it is read.
    let big = format!(
        "{{\"event\":\"t\",\"email\":\"a@b.co\",\"name\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let (status, json) = api.post("/v1/events", big).await;
    assert_eq!(status, 413);
    assert_eq!(json["error"], "too_large");
    api.nothing_written().await;
}

#[tokio::test]
async fn an_event_creates_the_contact_and_schedules_after_the_delay_once() {
    let api = api("[email]\nmax_send_rate = 1000\n").await;
    let (status, json) = api.post("/v1/events", event_body().to_string()).await;
    assert_eq!(status, 202, "{json}");
    assert_eq!(json["status"], "scheduled");
    assert_eq!(json["contact"], "created");
    assert_eq!(json["duplicate"], false);
    assert_eq!(json["due_at"], "2026-03-05T10:00:00Z");
    let contact = api
        .store
        .contact_by_email(&Email::parse("new@example.com").unwrap())
        .await
        .unwrap()
        .expect("the contact was created");
    assert_eq!(contact.locale.code(), "es");
    assert_eq!(contact.attributes.get("seats"), Some("12"));
    assert_eq!(json["contact_id"], contact.id.as_str());
    let sends = api.store.sends_of_contact(&contact.id).await.unwrap();
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0].touchpoint.as_ref().unwrap().as_str(),
        "ticket_closed"
    );
    assert_eq!(json["send_id"], sends[0].id.as_str());

    // The same event again: the same send, nothing new.
    let (status, again) = api.post("/v1/events", event_body().to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["send_id"], json["send_id"]);
    assert_eq!(again["contact"], "unchanged");
    assert_eq!(
        api.store.sends_of_contact(&contact.id).await.unwrap().len(),
        1
    );

    // The delay holds: nothing before it, the survey after it, in Spanish, names escaped.
    let timer = pulso_core::dispatch::ManualTimer::new();
    api.clock.set(ts("2026-03-05T09:59:00Z"));
    let out = pulso_core::dispatch::run(&api.ctx, &timer, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(out.sent, 0);
    api.clock.set(ts("2026-03-05T10:00:00Z"));
    let out = pulso_core::dispatch::run(&api.ctx, &timer, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(out.sent, 1);
    let mail = &api.mailer.delivered()[0];
    assert_eq!(mail.email.to, vec!["new@example.com".to_string()]);
    let raw = String::from_utf8_lossy(&mail.email.raw).replace("=\r\n", "");
    assert!(raw.contains("lang=3D\"es\"") || raw.contains("lang=\"es\""));
    let html = &raw[raw.find("Content-Type: text/html").unwrap()..];
    assert!(
        !html.contains("<b>Cliente</b>"),
        "names are escaped in HTML"
    );
    assert!(html.contains("Cliente"));
    let s = api.store.send(&sends[0].id).await.unwrap().unwrap();
    assert!(matches!(s.status, SendStatus::Sent { .. }));

    // A second event for the same contact right away: recorded, skipped for fatigue.
    let mut other = event_body();
    other["event_id"] = json!("T-2");
    other["delay_hours"] = json!(0);
    let (status, json) = api.post("/v1/events", other.to_string()).await;
    assert_eq!(status, 202);
    assert_eq!(
        (json["status"].as_str(), json["reason"].as_str()),
        (Some("skipped"), Some("fatigue"))
    );
}

#[tokio::test]
async fn events_without_an_id_are_deduplicated_by_content() {
    let api = api("").await;
    let mut b = event_body();
    b.as_object_mut().unwrap().remove("event_id");
    let (s1, j1) = api.post("/v1/events", b.to_string()).await;
    let (s2, j2) = api.post("/v1/events", b.to_string()).await;
    assert_eq!((s1, s2), (202, 200));
    assert_eq!(j1["event_id_derived"], true);
    assert_eq!(j1["send_id"], j2["send_id"]);
}

#[tokio::test]
async fn contacts_are_upserted_one_or_many_and_a_bad_batch_writes_nothing() {
    let api = api("").await;
    let (status, json) = api
        .post(
            "/v1/contacts",
            json!({"email": "one@example.com", "name": "One"}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["outcome"], "created");
    let batch = json!({"contacts": [
        {"email": "one@example.com", "name": "One Renamed"},
        {"email": "two@example.com", "locale": "es", "attributes": {"region": "latam"}},
        {"email": "ONE@example.com", "name": "One Renamed"}
    ]});
    let (status, json) = api.post("/v1/contacts", batch.to_string()).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        (
            json["created"].as_u64(),
            json["updated"].as_u64(),
            json["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let bad =
        json!([{"email": "three@example.com"}, {"email": "four@example.com", "locale": "xx"}]);
    let (status, json) = api.post("/v1/contacts", bad.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(json["field"], "contacts[1].locale");
    assert!(
        api.no_contact("three@example.com").await,
        "nothing of a bad batch is written"
    );
}

#[tokio::test]
async fn a_person_is_erased_on_request_and_no_one_else() {
    let api = api("").await;
    let (status, json) = api.post("/v1/events", event_body().to_string()).await;
    assert_eq!(status, 202, "{json}");
    let id = json["contact_id"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(
            "/v1/contacts",
            json!({"email": "other@example.com"}).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let new = Email::parse("new@example.com").unwrap();
    let contact = api.store.contact_by_email(&new).await.unwrap().unwrap();
    assert_eq!(contact.id.as_str(), id);
    assert_eq!(
        api.store.sends_of_contact(&contact.id).await.unwrap().len(),
        1
    );

    // Refused without a key, or with a body that is not one valid address: nothing erased.
    let erase = json!({"email": "New@Example.com"}).to_string();
    let (status, _) = api
        .post_with("/v1/contacts/erase", None, erase.clone())
        .await;
    assert_eq!(status, 401);
    for (body, field) in [
        (json!({"email": "not an address"}), "email"),
        (json!({}), "email"),
        (
            json!({"email": "new@example.com", "reason": "asked"}),
            "reason",
        ),
    ] {
        let (status, json) = api.post("/v1/contacts/erase", body.to_string()).await;
        assert_eq!(
            (status, json["field"].as_str()),
            (400, Some(field)),
            "{json}"
        );
    }
    assert!(!api.no_contact("new@example.com").await);
    assert!(api.store.suppression(&new.hash()).await.unwrap().is_none());

    // What the erasure logs, at every level: who asked and whom, never the address.
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let (status, json) = {
        let _guard = tracing::subscriber::set_default(subscriber);
        api.post("/v1/contacts/erase", erase.clone()).await
    };
    let logged = logs.text();
    assert!(logged.contains("erased on request"), "{logged}");
    assert!(
        logged.contains(&id) && logged.contains("pulso_2a2a2a2a"),
        "{logged}"
    );
    assert!(
        !logged.to_lowercase().contains("new@example.com"),
        "{logged}"
    );
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["erased"], true);
    assert_eq!(json["contact_id"], id.as_str());
    assert_eq!(json["sends_deleted"], 1);
    assert_eq!(json["suppressed"], true);
    assert!(!json.to_string().contains("new@example.com"), "{json}");
    assert!(api.no_contact("new@example.com").await);
    assert!(
        api.store
            .sends_of_contact(&contact.id)
            .await
            .unwrap()
            .is_empty()
    );
    let s = api.store.suppression(&new.hash()).await.unwrap();
    assert!(s.is_some_and(|s| s.suppresses()));
    assert!(
        !api.no_contact("other@example.com").await,
        "only that person"
    );

    // Again, or for an address never seen: nothing more to erase, the address suppressed.
    let (status, json) = api.post("/v1/contacts/erase", erase).await;
    assert_eq!(
        (status, json["erased"].as_bool()),
        (200, Some(false)),
        "{json}"
    );
    let (status, json) = api
        .post(
            "/v1/contacts/erase",
            json!({"email": "never@example.com"}).to_string(),
        )
        .await;
    assert_eq!(
        (status, json["erased"].as_bool()),
        (200, Some(false)),
        "{json}"
    );
    let never = Email::parse("never@example.com").unwrap();
    assert!(
        api.store
            .suppression(&never.hash())
            .await
            .unwrap()
            .is_some()
    );

    // A later event naming the erased address surveys no one.
    let mut later = event_body();
    later["event_id"] = json!("T-2");
    let (_, json) = api.post("/v1/events", later.to_string()).await;
    assert_eq!(json["status"], "skipped", "{json}");
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused_whole_and_one_at_the_limit_is_taken() {
    let api = api("").await;
    let batch = |n: usize| {
        let contacts: Vec<Value> = (0..n)
            .map(|i| json!({"email": format!("c{i}@example.com")}))
            .collect();
        json!({ "contacts": contacts }).to_string()
    };
    let limit = pulso_events::body::MAX_BATCH;
    let (status, json) = api.post("/v1/contacts", batch(limit + 1)).await;
    assert_eq!(status, 400, "{json}");
    assert_eq!(json["field"], "contacts");
    assert!(
        json["message"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("more than {limit} contacts"))),
        "{json}"
    );
    assert!(
        api.no_contact("c0@example.com").await,
        "nothing of a refused batch is written"
    );
    let (status, json) = api.post("/v1/contacts", batch(limit)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["created"].as_u64(), Some(limit as u64));
    let last = Email::parse(&format!("c{}@example.com", limit - 1)).unwrap();
    assert!(api.store.contact_by_email(&last).await.unwrap().is_some());
}

#[tokio::test]
async fn metrics_answer_from_the_rollups() {
    let api = api("").await;
    let mut counts = Counts::default();
    counts.scores[10] = 3;
    counts.scores[2] = 1;
    counts.sent = 8;
    api.store
        .add_to_rollups(&[Rollup {
            day: jiff::civil::date(2026, 3, 2),
            dimension: Dimension::All,
            counts,
        }])
        .await
        .unwrap();
    let (status, json) = api
        .get("/v1/metrics?from=2026-03-01&to=2026-03-04&interval=day")
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["counts"]["responses"], 4);
    assert_eq!(json["counts"]["sent"], 8);
    assert_eq!(json["trend"].as_array().unwrap().len(), 4);
    let (status, json) = api.get("/v1/metrics?interval=hourly").await;
    assert_eq!(status, 400);
    assert_eq!(json["field"], "interval");
}

/// Log output kept in memory (the tests' runtime is one thread, so the server's logs land here).
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
