//! `pulso serve`: the capture pages (score links, comments, unsubscribe, follow-ups, archived
//! reports) and the events API on localhost, over the local store, so the links in the outbox's
//! emails work in a browser. Alerts, follow-ups and webhooks run inline after each answer (in AWS
//! the table's stream runs them).
//!
//! `pulso run webhooks`: retries the webhook deliveries that are due, and lists the dead ones (with
//! `--requeue-dead`, puts them back in the queue first).

use std::net::SocketAddr;

use anyhow::Context as _;
use pulso_alerts::ReqwestClient;
use pulso_core::alerts::InlineLoop;
use pulso_core::alerts::webhooks::{self, Sender, WebhookSecret};
use pulso_core::config::Secrets;
use pulso_core::ports::WebhookDeliveries;

use crate::Cli;
use crate::app::{self, LocalCtx};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where to listen. Loopback by default: these pages are for this machine.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
}

#[derive(clap::Args, Debug)]
pub struct RunWebhooksArgs {
    /// Try at most this many due deliveries.
    #[arg(long, default_value_t = 500)]
    pub limit: usize,
    /// First put every dead delivery back in the queue (once its endpoint works again).
    #[arg(long)]
    pub requeue_dead: bool,
    /// Run as of this time (e.g. 2026-03-02T08:00, company time zone) instead of now.
    #[arg(long)]
    pub at: Option<String>,
}

/// Who posts webhooks locally: reqwest, signed with `PULSO_WEBHOOK_SECRET`.
pub fn webhook_sender(ctx: &LocalCtx) -> anyhow::Result<Sender<ReqwestClient>> {
    let secret = Secrets::from_env(std::env::vars())
        .webhook_secret
        .and_then(WebhookSecret::new);
    if secret.is_none() && !ctx.config.webhooks.urls.is_empty() {
        eprintln!(
            "warning: webhooks.urls is set but PULSO_WEBHOOK_SECRET is not: deliveries are recorded \
             and wait until it is set (then run `pulso run webhooks`)"
        );
    }
    Ok(Sender {
        client: ReqwestClient::new(pulso_alerts::POST_TIMEOUT),
        secret,
    })
}

/// Capture and the events API on one router, with the loop closed inline.
pub fn router(ctx: LocalCtx, sender: Sender<ReqwestClient>) -> axum::Router {
    pulso_capture::router(ctx.clone(), InlineLoop::new(sender)).merge(pulso_events::router(ctx))
}

pub async fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let ctx = app::open(cli)?;
    let sender = webhook_sender(&ctx)?;
    let base = ctx.config.links.base_url.trim_end_matches('/').to_string();
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    println!("Pulso is serving on {url}  (Ctrl-C stops it)");
    println!("  survey, unsubscribe and follow-up links of the emails in the outbox open here");
    println!("  events API: POST {url}/v1/events, POST {url}/v1/contacts, GET {url}/v1/metrics");
    if base != url {
        println!(
            "  note: links.base_url is {base}, so links in emails point there, not here \
             (set PULSO__LINKS__BASE_URL={url} before sending to use this address)"
        );
    }
    axum::serve(listener, router(ctx, sender))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the server stopped")?;
    println!("Stopped.");
    Ok(())
}

pub async fn run_webhooks(cli: &Cli, args: &RunWebhooksArgs) -> anyhow::Result<()> {
    let config = app::load_config(cli)?;
    let clock = app::clock_at(&config, args.at.as_deref())?;
    let ctx = app::open_at(cli, clock)?;
    let sender = webhook_sender(&ctx)?;
    if args.requeue_dead {
        let dead = ctx.store.dead_deliveries(10_000).await?;
        let mut requeued = 0;
        for d in &dead {
            requeued += usize::from(webhooks::requeue(&ctx, d).await?);
        }
        println!("Requeued {requeued} dead deliveries.");
    }
    let summary = webhooks::retry_due(&ctx, &sender, args.limit).await?;
    println!(
        "Webhooks: {} delivered, {} failed and will be retried, {} gave up (dead).",
        summary.delivered, summary.retrying, summary.dead
    );
    let dead = ctx.store.dead_deliveries(50).await?;
    if dead.is_empty() {
        println!("No dead deliveries.");
    } else {
        println!("Dead deliveries, newest first:");
        for d in &dead {
            println!(
                "  {}  {}  {}  created {}  after {} attempts: {}",
                d.id,
                d.event,
                d.url,
                d.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                d.attempts,
                d.last_error.as_deref().unwrap_or("unknown error")
            );
        }
        println!("Fix the endpoint, then: pulso run webhooks --requeue-dead");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::ports::FixedClock;
    use std::sync::Arc;

    /// A raw HTTP/1.1 GET (this crate has no HTTP client).
    async fn raw_get(addr: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        buf
    }

    #[tokio::test]
    async fn serve_hosts_capture_and_the_events_api() {
        let dir = tempfile::tempdir().unwrap();
        let clock = FixedClock::at("2026-03-02T09:00:00Z".parse().unwrap());
        let config = pulso_core::Config::default();
        let ctx = app::open_with(config, dir.path(), Arc::new(clock)).unwrap();
        let sender = webhook_sender(&ctx).unwrap();
        let app = router(ctx, sender);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        // A forged score link gets capture's page; the metrics API asks for its key.
        let page = raw_get(addr, "/a/k1.eA.eA?s=3").await;
        assert!(page.starts_with("HTTP/1.1 400"), "{page}");
        assert!(page.contains("This link is incomplete"));
        let api = raw_get(addr, "/v1/metrics").await;
        assert!(api.starts_with("HTTP/1.1 401"), "{api}");
        let none = raw_get(addr, "/nowhere").await;
        assert!(none.starts_with("HTTP/1.1 404"));
    }
}
