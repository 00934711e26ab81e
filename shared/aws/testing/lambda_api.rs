//! A stand-in Lambda Runtime API on loopback, for the tests that run a function's real binary
//! (each function crate's `tests/start.rs` includes this file): it hands out invocations, records
//! what the function posts back, and answers `next` no more once they are out, as Lambda does
//! between events.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

/// What a function did with its invocations.
#[derive(Debug)]
pub struct Answers {
    /// (invocation id, "response" | "error", body), in the order posted.
    pub posted: Vec<(String, String, String)>,
    pub init_errors: Vec<String>,
    /// Whether the process was still running, waiting for its next event, at the end.
    pub still_up: bool,
}

impl Answers {
    /// The error messages posted, in order.
    pub fn error_messages(&self) -> Vec<String> {
        self.posted
            .iter()
            .filter(|(_, kind, _)| kind == "error")
            .map(|(_, _, body)| {
                let error: serde_json::Value = serde_json::from_str(body).unwrap();
                error["errorMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// (invocation id, kind) of each answer, in order.
    pub fn kinds(&self) -> Vec<(&str, &str)> {
        self.posted
            .iter()
            .map(|(id, kind, _)| (id.as_str(), kind.as_str()))
            .collect()
    }

    /// Both invocations were answered with an error naming the keys' two settings, no init error
    /// was posted, and the process is still waiting for its next event.
    pub fn assert_each_failed_naming_the_keys(&self) {
        assert!(self.init_errors.is_empty(), "{self:?}");
        assert_eq!(self.kinds(), [("first", "error"), ("second", "error")]);
        for message in self.error_messages() {
            assert!(
                message.contains("PULSO_TOKEN_KEYS") && message.contains("PULSO_TOKEN_SECRET_ARN"),
                "{message}"
            );
        }
        assert!(self.still_up, "the process exited");
    }
}

struct Api {
    function: String,
    event: String,
    queued: Vec<String>,
    posted: Vec<(String, String, String)>,
    init_errors: Vec<String>,
}

type Shared = Arc<Mutex<Api>>;

async fn next(State(api): State<Shared>) -> (StatusCode, HeaderMap, String) {
    let next = {
        let mut api = api.lock().unwrap();
        if api.queued.is_empty() {
            None
        } else {
            let id = api.queued.remove(0);
            Some((id, api.function.clone(), api.event.clone()))
        }
    };
    let Some((id, function, event)) = next else {
        // As Lambda does between invocations: no answer until the test ends.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = jiff::Timestamp::now().as_millisecond() + 60_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline.into());
    let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    headers.insert("lambda-runtime-invoked-function-arn", arn.parse().unwrap());
    (StatusCode::OK, headers, event)
}

async fn answered(
    State(api): State<Shared>,
    Path((id, kind)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    api.lock().unwrap().posted.push((id, kind, body));
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Shared>, body: String) -> StatusCode {
    api.lock().unwrap().init_errors.push(body);
    StatusCode::ACCEPTED
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` as the Lambda function `function` with a deployment's settings and `env`
/// (no signing keys unless `env` has them), hands it `event` as invocations `first` and `second`,
/// and returns once both are answered (or after 30 s).
pub async fn two_invocations(
    binary: &str,
    function: &str,
    event: &str,
    env: &[(&str, &str)],
) -> Answers {
    let api: Shared = Arc::new(Mutex::new(Api {
        function: function.to_string(),
        event: event.to_string(),
        queued: vec!["first".into(), "second".into()],
        posted: Vec::new(),
        init_errors: Vec::new(),
    }));
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answered))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let log_group = format!("/pulso/test/{function}");
    let child = Command::new(binary)
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", addr.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", log_group.as_str()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("RUST_LOG", "error"),
            ("PULSO__STORE__KIND", "aws"),
            ("PULSO__STORE__TABLE", "pulso-test"),
            ("PULSO__STORE__BUCKET", "pulso-test-archive"),
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);

    let started = Instant::now();
    while api.lock().unwrap().posted.len() < 2 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let still_up = child.0.try_wait().unwrap().is_none();
    let mut api = api.lock().unwrap();
    Answers {
        posted: std::mem::take(&mut api.posted),
        init_errors: std::mem::take(&mut api.init_errors),
        still_up,
    }
}
