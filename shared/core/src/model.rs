//! The records Pulso keeps: contacts, survey sends, answers, rollups, follow-ups, suppressions, API
//! keys, report runs and webhook deliveries. Stores persist them whole (as JSON or a DynamoDB map)
//! plus the index fields their queries need, so a field added here with `#[serde(default)]` needs
//! no store change.
//!
//! Every mutable record carries a `version`: a store writes version `v` only over version `v - 1`
//! (or, for `v == 1`, only where nothing exists), and answers `StoreError::Conflict` otherwise.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::nps::{Category, Histogram};
use crate::types::{
    AccountKey, AccountName, Attributes, ContactId, DeliveryId, Email, EmailHash, Locale, Score,
    SendId, TimeZoneName, Touchpoint,
};

/// Positions in the relational cycle. Each contact holds one, from a hash of its id, so that a
/// day's share of the cycle is a range of slots: a query, never a scan.
pub const SLOTS: u16 = 10_000;

/// The slot of a contact: uniform over `0..SLOTS`.
pub fn slot_of(id: &ContactId) -> u16 {
    let d = Sha256::digest(id.as_str().as_bytes());
    (u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % SLOTS as u32) as u16
}

/// A person who may be surveyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    /// Normalised; immutable for a contact (contacts are upserted by email).
    pub email: Email,
    #[serde(default)]
    pub name: Option<String>,
    pub locale: Locale,
    #[serde(default)]
    pub account: Option<AccountName>,
    #[serde(default)]
    pub time_zone: Option<TimeZoneName>,
    #[serde(default)]
    pub attributes: Attributes,
    /// When the contact became a customer (settling period counts from here); defaults to creation.
    #[serde(default)]
    pub customer_since: Option<Date>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub slot: u16,
    /// When the contact was last sent (or scheduled) a survey of any kind: the fatigue rule.
    #[serde(default)]
    pub last_surveyed_at: Option<Timestamp>,
    #[serde(default)]
    pub unsubscribed_at: Option<Timestamp>,
    pub version: u64,
}

impl Contact {
    pub fn account_key(&self) -> Option<AccountKey> {
        self.account.as_ref().map(AccountName::key)
    }

    /// How pages, alerts and reports name the contact: their name, else their email.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.email.to_string())
    }
}

/// What a contact import or API upsert says about a contact. `None` fields leave the stored value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContactInput {
    pub email: Option<Email>,
    pub name: Option<String>,
    pub locale: Option<Locale>,
    pub account: Option<AccountName>,
    pub time_zone: Option<TimeZoneName>,
    pub attributes: Attributes,
    pub customer_since: Option<Date>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    Relational,
    Transactional,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum SendStatus {
    /// Recorded, waiting for `due_at`.
    Scheduled,
    /// Claimed by a dispatch run that is calling the mailer (`attempt` counts tries). A claim older
    /// than the dispatch lease is taken over by the next run.
    Sending {
        attempt: u32,
        claimed_at: Timestamp,
    },
    Sent {
        at: Timestamp,
    },
    Skipped {
        reason: SkipReason,
        at: Timestamp,
    },
    Failed {
        reason: String,
        at: Timestamp,
    },
}

/// Why a send was not mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The contact was surveyed less than the fatigue gap ago.
    Fatigue,
    Unsubscribed,
    Bounced,
    Complained,
    /// On the suppression list for another reason (erased, manual).
    Suppressed,
    /// The contact no longer exists.
    ContactGone,
    /// The mailer refused the address for good.
    Rejected,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Fatigue => "fatigue",
            SkipReason::Unsubscribed => "unsubscribed",
            SkipReason::Bounced => "bounced",
            SkipReason::Complained => "complained",
            SkipReason::Suppressed => "suppressed",
            SkipReason::ContactGone => "contact_gone",
            SkipReason::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ReminderState {
    /// No reminder planned (transactional sends may opt out; sends that were never mailed).
    None,
    /// Planned at `due_at` unless the send is answered or the contact unsubscribes first.
    Due {
        due_at: Timestamp,
    },
    Sending {
        attempt: u32,
        claimed_at: Timestamp,
    },
    Sent {
        at: Timestamp,
    },
    /// Not sent, with why (answered, unsubscribed, suppressed, failed).
    Cancelled {
        reason: String,
    },
}

