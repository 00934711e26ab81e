//! `pulso contacts import|export|erase` and `pulso responses export`: the operator's contact tools.
//! They work on the local store, or with `store.kind = "aws"` on the deployment's DynamoDB table
//! (AWS credentials from the environment, as for `pulso keys`), through the same core functions.
//! Exports never scan: contacts are read a range of slots at a time, answers a day at a time; every
//! cell goes through `csv_safe`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jiff::Timestamp;
use jiff::civil::Date;
use pulso_core::Config;
use pulso_core::config::StoreKind;
use pulso_core::contacts::{self, ContactsExport, ImportError, ResponsesExport};
use pulso_core::model::{Contact, Dimension, Response, SLOTS};
use pulso_core::ports::{Contacts, FollowUps, Ids, Responses, Rollups, Sends, Suppressions};
use pulso_core::types::{ContactId, Email};

use crate::Cli;
use crate::app;

/// Slots read per query while exporting contacts.
const SLOT_BATCH: u16 = 500;
/// Files larger than this get a progress bar (when stderr is a terminal).
const PROGRESS_FROM_BYTES: u64 = 256 * 1024;

#[derive(clap::Subcommand, Debug)]
pub enum ContactsCommand {
    /// Import contacts from a CSV file (`,` or `;`, UTF-8). Columns by header: email (required),
    /// name, locale, account, time_zone, customer_since; any other column is a segment attribute.
    /// Contacts are matched by email: importing the same file twice changes nothing.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Export every contact as CSV (to stdout, or --out FILE).
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase a contact on request: the contact, its sends and its comments go; its scores stay in
    /// the reports, anonymised; the address is kept only as a hash so it is never mailed again.
    Erase {
        /// The contact's email address.
        email: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ResponsesCommand {
    /// Export answers as CSV (to stdout, or --out FILE), by the day they count in.
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
        /// First day (YYYY-MM-DD, company time zone); default: the first day with answers.
        #[arg(long)]
        from: Option<Date>,
        /// Last day, inclusive; default: today.
        #[arg(long)]
        to: Option<Date>,
    },
}

/// What the contact commands work on: a store (the local one or the deployed table), the
/// configuration, fresh ids and the time of the command.
struct Target<'a, S> {
    store: &'a S,
    config: &'a Config,
    ids: &'a dyn Ids,
    now: Timestamp,
}

impl<S> Target<'_, S> {
    /// Today in the company's time zone.
    fn today(&self) -> Date {
        pulso_core::time::local_day(self.now, &self.config.company.time_zone.tz())
    }
}

/// Every port a contact command uses.
trait OperatorStore: Contacts + Sends + Responses + FollowUps + Suppressions + Rollups {}
impl<S: Contacts + Sends + Responses + FollowUps + Suppressions + Rollups> OperatorStore for S {}

pub async fn run_contacts(cli: &Cli, command: &ContactsCommand) -> anyhow::Result<()> {
    on_configured_store(cli, Command::Contacts(command)).await
}

pub async fn run_responses(cli: &Cli, command: &ResponsesCommand) -> anyhow::Result<()> {
    on_configured_store(cli, Command::Responses(command)).await
}

