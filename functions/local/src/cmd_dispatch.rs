//! (being written) `pulso run dispatch`: placeholder so the binary builds until its owner writes it.

use crate::Cli;

#[derive(clap::Args, Debug)]
pub struct RunDispatchArgs {}

pub async fn run(_cli: &Cli, _args: &RunDispatchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
