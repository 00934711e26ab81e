//! (being written) `pulso report`, `pulso check`, `pulso run reports`: placeholder so the binary
//! builds until its owner writes it.

use crate::Cli;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {}

#[derive(clap::Args, Debug)]
pub struct RunReportsArgs {}

pub async fn run_scheduled(_cli: &Cli, _args: &RunReportsArgs) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}

pub async fn preview(_cli: &Cli, _args: &ReportArgs) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}

pub async fn check(_cli: &Cli, _args: &CheckArgs) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
