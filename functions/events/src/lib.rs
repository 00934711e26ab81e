//! The events API: how other systems talk to Pulso. One axum router, hosted by `lambda_http` in AWS
//! and merged into `pulso serve` locally.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/events` | a transactional event: creates the contact if unknown, schedules its survey after the delay (idempotent per `event_id`) |
//! | `POST /v1/contacts` | upserts one contact or a batch |
//! | `POST /v1/contacts/erase` | forgets a person on request (`pulso_core::contacts::erase`) |
//! | `GET /v1/metrics` | NPS, n, margin and counts for a period and segment, with a trend |
//!
//! Every route needs `Authorization: Bearer <API key>` (keys are stored hashed; see [`keys`]).
//! Errors are JSON: `{"error": "invalid_field", "field": "email", "message": "…"}`; a malformed
//! body writes nothing. docs/events-api.md has examples.

pub mod body;
pub mod keys;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use pulso_core::Ctx;
use pulso_core::contacts::{self, ContactError, UpsertOutcome};
use pulso_core::dispatch::schedule_event;
use pulso_core::ports::{Archive, Mailer, Store, StoreError};
use pulso_core::reports::{MetricsQuery, ReportError};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;

use body::BodyError;

/// The largest request body accepted (bytes): a full batch of contacts fits.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An error answer: status and JSON body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({ "error": error, "message": message.into() }),
        }
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is briefly unavailable; retry the request",
        )
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Json(message) => Self::new(StatusCode::BAD_REQUEST, "invalid_json", message),
            BodyError::Field { field, message } => ApiError {
                status: StatusCode::BAD_REQUEST,
                body: json!({ "error": "invalid_field", "field": field, "message": message }),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "store error in the events API");
        Self::unavailable()
    }
}

impl From<ContactError> for ApiError {
    fn from(e: ContactError) -> Self {
        match e {
            ContactError::Invalid(p) => BodyError::Field {
                field: "contact".into(),
                message: p.to_string(),
            }
            .into(),
            ContactError::MissingEmail => BodyError::Field {
                field: "email".into(),
                message: "is required".into(),
            }
            .into(),
            ContactError::Store(s) => s.into(),
            other => {
                tracing::warn!(error = %other, "contact upsert failed");
                Self::unavailable()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pulso\""),
            );
        }
        r
    }
}

impl ApiError {
    fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    }
}

/// What the layers and the router answer on their own — 413 in plain text from the body limit
/// before any handler runs, an empty 404 for an unknown route, an empty 405 for a wrong method —
/// said in JSON too, as every other error is.
async fn json_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large().into_response(),
        StatusCode::NOT_FOUND => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route: POST /v1/events, POST /v1/contacts, POST /v1/contacts/erase or GET /v1/metrics",
        )
        .into_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            // Keep the router's `Allow` header: it names the method the route takes.
            let allow = response.headers().get(header::ALLOW).cloned();
            let mut res = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route takes another method (see the Allow header)",
            )
            .into_response();
            if let Some(allow) = allow {
                res.headers_mut().insert(header::ALLOW, allow);
            }
            res
        }
        _ => response,
    }
}

fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the body could not be read",
            )
        }
    })
}

fn outcome_name(o: &UpsertOutcome) -> &'static str {
    match o {
        UpsertOutcome::Created => "created",
        UpsertOutcome::Updated => "updated",
        UpsertOutcome::Unchanged => "unchanged",
    }
}

type Shared<S, M, A> = Arc<Ctx<S, M, A>>;

