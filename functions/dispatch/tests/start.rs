//! The dispatch binary's start against a stand-in Lambda Runtime API on loopback: the runtime asks
//! for its first event while the context is built, and a context that cannot be built answers
//! each invocation with an error that names the missing setting, the process staying up for the
//! next one (which tries again), instead of dying before its first event.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

#[derive(Default)]
struct Api {
    /// Invocations still to hand out (their ids); once none is left, `next` waits.
    queued: Vec<String>,
    /// (invocation id, "response" | "error", body) as the function posted them.
    posted: Vec<(String, String, String)>,
    init_errors: Vec<String>,
}

type Shared = Arc<Mutex<Api>>;

async fn next(State(api): State<Shared>) -> (StatusCode, HeaderMap, String) {
    let id = {
        let mut api = api.lock().unwrap();
        if api.queued.is_empty() {
            None
        } else {
            Some(api.queued.remove(0))
        }
    };
    let Some(id) = id else {
        // As Lambda does between invocations: no answer until the test ends.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let deadline = jiff::Timestamp::now().as_millisecond() + 60_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline.into());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:dispatch"
            .parse()
            .unwrap(),
    );
    let event = r#"{"source":"aws.scheduler","detail-type":"Scheduled Event","detail":{}}"#;
    (StatusCode::OK, headers, event.to_string())
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

#[tokio::test]
async fn a_context_that_cannot_be_built_fails_each_invocation_by_name_and_the_process_stays_up() {
    let api: Shared = Arc::new(Mutex::new(Api {
        queued: vec!["first".into(), "second".into()],
        ..Api::default()
    }));
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answered))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // A deployment's settings, but neither the signing keys nor the secret that holds them.
    let child = Command::new(env!("CARGO_BIN_EXE_dispatch"))
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", addr.to_string().as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "dispatch"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/pulso/test/dispatch"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("RUST_LOG", "error"),
            ("PULSO__STORE__KIND", "aws"),
            ("PULSO__STORE__TABLE", "pulso-test"),
            ("PULSO__STORE__BUCKET", "pulso-test-archive"),
            // Nothing listens there: the run must fail before any AWS call.
            ("PULSO__STORE__ENDPOINT_URL", "http://127.0.0.1:9"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);

    let started = Instant::now();
    while api.lock().unwrap().posted.len() < 2 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let api = api.lock().unwrap();
    assert!(
        api.init_errors.is_empty(),
        "no init error: {:?}",
        api.init_errors
    );
    let ids: Vec<_> = api
        .posted
        .iter()
        .map(|(id, kind, _)| (id.as_str(), kind.as_str()))
        .collect();
    assert_eq!(ids, [("first", "error"), ("second", "error")]);
    for (_, _, body) in &api.posted {
        let error: serde_json::Value = serde_json::from_str(body).unwrap();
        let message = error["errorMessage"].as_str().unwrap();
        assert!(
            message.contains("PULSO_TOKEN_KEYS") && message.contains("PULSO_TOKEN_SECRET_ARN"),
            "{message}"
        );
    }
    // Still running, waiting for its next event.
    assert!(child.0.try_wait().unwrap().is_none(), "the process exited");
}
