//! The alerts function: closing the loop in AWS. Invoked by the table's DynamoDB stream, it runs
//! `pulso_core::alerts::on_answer` for every change of an answer (alert email, follow-up, webhook
//! deliveries) and posts the deliveries at once; invoked on a schedule with
//! `{"action": "retry_webhooks"}`, it retries the pending deliveries that are due. Every stream
//! batch also retries a few due deliveries, so unsubscribe webhooks recorded by the capture
//! function go out soon.
//!
//! Webhooks are posted with [`ReqwestClient`], the `WebhookClient` port over reqwest (no
//! redirects, a timeout).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pulso_core::Ctx;
use pulso_core::alerts::webhooks::{self, RetrySummary, Sender};
use pulso_core::alerts::{self, AlertError};
use pulso_core::model::Response;
use pulso_core::ports::{Mailer, Store, WebhookClient};
use serde::Serialize;

/// Due deliveries retried after each stream batch.
pub const RETRIES_PER_BATCH: usize = 25;
/// Due deliveries retried per scheduled run.
pub const RETRIES_PER_SCHEDULE: usize = 500;
/// How long one webhook POST may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The `WebhookClient` port over reqwest. The HTTP client (building it loads the platform's root
/// certificates, milliseconds at a cold start) is built on the first post and shared by clones, so
/// an invocation with nothing to post never pays for it.
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    timeout: Duration,
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
}

impl ReqwestClient {
    pub fn new(timeout: Duration) -> ReqwestClient {
        ReqwestClient {
            timeout,
            client: Arc::new(OnceLock::new()),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .connect_timeout(self.timeout)
                    // A webhook endpoint that redirects is misconfigured; following it could leak
                    // the body.
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("pulso-webhooks/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| {
                        tracing::error!(error = %e, "cannot build the webhook HTTP client");
                        "the webhook HTTP client could not be built".to_string()
                    })
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl WebhookClient for ReqwestClient {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<u16, String> {
        let mut req = self.client()?.post(url).body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        match req.send().await {
            Ok(res) => Ok(res.status().as_u16()),
            Err(e) if e.is_timeout() => Err("the endpoint did not answer in time".into()),
            Err(e) if e.is_connect() => Err("could not connect to the endpoint".into()),
            Err(e) if e.is_builder() => Err("the webhook URL is not valid".into()),
            Err(_) => Err("the request to the endpoint failed".into()),
        }
    }
}

/// What one invocation did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Outcome {
    pub answers: usize,
    pub follow_ups_opened: usize,
    pub follow_ups_closed: usize,
    pub alerts_emailed: usize,
    pub webhooks_delivered: usize,
    pub webhooks_retrying: usize,
    pub webhooks_dead: usize,
}

impl Outcome {
    fn add_webhooks(&mut self, s: RetrySummary) {
        self.webhooks_delivered += s.delivered;
        self.webhooks_retrying += s.retrying;
        self.webhooks_dead += s.dead;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertsFnError {
    #[error(transparent)]
    Alert(#[from] AlertError),
    #[error("store: {0}")]
    Store(#[from] pulso_core::StoreError),
    #[error(
        "unknown invocation: expected a DynamoDB stream event or {{\"action\": \"retry_webhooks\"}}"
    )]
    UnknownInvocation,
}

/// Handles the answer changes of one stream batch, in order. A failure fails the batch, which
/// Lambda retries (the handler is idempotent but for a possible second alert email).
pub async fn handle_changes<S: Store, M: Mailer, A, C: WebhookClient>(
    ctx: &Ctx<S, M, A>,
    sender: &Sender<C>,
    changes: &[(Option<Response>, Response)],
) -> Result<Outcome, AlertsFnError> {
    let mut out = Outcome::default();
    for (before, after) in changes {
        let fx = alerts::on_answer(ctx, before.as_ref(), after).await?;
        out.answers += 1;
        out.follow_ups_opened += usize::from(fx.follow_up_opened);
        out.follow_ups_closed += usize::from(fx.follow_up_closed);
        out.alerts_emailed += fx.alerts_emailed;
        out.add_webhooks(webhooks::deliver_all(ctx, sender, &fx.deliveries).await?);
    }
    // Without a secret nothing can be posted (the runtime reads one only where webhooks are
    // configured): no queue query on every batch. The scheduled run still visits the queue.
    if sender.secret.is_some() {
        out.add_webhooks(webhooks::retry_due(ctx, sender, RETRIES_PER_BATCH).await?);
    }
    Ok(out)
}

/// The scheduled run: retries due webhook deliveries.
pub async fn handle_schedule<S: Store, M, A, C: WebhookClient>(
    ctx: &Ctx<S, M, A>,
    sender: &Sender<C>,
) -> Result<Outcome, AlertsFnError> {
    let mut out = Outcome::default();
    out.add_webhooks(webhooks::retry_due(ctx, sender, RETRIES_PER_SCHEDULE).await?);
    Ok(out)
}

/// Whether a Lambda payload is the scheduled retry.
pub fn is_retry_schedule(payload: &serde_json::Value) -> bool {
    payload.get("action").and_then(|a| a.as_str()) == Some("retry_webhooks")
}
