//! Lambda wiring of the events API: the router behind API Gateway (HTTP API), hosted by
//! `lambda_http`.

use std::sync::Arc;

use lambda_http::service_fn;
use pulso_aws::runtime::Starting;
use tower::ServiceExt as _;

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    pulso_aws::runtime::init_tracing();
    // Built while the runtime already waits for the first request (see `Starting`).
    let app = Arc::new(Starting::spawn(|| async {
        let ctx = pulso_aws::runtime::context_without_secrets_from_env().await?;
        Ok(pulso_events::router(ctx))
    }));
    lambda_http::run(service_fn(move |request: lambda_http::Request| {
        let app = app.clone();
        async move { Ok::<_, lambda_http::Error>(app.get().await?.oneshot(request).await?) }
    }))
    .await
}
