//! The ports: how the domain talks to the world. One narrow async trait per capability, shaped by
//! the access patterns in `docs/data-model.md`; every store implements all of the store traits and
//! passes the one contract suite in `tests/`.
//!
//! Versioned writes: a record with `version == 1` is inserted only where none exists; a record with
//! `version == v > 1` replaces only the stored version `v - 1`. Either way a mismatch is
//! [`StoreError::Conflict`] and nothing is written.
//!
//! Every list is complete: adapters page through their backend internally.

use std::collections::HashMap;
use std::future::Future;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::model::{
    ApiKey, Contact, FollowUp, ReportKind, ReportRun, Response, Rollup, RollupDelta, Suppression,
    SurveySend, WebhookDelivery,
};
use crate::types::{AccountKey, ContactId, DeliveryId, Email, EmailHash, SendId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the record exists, changed since it was read, or (contacts) the
    /// email belongs to another contact. Nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed or is unreachable; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Contacts: by id, by normalised email, by account, by slot of the relational cycle.
pub trait Contacts: Send + Sync {
    fn contact(&self, id: &ContactId) -> impl Future<Output = StoreResult<Option<Contact>>> + Send;
    /// The contacts of `ids` that exist, by id: each id is read once however often it is named,
    /// and an id with no contact is left out. For a list of people (a report's answers), where one
    /// read each would be one round trip each. The default reads them one by one.
    fn contacts_by_id(
        &self,
        ids: &[ContactId],
    ) -> impl Future<Output = StoreResult<HashMap<ContactId, Contact>>> + Send {
        async move {
            let mut out = HashMap::new();
            for id in ids {
                if !out.contains_key(id)
                    && let Some(c) = self.contact(id).await?
                {
                    out.insert(id.clone(), c);
                }
            }
            Ok(out)
        }
    }
    fn contact_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = StoreResult<Option<Contact>>> + Send;
    /// Versioned write (see the module doc). The email is unique: inserting a contact whose email
    /// another contact holds is a `Conflict`. A contact's email never changes.
    fn put_contact(&self, contact: &Contact) -> impl Future<Output = StoreResult<()>> + Send;
    /// Contacts whose slot is in `from..to`, in slot order.
    fn contacts_in_slots(
        &self,
        from: u16,
        to: u16,
    ) -> impl Future<Output = StoreResult<Vec<Contact>>> + Send;
    fn contacts_of_account(
        &self,
        account: &AccountKey,
    ) -> impl Future<Output = StoreResult<Vec<Contact>>> + Send;
    /// Removes the contact and its email index entry. Idempotent.
    fn delete_contact(&self, id: &ContactId) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Survey sends and the queue of what is due.
pub trait Sends: Send + Sync {
    fn send(&self, id: &SendId) -> impl Future<Output = StoreResult<Option<SurveySend>>> + Send;
    /// Versioned write of a send.
    fn put_send(&self, send: &SurveySend) -> impl Future<Output = StoreResult<()>> + Send;
    /// Atomically: the contact (versioned: usually its new `last_surveyed_at`) and a new send
    /// (`version == 1`, inserted only where no send has that id). Either both are written or
    /// neither; a send that already exists or a contact that changed is a `Conflict`.
    fn reserve_send(
        &self,
        contact: &Contact,
        send: &SurveySend,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Sends whose `next_action_at` is at or before `until`, earliest first, at most `limit`.
    fn due_sends(
        &self,
        until: Timestamp,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<SurveySend>>> + Send;
    fn sends_of_contact(
        &self,
        contact: &ContactId,
    ) -> impl Future<Output = StoreResult<Vec<SurveySend>>> + Send;
    fn delete_send(&self, id: &SendId) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Answers, written atomically with their rollup deltas.
pub trait Responses: Send + Sync {
    fn response(&self, send: &SendId)
    -> impl Future<Output = StoreResult<Option<Response>>> + Send;
    /// Versioned write of the answer and, in the same transaction, the rollup deltas (added to the
    /// rollups, created where absent). On `Conflict` neither is written.
    fn save_response(
        &self,
        response: &Response,
        deltas: &[RollupDelta],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Answers that count in `day` (company-local), most recent first.
    fn responses_of_day(
        &self,
        day: Date,
    ) -> impl Future<Output = StoreResult<Vec<Response>>> + Send;
    /// Answers of `day` that carry a comment, most recent first, at most `limit`.
    fn commented_responses_of_day(
        &self,
        day: Date,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Response>>> + Send;
    fn responses_of_contact(
        &self,
        contact: &ContactId,
    ) -> impl Future<Output = StoreResult<Vec<Response>>> + Send;
    /// Comment retention: removes the comment of every answer of `day` that has one (version + 1);
    /// the answers, their scores and the rollups stay. An answer rewritten meanwhile is left for
    /// the next run. Returns how many comments were removed.
    fn remove_comments_of_day(&self, day: Date) -> impl Future<Output = StoreResult<usize>> + Send;
}

/// Per-day counters per dimension.
pub trait Rollups: Send + Sync {
    /// Every rollup of every dimension for the days `from..=to`.
    fn rollups(
        &self,
        from: Date,
        to: Date,
    ) -> impl Future<Output = StoreResult<Vec<Rollup>>> + Send;
    /// Adds deltas outside an answer (e.g. `sent` counters), creating rollups where absent.
    fn add_to_rollups(
        &self,
        deltas: &[RollupDelta],
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

pub trait FollowUps: Send + Sync {
    fn follow_up(
        &self,
        send: &SendId,
    ) -> impl Future<Output = StoreResult<Option<FollowUp>>> + Send;
    /// A send's answer and its follow-up, as [`Responses::response`] and [`FollowUps::follow_up`]
    /// read them, in one go (closing the loop reads both for every change of an answer). The
    /// default reads the two concurrently.
    fn answer_and_follow_up(
        &self,
        send: &SendId,
    ) -> impl Future<Output = StoreResult<(Option<Response>, Option<FollowUp>)>> + Send
    where
        Self: Responses,
    {
        async move { futures::try_join!(self.response(send), self.follow_up(send)) }
    }
    /// Versioned write.
    fn put_follow_up(&self, follow_up: &FollowUp) -> impl Future<Output = StoreResult<()>> + Send;
    /// Open follow-ups, oldest first.
    fn open_follow_ups(&self) -> impl Future<Output = StoreResult<Vec<FollowUp>>> + Send;
    /// The follow-ups opened on the days `from..=to` (by `opened_day`), open or done, newest first
    /// (by `opened_day`, then `opened_at`, then send id, all descending), at most `limit`: a
    /// bounded read, so a reader over a long period pays for `limit` records, not for every
    /// follow-up of the period. Fewer than `limit` returned means these are all of them.
    fn follow_ups_opened_between(
        &self,
        from: Date,
        to: Date,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<FollowUp>>> + Send;
}

pub trait Suppressions: Send + Sync {
    fn suppression(
        &self,
        email: &EmailHash,
    ) -> impl Future<Output = StoreResult<Option<Suppression>>> + Send;
    /// Unconditional upsert: the last word on an address wins.
    fn put_suppression(&self, s: &Suppression) -> impl Future<Output = StoreResult<()>> + Send;
}

pub trait ApiKeys: Send + Sync {
    fn api_key(&self, hash: &str) -> impl Future<Output = StoreResult<Option<ApiKey>>> + Send;
    /// Upsert (creation and revocation).
    fn put_api_key(&self, key: &ApiKey) -> impl Future<Output = StoreResult<()>> + Send;
    fn api_keys(&self) -> impl Future<Output = StoreResult<Vec<ApiKey>>> + Send;
}

pub trait ReportRuns: Send + Sync {
    fn report_run(
        &self,
        kind: ReportKind,
        period: &str,
    ) -> impl Future<Output = StoreResult<Option<ReportRun>>> + Send;
    /// Versioned write: inserting version 1 is the claim that makes a period's report run once.
    fn put_report_run(&self, run: &ReportRun) -> impl Future<Output = StoreResult<()>> + Send;
}

pub trait WebhookDeliveries: Send + Sync {
    fn delivery(
        &self,
        id: &DeliveryId,
    ) -> impl Future<Output = StoreResult<Option<WebhookDelivery>>> + Send;
    /// Versioned write.
    fn put_delivery(&self, d: &WebhookDelivery) -> impl Future<Output = StoreResult<()>> + Send;
    /// Pending deliveries whose `next_attempt_at` is at or before `until`, earliest first.
    fn due_deliveries(
        &self,
        until: Timestamp,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<WebhookDelivery>>> + Send;
    /// Deliveries that gave up, newest first, at most `limit`.
    fn dead_deliveries(
        &self,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<WebhookDelivery>>> + Send;
}

/// Everything a store provides. Services take `S: Store` (or the narrower traits they use).
pub trait Store:
    Contacts
    + Sends
    + Responses
    + Rollups
    + FollowUps
    + Suppressions
    + ApiKeys
    + ReportRuns
    + WebhookDeliveries
    + Clone
    + 'static
{
}

impl<T> Store for T where
    T: Contacts
        + Sends
        + Responses
        + Rollups
        + FollowUps
        + Suppressions
        + ApiKeys
        + ReportRuns
        + WebhookDeliveries
        + Clone
        + 'static
{
}

/// A complete MIME message ready to hand to a mail service.
#[derive(Clone)]
pub struct OutgoingEmail {
    /// Bare sender address (the envelope and `From`).
    pub from: String,
    /// Bare recipient addresses.
    pub to: Vec<String>,
    /// The whole RFC 5322 message, headers and body: the same bytes go to SES or the outbox.
    pub raw: Vec<u8>,
    /// What it is, for logs and metrics (`survey`, `reminder`, `alert`, `digest`, …): never personal.
    pub tag: &'static str,
    /// The record it belongs to (send id, report period), for logs and file names.
    pub reference: String,
}

impl std::fmt::Debug for OutgoingEmail {
    // Recipients and body are personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("tag", &self.tag)
            .field("reference", &self.reference)
            .field("bytes", &self.raw.len())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The service asks us to slow down: retry later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The message or address was refused for good: do not retry.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Anything else that may pass: retry.
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
}

pub trait Mailer: Send + Sync {
    /// Sends one message; returns the service's message id.
    fn send(&self, email: &OutgoingEmail)
    -> impl Future<Output = Result<String, MailError>> + Send;
    /// The most messages per second the service accepts, if it says (SES `GetAccount`).
    fn max_send_rate(&self) -> impl Future<Output = Result<Option<f64>, MailError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive unavailable: {0}")]
    Unavailable(String),
    #[error("invalid archive key")]
    BadKey,
}

/// Where reports are kept: S3 in AWS, a directory locally.
pub trait Archive: Send + Sync {
    /// Keys are `/`-separated, of `a-z A-Z 0-9 - _ . /`, with no `..` segment.
    fn put(
        &self,
        key: &str,
        body: &[u8],
        content_type: &str,
    ) -> impl Future<Output = Result<(), ArchiveError>> + Send;
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, ArchiveError>> + Send;
    /// Keys under `prefix`, sorted.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, ArchiveError>> + Send;
}

/// Whether an archive key is acceptable (shared by every archive adapter).
pub fn valid_archive_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

/// The time, handed in so that the domain can be run at any moment.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// Fresh random ids, handed in for the same reason.
pub trait Ids: Send + Sync {
    /// 1–64 characters of `A-Z a-z 0-9 _ -`, unique.
    fn new_id(&self) -> String;
}

/// An HTTP POST for webhooks.
pub trait WebhookClient: Send + Sync {
    /// Posts `body` with `headers`; returns the response status, or an error for a failed connection.
    fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> impl Future<Output = Result<u16, String>> + Send;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still (or is moved by the caller): tests and `--at` runs.
#[derive(Debug, Clone)]
pub struct FixedClock(pub std::sync::Arc<std::sync::Mutex<Timestamp>>);

impl FixedClock {
    pub fn at(t: Timestamp) -> Self {
        FixedClock(std::sync::Arc::new(std::sync::Mutex::new(t)))
    }

    pub fn set(&self, t: Timestamp) {
        if let Ok(mut g) = self.0.lock() {
            *g = t;
        }
    }

    pub fn advance(&self, d: jiff::SignedDuration) {
        if let Ok(mut g) = self.0.lock() {
            *g = g.checked_add(d).unwrap_or(*g);
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0.lock().map(|g| *g).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// Ids `prefix-1`, `prefix-2`, …: deterministic, for tests and the demo.
#[derive(Debug, Clone)]
pub struct SequentialIds {
    prefix: String,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialIds {
    pub fn new(prefix: &str) -> Self {
        SequentialIds {
            prefix: prefix.to_string(),
            next: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

impl Ids for SequentialIds {
    fn new_id(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_keys_cannot_escape() {
        assert!(valid_archive_key("reports/weekly/2026-W10/report.html"));
        for bad in [
            "", "/abs", "a/../b", "a//b", "a/./b", "a b", "a\\b", "..", "x/",
        ] {
            assert!(!valid_archive_key(bad), "{bad:?}");
        }
    }
}
