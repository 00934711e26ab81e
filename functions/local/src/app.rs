//! Builds the local `Ctx`: configuration (file + env), the SQLite store, the outbox mailer, the
//! archive directory, the signing keys (from PULSO_TOKEN_KEYS, else a key generated once into the
//! data directory), the clock and random ids.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use jiff::Timestamp;
use pulso_core::ports::{Clock, FixedClock, SystemClock};
use pulso_core::{Config, Ctx};
use pulso_local::{DirArchive, Outbox, RandomIds, SqliteStore};

use crate::Cli;

/// The `Ctx` every local command runs with.
pub type LocalCtx = Ctx<SqliteStore, Outbox, DirArchive>;

/// The database file inside the data directory.
pub const DB_FILE: &str = "pulso.db";
/// The outbox directory inside the data directory.
pub const OUTBOX_DIR: &str = "outbox";
/// The archive directory inside the data directory.
pub const ARCHIVE_DIR: &str = "archive";

/// `--config`, else `./pulso.toml` if present, else the defaults; `PULSO__…` variables override.
pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let text = match &cli.config {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?,
        None => match std::fs::read_to_string("pulso.toml") {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).context("cannot read ./pulso.toml"),
        },
    };
    Config::load(&text, std::env::vars()).context("configuration")
}

/// `--data-dir`, else `store.data_dir` of the configuration.
pub fn data_dir(cli: &Cli, config: &Config) -> PathBuf {
    cli.data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&config.store.data_dir))
}

/// The context on the wall clock.
pub fn open(cli: &Cli) -> anyhow::Result<LocalCtx> {
    open_at(cli, Arc::new(SystemClock))
}

/// The context on `clock` (commands run `--at` a chosen time pass a [`FixedClock`]).
pub fn open_at(cli: &Cli, clock: Arc<dyn Clock>) -> anyhow::Result<LocalCtx> {
    let config = load_config(cli)?;
    let dir = data_dir(cli, &config);
    open_with(config, &dir, clock)
}

/// The context on the wall clock, for a configuration already loaded (commands that first look at
/// `store.kind`).
pub fn open_loaded(cli: &Cli, config: Config) -> anyhow::Result<LocalCtx> {
    let dir = data_dir(cli, &config);
    open_with(config, &dir, Arc::new(SystemClock))
}

/// The context over `dir` with a given configuration (tests, the demo).
pub fn open_with(config: Config, dir: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<LocalCtx> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let store = SqliteStore::open(dir.join(DB_FILE))?;
    let mailer = Outbox::with_clock(dir.join(OUTBOX_DIR), clock.clone())?;
    let archive = DirArchive::new(dir.join(ARCHIVE_DIR))?;
    let keys = pulso_local::signing_keys(dir)?;
    Ok(Ctx {
        config: Arc::new(config),
        keys: keys.into(),
        store,
        mailer,
        archive,
        clock,
        ids: Arc::new(RandomIds),
    })
}

// Used by the commands that run `--at` a chosen time.
#[allow(dead_code)]
/// A clock for `--at`: a full timestamp (`2026-03-02T08:00:00Z`, `…+01:00`) or a local date-time
/// (`2026-03-02T08:00`, `2026-03-02`) read in the company's time zone; none means the wall clock.
pub fn clock_at(config: &Config, at: Option<&str>) -> anyhow::Result<Arc<dyn Clock>> {
    match at {
        None => Ok(Arc::new(SystemClock)),
        Some(text) => Ok(Arc::new(FixedClock::at(parse_at(config, text)?))),
    }
}

#[allow(dead_code)]
/// Parses an `--at` value (see [`clock_at`]).
pub fn parse_at(config: &Config, text: &str) -> anyhow::Result<Timestamp> {
    let text = text.trim();
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let tz = config.company.time_zone.tz();
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return Ok(dt.to_zoned(tz)?.timestamp());
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>() {
        return Ok(pulso_core::time::start_of_day(d, &tz));
    }
    anyhow::bail!("--at {text:?}: expected a time such as 2026-03-02T08:00 or 2026-03-02T08:00:00Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_reads_local_and_absolute_times() {
        let config = Config::load(
            "[company]\ntime_zone = \"Europe/Madrid\"\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        assert_eq!(
            parse_at(&config, "2026-03-02T08:00").unwrap().to_string(),
            "2026-03-02T07:00:00Z"
        );
        assert_eq!(
            parse_at(&config, "2026-03-02T08:00:00Z")
                .unwrap()
                .to_string(),
            "2026-03-02T08:00:00Z"
        );
        assert_eq!(
            parse_at(&config, "2026-03-02").unwrap().to_string(),
            "2026-03-01T23:00:00Z"
        );
        assert!(parse_at(&config, "tomorrow").is_err());
    }
}
