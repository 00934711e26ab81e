//! Contacts: upsert by normalised email, CSV import parsing, CSV export rows (formula-safe) and
//! erasure on request.
//!
//! - [`upsert`] creates a contact or updates the one with that email, and writes nothing when
//!   nothing changes, so importing the same file twice changes nothing.
//! - [`ContactCsv`] reads an import file (pure, over any `Read`): columns by header, `,` or `;`,
//!   UTF-8 with or without BOM; each bad row is a [`RowError`] with its line number, and the good
//!   rows still come through.
//! - [`ContactsExport`] and [`ResponsesExport`] give export rows whose every cell went through
//!   [`csv_safe`], so a spreadsheet never runs a cell as a formula.
//! - [`erase`] forgets a person: contact, sends and comments go; scores stay in the rollups; the
//!   address stays only as a hash on the suppression list.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};

use jiff::Timestamp;
use jiff::civil::Date;

use crate::model::{Contact, ContactInput, Response, Suppression, SuppressionReason, slot_of};
use crate::ports::{Contacts, FollowUps, Ids, Responses, Sends, StoreError, Suppressions};
use crate::types::{
    AccountName, Attributes, ContactId, Email, Locale, ParseError, TimeZoneName, parse_name,
};

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    Updated,
    /// The stored contact already said all of it: nothing was written.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    pub contact: Contact,
    pub outcome: UpsertOutcome,
}

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("the contact has no email address")]
    MissingEmail,
    #[error(transparent)]
    Invalid(#[from] ParseError),
    #[error("no contact with that email address")]
    NotFound,
    #[error("the contact kept changing while it was written; try again")]
    Contended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the contact with `input.email`, or updates the existing one: fields present in `input`
/// override, attributes merge. A new contact gets an id from `ids`, its slot and version 1; an update
/// bumps the version, or writes nothing at all when nothing changes. A lost race (another writer
/// created or changed the contact meanwhile) is retried once.
pub async fn upsert<S: Contacts>(
    store: &S,
    ids: &dyn Ids,
    now: Timestamp,
    default_locale: Locale,
    input: ContactInput,
) -> Result<Upserted, ContactError> {
    let email = input.email.clone().ok_or(ContactError::MissingEmail)?;
    for _attempt in 0..2 {
        let (contact, outcome) = match store.contact_by_email(&email).await? {
            None => {
                let id = ContactId::parse(&ids.new_id())?;
                let contact = Contact {
                    slot: slot_of(&id),
                    id,
                    email: email.clone(),
                    name: input.name.clone(),
                    locale: input.locale.unwrap_or(default_locale),
                    account: input.account.clone(),
                    time_zone: input.time_zone.clone(),
                    attributes: input.attributes.clone(),
                    customer_since: input.customer_since,
                    created_at: now,
                    updated_at: now,
                    last_surveyed_at: None,
                    unsubscribed_at: None,
                    version: 1,
                };
                (contact, UpsertOutcome::Created)
            }
            Some(old) => {
                let mut new = old.clone();
                if let Some(n) = &input.name {
                    new.name = Some(n.clone());
                }
                if let Some(l) = input.locale {
                    new.locale = l;
                }
                if let Some(a) = &input.account {
                    new.account = Some(a.clone());
                }
                if let Some(t) = &input.time_zone {
                    new.time_zone = Some(t.clone());
                }
                if let Some(d) = input.customer_since {
                    new.customer_since = Some(d);
                }
                new.attributes = old.attributes.merged(&input.attributes)?;
                if new == old {
                    return Ok(Upserted {
                        contact: old,
                        outcome: UpsertOutcome::Unchanged,
                    });
                }
                new.updated_at = now;
                new.version = old.version + 1;
                (new, UpsertOutcome::Updated)
            }
        };
        match store.put_contact(&contact).await {
            Ok(()) => return Ok(Upserted { contact, outcome }),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ContactError::Contended)
}

/// Neutralises spreadsheet formula injection: a cell starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`, so spreadsheet programs show it as text instead of running it.
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

// ---- import ----------------------------------------------------------------------------------

/// A good row of an import file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// Line in the file where the row starts (header = 1).
    pub line: u64,
    pub input: ContactInput,
}

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line in the file where the row starts (header = 1).
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Why a whole import file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file is empty: the first line must name the columns (email, name, locale, …)")]
    Empty,
    #[error("the header has no email column")]
    NoEmailColumn,
    #[error("column {0:?} appears twice in the header")]
    DuplicateColumn(String),
    #[error("column {column:?}: {reason}")]
    BadColumn { column: String, reason: String },
    #[error("the header is not valid UTF-8")]
    HeaderNotUtf8,
    #[error("cannot read the file: {0}")]
    Csv(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Email,
    Name,
    Locale,
    Account,
    TimeZone,
    CustomerSince,
    Attribute(String),
    /// Columns that exports write but imports do not take (ids, timestamps Pulso keeps itself).
    Ignored,
}

fn column_of(raw: &str) -> Result<Column, CsvError> {
    let key: String = raw
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    Ok(match key.as_str() {
        "email" | "e_mail" | "email_address" => Column::Email,
        "name" | "full_name" => Column::Name,
        "locale" | "language" | "lang" => Column::Locale,
        "account" | "company" => Column::Account,
        "time_zone" | "timezone" | "tz" => Column::TimeZone,
        "customer_since" | "since" => Column::CustomerSince,
        "id" | "created_at" | "updated_at" | "last_surveyed_at" | "unsubscribed_at" => {
            Column::Ignored
        }
        _ => {
            Column::Attribute(
                Attributes::normalise_name(raw).map_err(|e| CsvError::BadColumn {
                    column: raw.trim().chars().take(40).collect(),
                    reason: e.to_string(),
                })?,
            )
        }
    })
}

/// Which separator the header line uses: the more frequent of `;` and `,` outside quotes.
fn detect_delimiter(header: &[u8]) -> u8 {
    let (mut commas, mut semis, mut quoted) = (0usize, 0usize, false);
    for &b in header {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semis += 1,
            _ => {}
        }
    }
    if semis > commas { b';' } else { b',' }
}

