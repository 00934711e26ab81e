//! The one place that turns outcomes into HTTP: which status and page each failure gets, the
//! language of error pages, and the headers every response carries.
//!
//! | failure | status | page |
//! |---|---|---|
//! | malformed link or request (cut token, bad percent-encoding, unreadable body) | 400 | `malformed` |
//! | score outside 0–10 | 400 | `bad_score` |
//! | forged link (unknown key, bad signature) | 403 | `forged` |
//! | link for another page (wrong purpose) | 404 | `wrong_purpose` |
//! | authentic link whose survey, follow-up or report is gone | 404 | `unknown_*` |
//! | unknown route | 404 | `not_found` |
//! | wrong method | 405 | `method` |
//! | expired link | 410 | `expired` |
//! | body over `capture.max_body_bytes` | 413 | `too_large` |
//! | form problem (no score, comment or note too long, no name) | 422 | the form again, with what was typed |
//! | store or archive unavailable, too much contention | 503 | `unavailable` |

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use pulso_core::Purpose;
use pulso_core::capture::pages::{self, AnswerForm, ErrorPage};
use pulso_core::capture::{self, AfterCapture, CaptureError, FormProblem, ReportFile};
use pulso_core::ports::{Archive, Mailer, Store};
use pulso_core::token::TokenError;
use pulso_core::types::{Locale, Score};

use crate::App;

/// The status and page of a failed capture call.
pub fn status_and_page(e: &CaptureError) -> (StatusCode, ErrorPage) {
    match e {
        CaptureError::Link(TokenError::Malformed) => {
            (StatusCode::BAD_REQUEST, ErrorPage::Malformed)
        }
        CaptureError::Link(TokenError::UnknownKey | TokenError::BadSignature) => {
            (StatusCode::FORBIDDEN, ErrorPage::Forged)
        }
        CaptureError::Link(TokenError::WrongPurpose) => {
            (StatusCode::NOT_FOUND, ErrorPage::WrongPurpose)
        }
        CaptureError::Link(TokenError::Expired) => (StatusCode::GONE, ErrorPage::Expired),
        CaptureError::UnknownSend => (StatusCode::NOT_FOUND, ErrorPage::UnknownSurvey),
        CaptureError::UnknownFollowUp => (StatusCode::NOT_FOUND, ErrorPage::UnknownFollowUp),
        CaptureError::UnknownReport => (StatusCode::NOT_FOUND, ErrorPage::UnknownReport),
        CaptureError::BadScore => (StatusCode::BAD_REQUEST, ErrorPage::BadScore),
        CaptureError::Store(_)
        | CaptureError::Archive(_)
        | CaptureError::Busy
        | CaptureError::Keys(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorPage::Unavailable),
    }
}

const HTML: &str = "text/html; charset=utf-8";
/// Archived reports: no script, no outside resources; inline styles (they are HTML emails).
const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Anything without its own policy (redirects, 204s, non-HTML files).
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

fn page_language(headers: &HeaderMap, fallback: Locale) -> Locale {
    Locale::negotiate(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
        fallback,
    )
}

impl<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture> App<S, M, A, H> {
    /// An HTML page with its CSP (the comment page's allows its script).
    pub(crate) fn html(
        &self,
        status: StatusCode,
        rendered: Result<String, askama::Error>,
        with_script: bool,
    ) -> Response {
        let body = match rendered {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "a page failed to render");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "Something went wrong. Please try again later.",
                )
                    .into_response();
            }
        };
        let csp = if with_script {
            &self.assets.csp_with_script
        } else {
            &self.assets.csp
        };
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
        if let Ok(v) = HeaderValue::from_str(csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        res
    }

    /// An error page in the given language, else the request's, else the company's default.
    pub(crate) fn error(
        &self,
        headers: &HeaderMap,
        locale: Option<Locale>,
        status: StatusCode,
        page: ErrorPage,
    ) -> Response {
        let locale = locale
            .unwrap_or_else(|| page_language(headers, self.ctx.config.company.default_locale));
        tracing::info!(status = status.as_u16(), page = ?page, "error page");
        self.html(
            status,
            pages::error_page(
                &self.assets,
                &self.ctx.config,
                locale,
                page,
                status.as_u16(),
            ),
            false,
        )
    }

    /// The 400 page of a link or request that cannot be read (cut token, bad percent-encoding,
    /// unreadable body): [`Self::error`] with [`ErrorPage::Malformed`].
    pub(crate) fn malformed(&self, headers: &HeaderMap, locale: Option<Locale>) -> Response {
        self.error(
            headers,
            locale,
            StatusCode::BAD_REQUEST,
            ErrorPage::Malformed,
        )
    }

    /// The page of a failed capture call, in the language of the link's survey when it is known.
    pub(crate) async fn fail(
        &self,
        headers: &HeaderMap,
        token: &str,
        purpose: Purpose,
        e: CaptureError,
    ) -> Response {
        let (status, page) = status_and_page(&e);
        if status.is_server_error() {
            tracing::warn!(error = %e, "capture failed");
        }
        let locale = match (&e, purpose) {
            (_, Purpose::FollowUp) => Some(self.staff_locale()),
            // The send was just looked for (absent) or the store failed: asking again for its
            // language would cost a read and find nothing.
            (CaptureError::UnknownSend | CaptureError::Store(_), _) => None,
            _ => capture::locale_hint(&self.ctx, token, purpose).await,
        };
        self.error(headers, locale, status, page)
    }

    /// The language of pages for staff (follow-ups): the alert audience's.
    pub(crate) fn staff_locale(&self) -> Locale {
        let c = &self.ctx.config;
        c.audience_locale(&c.audiences.alerts)
    }

    /// The comment page again (422), keeping what was typed, saying what to fix.
    pub(crate) async fn answer_again(
        &self,
        headers: &HeaderMap,
        token: &str,
        score: Option<Score>,
        typed: Option<String>,
        problem: FormProblem,
    ) -> Response {
        let view = match capture::answer_view(&self.ctx, token).await {
            Ok(v) => v,
            Err(e) => return self.fail(headers, token, Purpose::Answer, e).await,
        };
        let form = AnswerForm {
            score,
            comment: typed,
            problem: Some(problem),
        };
        self.html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::answer_page(&self.assets, &self.ctx.config, &view, &form, self.ctx.now()),
            true,
        )
    }
}

/// `303 See Other` to a path of this host (post/redirect/get).
pub(crate) fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// An archived report file, served as what its extension says, under a strict policy.
pub(crate) fn report(file: ReportFile) -> Response {
    let mut res = (StatusCode::OK, file.body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    let csp = if file.content_type.starts_with("text/html") {
        REPORT_CSP
    } else {
        DEFAULT_CSP
    };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    res
}

/// Outermost layer: a 413 from the body limit becomes the friendly page, and every response gets
/// the security headers. Pages carry links with tokens: nothing is cached or sent as a referrer.
pub(crate) async fn finish<S: Store, M: Mailer + 'static, A: Archive + 'static, H: AfterCapture>(
    State(app): State<std::sync::Arc<App<S, M, A, H>>>,
    req: Request,
    next: Next,
) -> Response {
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let mut res = next.run(req).await;
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE
        && !res.headers().contains_key(header::CONTENT_SECURITY_POLICY)
    {
        let mut headers = HeaderMap::new();
        if let Some(v) = accept {
            headers.insert(header::ACCEPT_LANGUAGE, v);
        }
        res = app.error(
            &headers,
            None,
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorPage::TooLarge,
        );
    }
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, max-age=0"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(DEFAULT_CSP));
    res
}
