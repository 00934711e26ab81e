//! The feedback Lambda: SES events in, suppressions out.
// The context is built in a task spawned from `main`, whose future nests deeper than the
// compiler's default query depth allows.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use pulso_aws::runtime::Starting;

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    pulso_aws::runtime::init_tracing();
    // Built while the runtime already waits for the first event (see `Starting`).
    let ctx = Arc::new(Starting::spawn(|| async {
        Ok(Arc::new(
            pulso_aws::runtime::context_without_secrets_from_env().await?,
        ))
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move {
            let ctx = ctx.get().await?;
            let summary = pulso_feedback::handle(&ctx, &event.payload).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({
                "hard_bounces": summary.hard_bounces,
                "complaints": summary.complaints,
                "soft_bounces": summary.soft_bounces,
                "suppressed_after_soft": summary.suppressed_after_soft,
                "resets": summary.resets,
                "ignored": summary.ignored,
                "unreadable": summary.unreadable,
            }))
        }
    }))
    .await
}