/// Normalises line ends as it streams so that the csv reader numbers rows as a person counts lines:
/// every `\r\n` and lone `\r` becomes `\n` (csv miscounts CRLF files otherwise), and a blank line
/// becomes a line holding one space (csv skips blank lines without counting them; the importer
/// skips rows whose cells are all empty).
struct UnixLines<R> {
    inner: R,
    after_cr: bool,
    after_lf: bool,
    raw: Vec<u8>,
    /// The second byte of a `" \n"` that did not fit a one-byte read.
    pending: Option<u8>,
}

impl<R: Read> UnixLines<R> {
    fn new(inner: R) -> Self {
        UnixLines {
            inner,
            after_cr: false,
            // The first line is the header: a blank first line stays blank (and is refused).
            after_lf: false,
            raw: vec![0; 8 * 1024],
            pending: None,
        }
    }
}

impl<R: Read> Read for UnixLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(b) = self.pending.take() {
            buf[0] = b;
            return Ok(1);
        }
        if buf.len() == 1 {
            let mut two = [0u8; 2];
            let n = self.read(&mut two)?;
            if n == 2 {
                self.pending = Some(two[1]);
            }
            buf[0] = two[0];
            return Ok(n.min(1));
        }
        // Each input byte yields at most two output bytes (" \n"), so read at most half of `buf`.
        let want = (buf.len() / 2).min(self.raw.len());
        loop {
            let n = self.inner.read(&mut self.raw[..want])?;
            if n == 0 {
                return Ok(0);
            }
            let mut out = 0;
            for &b in &self.raw[..n] {
                let b = match b {
                    b'\n' if self.after_cr => {
                        self.after_cr = false;
                        continue;
                    }
                    b'\r' => {
                        self.after_cr = true;
                        b'\n'
                    }
                    other => {
                        self.after_cr = false;
                        other
                    }
                };
                if b == b'\n' && self.after_lf {
                    buf[out] = b' ';
                    out += 1;
                }
                self.after_lf = b == b'\n';
                buf[out] = b;
                out += 1;
            }
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

type Source<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, BufReader<UnixLines<R>>>;

/// A contact import file, read row by row: `Ok` rows to upsert, `Err` rows to report.
pub struct ContactCsv<R: Read> {
    reader: csv::Reader<Source<R>>,
    columns: Vec<Column>,
    record: csv::ByteRecord,
    seen: HashMap<Email, u64>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for ContactCsv<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactCsv")
            .field("columns", &self.columns)
            .finish()
    }
}

impl<R: Read> ContactCsv<R> {
    /// Reads the header: fails only when the file as a whole cannot be imported.
    pub fn new(input: R) -> Result<Self, CsvError> {
        let mut input = BufReader::new(UnixLines::new(input));
        let mut first = Vec::new();
        input.read_until(b'\n', &mut first)?;
        if let Some(rest) = first.strip_prefix(b"\xEF\xBB\xBF") {
            first = rest.to_vec();
        }
        if first.iter().all(u8::is_ascii_whitespace) {
            return Err(CsvError::Empty);
        }
        let delimiter = detect_delimiter(&first);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(true)
            .from_reader(std::io::Cursor::new(first).chain(input));
        let header = reader
            .byte_headers()
            .map_err(|e| CsvError::Csv(e.to_string()))?
            .clone();
        let mut columns = Vec::with_capacity(header.len());
        for raw in header.iter() {
            let raw = std::str::from_utf8(raw).map_err(|_| CsvError::HeaderNotUtf8)?;
            let column = column_of(raw)?;
            if column != Column::Ignored && columns.contains(&column) {
                return Err(CsvError::DuplicateColumn(raw.trim().to_string()));
            }
            columns.push(column);
        }
        if !columns.contains(&Column::Email) {
            return Err(CsvError::NoEmailColumn);
        }
        Ok(ContactCsv {
            reader,
            columns,
            record: csv::ByteRecord::new(),
            seen: HashMap::new(),
            done: false,
        })
    }

    /// Bytes read so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    fn row(&mut self, line: u64) -> Result<ContactInput, String> {
        if self.record.len() != self.columns.len() {
            return Err(format!(
                "expected {} columns, found {}",
                self.columns.len(),
                self.record.len()
            ));
        }
        let mut input = ContactInput::default();
        let mut email_problem = None;
        for (column, raw) in self.columns.iter().zip(self.record.iter()) {
            let value = std::str::from_utf8(raw)
                .map_err(|_| "not valid UTF-8 (save the file as UTF-8)".to_string())?
                .trim();
            match column {
                Column::Email => match Email::parse(value) {
                    Ok(e) => input.email = Some(e),
                    Err(ParseError::EmptyEmail) => email_problem = Some("missing email"),
                    Err(_) => email_problem = Some("invalid email"),
                },
                Column::Name => input.name = parse_name(value).map_err(|e| e.to_string())?,
                Column::Locale if !value.is_empty() => {
                    input.locale = Some(Locale::parse(value).map_err(|_| {
                        format!(
                            "unknown locale {:?} (en or es)",
                            value.chars().take(20).collect::<String>()
                        )
                    })?)
                }
                Column::Account if !value.is_empty() => {
                    input.account = Some(AccountName::parse(value).map_err(|e| e.to_string())?)
                }
                Column::TimeZone if !value.is_empty() => {
                    input.time_zone = Some(TimeZoneName::parse(value).map_err(|e| e.to_string())?)
                }
                Column::CustomerSince if !value.is_empty() => {
                    input.customer_since = Some(parse_day(value).ok_or_else(|| {
                        format!(
                            "customer_since {:?} is not a date (YYYY-MM-DD)",
                            value.chars().take(30).collect::<String>()
                        )
                    })?)
                }
                Column::Attribute(name) if value.chars().any(char::is_control) => {
                    return Err(format!("{name}: a segment value must be one line of text"));
                }
                Column::Attribute(name) => {
                    input.attributes.set(name, value).map_err(|e| match e {
                        ParseError::TooManyAttributes { max } => {
                            format!("too many attributes (at most {max})")
                        }
                        other => other.to_string(),
                    })?
                }
                _ => {}
            }
        }
        if let Some(problem) = email_problem {
            return Err(problem.to_string());
        }
        let email = input.email.clone().ok_or("missing email")?;
        if let Some(first) = self.seen.get(&email) {
            return Err(format!("the same email is already on line {first}"));
        }
        self.seen.insert(email, line);
        Ok(input)
    }
}

