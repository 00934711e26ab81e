//! The capture function: one axum router for Pulso's public links, hosted by `lambda_http` in AWS
//! (`main.rs`) and by `pulso serve` on localhost. Handlers parse the request, call one service of
//! `pulso_core::capture`, and answer with a page; [`respond`] is the one place that maps failures
//! to statuses and pages and sets the security headers.
//!
//! | route | does |
//! |---|---|
//! | `GET /a/{token}?s=N` | comment page, score N pre-selected; writes nothing |
//! | `POST /a/{token}` | commits the score (and comment): the page's script → 204, the form → 303 to the thank-you page |
//! | `GET /a/{token}/thanks` | thank-you page |
//! | `GET /u/{token}` | unsubscribe confirmation page |
//! | `POST /u/{token}` | unsubscribe (RFC 8058 one-click or the page's button) → 200 |
//! | `GET /f/{token}`, `POST /f/{token}` | follow-up page; marks it done → 303 back to it |
//! | `GET /r/{token}` | an archived report file |

pub mod form;
mod respond;
pub mod simulate;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;

use pulso_core::capture::pages::{self, AnswerForm, Assets, ErrorPage, FollowUpForm};
use pulso_core::capture::{
    self, AfterCapture, CaptureError, CommentChange, CommitRequest, FormProblem, Timing,
};
use pulso_core::ports::{Archive, Mailer, Store};
use pulso_core::{Ctx, Purpose, Score};

use form::Form;

/// What every handler shares.
pub struct App<S, M, A, H> {
    pub ctx: Ctx<S, M, A>,
    pub hooks: H,
    assets: Assets,
}

type Shared<S, M, A, H> = Arc<App<S, M, A, H>>;

/// The capture router over `ctx`, with `hooks` run after each write (see
/// [`pulso_core::capture::AfterCapture`]).
pub fn router<S, M, A, H>(ctx: Ctx<S, M, A>, hooks: H) -> Router
where
    S: Store,
    M: Mailer + 'static,
    A: Archive + 'static,
    H: AfterCapture,
{
    let limit = ctx.config.capture.max_body_bytes;
    let app = Arc::new(App {
        assets: Assets::new(&ctx.config),
        ctx,
        hooks,
    });
    Router::new()
        .route(
            "/a/{token}",
            get(get_answer::<S, M, A, H>).post(post_answer::<S, M, A, H>),
        )
        .route("/a/{token}/thanks", get(get_thanks::<S, M, A, H>))
        .route(
            "/u/{token}",
            get(get_unsubscribe::<S, M, A, H>).post(post_unsubscribe::<S, M, A, H>),
        )
        .route(
            "/f/{token}",
            get(get_follow_up::<S, M, A, H>).post(post_follow_up::<S, M, A, H>),
        )
        .route("/r/{token}", get(get_report::<S, M, A, H>))
        .fallback(not_found::<S, M, A, H>)
        .method_not_allowed_fallback(method_not_allowed::<S, M, A, H>)
        .with_state(app.clone())
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(middleware::from_fn_with_state(
            app,
            respond::finish::<S, M, A, H>,
        ))
}

fn token_of(path: Result<Path<String>, PathRejection>) -> Option<String> {
    path.ok().map(|Path(t)| t)
}

/// The request body, or the page saying why it could not be read.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, (StatusCode, ErrorPage)> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorPage::TooLarge)
        } else {
            (StatusCode::BAD_REQUEST, ErrorPage::Malformed)
        }
    })
}

