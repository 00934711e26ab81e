//! `pulso contacts import|export|erase` and `pulso responses export`: the operator's contact tools
//! over the local store. Exports never scan: contacts are read a range of slots at a time, answers a
//! day at a time; every cell goes through `csv_safe`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jiff::civil::Date;
use pulso_core::contacts::{self, ContactsExport, ImportError, ResponsesExport};
use pulso_core::model::{Contact, Dimension, Response, SLOTS};
use pulso_core::ports::{Contacts, Responses, Rollups};
use pulso_core::types::{ContactId, Email};

use crate::Cli;
use crate::app::{self, LocalCtx};

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

pub async fn run_contacts(cli: &Cli, command: &ContactsCommand) -> anyhow::Result<()> {
    let ctx = app::open(cli)?;
    match command {
        ContactsCommand::Import { file } => import(&ctx, file).await,
        ContactsCommand::Export { out } => export_contacts(&ctx, out.as_deref()).await,
        ContactsCommand::Erase { email } => erase(&ctx, email).await,
    }
}

pub async fn run_responses(cli: &Cli, command: &ResponsesCommand) -> anyhow::Result<()> {
    let ctx = app::open(cli)?;
    match command {
        ResponsesCommand::Export { out, from, to } => {
            export_responses(&ctx, out.as_deref(), *from, *to).await
        }
    }
}

async fn import(ctx: &LocalCtx, path: &Path) -> anyhow::Result<()> {
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
        &ctx.store,
        ctx.ids.as_ref(),
        ctx.now(),
        ctx.config.company.default_locale,
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
async fn for_each_contact_batch(
    ctx: &LocalCtx,
    mut f: impl FnMut(Vec<Contact>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut from = 0u16;
    while from < SLOTS {
        let to = from.saturating_add(SLOT_BATCH).min(SLOTS);
        f(ctx.store.contacts_in_slots(from, to).await?)?;
        from = to;
    }
    Ok(())
}

async fn export_contacts(ctx: &LocalCtx, out: Option<&Path>) -> anyhow::Result<()> {
    // First pass: the segment columns (every attribute any contact has).
    let mut names = std::collections::BTreeSet::new();
    for_each_contact_batch(ctx, |batch| {
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
    for_each_contact_batch(ctx, |batch| {
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

async fn erase(ctx: &LocalCtx, raw: &str) -> anyhow::Result<()> {
    let email = Email::parse(raw).context("not an email address")?;
    let erased = contacts::erase(&ctx.store, &email, ctx.now()).await?;
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

/// The days answers were counted on, from the overall rollups (one query).
async fn answer_days(ctx: &LocalCtx, to: Date) -> anyhow::Result<Option<Date>> {
    let first = jiff::civil::date(2000, 1, 1);
    let rollups = ctx.store.rollups(first, to).await?;
    Ok(rollups
        .iter()
        .filter(|r| r.dimension == Dimension::All)
        .filter(|r| r.counts.scores.iter().any(|n| *n != 0) || r.counts.flagged != 0)
        .map(|r| r.day)
        .min())
}

async fn export_responses(
    ctx: &LocalCtx,
    out: Option<&Path>,
    from: Option<Date>,
    to: Option<Date>,
) -> anyhow::Result<()> {
    let to = to.unwrap_or_else(|| ctx.today());
    let from = match from {
        Some(d) => d,
        None => answer_days(ctx, to).await?.unwrap_or(to),
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
        for r in ctx.store.responses_of_day(*day).await? {
            for (k, _) in r.attributes.iter() {
                names.insert(k.to_string());
            }
        }
    }
    let export = ResponsesExport::new(names.into_iter().collect());
    let mut output = Output::open(out)?;
    output.row(export.header())?;
    let mut emails: HashMap<ContactId, Option<Email>> = HashMap::new();
    let mut n = 0u64;
    for day in &days {
        let mut answers: Vec<Response> = ctx.store.responses_of_day(*day).await?;
        // Oldest first reads best in a spreadsheet.
        answers.reverse();
        for r in &answers {
            let email = match &r.contact_id {
                None => None,
                Some(id) => {
                    if !emails.contains_key(id) {
                        let e = ctx.store.contact(id).await?.map(|c| c.email);
                        emails.insert(id.clone(), e);
                    }
                    emails.get(id).cloned().flatten()
                }
            };
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
