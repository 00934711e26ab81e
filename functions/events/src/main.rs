//! Lambda wiring of the events API: the router behind API Gateway (HTTP API), hosted by
//! `lambda_http`.

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    pulso_aws::runtime::init_tracing();
    let ctx = pulso_aws::runtime::context_without_secrets_from_env().await?;
    lambda_http::run(pulso_events::router(ctx)).await
}