/// One survey to one contact: a relational wave's or a transactional event's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveySend {
    pub id: SendId,
    pub contact_id: ContactId,
    pub kind: SurveyKind,
    /// The event it follows (transactional); `None` for relational sends.
    #[serde(default)]
    pub touchpoint: Option<Touchpoint>,
    /// The idempotency key the id was derived from (`wave:<contact>:<cycle>`, `event:<id>`).
    pub key: String,
    pub locale: Locale,
    pub created_at: Timestamp,
    pub due_at: Timestamp,
    pub status: SendStatus,
    pub reminder: ReminderState,
    /// The mailer's id of the survey email (SES MessageId, outbox file name).
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub answered_at: Option<Timestamp>,
    /// When dispatch must next look at this send (the survey or its reminder is due); `None` when
    /// nothing is pending. Stores index it: "sends due at or before a time".
    #[serde(default)]
    pub next_action_at: Option<Timestamp>,
    pub version: u64,
}

/// How an answer was judged when it was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    /// Committed by the page's script after the person had the page open for a while, or by the
    /// person pressing the button.
    #[default]
    Human,
    /// Looked automated (mail scanner): kept, flagged, not counted in reports.
    Automated,
}

/// A contact's answer to one send. One per send: re-answers update it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub send_id: SendId,
    /// `None` once the contact is erased: the score stays in the rollups, anonymised.
    #[serde(default)]
    pub contact_id: Option<ContactId>,
    pub score: Score,
    #[serde(default)]
    pub comment: Option<String>,
    pub locale: Locale,
    pub kind: SurveyKind,
    #[serde(default)]
    pub touchpoint: Option<Touchpoint>,
    #[serde(default)]
    pub account: Option<AccountName>,
    /// The contact's segments when it first answered: rollups stay consistent on re-answers.
    #[serde(default)]
    pub attributes: Attributes,
    /// The company-local day the answer counts in (its first commit's day).
    pub day: Date,
    pub answered_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub source: AnswerSource,
    /// Why it was flagged as automated, if it was.
    #[serde(default)]
    pub flag_reason: Option<String>,
    /// Times of the latest score commits (bounded), for the automated-answer rule.
    #[serde(default)]
    pub commits: Vec<Timestamp>,
    pub version: u64,
}

impl Response {
    pub fn category(&self) -> Category {
        self.score.category()
    }

    /// Counted in NPS figures and reports.
    pub fn counted(&self) -> bool {
        self.source == AnswerSource::Human
    }

    pub fn has_comment(&self) -> bool {
        self.comment
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
    }

    /// The rollup dimensions this answer counts in.
    pub fn dimensions(&self) -> Vec<Dimension> {
        let mut dims = vec![Dimension::All];
        dims.extend(self.attributes.iter().map(|(k, v)| Dimension::Segment {
            name: k.to_string(),
            value: v.to_string(),
        }));
        if let Some(a) = &self.account {
            dims.push(Dimension::Account(a.key()));
        }
        if let Some(t) = &self.touchpoint {
            dims.push(Dimension::Touchpoint(t.clone()));
        }
        dims
    }
}

/// What a rollup is counted over.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Dimension {
    All,
    Segment { name: String, value: String },
    Account(AccountKey),
    Touchpoint(Touchpoint),
}

impl Dimension {
    /// A stable string key: `all`, `seg:plan=pro`, `acct:acme corp`, `tp:ticket_closed`.
    pub fn key(&self) -> String {
        match self {
            Dimension::All => "all".into(),
            Dimension::Segment { name, value } => format!("seg:{name}={value}"),
            Dimension::Account(a) => format!("acct:{}", a.as_str()),
            Dimension::Touchpoint(t) => format!("tp:{}", t.as_str()),
        }
    }