async fn get_answer<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    let view = match capture::answer_view(&app.ctx, &token).await {
        Ok(v) => v,
        Err(e) => return app.fail(&headers, &token, Purpose::Answer, e).await,
    };
    let query = match Form::parse(query.as_deref().unwrap_or("").as_bytes()) {
        Ok(q) => q,
        Err(_) => {
            return app.malformed(&headers, Some(view.locale()));
        }
    };
    let score = match query.get("s").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match Score::parse(raw) {
            Ok(s) => Some(s),
            Err(_) => {
                return app.error(
                    &headers,
                    Some(view.locale()),
                    StatusCode::BAD_REQUEST,
                    ErrorPage::BadScore,
                );
            }
        },
    };
    let form = AnswerForm {
        score,
        ..AnswerForm::default()
    };
    app.html(
        StatusCode::OK,
        pages::answer_page(&app.assets, &app.ctx.config, &view, &form, app.ctx.now()),
        true,
    )
}

/// How the commit arrived (see `pulso_core::capture::rule`).
fn timing_of(form: &Form, now_ms: i64) -> Timing {
    let number = |name: &str| form.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    match form.get("via") {
        Some("script") => Timing::Script {
            open_ms: number("open_ms").unwrap_or(0).max(0) as u64,
        },
        Some("button") => {
            // The server's own render time first; the script's measure when that is missing.
            let open_ms = number("rendered_at")
                .map(|rendered| now_ms - rendered)
                .or_else(|| number("open_ms"))
                .filter(|ms| *ms >= 0)
                .map(|ms| ms as u64);
            Timing::Button { open_ms }
        }
        _ => Timing::Bare,
    }
}

async fn post_answer<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    let bytes = match body_of(body) {
        Ok(b) => b,
        Err((status, page)) => return app.error(&headers, None, status, page),
    };
    let Ok(form) = Form::parse(&bytes) else {
        return app.malformed(&headers, None);
    };
    let by_script = form.get("via") == Some("script");
    let score = match form.get("s").filter(|s| !s.is_empty()) {
        Some(raw) => match Score::parse(raw) {
            Ok(s) => Some(s),
            Err(_) => {
                return app
                    .fail(&headers, &token, Purpose::Answer, CaptureError::BadScore)
                    .await;
            }
        },
        None => None,
    };
    let typed = form.get("comment").map(str::to_string);
    let comment = match &typed {
        None => Ok(CommentChange::Keep),
        Some(raw) => capture::parse_comment(raw, app.ctx.config.capture.comment_max_chars)
            .map(CommentChange::Set),
    };
    let (score, comment) = match (score, comment) {
        (Some(s), Ok(c)) => (s, c),
        (score, comment) => {
            let problem = comment.err().unwrap_or(FormProblem::MissingScore);
            if by_script {
                return app.error(&headers, None, StatusCode::BAD_REQUEST, ErrorPage::BadScore);
            }
            return app
                .answer_again(&headers, &token, score, typed, problem)
                .await;
        }
    };
    let req = CommitRequest {
        score,
        comment,
        timing: timing_of(&form, app.ctx.now().as_millisecond()),
    };
    match capture::commit(&app.ctx, &token, &req).await {
        Ok(done) => {
            app.hooks
                .answer_saved(&app.ctx, done.before.as_ref(), &done.after)
                .await;
            if by_script {
                StatusCode::NO_CONTENT.into_response()
            } else {
                respond::see_other(&format!("/a/{token}/thanks"))
            }
        }
        Err(e) => app.fail(&headers, &token, Purpose::Answer, e).await,
    }
}

async fn get_thanks<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    match capture::answer_view(&app.ctx, &token).await {
        Ok(view) => app.html(
            StatusCode::OK,
            pages::thanks_page(&app.assets, &app.ctx.config, &view, &token),
            false,
        ),
        Err(e) => app.fail(&headers, &token, Purpose::Answer, e).await,
    }
}

async fn get_unsubscribe<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    match capture::unsubscribe_view(&app.ctx, &token).await {
        Ok(view) => app.html(
            StatusCode::OK,
            pages::unsubscribe_page(&app.assets, &app.ctx.config, &view, false),
            false,
        ),
        Err(e) => app.fail(&headers, &token, Purpose::Unsubscribe, e).await,
    }
}

