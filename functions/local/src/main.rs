//! `pulso`: Pulso on one machine. Hosts the same functions that run in AWS (capture, events,
//! dispatch, reports, alerts, feedback) over the embedded store, the outbox and the archive
//! directory, and is the operator's tool (contacts, exports, keys, checks).

mod app;
mod cmd_contacts;
mod cmd_dispatch;
mod cmd_keys;
mod cmd_reports;
mod cmd_serve;
mod demo;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "pulso",
    version,
    about = "Pulso: an NPS program you run yourself"
)]
pub struct Cli {
    /// Configuration file (default: ./pulso.toml if it exists). PULSO__… variables override it.
    #[arg(long, global = true, env = "PULSO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the local store, outbox and archive live (overrides store.data_dir).
    #[arg(long, global = true, env = "PULSO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Try Pulso in a minute: a sample company, a wave of surveys, answers, alerts and reports.
    Demo(demo::DemoArgs),
    /// Serve the capture pages and the events API on localhost, so outbox links work.
    Serve(cmd_serve::ServeArgs),
    /// Import, export and erase contacts (the local store, or with PULSO__STORE__KIND=aws the
    /// deployed table).
    #[command(subcommand)]
    Contacts(cmd_contacts::ContactsCommand),
    /// Export answers (the local store, or with PULSO__STORE__KIND=aws the deployed table).
    #[command(subcommand)]
    Responses(cmd_contacts::ResponsesCommand),
    /// Run a scheduled function once, at a time of your choosing.
    #[command(subcommand)]
    Run(RunCommand),
    /// Build (and preview) a report for any period, without emailing it.
    Report(cmd_reports::ReportArgs),
    /// Recompute the rollups from the answers and report any difference.
    Check(cmd_reports::CheckArgs),
    /// Create, list and revoke API keys for the events API.
    #[command(subcommand)]
    Keys(cmd_keys::KeysCommand),
}

#[derive(Subcommand, Debug)]
pub enum RunCommand {
    /// Send what is due: the day's wave slice, delayed transactional sends, reminders.
    Dispatch(cmd_dispatch::RunDispatchArgs),
    /// Build, email and archive a report (daily, weekly, quarterly).
    Reports(cmd_reports::RunReportsArgs),
    /// Retry pending webhook deliveries.
    Webhooks(cmd_serve::RunWebhooksArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PULSO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo(ref args) => demo::run(&cli, args).await,
        Command::Serve(ref args) => cmd_serve::run(&cli, args).await,
        Command::Contacts(ref c) => cmd_contacts::run_contacts(&cli, c).await,
        Command::Responses(ref c) => cmd_contacts::run_responses(&cli, c).await,
        Command::Run(RunCommand::Dispatch(ref a)) => cmd_dispatch::run(&cli, a).await,
        Command::Run(RunCommand::Reports(ref a)) => cmd_reports::run_scheduled(&cli, a).await,
        Command::Run(RunCommand::Webhooks(ref a)) => cmd_serve::run_webhooks(&cli, a).await,
        Command::Report(ref a) => cmd_reports::preview(&cli, a).await,
        Command::Check(ref a) => cmd_reports::check(&cli, a).await,
        Command::Keys(ref k) => cmd_keys::run(&cli, k).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