    pub fn from_key(key: &str) -> Option<Dimension> {
        if key == "all" {
            return Some(Dimension::All);
        }
        if let Some(rest) = key.strip_prefix("seg:") {
            let (n, v) = rest.split_once('=')?;
            return Some(Dimension::Segment {
                name: n.into(),
                value: v.into(),
            });
        }
        if let Some(rest) = key.strip_prefix("acct:") {
            return Some(Dimension::Account(AccountKey(rest.into())));
        }
        if let Some(rest) = key.strip_prefix("tp:") {
            return Touchpoint::parse(rest).ok().map(Dimension::Touchpoint);
        }
        None
    }
}

/// Counters of one day in one dimension. Signed so that a delta can move counts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Counted answers by score.
    pub scores: [i64; 11],
    /// Counted answers with a comment.
    pub comments: i64,
    /// Survey emails sent (first sends, not reminders).
    pub sent: i64,
    /// Answers flagged as automated (not in `scores`).
    pub flagged: i64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        for (a, b) in self.scores.iter_mut().zip(other.scores.iter()) {
            *a += *b;
        }
        self.comments += other.comments;
        self.sent += other.sent;
        self.flagged += other.flagged;
    }

    pub fn negated(&self) -> Counts {
        let mut c = Counts::default();
        for (a, b) in c.scores.iter_mut().zip(self.scores.iter()) {
            *a = -*b;
        }
        c.comments = -self.comments;
        c.sent = -self.sent;
        c.flagged = -self.flagged;
        c
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }

    /// The score histogram (negative counts, which only a broken store could hold, read as 0).
    pub fn histogram(&self) -> Histogram {
        let mut h = Histogram::default();
        for (i, c) in self.scores.iter().enumerate() {
            h.0[i] = (*c).max(0) as u64;
        }
        h
    }

    /// What one answer contributes.
    pub fn of_response(r: &Response) -> Counts {
        let mut c = Counts::default();
        if r.counted() {
            c.scores[r.score.value() as usize] = 1;
            c.comments = i64::from(r.has_comment());
        } else {
            c.flagged = 1;
        }
        c
    }
}

/// The stored counters of one day in one dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub day: Date,
    pub dimension: Dimension,
    pub counts: Counts,
}

/// A change to apply to one rollup (added, field by field, creating the rollup if absent).
pub type RollupDelta = Rollup;

/// The rollup deltas that move an answer from `before` (if any) to `after`, within the day and
/// dimensions of the answer. Empty when nothing counted changes.
pub fn rollup_deltas(before: Option<&Response>, after: &Response) -> Vec<RollupDelta> {
    let mut net = Counts::of_response(after);
    if let Some(b) = before {
        net.add(&Counts::of_response(b).negated());
    }
    if net.is_zero() {
        return Vec::new();
    }
    after
        .dimensions()
        .into_iter()
        .map(|dimension| Rollup {
            day: after.day,
            dimension,
            counts: net,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    Open,
    Done,
}

/// Customer service's task after a detractor's (optionally a passive's) answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUp {
    /// The answer it follows: one follow-up per send.
    pub send_id: SendId,
    #[serde(default)]
    pub contact_id: Option<ContactId>,
    pub score: Score,
    #[serde(default)]
    pub account: Option<AccountName>,
    pub opened_at: Timestamp,
    /// The company-local day it was opened (index for "opened in a period").
    pub opened_day: Date,
    pub status: FollowUpStatus,
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    #[serde(default)]
    pub closed_by: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    pub version: u64,
}

impl FollowUp {
    pub fn time_to_close(&self) -> Option<jiff::SignedDuration> {
        self.closed_at.map(|c| c.duration_since(self.opened_at))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Unsubscribed,
    HardBounce,
    Complaint,
    /// Too many transient bounces in a row.
    SoftBounces,
    /// The contact was erased on request.
    Erased,
    Manual,
}

/// An address that is never mailed again (or, with `reason == None`, one being watched for
/// transient bounces). Keyed by the hash of the address only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub email_hash: EmailHash,
    /// `None` while the address is only counted (transient bounces below the threshold).
    #[serde(default)]
    pub reason: Option<SuppressionReason>,
    pub at: Timestamp,
    #[serde(default)]
    pub soft_bounces: u32,
}

impl Suppression {
    pub fn suppresses(&self) -> bool {
        self.reason.is_some()
    }
}

/// An API key for the events endpoint. Only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    /// A short public prefix to tell keys apart in listings.
    pub prefix: String,
    pub name: String,
    pub created_at: Timestamp,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Daily,
    Weekly,
    Quarterly,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Daily => "daily",
            ReportKind::Weekly => "weekly",
            ReportKind::Quarterly => "quarterly",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ReportRunStatus {
    /// A run is at work on the period (or died at it: after [`crate::reports::run::LEASE`], the
    /// next run takes it over).
    Claimed { at: Timestamp },
    /// Emailed (or archived, for an empty audience): later runs do nothing.
    Sent { at: Timestamp },
    /// The run failed before its email went out (an unreadable period, an archive or mail service
    /// error): the next run takes it over at once.
    Failed { at: Timestamp },
}

/// One report for one period: claimed before it is emailed, so a retried schedule never emails twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRun {
    pub kind: ReportKind,
    /// e.g. `2026-03-01`, `2026-W10`, `2026-Q1`.
    pub period: String,
    pub status: ReportRunStatus,
    #[serde(default)]
    pub archive_prefix: Option<String>,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Gave up after the last retry: kept for the operator.
    Dead,
}

