//! (being written) `pulso serve`, `pulso run webhooks`: placeholder so the binary builds until its
//! owner writes it.

use crate::Cli;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {}

#[derive(clap::Args, Debug)]
pub struct RunWebhooksArgs {}

pub async fn run(_cli: &Cli, _args: &ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}

pub async fn run_webhooks(_cli: &Cli, _args: &RunWebhooksArgs) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