/// RFC 8058: the one-click POST (`List-Unsubscribe=One-Click`, form-urlencoded or multipart) and
/// the page's button both land here. Any body within the size limit is accepted: the signed token
/// is what authorises it, and mail scanners do not POST.
async fn post_unsubscribe<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    if let Err((status, page)) = body_of(body) {
        return app.error(&headers, None, status, page);
    }
    match capture::unsubscribe(&app.ctx, &token).await {
        Ok(done) => {
            app.hooks
                .deliveries_enqueued(&app.ctx, &done.deliveries)
                .await;
            app.html(
                StatusCode::OK,
                pages::unsubscribe_page(&app.assets, &app.ctx.config, &done.view, true),
                false,
            )
        }
        Err(e) => app.fail(&headers, &token, Purpose::Unsubscribe, e).await,
    }
}

async fn get_follow_up<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    match capture::follow_up_view(&app.ctx, &token).await {
        Ok(view) => app.html(
            StatusCode::OK,
            pages::follow_up_page(
                &app.assets,
                &app.ctx.config,
                app.staff_locale(),
                &view,
                &FollowUpForm::default(),
            ),
            false,
        ),
        Err(e) => app.fail(&headers, &token, Purpose::FollowUp, e).await,
    }
}

async fn post_follow_up<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    let bytes = match body_of(body) {
        Ok(b) => b,
        Err((status, page)) => return app.error(&headers, None, status, page),
    };
    let Ok(form) = Form::parse(&bytes) else {
        return app.malformed(&headers, None);
    };
    let typed = FollowUpForm {
        name: form.get("name").unwrap_or("").to_string(),
        note: form.get("note").unwrap_or("").to_string(),
        problem: None,
    };
    let max = app.ctx.config.capture.comment_max_chars;
    let checked = capture::parse_closer_name(&typed.name).and_then(|name| {
        let note = capture::parse_comment(&typed.note, max)
            .map_err(|_| FormProblem::NoteTooLong { max })?;
        Ok((name, note))
    });
    let (name, note) = match checked {
        Ok(v) => v,
        Err(problem) => {
            let view = match capture::follow_up_view(&app.ctx, &token).await {
                Ok(v) => v,
                Err(e) => return app.fail(&headers, &token, Purpose::FollowUp, e).await,
            };
            let form = FollowUpForm {
                problem: Some(problem),
                ..typed
            };
            return app.html(
                StatusCode::UNPROCESSABLE_ENTITY,
                pages::follow_up_page(
                    &app.assets,
                    &app.ctx.config,
                    app.staff_locale(),
                    &view,
                    &form,
                ),
                false,
            );
        }
    };
    match capture::close_follow_up(&app.ctx, &token, &name, note).await {
        Ok(_) => respond::see_other(&format!("/f/{token}")),
        Err(e) => app.fail(&headers, &token, Purpose::FollowUp, e).await,
    }
}

async fn get_report<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token_of(path) else {
        return app.malformed(&headers, None);
    };
    match capture::report_file(&app.ctx, &token).await {
        Ok(file) => respond::report(file),
        Err(e) => app.fail(&headers, &token, Purpose::Report, e).await,
    }
}

async fn not_found<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<Shared<S, M, A, H>>,
    headers: HeaderMap,
) -> Response {
    app.error(&headers, None, StatusCode::NOT_FOUND, ErrorPage::NotFound)
}

async fn method_not_allowed<
    S: Store,
    M: Mailer + 'static,
    A: Archive + 'static,
    H: AfterCapture,
>(
    State(app): State<Shared<S, M, A, H>>,
    headers: HeaderMap,
) -> Response {
    let mut res = app.error(
        &headers,
        None,
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorPage::MethodNotAllowed,
    );
    res.headers_mut().insert(
        header::ALLOW,
        axum::http::HeaderValue::from_static("GET, HEAD, POST"),
    );
    res
}