fn parse_day(value: &str) -> Option<Date> {
    // Accept a bare date or the date part of a date-time (CRMs export both).
    let date_part = match value.char_indices().nth(10) {
        Some((i, 'T' | ' ')) => &value[..i],
        _ => value,
    };
    date_part.parse().ok()
}

impl<R: Read> Iterator for ContactCsv<R> {
    type Item = Result<ImportRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {
                    // Blank lines and rows of empty cells (spreadsheets leave them) are not rows.
                    if self.record.iter().all(|c| c.trim_ascii().is_empty()) {
                        continue;
                    }
                    let line = self.record.position().map_or(0, |p| p.line());
                    return Some(
                        self.row(line)
                            .map(|input| ImportRow { line, input })
                            .map_err(|reason| RowError { line, reason }),
                    );
                }
                Ok(false) => self.done = true,
                Err(e) => {
                    // The rest of the file cannot be trusted after a read failure: report it, stop.
                    self.done = true;
                    let line = e.position().map_or(0, |p| p.line());
                    return Some(Err(RowError {
                        line,
                        reason: format!("cannot read the rest of the file: {e}"),
                    }));
                }
            }
        }
        None
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// The skipped rows, in file order.
    pub errors: Vec<RowError>,
}

impl ImportSummary {
    pub fn skipped(&self) -> u64 {
        self.errors.len() as u64
    }

    pub fn rows(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.skipped()
    }
}

/// Imports a contact file: every good row upserted, every bad one reported. `progress` is called
/// after each row with the bytes read so far. Fails only when the file as a whole cannot be read or
/// the store fails.
pub async fn import<S: Contacts, R: Read>(
    store: &S,
    ids: &dyn Ids,
    now: Timestamp,
    default_locale: Locale,
    input: R,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, ImportError> {
    let mut rows = ContactCsv::new(input)?;
    let mut summary = ImportSummary::default();
    while let Some(row) = rows.next() {
        match row {
            Ok(row) => match upsert(store, ids, now, default_locale, row.input).await {
                Ok(u) => match u.outcome {
                    UpsertOutcome::Created => summary.created += 1,
                    UpsertOutcome::Updated => summary.updated += 1,
                    UpsertOutcome::Unchanged => summary.unchanged += 1,
                },
                Err(ContactError::Invalid(e)) => summary.errors.push(RowError {
                    line: row.line,
                    reason: match e {
                        ParseError::TooManyAttributes { max } => {
                            format!("too many attributes with the stored ones (at most {max})")
                        }
                        other => other.to_string(),
                    },
                }),
                Err(ContactError::Contended) => summary.errors.push(RowError {
                    line: row.line,
                    reason: "the contact kept changing during the import; import again".into(),
                }),
                Err(e) => return Err(ImportError::Contact(e)),
            },
            Err(e) => summary.errors.push(e),
        }
        progress(rows.bytes_read());
    }
    Ok(summary)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] CsvError),
    #[error(transparent)]
    Contact(#[from] ContactError),
}

// ---- export ----------------------------------------------------------------------------------

fn opt_ts(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_string()).unwrap_or_default()
}

fn safe_row(cells: Vec<String>) -> Vec<String> {
    cells
        .into_iter()
        .map(|c| match csv_safe(&c) {
            Cow::Borrowed(_) => c,
            Cow::Owned(o) => o,
        })
        .collect()
}

/// The segment attribute names used by `attributes`, sorted: the export's extra columns.
pub fn attribute_names<'a>(attributes: impl IntoIterator<Item = &'a Attributes>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for a in attributes {
        for (k, _) in a.iter() {
            if !names.contains(k) {
                names.insert(k.to_string());
            }
        }
    }
    names.into_iter().collect()
}

/// Rows of a contacts export. The columns read back by an import (the rest are ignored by it).
#[derive(Debug, Clone)]
pub struct ContactsExport {
    attributes: Vec<String>,
}

impl ContactsExport {
    /// `attributes`: the segment columns, e.g. from [`attribute_names`].
    pub fn new(attributes: Vec<String>) -> Self {
        ContactsExport { attributes }
    }

    pub fn header(&self) -> Vec<String> {
        let fixed = [
            "email",
            "name",
            "locale",
            "account",
            "time_zone",
            "customer_since",
            "id",
            "created_at",
            "updated_at",
            "last_surveyed_at",
            "unsubscribed_at",
        ];
        safe_row(
            fixed
                .iter()
                .map(|s| s.to_string())
                .chain(self.attributes.iter().cloned())
                .collect(),
        )
    }

    pub fn row(&self, c: &Contact) -> Vec<String> {
        let mut cells = vec![
            c.email.to_string(),
            c.name.clone().unwrap_or_default(),
            c.locale.code().to_string(),
            c.account
                .as_ref()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            c.time_zone
                .as_ref()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            c.customer_since.map(|d| d.to_string()).unwrap_or_default(),
            c.id.to_string(),
            c.created_at.to_string(),
            c.updated_at.to_string(),
            opt_ts(c.last_surveyed_at),
            opt_ts(c.unsubscribed_at),
        ];
        cells.extend(
            self.attributes
                .iter()
                .map(|n| c.attributes.get(n).unwrap_or_default().to_string()),
        );
        safe_row(cells)
    }
}

/// Rows of a responses export.
#[derive(Debug, Clone)]
pub struct ResponsesExport {
    attributes: Vec<String>,
}

impl ResponsesExport {
    pub fn new(attributes: Vec<String>) -> Self {
        ResponsesExport { attributes }
    }

    pub fn header(&self) -> Vec<String> {
        let fixed = [
            "send_id",
            "day",
            "answered_at",
            "updated_at",
            "score",
            "category",
            "comment",
            "email",
            "contact_id",
            "account",
            "locale",
            "kind",
            "touchpoint",
            "source",
            "flag_reason",
        ];
        safe_row(
            fixed
                .iter()
                .map(|s| s.to_string())
                .chain(self.attributes.iter().cloned())
                .collect(),
        )
    }

