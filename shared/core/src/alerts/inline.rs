//! The local host's [`AfterCapture`] hook: runs [`on_answer`](super::on_answer) right after each
//! save and posts the webhook deliveries it records, so `pulso serve` and `pulso demo` alert at
//! once. Failures are logged (by id) and never undo the answer: a pending webhook delivery is
//! retried by `pulso run webhooks`.

use crate::capture::AfterCapture;
use crate::context::Ctx;
use crate::model::{Response, WebhookDelivery};
use crate::ports::{Archive, Mailer, Store, WebhookClient};

use super::webhooks::{self, Sender};

/// Alerts, follow-ups and webhooks inline.
#[derive(Debug, Clone)]
pub struct InlineLoop<C> {
    pub sender: Sender<C>,
}

impl<C> InlineLoop<C> {
    pub fn new(sender: Sender<C>) -> Self {
        InlineLoop { sender }
    }
}

impl<C: WebhookClient + 'static> AfterCapture for InlineLoop<C> {
    async fn answer_saved<S: Store, M: Mailer, A: Archive>(
        &self,
        ctx: &Ctx<S, M, A>,
        before: Option<&Response>,
        after: &Response,
    ) {
        match super::on_answer(ctx, before, after).await {
            Ok(fx) => self.deliveries_enqueued(ctx, &fx.deliveries).await,
            Err(e) => tracing::warn!(send = %after.send_id, error = %e, "closing the loop failed"),
        }
    }

    async fn deliveries_enqueued<S: Store, M: Mailer, A: Archive>(
        &self,
        ctx: &Ctx<S, M, A>,
        deliveries: &[WebhookDelivery],
    ) {
        if deliveries.is_empty() {
            return;
        }
        if let Err(e) = webhooks::deliver_all(ctx, &self.sender, deliveries).await {
            tracing::warn!(error = %e, "recording a webhook attempt failed");
        }
    }
}
