//! Lambda wiring of the reports function: invoked by the three EventBridge Scheduler schedules
//! (daily digest, weekly on Mondays, quarterly on the first day of the quarter) with
//! `{"report": …, "at": "<aws.scheduler.scheduled-time>"}`. Returns the run's outcome (kind,
//! period, outcome, archive keys: no personal data) so the invocation log says what it did.
// The context is built in a task spawned from `main`, whose future nests deeper than the
// compiler's default query depth allows.
#![recursion_limit = "256"]

use std::sync::Arc;

use futures::TryFutureExt as _;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pulso_aws::runtime::{FirstUse, Starting};

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    pulso_aws::runtime::init_tracing();
    // Built while the runtime already waits for the first event (see `Starting`). The context does
    // not wait for the signing keys: a run's claim waits for them, its reads go out meanwhile.
    let ctx = Arc::new(Starting::spawn(|| async {
        Ok(Arc::new(
            pulso_aws::runtime::context_keys_arriving_from_env(FirstUse::MAIL_AND_ARCHIVE).await?,
        ))
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ctx = ctx.clone();
        async move {
            let ctx = ctx.get().await?;
            // Keys that cannot be read fail every invocation, naming the setting, as a context that
            // waited for them would.
            let (result, _) = futures::try_join!(
                pulso_reports::handle(&ctx, &event.payload).err_into::<Error>(),
                ctx.keys.get().err_into::<Error>()
            )?;
            Ok::<_, Error>(serde_json::to_value(&result)?)
        }
    }))
    .await
}
