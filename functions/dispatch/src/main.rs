//! Lambda wiring of the dispatch function: invoked by the EventBridge Scheduler every 15 minutes;
//! its budget is the invocation's deadline less a safety margin. Returns the run's outcome (ids and
//! counts only) so the invocation log says what it did.

use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use pulso_aws::runtime::{FirstUse, Starting};

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    pulso_aws::runtime::init_tracing();
    // Built while the runtime already waits for the first event (see `Starting`). The context does
    // not wait for the signing keys: a run's first reads go out meanwhile, and it writes and sends
    // nothing until the keys are there (`pulso_core::dispatch::run`).
    let ctx = Arc::new(Starting::spawn(|| async {
        Ok(Arc::new(
            pulso_aws::runtime::context_keys_arriving_from_env(FirstUse::MAIL).await?,
        ))
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move {
            let ctx = ctx.get().await?;
            let budget = pulso_dispatch::budget_until(event.context.deadline(), SystemTime::now());
            let outcome = pulso_dispatch::run(&ctx, budget).await?;
            Ok::<_, Error>(serde_json::to_value(&outcome)?)
        }
    }))
    .await
}