    /// `email`: the contact's address if it still exists (erased contacts have none).
    pub fn row(&self, r: &Response, email: Option<&Email>) -> Vec<String> {
        let category = match r.category() {
            crate::nps::Category::Promoter => "promoter",
            crate::nps::Category::Passive => "passive",
            crate::nps::Category::Detractor => "detractor",
        };
        let kind = match r.kind {
            crate::model::SurveyKind::Relational => "relational",
            crate::model::SurveyKind::Transactional => "transactional",
        };
        let source = match r.source {
            crate::model::AnswerSource::Human => "human",
            crate::model::AnswerSource::Automated => "automated",
        };
        let mut cells = vec![
            r.send_id.to_string(),
            r.day.to_string(),
            r.answered_at.to_string(),
            r.updated_at.to_string(),
            r.score.to_string(),
            category.to_string(),
            r.comment.clone().unwrap_or_default(),
            email.map(Email::to_string).unwrap_or_default(),
            r.contact_id
                .as_ref()
                .map(ContactId::to_string)
                .unwrap_or_default(),
            r.account
                .as_ref()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            r.locale.code().to_string(),
            kind.to_string(),
            r.touchpoint
                .as_ref()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            source.to_string(),
            r.flag_reason.clone().unwrap_or_default(),
        ];
        cells.extend(
            self.attributes
                .iter()
                .map(|n| r.attributes.get(n).unwrap_or_default().to_string()),
        );
        safe_row(cells)
    }
}

// ---- erase -----------------------------------------------------------------------------------

/// What [`erase`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// The erased contact, `None` when no contact had the address (it is suppressed all the same).
    pub contact: Option<ContactId>,
    pub sends: usize,
    pub responses: usize,
    pub follow_ups: usize,
}