/// The events API router (see the module doc).
pub fn router<S, M, A>(ctx: Ctx<S, M, A>) -> axum::Router
where
    S: Store + Send + Sync,
    M: Mailer + 'static,
    A: Archive + 'static,
{
    let state: Shared<S, M, A> = Arc::new(ctx);
    axum::Router::new()
        .route("/v1/events", post(post_event::<S, M, A>))
        .route("/v1/contacts", post(post_contacts::<S, M, A>))
        .route("/v1/contacts/erase", post(post_erase::<S, M, A>))
        .route("/v1/metrics", get(get_metrics::<S, M, A>))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_key::<S, M, A>,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

/// The prefix of the API key a request came with (never the key): who asked, in the logs.
#[derive(Debug, Clone)]
struct KeyPrefix(String);

async fn require_key<S, M, A>(
    State(ctx): State<Shared<S, M, A>>,
    request: Request,
    next: Next,
) -> Response
where
    S: Store + Send + Sync,
    M: Mailer + 'static,
    A: Archive + 'static,
{
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match keys::authenticate(&ctx.store, auth).await {
        Ok(key) => {
            tracing::debug!(key = %key.prefix, "API request");
            let mut request = request;
            request.extensions_mut().insert(KeyPrefix(key.prefix));
            next.run(request).await
        }
        Err(keys::AuthError::Store(e)) => ApiError::from(e).into_response(),
        Err(_) => ApiError::unauthorized().into_response(),
    }
}

async fn post_event<S, M, A>(
    State(ctx): State<Shared<S, M, A>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError>
where
    S: Store + Send + Sync,
    M: Mailer + 'static,
    A: Archive + 'static,
{
    let bytes = read_body(body)?;
    let parsed = body::event(&bytes)?;
    let now = ctx.now();
    let upserted = contacts::upsert(
        &ctx.store,
        ctx.ids.as_ref(),
        now,
        ctx.config.company.default_locale,
        parsed.contact,
    )
    .await?;
    let contact_id = upserted.contact.id.clone();
    let scheduled = schedule_event(
        &ctx.config,
        &ctx.store,
        now,
        upserted.contact,
        &parsed.event,
    )
    .await?;
    let status = if scheduled.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = json!({
        "send_id": scheduled.send.id,
        "status": scheduled.status(),
        "reason": scheduled.skip_reason().map(|r| r.as_str()),
        "due_at": scheduled.send.due_at,
        "touchpoint": parsed.event.touchpoint.as_str(),
        "event_id": parsed.event.event_id,
        "event_id_derived": parsed.derived_id,
        "duplicate": scheduled.duplicate,
        "contact_id": contact_id,
        "contact": outcome_name(&upserted.outcome),
    });
    Ok((status, Json(body)).into_response())
}

async fn post_contacts<S, M, A>(
    State(ctx): State<Shared<S, M, A>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError>
where
    S: Store + Send + Sync,
    M: Mailer + 'static,
    A: Archive + 'static,
{
    let bytes = read_body(body)?;
    let (inputs, batch) = body::contacts(&bytes)?;
    let now = ctx.now();
    let mut results = Vec::with_capacity(inputs.len());
    let (mut created, mut updated, mut unchanged) = (0u64, 0u64, 0u64);
    for input in inputs {
        let u = contacts::upsert(
            &ctx.store,
            ctx.ids.as_ref(),
            now,
            ctx.config.company.default_locale,
            input,
        )
        .await?;
        match u.outcome {
            UpsertOutcome::Created => created += 1,
            UpsertOutcome::Updated => updated += 1,
            UpsertOutcome::Unchanged => unchanged += 1,
        }
        results.push(json!({ "contact_id": u.contact.id, "outcome": outcome_name(&u.outcome) }));
    }
    let body = if batch {
        json!({ "contacts": results, "created": created, "updated": updated, "unchanged": unchanged })
    } else {
        results.pop().unwrap_or_default()
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Forgets the person whose address the body names: suppressed first (as a hash), answers and
/// follow-ups anonymised, sends and contact deleted. Idempotent: a repeat (or an address never
/// seen) finds nothing more to erase and still answers 200. Logs the contact's id and the asking
/// key's prefix, never the address.
async fn post_erase<S, M, A>(
    State(ctx): State<Shared<S, M, A>>,
    key: Option<Extension<KeyPrefix>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError>
where
    S: Store + Send + Sync,
    M: Mailer + 'static,
    A: Archive + 'static,
{
    let bytes = read_body(body)?;
    let email = body::erasure(&bytes)?;
    let erased = contacts::erase(&ctx.store, &email, ctx.now()).await?;
    tracing::info!(
        key = key.as_ref().map(|Extension(k)| k.0.as_str()),
        contact = erased.contact.as_ref().map(|c| c.as_str()),
        sends = erased.sends,
        responses = erased.responses,
        follow_ups = erased.follow_ups,
        "erased on request"
    );
    let body = json!({
        "erased": erased.contact.is_some(),
        "contact_id": erased.contact,
        "sends_deleted": erased.sends,
        "responses_anonymised": erased.responses,
        "follow_ups_anonymised": erased.follow_ups,
        "suppressed": true,
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}

async fn get_metrics<S, M, A>(
    State(ctx): State<Shared<S, M, A>>,
    RawQuery(query): RawQuery,
    _headers: HeaderMap,
) -> Result<Response, ApiError>
where
    S: Store + Send + Sync,
    M: Mailer + 'static,
    A: Archive + 'static,
{
    let q = MetricsQuery::parse(query.as_deref().unwrap_or(""), ctx.today()).map_err(|e| {
        ApiError::from(BodyError::Field {
            field: e.field,
            message: e.reason,
        })
    })?;
    match pulso_core::reports::metrics(&ctx.store, &ctx.tz(), &q).await {
        Ok(m) => Ok((StatusCode::OK, Json(m)).into_response()),
        Err(ReportError::Query(e)) => Err(BodyError::Field {
            field: e.field,
            message: e.reason,
        }
        .into()),
        Err(ReportError::Store(e)) => Err(e.into()),
        Err(other) => {
            tracing::warn!(error = %other, "metrics query failed");
            Err(ApiError::unavailable())
        }
    }
}
