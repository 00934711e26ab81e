//! `pulso demo`: the whole loop on this machine, in steps. Each step lives in its own module:
//! `company` (sample contacts and accounts), `wave` (the first wave into the outbox), `answers`
//! (a realistic spread of answers through the capture router, alerts, follow-ups) and `reports`
//! (the three reports into the outbox and the archive).
//!
//! A step is `async fn run(demo: &Demo) -> anyhow::Result<Step>`: it works through the same services
//! and adapters as the real commands, on the demo's clock (which steps may advance), and returns what
//! it did in a few lines for a person. [`run`] calls the steps in order and prints them.

mod answers;
mod company;
mod reports;
mod wave;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use pulso_core::ports::FixedClock;

use crate::Cli;
use crate::app::{self, LocalCtx};

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Start from an empty data directory (removes only pulso.db, outbox/ and archive/ there).
    #[arg(long)]
    pub fresh: bool,
    /// Run the demo as of this time (e.g. 2026-03-02T08:00, company time zone) instead of now:
    /// the same time gives the same company, answers and reports.
    #[arg(long)]
    pub at: Option<String>,
}

/// What every step gets: the local context on the demo's clock, and where things are.
pub struct Demo {
    pub ctx: LocalCtx,
    /// The demo's time. Steps move it forward (e.g. to let answers arrive after the wave).
    pub clock: FixedClock,
    pub data_dir: PathBuf,
}

/// What a step did, for a person.
pub struct Step {
    pub title: String,
    pub lines: Vec<String>,
}

impl Step {
    /// A step from a step module's own account of what it did (one line per line).
    pub fn from_display(title: &str, what: &impl std::fmt::Display) -> Step {
        Step {
            title: title.to_string(),
            lines: what
                .to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        }
    }
}

/// The configuration the demo runs with when the operator has none (no `--config`, no
/// `./pulso.toml`): the example file, whose audiences receive the alerts and the reports.
const EXAMPLE_CONFIG: &str = include_str!("../../../../pulso.example.toml");

/// The demo's configuration, and the file it came from when the demo wrote one.
fn demo_config(cli: &Cli) -> anyhow::Result<(pulso_core::Config, Option<PathBuf>)> {
    if cli.config.is_some() || Path::new("pulso.toml").exists() {
        return Ok((app::load_config(cli)?, None));
    }
    let config = pulso_core::Config::load(EXAMPLE_CONFIG, std::env::vars())
        .context("the example configuration")?;
    let dir = app::data_dir(cli, &config);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    // A copy beside the data, so that later commands (`pulso serve`) can run with the same
    // settings; an existing copy is the operator's to edit and is never overwritten.
    let path = dir.join("pulso.toml");
    if !path.exists() {
        std::fs::write(&path, EXAMPLE_CONFIG)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let config = pulso_core::Config::load(&text, std::env::vars())
        .with_context(|| format!("configuration {}", path.display()))?;
    Ok((config, Some(path)))
}

pub async fn run(cli: &Cli, args: &DemoArgs) -> anyhow::Result<()> {
    let (config, written_config) = demo_config(cli)?;
    let data_dir = app::data_dir(cli, &config);
    if args.fresh {
        fresh(&data_dir)?;
    }
    let start = match &args.at {
        Some(at) => app::parse_at(&config, at)?,
        None => jiff::Timestamp::now(),
    };
    let clock = FixedClock::at(start);
    let ctx = app::open_with(config, &data_dir, Arc::new(clock.clone()))?;
    let demo = Demo {
        ctx,
        clock,
        data_dir,
    };

    // The steps, in order; each is shown as soon as it is done.
    let mut shown = 0;
    let mut show = |step: Step| -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        shown += 1;
        writeln!(out, "{shown}. {}", step.title)?;
        for line in &step.lines {
            writeln!(out, "   {line}")?;
        }
        out.flush()
    };
    show(company::run(&demo).await?)?;
    let wave = wave::run(&demo.ctx).await?;
    show(Step::from_display("Four weeks of surveys", &wave))?;
    show(answers::run(&demo).await?)?;
    let reports = reports::run(&demo.ctx).await?;
    show(Step::from_display(
        "The daily digest, weekly and quarterly reports",
        &reports,
    ))?;

    let mut out = std::io::stdout().lock();
    let dir = demo.data_dir.display();
    writeln!(out)?;
    writeln!(out, "Everything is in {dir}:")?;
    writeln!(
        out,
        "   {}   the store (SQLite)",
        demo.data_dir.join(app::DB_FILE).display()
    )?;
    writeln!(
        out,
        "   {}/   every email Pulso sent, one .eml file each",
        demo.data_dir.join(app::OUTBOX_DIR).display()
    )?;
    writeln!(
        out,
        "   {}/   archived reports (HTML, CSV, JSON)",
        demo.data_dir.join(app::ARCHIVE_DIR).display()
    )?;
    let config_arg = match &written_config {
        Some(path) => {
            writeln!(
                out,
                "   {}   the settings the demo used (a copy of pulso.example.toml: edit it)",
                path.display()
            )?;
            format!(" --config {}", path.display())
        }
        None => String::new(),
    };
    writeln!(
        out,
        "Answer a survey:       pulso --data-dir {dir}{config_arg} serve"
    )?;
    writeln!(
        out,
        "Look at the contacts:  pulso --data-dir {dir} contacts export"
    )?;
    writeln!(
        out,
        "Start over:            pulso --data-dir {dir}{config_arg} demo --fresh"
    )?;
    Ok(())
}

/// Removes the demo's data (the database, the outbox and the archive) and nothing else.
fn fresh(dir: &Path) -> anyhow::Result<()> {
    for name in [
        app::DB_FILE.to_string(),
        format!("{}-wal", app::DB_FILE),
        format!("{}-shm", app::DB_FILE),
    ] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    for name in [app::OUTBOX_DIR, app::ARCHIVE_DIR] {
        let path = dir.join(name);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    Ok(())
}
