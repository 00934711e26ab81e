//! The alerts Lambda: DynamoDB stream batches and the scheduled webhook retry.
// The context is built in a task spawned from `main`, whose future nests deeper than the
// compiler's default query depth allows.
#![recursion_limit = "256"]

use std::sync::Arc;

use futures::TryFutureExt as _;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pulso_alerts::{AlertsFnError, ReqwestClient};
use pulso_aws::runtime::{FirstUse, Starting};
use pulso_aws::stream::{StreamEvent, response_changes};
use pulso_core::alerts::webhooks::{Sender, WebhookSecret};

// One thread: Lambda hands a function one event at a time, and worker threads cost start time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    pulso_aws::runtime::init_tracing();
    // Built while the runtime already waits for the first event (see `Starting`).
    let ready = Arc::new(Starting::spawn(|| async {
        let runtime = pulso_aws::runtime::load_from_env(FirstUse::MAIL).await?;
        let sender = Arc::new(Sender {
            client: ReqwestClient::new(pulso_alerts::POST_TIMEOUT),
            secret: runtime.webhook_secret.and_then(WebhookSecret::new),
        });
        Ok((Arc::new(runtime.ctx), sender))
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let ready = ready.clone();
        async move {
            let (ctx, sender) = ready.get().await?;
            let payload = event.payload;
            let run = async {
                if pulso_alerts::is_retry_schedule(&payload) {
                    Ok(pulso_alerts::handle_schedule(&ctx, &sender).await?)
                } else if payload.get("Records").is_some() {
                    let stream: StreamEvent = serde_json::from_value(payload)?;
                    let changes = response_changes(&stream);
                    Ok(pulso_alerts::handle_changes(&ctx, &sender, &changes).await?)
                } else {
                    Err(AlertsFnError::UnknownInvocation.into())
                }
            };
            // The batch's reads go out while the signing keys arrive; keys that cannot be read
            // fail every invocation, naming the setting, as a context that waited for them would.
            let (outcome, _) = futures::try_join!(run, ctx.keys.get().err_into::<Error>())?;
            tracing::info!(?outcome, "alerts run");
            Ok::<_, Error>(outcome)
        }
    }))
    .await
}
