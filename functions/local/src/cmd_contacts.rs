//! `pulso contacts …` and `pulso responses export` (being written).

use crate::Cli;

#[derive(clap::Subcommand, Debug)]
pub enum ContactsCommand {
    /// Import contacts from a CSV file.
    Import { file: std::path::PathBuf },
}

#[derive(clap::Subcommand, Debug)]
pub enum ResponsesCommand {
    /// Export answers as CSV.
    Export,
}

pub async fn run_contacts(_cli: &Cli, _command: &ContactsCommand) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}

pub async fn run_responses(_cli: &Cli, _command: &ResponsesCommand) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
