//! The feedback function: SES bounce and complaint events (EventBridge, SNS or SQS delivery) to
//! the suppression list, by `pulso_core::feedback`. Unreadable events are logged by id and
//! skipped; only a store failure fails the invocation (and Lambda retries it).

use pulso_core::Ctx;
use pulso_core::feedback::{self, FeedbackSummary};
use pulso_core::ports::{Store, StoreError};

/// Applies one Lambda payload.
pub async fn handle<S: Store, M, A>(
    ctx: &Ctx<S, M, A>,
    payload: &serde_json::Value,
) -> Result<FeedbackSummary, StoreError> {
    let records = feedback::read_event(payload);
    feedback::apply(ctx, &records).await
}
