//! (being written) `pulso keys`: placeholder so the binary builds until its owner writes it.

use crate::Cli;

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Not available yet.
    List,
}

pub async fn run(_cli: &Cli, _command: &KeysCommand) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