enum Command<'a> {
    Contacts(&'a ContactsCommand),
    Responses(&'a ResponsesCommand),
}

/// Runs `command` on the store the configuration names: the local data directory, or the
/// deployed table (nothing local is opened then).
async fn on_configured_store(cli: &Cli, command: Command<'_>) -> anyhow::Result<()> {
    let config = app::load_config(cli)?;
    match config.store.kind {
        StoreKind::Local => {
            let ctx = app::open_loaded(cli, config)?;
            let target = Target {
                store: &ctx.store,
                config: &ctx.config,
                ids: ctx.ids.as_ref(),
                now: ctx.now(),
            };
            on_store(&target, command).await
        }
        StoreKind::Aws => {
            let store = pulso_events::keys::deployed_store(&config).await;
            let target = Target {
                store: &store,
                config: &config,
                ids: &pulso_local::RandomIds,
                now: Timestamp::now(),
            };
            on_store(&target, command).await
        }
    }
}

async fn on_store<S: OperatorStore>(t: &Target<'_, S>, command: Command<'_>) -> anyhow::Result<()> {
    match command {
        Command::Contacts(ContactsCommand::Import { file }) => import(t, file).await,
        Command::Contacts(ContactsCommand::Export { out }) => {
            export_contacts(t, out.as_deref()).await
        }
        Command::Contacts(ContactsCommand::Erase { email }) => erase(t, email).await,
        Command::Responses(ResponsesCommand::Export { out, from, to }) => {
            export_responses(t, out.as_deref(), *from, *to).await
        }
    }
}

async fn import<S: Contacts>(t: &Target<'_, S>, path: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if size >= PROGRESS_FROM_BYTES && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(size),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} importing {bar:40} {bytes}/{total_bytes} ({eta})",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = contacts::import(
        t.store,
        t.ids,
        t.now,
        t.config.company.default_locale,
        std::io::BufReader::with_capacity(64 * 1024, file),
        |bytes| bar.set_position(bytes),
    )
    .await;
    bar.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(ImportError::File(e)) => {
            return Err(e).with_context(|| format!("cannot import {}", path.display()));
        }
        Err(ImportError::Contact(e)) => return Err(e).context("import stopped"),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Imported {}: {} created, {} updated, {} unchanged, {} skipped.",
        path.display(),
        summary.created,
        summary.updated,
        summary.unchanged,
        summary.skipped()
    )?;
    if !summary.errors.is_empty() {
        writeln!(out, "Skipped rows (nothing of them was written):")?;
        for e in &summary.errors {
            writeln!(out, "  line {}: {}", e.line, e.reason)?;
        }
    }
    Ok(())
}

/// Where an export goes: a file written whole (temporary name, then renamed) or stdout.
struct Output {
    writer: csv::Writer<Box<dyn Write>>,
    file: Option<(PathBuf, PathBuf)>,
}

impl Output {
    fn open(out: Option<&Path>) -> anyhow::Result<Output> {
        match out {
            None => Ok(Output {
                writer: csv::Writer::from_writer(Box::new(std::io::BufWriter::new(
                    std::io::stdout(),
                ))),
                file: None,
            }),
            Some(path) => {
                let mut tmp = path.as_os_str().to_owned();
                tmp.push(".partial");
                let tmp = PathBuf::from(tmp);
                let f = std::fs::File::create(&tmp)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                Ok(Output {
                    writer: csv::Writer::from_writer(Box::new(std::io::BufWriter::new(f))),
                    file: Some((tmp, path.to_path_buf())),
                })
            }
        }
    }