/// Forgets the person with `email`. The address goes on the suppression list first (as its hash
/// only, reason `Erased`), so nothing is mailed to it even if the rest is interrupted; then the
/// contact's answers lose their contact and comment (their scores stay in the rollups: saved with no
/// deltas), its follow-ups lose contact and note, its sends are deleted and the contact last, so a
/// retry finds what is left. An address with no contact is suppressed all the same.
pub async fn erase<S>(store: &S, email: &Email, now: Timestamp) -> Result<Erased, ContactError>
where
    S: Contacts + Sends + Responses + FollowUps + Suppressions,
{
    store
        .put_suppression(&Suppression {
            email_hash: email.hash(),
            reason: Some(SuppressionReason::Erased),
            at: now,
            soft_bounces: 0,
        })
        .await?;
    let Some(contact) = store.contact_by_email(email).await? else {
        return Ok(Erased {
            contact: None,
            sends: 0,
            responses: 0,
            follow_ups: 0,
        });
    };
    let mut responses = 0;
    for r in store.responses_of_contact(&contact.id).await? {
        anonymise_response(store, r).await?;
        responses += 1;
    }
    let sends = store.sends_of_contact(&contact.id).await?;
    let mut follow_ups = 0;
    for send in &sends {
        for _attempt in 0..2 {
            let Some(f) = store.follow_up(&send.id).await? else {
                break;
            };
            if f.contact_id.is_none() && f.note.is_none() {
                break;
            }
            let mut g = f.clone();
            g.contact_id = None;
            g.note = None;
            g.version = f.version + 1;
            match store.put_follow_up(&g).await {
                Ok(()) => {
                    follow_ups += 1;
                    break;
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        store.delete_send(&send.id).await?;
    }
    store.delete_contact(&contact.id).await?;
    tracing::info!(contact = %contact.id, sends = sends.len(), responses, "contact erased");
    Ok(Erased {
        contact: Some(contact.id),
        sends: sends.len(),
        responses,
        follow_ups,
    })
}

async fn anonymise_response<S: Responses>(store: &S, mut r: Response) -> Result<(), ContactError> {
    for _attempt in 0..2 {
        let mut a = r.clone();
        a.contact_id = None;
        a.comment = None;
        a.version = r.version + 1;
        // No deltas: the score (and the fact that it had a comment) stays counted, anonymised.
        match store.save_response(&a, &[]).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(_)) => match store.response(&r.send_id).await? {
                Some(fresh) if fresh.contact_id.is_some() || fresh.comment.is_some() => r = fresh,
                _ => return Ok(()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(ContactError::Contended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AnswerSource, FollowUp, FollowUpStatus, ReminderState, RollupDelta, SendStatus, SurveyKind,
        SurveySend,
    };
    use crate::ports::{SequentialIds, StoreResult};
    use crate::types::{AccountKey, EmailHash, Score, SendId};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Just enough of a store for this module: versioned maps, as the ports' doc says.
    #[derive(Default)]
    struct Mem {
        contacts: Mutex<BTreeMap<String, Contact>>,
        sends: Mutex<BTreeMap<String, SurveySend>>,
        responses: Mutex<BTreeMap<String, Response>>,
        follow_ups: Mutex<BTreeMap<String, FollowUp>>,
        suppressions: Mutex<BTreeMap<String, Suppression>>,
        writes: Mutex<u32>,
        /// Conflicts to answer before the next contact write succeeds.
        fail_contact_writes: Mutex<u32>,
    }

    fn versioned<T: Clone>(
        map: &mut BTreeMap<String, T>,
        key: &str,
        v: u64,
        stored_v: impl Fn(&T) -> u64,
        rec: &T,
    ) -> StoreResult<()> {
        let ok = match map.get(key) {
            None => v == 1,
            Some(old) => v > 1 && stored_v(old) == v - 1,
        };
        if !ok {
            return Err(StoreError::Conflict(key.into()));
        }
        map.insert(key.into(), rec.clone());
        Ok(())
    }

    impl Contacts for Mem {
        async fn contact(&self, id: &ContactId) -> StoreResult<Option<Contact>> {
            Ok(self.contacts.lock().unwrap().get(id.as_str()).cloned())
        }
        async fn contact_by_email(&self, email: &Email) -> StoreResult<Option<Contact>> {
            Ok(self
                .contacts
                .lock()
                .unwrap()
                .values()
                .find(|c| &c.email == email)
                .cloned())
        }
        async fn put_contact(&self, c: &Contact) -> StoreResult<()> {
            {
                let mut f = self.fail_contact_writes.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    return Err(StoreError::Conflict("injected".into()));
                }
            }
            let mut m = self.contacts.lock().unwrap();
            if c.version == 1 && m.values().any(|o| o.email == c.email) {
                return Err(StoreError::Conflict("email".into()));
            }
            *self.writes.lock().unwrap() += 1;
            versioned(&mut m, c.id.as_str(), c.version, |o| o.version, c)
        }
        async fn contacts_in_slots(&self, _: u16, _: u16) -> StoreResult<Vec<Contact>> {
            unimplemented!()
        }
        async fn contacts_of_account(&self, _: &AccountKey) -> StoreResult<Vec<Contact>> {
            unimplemented!()
        }
        async fn delete_contact(&self, id: &ContactId) -> StoreResult<()> {
            self.contacts.lock().unwrap().remove(id.as_str());
            Ok(())
        }
    }

    impl Sends for Mem {
        async fn send(&self, id: &SendId) -> StoreResult<Option<SurveySend>> {
            Ok(self.sends.lock().unwrap().get(id.as_str()).cloned())
        }
        async fn put_send(&self, s: &SurveySend) -> StoreResult<()> {
            let mut m = self.sends.lock().unwrap();
            versioned(&mut m, s.id.as_str(), s.version, |o| o.version, s)
        }
        async fn reserve_send(&self, _: &Contact, _: &SurveySend) -> StoreResult<()> {
            unimplemented!()
        }
        async fn due_sends(&self, _: Timestamp, _: usize) -> StoreResult<Vec<SurveySend>> {
            unimplemented!()
        }
        async fn sends_of_contact(&self, c: &ContactId) -> StoreResult<Vec<SurveySend>> {
            Ok(self
                .sends
                .lock()
                .unwrap()
                .values()
                .filter(|s| &s.contact_id == c)
                .cloned()
                .collect())
        }
        async fn delete_send(&self, id: &SendId) -> StoreResult<()> {
            self.sends.lock().unwrap().remove(id.as_str());
            Ok(())
        }
    }

    impl Responses for Mem {
        async fn response(&self, s: &SendId) -> StoreResult<Option<Response>> {
            Ok(self.responses.lock().unwrap().get(s.as_str()).cloned())
        }
        async fn save_response(&self, r: &Response, deltas: &[RollupDelta]) -> StoreResult<()> {
            assert!(deltas.is_empty(), "erasure must not move rollups");
            let mut m = self.responses.lock().unwrap();
            versioned(&mut m, r.send_id.as_str(), r.version, |o| o.version, r)
        }
        async fn responses_of_day(&self, _: Date) -> StoreResult<Vec<Response>> {
            unimplemented!()
        }
        async fn commented_responses_of_day(
            &self,
            _: Date,
            _: usize,
        ) -> StoreResult<Vec<Response>> {
            unimplemented!()
        }
        async fn responses_of_contact(&self, c: &ContactId) -> StoreResult<Vec<Response>> {
            Ok(self
                .responses
                .lock()
                .unwrap()
                .values()
                .filter(|r| r.contact_id.as_ref() == Some(c))
                .cloned()
                .collect())
        }
        async fn remove_comments_of_day(&self, _: Date) -> StoreResult<usize> {
            unimplemented!()
        }
    }

    impl FollowUps for Mem {
        async fn follow_up(&self, s: &SendId) -> StoreResult<Option<FollowUp>> {
            Ok(self.follow_ups.lock().unwrap().get(s.as_str()).cloned())
        }
        async fn put_follow_up(&self, f: &FollowUp) -> StoreResult<()> {
            let mut m = self.follow_ups.lock().unwrap();
            versioned(&mut m, f.send_id.as_str(), f.version, |o| o.version, f)
        }
        async fn open_follow_ups(&self) -> StoreResult<Vec<FollowUp>> {
            unimplemented!()
        }
        async fn follow_ups_opened_between(
            &self,
            _: Date,
            _: Date,
            _: usize,
        ) -> StoreResult<Vec<FollowUp>> {
            unimplemented!()
        }
    }

    impl Suppressions for Mem {
        async fn suppression(&self, h: &EmailHash) -> StoreResult<Option<Suppression>> {
            Ok(self.suppressions.lock().unwrap().get(h.as_str()).cloned())
        }
        async fn put_suppression(&self, s: &Suppression) -> StoreResult<()> {
            self.suppressions
                .lock()
                .unwrap()
                .insert(s.email_hash.as_str().into(), s.clone());
            Ok(())
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn input(email: &str) -> ContactInput {
        ContactInput {
            email: Some(Email::parse(email).unwrap()),
            ..ContactInput::default()
        }
    }

    #[tokio::test]
    async fn upsert_creates_then_updates_then_changes_nothing() {
        let store = Mem::default();
        let ids = SequentialIds::new("c");
        let mut i = input("Ana@Example.com");
        i.name = Some("Ana".into());
        i.attributes.set("plan", "pro").unwrap();
        let now = t("2026-03-02T08:00:00Z");
        let a = upsert(&store, &ids, now, Locale::Es, i.clone())
            .await
            .unwrap();
        assert_eq!(a.outcome, UpsertOutcome::Created);
        assert_eq!(a.contact.id.as_str(), "c-1");
        assert_eq!(a.contact.slot, slot_of(&a.contact.id));
        assert_eq!(a.contact.locale, Locale::Es);
        assert_eq!(a.contact.version, 1);
        assert_eq!(a.contact.email.as_str(), "ana@example.com");

        // Same input, later: nothing written.
        let b = upsert(
            &store,
            &ids,
            t("2026-03-03T08:00:00Z"),
            Locale::En,
            i.clone(),
        )
        .await
        .unwrap();
        assert_eq!(b.outcome, UpsertOutcome::Unchanged);
        assert_eq!(b.contact, a.contact);
        assert_eq!(*store.writes.lock().unwrap(), 1);

        // New attribute merges; absent fields keep their values.
        let mut j = input("ana@example.com");
        j.attributes.set("region", "emea").unwrap();
        let later = t("2026-03-04T08:00:00Z");
        let c = upsert(&store, &ids, later, Locale::En, j).await.unwrap();
        assert_eq!(c.outcome, UpsertOutcome::Updated);
        assert_eq!(c.contact.version, 2);
        assert_eq!(c.contact.name.as_deref(), Some("Ana"));
        assert_eq!(c.contact.locale, Locale::Es);
        assert_eq!(c.contact.attributes.get("plan"), Some("pro"));
        assert_eq!(c.contact.attributes.get("region"), Some("emea"));
        assert_eq!(c.contact.updated_at, later);
        assert_eq!(c.contact.created_at, now);
        assert_eq!(c.contact.id, a.contact.id);
    }

    #[tokio::test]
    async fn upsert_without_email_writes_nothing() {
        let store = Mem::default();
        let e = upsert(
            &store,
            &SequentialIds::new("c"),
            Timestamp::UNIX_EPOCH,
            Locale::En,
            ContactInput::default(),
        )
        .await;
        assert!(matches!(e, Err(ContactError::MissingEmail)));
        assert!(store.contacts.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn upsert_retries_one_lost_race_but_not_two() {
        let store = Mem::default();
        let ids = SequentialIds::new("c");
        *store.fail_contact_writes.lock().unwrap() = 1;
        let u = upsert(
            &store,
            &ids,
            Timestamp::UNIX_EPOCH,
            Locale::En,
            input("a@x.com"),
        )
        .await
        .unwrap();
        assert_eq!(u.outcome, UpsertOutcome::Created);
        *store.fail_contact_writes.lock().unwrap() = 2;
        let e = upsert(
            &store,
            &ids,
            Timestamp::UNIX_EPOCH,
            Locale::En,
            input("b@x.com"),
        )
        .await;
        assert!(matches!(e, Err(ContactError::Contended)));
        assert_eq!(store.contacts.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn upsert_refuses_more_attributes_than_allowed_after_merge() {
        let store = Mem::default();
        let ids = SequentialIds::new("c");
        let mut i = input("a@x.com");
        for n in 0..Attributes::MAX_COUNT {
            i.attributes.set(&format!("a{n}"), "v").unwrap();
        }
        upsert(&store, &ids, Timestamp::UNIX_EPOCH, Locale::En, i)
            .await
            .unwrap();
        let mut j = input("a@x.com");
        j.attributes.set("one_more", "v").unwrap();
        let e = upsert(&store, &ids, Timestamp::UNIX_EPOCH, Locale::En, j).await;
        assert!(matches!(
            e,
            Err(ContactError::Invalid(ParseError::TooManyAttributes { .. }))
        ));
        let stored = store
            .contacts
            .lock()
            .unwrap()
            .values()
            .next()
            .cloned()
            .unwrap();
        assert_eq!(stored.version, 1);
        assert_eq!(stored.attributes.get("one_more"), None);
    }

    #[test]
    fn csv_safe_neutralises_formulas_only() {
        assert_eq!(csv_safe("=cmd()"), "'=cmd()");
        assert_eq!(csv_safe("+1"), "'+1");
        assert_eq!(csv_safe("-1"), "'-1");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("\tx"), "'\tx");
        assert_eq!(csv_safe("\rx"), "'\rx");
        assert!(matches!(csv_safe("Ana"), Cow::Borrowed("Ana")));
        assert_eq!(csv_safe(""), "");
        assert_eq!(csv_safe("a=b"), "a=b");
    }

    fn parse(text: &str) -> (Vec<ImportRow>, Vec<RowError>) {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for r in ContactCsv::new(text.as_bytes()).unwrap() {
            match r {
                Ok(r) => good.push(r),
                Err(e) => bad.push(e),
            }
        }
        (good, bad)
    }

    #[test]
    fn line_ends_are_normalised_whatever_the_read_size() {
        let input = b"a\r\n\r\nb\rc\n\nd";
        for size in [1, 2, 3, 7, 64] {
            let mut r = UnixLines::new(&input[..]);
            let mut out = Vec::new();
            let mut buf = vec![0u8; size];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, b"a\n \nb\nc\n \nd", "read size {size}");
        }
    }

    #[test]
    fn csv_columns_by_header_any_case_and_order() {
        let text = "Plan,EMAIL,Language,Company,TZ,Since,Name,Revenue Band\n\
                    pro,Ana@Example.com,es-MX,Acme,Europe/Madrid,2025-01-15,Ana García,10-50M\n";
        let (good, bad) = parse(text);
        assert!(bad.is_empty(), "{bad:?}");
        let i = &good[0].input;
        assert_eq!(good[0].line, 2);
        assert_eq!(i.email.as_ref().unwrap().as_str(), "ana@example.com");
        assert_eq!(i.name.as_deref(), Some("Ana García"));
        assert_eq!(i.locale, Some(Locale::Es));
        assert_eq!(i.account.as_ref().unwrap().as_str(), "Acme");
        assert_eq!(i.time_zone.as_ref().unwrap().as_str(), "Europe/Madrid");
        assert_eq!(i.customer_since, Some(jiff::civil::date(2025, 1, 15)));
        assert_eq!(i.attributes.get("plan"), Some("pro"));
        assert_eq!(i.attributes.get("revenue_band"), Some("10-50M"));
    }

    #[test]
    fn csv_semicolons_with_bom_and_quotes() {
        let text = "\u{feff}email;name;plan\r\n\"a@x.com\";\"Pérez; Ana\";pro\r\nb@x.com;;\r\n\r\nc@x.com;;x\rd@x.com;;y\r\n;;\r\n\r\n  \r\ne@x.com;;";
        let (good, bad) = parse(text);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(good.len(), 5);
        assert_eq!(good[0].input.name.as_deref(), Some("Pérez; Ana"));
        assert_eq!(good[1].input.name, None);
        assert!(good[1].input.attributes.is_empty());
        // CRLF, a blank line, and old-Mac CR endings: lines are counted as a person counts them.
        let lines: Vec<u64> = good.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 5, 6, 10]);
    }

    #[test]
    fn csv_bad_rows_are_reported_with_lines_and_reasons() {
        let text = "email,locale,time_zone,since,plan\n\
                    good@x.com,en,UTC,,pro\n\
                    not-an-email,en,UTC,,pro\n\
                    c@x.com,fr,UTC,,pro\n\
                    d@x.com,es,Mars/Base,,pro\n\
                    e@x.com,es,UTC,,pro,extra\n\
                    f@x.com,es,UTC,yesterday,pro\n\
                    \"g@x.com\",en,UTC,,\"multi\nline\"\n\
                    \"h@x.com\",en,UTC,,pro\n\
                    ,en,UTC,,pro\n\
                    good@x.com,en,UTC,,pro\n\
                    h@x.com\n";
        let (good, bad) = parse(text);
        let lines: Vec<(u64, &str)> = bad.iter().map(|e| (e.line, e.reason.as_str())).collect();
        assert_eq!(good.len(), 2, "{lines:?}");
        assert_eq!(good[0].line, 2);
        // A quoted field may span lines: a row is numbered where it starts, the next ones after it.
        assert_eq!(good[1].line, 10);
        assert_eq!(lines[0], (3, "invalid email"));
        assert_eq!(lines[1].0, 4);
        assert!(
            lines[1].1.contains("unknown locale \"fr\""),
            "{}",
            lines[1].1
        );
        assert_eq!(lines[2].0, 5);
        assert!(lines[2].1.contains("unknown time zone"), "{}", lines[2].1);
        assert_eq!(lines[3], (6, "expected 5 columns, found 6"));
        assert_eq!(lines[4].0, 7);
        assert!(lines[4].1.contains("not a date"), "{}", lines[4].1);
        assert_eq!(
            lines[5],
            (8, "plan: a segment value must be one line of text")
        );
        assert_eq!(lines[6], (11, "missing email"));
        assert_eq!(lines[7], (12, "the same email is already on line 2"));
        assert_eq!(lines[8], (13, "expected 5 columns, found 1"));
        assert_eq!(bad.len(), 9);
    }

    #[test]
    fn csv_too_many_attributes_is_a_row_error() {
        let names: Vec<String> = (0..=Attributes::MAX_COUNT)
            .map(|i| format!("a{i}"))
            .collect();
        let values = vec!["v"; names.len()].join(",");
        let text = format!("email,{}\nx@x.com,{values}\n", names.join(","));
        let (good, bad) = parse(&text);
        assert!(good.is_empty());
        assert_eq!(bad[0].line, 2);
        assert!(
            bad[0].reason.starts_with("too many attributes"),
            "{}",
            bad[0].reason
        );
    }

    #[test]
    fn csv_invalid_utf8_row_is_skipped_not_fatal() {
        let mut text = b"email,name\na@x.com,Ana\nb@x.com,".to_vec();
        text.extend_from_slice(b"\xff\xfe\n");
        text.extend_from_slice(b"c@x.com,Carla\n");
        let rows: Vec<_> = ContactCsv::new(text.as_slice()).unwrap().collect();
        assert!(rows[0].is_ok());
        assert!(matches!(&rows[1], Err(e) if e.line == 3 && e.reason.contains("UTF-8")));
        assert!(rows[2].is_ok());
    }

    #[test]
    fn csv_whole_file_problems_are_errors() {
        assert!(matches!(ContactCsv::new(&b""[..]), Err(CsvError::Empty)));
        assert!(matches!(
            ContactCsv::new(&b"\xEF\xBB\xBF\n"[..]),
            Err(CsvError::Empty)
        ));
        assert!(matches!(
            ContactCsv::new(&b"name,plan\nAna,pro\n"[..]),
            Err(CsvError::NoEmailColumn)
        ));
        assert!(matches!(
            ContactCsv::new(&b"email,Email\n"[..]),
            Err(CsvError::DuplicateColumn(_))
        ));
        assert!(matches!(
            ContactCsv::new(&b"email,Revenue (EUR)\n"[..]),
            Err(CsvError::BadColumn { .. })
        ));
    }

    #[test]
    fn an_export_reads_back_as_the_same_contacts() {
        let mut attributes = Attributes::new();
        attributes.set("plan", "=HYPERLINK(\"x\")").unwrap();
        let id = ContactId::parse("c1").unwrap();
        let c = Contact {
            slot: slot_of(&id),
            id,
            email: Email::parse("a@x.com").unwrap(),
            name: Some("@Ana, \"the\" boss".into()),
            locale: Locale::Es,
            account: Some(AccountName::parse("+Acme").unwrap()),
            time_zone: Some(TimeZoneName::parse("America/Bogota").unwrap()),
            attributes: attributes.clone(),
            customer_since: Some(jiff::civil::date(2024, 5, 1)),
            created_at: t("2026-01-01T00:00:00Z"),
            updated_at: t("2026-01-01T00:00:00Z"),
            last_surveyed_at: None,
            unsubscribed_at: None,
            version: 1,
        };
        let export = ContactsExport::new(attribute_names([&c.attributes]));
        let row = export.row(&c);
        assert!(row.contains(&"'=HYPERLINK(\"x\")".to_string()));
        assert!(row.contains(&"'@Ana, \"the\" boss".to_string()));
        assert!(row.contains(&"'+Acme".to_string()));
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(export.header()).unwrap();
        w.write_record(&row).unwrap();
        let bytes = w.into_inner().unwrap();
        let (good, bad) = parse(std::str::from_utf8(&bytes).unwrap());
        assert!(bad.is_empty(), "{bad:?}");
        let back = &good[0].input;
        assert_eq!(back.email, Some(c.email.clone()));
        assert_eq!(back.locale, Some(Locale::Es));
        assert_eq!(back.time_zone, c.time_zone);
        assert_eq!(back.customer_since, c.customer_since);
        assert_eq!(back.attributes.get("plan"), Some("'=HYPERLINK(\"x\")"));
    }

    fn response(send: &str, contact: &ContactId, comment: Option<&str>) -> Response {
        Response {
            send_id: SendId::parse(send).unwrap(),
            contact_id: Some(contact.clone()),
            score: Score::new(3).unwrap(),
            comment: comment.map(String::from),
            locale: Locale::En,
            kind: SurveyKind::Relational,
            touchpoint: None,
            account: None,
            attributes: Attributes::new(),
            day: jiff::civil::date(2026, 3, 2),
            answered_at: t("2026-03-02T10:00:00Z"),
            updated_at: t("2026-03-02T10:00:00Z"),
            source: AnswerSource::Human,
            flag_reason: None,
            commits: vec![],
            version: 1,
        }
    }

    #[test]
    fn response_rows_are_safe_and_complete() {
        let c = ContactId::parse("c1").unwrap();
        let r = response("s1", &c, Some("=cmd()|' /C calc'!A0"));
        let export = ResponsesExport::new(vec![]);
        let header = export.header();
        let row = export.row(&r, Some(&Email::parse("a@x.com").unwrap()));
        assert_eq!(header.len(), row.len());
        let cell = |name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();
        assert_eq!(cell("comment"), "'=cmd()|' /C calc'!A0");
        assert_eq!(cell("score"), "3");
        assert_eq!(cell("category"), "detractor");
        assert_eq!(cell("email"), "a@x.com");
        assert_eq!(cell("day"), "2026-03-02");
    }

    #[tokio::test]
    async fn erase_forgets_the_person_but_keeps_the_scores() {
        let store = Mem::default();
        let ids = SequentialIds::new("c");
        let now = t("2026-03-05T00:00:00Z");
        let keep = upsert(&store, &ids, now, Locale::En, input("keep@x.com"))
            .await
            .unwrap();
        let gone = upsert(&store, &ids, now, Locale::En, input("gone@x.com"))
            .await
            .unwrap();
        let id = gone.contact.id.clone();
        for (s, c) in [("s1", &id), ("s2", &id), ("s3", &keep.contact.id)] {
            store
                .put_send(&SurveySend {
                    id: SendId::parse(s).unwrap(),
                    contact_id: c.clone(),
                    kind: SurveyKind::Relational,
                    touchpoint: None,
                    key: s.into(),
                    locale: Locale::En,
                    created_at: now,
                    due_at: now,
                    status: SendStatus::Scheduled,
                    reminder: ReminderState::None,
                    message_id: None,
                    answered_at: None,
                    next_action_at: None,
                    version: 1,
                })
                .await
                .unwrap();
        }
        store
            .save_response(&response("s1", &id, Some("awful")), &[])
            .await
            .unwrap();
        store
            .save_response(&response("s3", &keep.contact.id, Some("fine")), &[])
            .await
            .unwrap();
        store
            .put_follow_up(&FollowUp {
                send_id: SendId::parse("s1").unwrap(),
                contact_id: Some(id.clone()),
                score: Score::new(3).unwrap(),
                account: None,
                opened_at: now,
                opened_day: jiff::civil::date(2026, 3, 2),
                status: FollowUpStatus::Open,
                closed_at: None,
                closed_by: None,
                note: Some("called Ana".into()),
                version: 1,
            })
            .await
            .unwrap();

        let email = Email::parse("GONE@x.com").unwrap();
        let erased = erase(&store, &email, now).await.unwrap();
        assert_eq!(
            erased,
            Erased {
                contact: Some(id.clone()),
                sends: 2,
                responses: 1,
                follow_ups: 1
            }
        );
        assert!(store.contact_by_email(&email).await.unwrap().is_none());
        assert!(store.sends_of_contact(&id).await.unwrap().is_empty());
        let r = store
            .response(&SendId::parse("s1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((r.contact_id, r.comment, r.score.value()), (None, None, 3));
        let f = store
            .follow_up(&SendId::parse("s1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((f.contact_id, f.note), (None, None));
        let s = store.suppression(&email.hash()).await.unwrap().unwrap();
        assert_eq!(s.reason, Some(SuppressionReason::Erased));
        // Nothing of the address itself is left anywhere.
        let dump = format!(
            "{:?}{:?}{:?}",
            serde_json::to_string(&*store.responses.lock().unwrap()).unwrap(),
            serde_json::to_string(&*store.follow_ups.lock().unwrap()).unwrap(),
            serde_json::to_string(&*store.suppressions.lock().unwrap()).unwrap()
        );
        assert!(!dump.contains("gone@x.com") && !dump.contains("awful"));
        // The other contact is untouched.
        let other = store
            .response(&SendId::parse("s3").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.comment.as_deref(), Some("fine"));
        assert!(store.contact(&keep.contact.id).await.unwrap().is_some());
        assert!(
            store
                .send(&SendId::parse("s3").unwrap())
                .await
                .unwrap()
                .is_some()
        );

        // Again: nothing left to erase, still suppressed.
        let again = erase(&store, &email, now).await.unwrap();
        assert_eq!(again.contact, None);
        // An unknown address is suppressed all the same.
        let unknown = Email::parse("never@x.com").unwrap();
        erase(&store, &unknown, now).await.unwrap();
        assert!(store.suppression(&unknown.hash()).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn import_counts_and_is_idempotent() {
        let store = Mem::default();
        let ids = SequentialIds::new("c");
        let text = "email,name,locale\na@x.com,Ana,es\nb@x.com,Bob,en\nbad,Zed,en\n";
        let mut calls = 0;
        let s = import(
            &store,
            &ids,
            Timestamp::UNIX_EPOCH,
            Locale::En,
            text.as_bytes(),
            |_| calls += 1,
        )
        .await
        .unwrap();
        assert_eq!(
            (s.created, s.updated, s.unchanged, s.skipped()),
            (2, 0, 0, 1)
        );
        assert_eq!(
            s.errors[0],
            RowError {
                line: 4,
                reason: "invalid email".into()
            }
        );
        assert_eq!(calls, 3);
        let writes = *store.writes.lock().unwrap();
        let s = import(
            &store,
            &ids,
            Timestamp::UNIX_EPOCH,
            Locale::En,
            text.as_bytes(),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(
            (s.created, s.updated, s.unchanged, s.skipped()),
            (0, 0, 2, 1)
        );
        assert_eq!(*store.writes.lock().unwrap(), writes);
        let e = import(
            &store,
            &ids,
            Timestamp::UNIX_EPOCH,
            Locale::En,
            &b"name\nx\n"[..],
            |_| {},
        )
        .await;
        assert!(matches!(e, Err(ImportError::File(CsvError::NoEmailColumn))));
    }
}
