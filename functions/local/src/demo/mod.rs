//! `pulso demo`: the whole loop on this machine, in steps. Each step lives in its own module:
//! `company` (sample contacts and accounts), `wave` (the first wave into the outbox), `answers`
//! (a realistic spread of answers through the capture router, alerts, follow-ups) and `reports`
//! (the three reports into the outbox and the archive).

use crate::Cli;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Start from an empty data directory (removes only pulso.db, outbox/ and archive/ there).
    #[arg(long)]
    pub fresh: bool,
}

pub async fn run(_cli: &Cli, _args: &DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