    fn row(&mut self, cells: Vec<String>) -> anyhow::Result<()> {
        self.writer.write_record(cells)?;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.writer.flush()?;
        drop(self.writer);
        if let Some((tmp, path)) = self.file {
            std::fs::rename(&tmp, &path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// Calls `f` with each batch of contacts, `SLOT_BATCH` slots at a time: queries, never a scan.
async fn for_each_contact_batch<S: Contacts>(
    t: &Target<'_, S>,
    mut f: impl FnMut(Vec<Contact>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut from = 0u16;
    while from < SLOTS {
        let to = from.saturating_add(SLOT_BATCH).min(SLOTS);
        f(t.store.contacts_in_slots(from, to).await?)?;
        from = to;
    }
    Ok(())
}

async fn export_contacts<S: Contacts>(t: &Target<'_, S>, out: Option<&Path>) -> anyhow::Result<()> {
    // First pass: the segment columns (every attribute any contact has).
    let mut names = std::collections::BTreeSet::new();
    for_each_contact_batch(t, |batch| {
        for c in &batch {
            for (k, _) in c.attributes.iter() {
                names.insert(k.to_string());
            }
        }
        Ok(())
    })
    .await?;
    let export = ContactsExport::new(names.into_iter().collect());
    let mut output = Output::open(out)?;
    output.row(export.header())?;
    let mut n = 0u64;
    for_each_contact_batch(t, |batch| {
        for c in &batch {
            output.row(export.row(c))?;
            n += 1;
        }
        Ok(())
    })
    .await?;
    output.finish()?;
    if let Some(path) = out {
        eprintln!("Exported {n} contacts to {}.", path.display());
    }
    Ok(())
}

async fn erase<S: OperatorStore>(t: &Target<'_, S>, raw: &str) -> anyhow::Result<()> {
    let email = Email::parse(raw).context("not an email address")?;
    let erased = contacts::erase(t.store, &email, t.now).await?;
    match erased.contact {
        Some(id) => println!(
            "Erased contact {id}: {} sends deleted, {} answers and {} follow-ups anonymised \
             (their scores stay in the reports). The address is kept only as a hash on the \
             suppression list, so it is never mailed again.",
            erased.sends, erased.responses, erased.follow_ups
        ),
        None => println!(
            "No contact has that address. It is on the suppression list now (as a hash only), \
             so it is never mailed."
        ),
    }
    Ok(())
}

/// The first day answers were counted on, from the overall rollups (one query on the local store;
/// on DynamoDB one per month since 2000, eight at a time).
async fn answer_days<S: Rollups>(t: &Target<'_, S>, to: Date) -> anyhow::Result<Option<Date>> {
    let first = jiff::civil::date(2000, 1, 1);
    let rollups = t.store.rollups(first, to).await?;
    Ok(rollups
        .iter()
        .filter(|r| r.dimension == Dimension::All)
        .filter(|r| r.counts.scores.iter().any(|n| *n != 0) || r.counts.flagged != 0)
        .map(|r| r.day)
        .min())
}

async fn export_responses<S: Contacts + Responses + Rollups>(
    t: &Target<'_, S>,
    out: Option<&Path>,
    from: Option<Date>,
    to: Option<Date>,
) -> anyhow::Result<()> {
    let to = to.unwrap_or_else(|| t.today());
    let from = match from {
        Some(d) => d,
        None => answer_days(t, to).await?.unwrap_or(to),
    };
    if from > to {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    let days: Vec<Date> = from
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d <= to)
        .collect();
    // First pass: the segment columns.
    let mut names = std::collections::BTreeSet::new();
    for day in &days {
        for r in t.store.responses_of_day(*day).await? {
            for (k, _) in r.attributes.iter() {
                names.insert(k.to_string());
            }
        }
    }
    let export = ResponsesExport::new(names.into_iter().collect());
    let mut output = Output::open(out)?;
    output.row(export.header())?;
    // Each contact is read once, a day's new ones together (one batch on DynamoDB); an erased
    // contact's answers have no email.
    let mut emails: HashMap<ContactId, Option<Email>> = HashMap::new();
    let mut n = 0u64;
    for day in &days {
        let mut answers: Vec<Response> = t.store.responses_of_day(*day).await?;
        // Oldest first reads best in a spreadsheet.
        answers.reverse();
        // `contacts_by_id` reads an id named twice once; `get` keeps the second naming's answer.
        let unknown: Vec<ContactId> = answers
            .iter()
            .filter_map(|r| r.contact_id.clone())
            .filter(|id| !emails.contains_key(id))
            .collect();
        if !unknown.is_empty() {
            let found = t.store.contacts_by_id(&unknown).await?;
            for id in unknown {
                let email = found.get(&id).map(|c| c.email.clone());
                emails.insert(id, email);
            }
        }
        for r in &answers {
            let email = r
                .contact_id
                .as_ref()
                .and_then(|id| emails.get(id).cloned().flatten());
            output.row(export.row(r, email.as_ref()))?;
            n += 1;
        }
    }
    output.finish()?;
    if let Some(path) = out {
        eprintln!(
            "Exported {n} answers ({from} to {to}) to {}.",
            path.display()
        );
    }
    Ok(())
}