/// One webhook event to one endpoint, with its retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub id: DeliveryId,
    /// `response.created`, `response.updated`, `unsubscribe.created`.
    pub event: String,
    pub url: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    pub created_at: Timestamp,
    pub attempts: u32,
    pub status: DeliveryStatus,
    /// When to try next (`Pending` only): stores index it.
    #[serde(default)]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub last_error: Option<String>,
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(score: u8, comment: Option<&str>, source: AnswerSource) -> Response {
        let mut attributes = Attributes::new();
        attributes.set("plan", "pro").unwrap();
        Response {
            send_id: SendId::for_key("x"),
            contact_id: Some(ContactId::parse("c1").unwrap()),
            score: Score::new(score).unwrap(),
            comment: comment.map(String::from),
            locale: Locale::En,
            kind: SurveyKind::Relational,
            touchpoint: None,
            account: Some(AccountName::parse("Acme").unwrap()),
            attributes,
            day: jiff::civil::date(2026, 3, 2),
            answered_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            source,
            flag_reason: None,
            commits: vec![],
            version: 1,
        }
    }

    #[test]
    fn slots_spread_evenly() {
        let mut buckets = [0u32; 10];
        for i in 0..20_000 {
            let id = ContactId::parse(&format!("c{i}")).unwrap();
            buckets[(slot_of(&id) / 1000) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|b| (1800..=2200).contains(b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn a_first_answer_adds_one_in_every_dimension() {
        let r = response(3, Some("slow"), AnswerSource::Human);
        let d = rollup_deltas(None, &r);
        assert_eq!(d.len(), 3); // all, plan=pro, account
        assert!(
            d.iter()
                .all(|x| x.counts.scores[3] == 1 && x.counts.comments == 1)
        );
        assert_eq!(d[1].dimension.key(), "seg:plan=pro");
        assert_eq!(
            Dimension::from_key(&d[2].dimension.key()),
            Some(d[2].dimension.clone())
        );
    }

    #[test]
    fn a_re_answer_moves_the_count() {
        let before = response(3, None, AnswerSource::Human);
        let after = response(9, None, AnswerSource::Human);
        let d = rollup_deltas(Some(&before), &after);
        assert_eq!(d[0].counts.scores[3], -1);
        assert_eq!(d[0].counts.scores[9], 1);
        assert!(rollup_deltas(Some(&after), &after).is_empty());
    }

    #[test]
    fn flagged_answers_do_not_count_until_a_human_replaces_them() {
        let bot = response(10, None, AnswerSource::Automated);
        let d = rollup_deltas(None, &bot);
        assert_eq!(d[0].counts.scores, [0; 11]);
        assert_eq!(d[0].counts.flagged, 1);
        let human = response(4, None, AnswerSource::Human);
        let d = rollup_deltas(Some(&bot), &human);
        assert_eq!(d[0].counts.flagged, -1);
        assert_eq!(d[0].counts.scores[4], 1);
    }
}
