//! The capture Lambda: the capture router behind API Gateway. Alerts, follow-ups and webhooks run
//! in the alerts function, fed by the table's stream, so nothing runs after a write here.

use pulso_aws::runtime::FirstUse;

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    pulso_aws::runtime::init_tracing();
    let ctx = pulso_aws::runtime::context_from_env(FirstUse::TABLE).await?;
    let app = pulso_capture::router(ctx, pulso_core::capture::NoHooks);
    lambda_http::run(app).await
}
