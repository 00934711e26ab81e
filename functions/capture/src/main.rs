//! The capture Lambda: the capture router behind API Gateway. Alerts, follow-ups and webhooks run
//! in the alerts function, fed by the table's stream, so nothing runs after a write here.

use std::sync::Arc;

use lambda_http::service_fn;
use pulso_aws::runtime::{FirstUse, Starting};
use tower::ServiceExt as _;

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    pulso_aws::runtime::init_tracing();
    // Built while the runtime already waits for the first request (see `Starting`).
    let app = Arc::new(Starting::spawn(|| async {
        let ctx = pulso_aws::runtime::context_from_env(FirstUse::TABLE).await?;
        Ok(pulso_capture::router(ctx, pulso_core::capture::NoHooks))
    }));
    lambda_http::run(service_fn(move |request: lambda_http::Request| {
        let app = app.clone();
        async move { Ok::<_, lambda_http::Error>(app.get().await?.oneshot(request).await?) }
    }))
    .await
}
