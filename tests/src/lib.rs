//! Shared helpers for the workspace integration tests: the store contract suite ([`contract`],
//! run on every store with [`contract_suite!`]) and small record fixtures ([`fixtures`]).

pub mod contract;

/// Link-signing keys that cannot be read until [`KeysLater::arrive`] (a Secrets Manager secret
/// that is missing or unreadable), for the functions that start work while their keys arrive.
pub struct KeysLater {
    ok: std::sync::atomic::AtomicBool,
}

impl KeysLater {
    /// Keys that fail (naming `PULSO_TOKEN_KEYS`) until they arrive, as the context holds them.
    pub fn new() -> (std::sync::Arc<KeysLater>, pulso_core::Keys) {
        let later = std::sync::Arc::new(KeysLater {
            ok: std::sync::atomic::AtomicBool::new(false),
        });
        (later.clone(), pulso_core::Keys::arriving(later))
    }

    /// From now on the keys can be read: `k1`, 32 bytes of 7 (the fixtures' key).
    pub fn arrive(&self) {
        self.ok.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

type KeysResult = Result<std::sync::Arc<pulso_core::SigningKeys>, pulso_core::KeysUnavailable>;

impl pulso_core::token::KeySource for KeysLater {
    fn keys(&self) -> std::pin::Pin<Box<dyn Future<Output = KeysResult> + Send + '_>> {
        let ok = self.ok.load(std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            match ok {
                true => Ok(std::sync::Arc::new(
                    pulso_core::SigningKeys::single("k1", &[7u8; 32]).expect("fixture keys"),
                )),
                false => Err(pulso_core::KeysUnavailable(
                    "no link-signing keys: set PULSO_TOKEN_KEYS".into(),
                )),
            }
        })
    }
}

/// Records with sensible defaults, for any test that needs one. Every fixture is valid as it comes
/// (version 1); tests change the fields they care about.
pub mod fixtures {
    use jiff::Timestamp;
    use jiff::civil::Date;
    use pulso_core::model::{
        AnswerSource, Contact, DeliveryStatus, FollowUp, FollowUpStatus, ReminderState, Response,
        SendStatus, SurveyKind, SurveySend, WebhookDelivery, slot_of,
    };
    use pulso_core::types::{
        AccountName, Attributes, ContactId, DeliveryId, Email, Locale, Score, SendId,
    };

    /// A timestamp from RFC 3339 text (`2026-03-02T10:00:00Z`).
    pub fn ts(s: &str) -> Timestamp {
        s.parse().expect("fixture timestamp")
    }

    /// A day from `YYYY-MM-DD`.
    pub fn day(s: &str) -> Date {
        s.parse().expect("fixture day")
    }

    /// A contact with `id` and `email`, its slot from its id, no account.
    pub fn contact(id: &str, email: &str) -> Contact {
        let id = ContactId::parse(id).expect("fixture contact id");
        Contact {
            slot: slot_of(&id),
            id,
            email: Email::parse(email).expect("fixture email"),
            name: Some("Ana Pérez".into()),
            locale: Locale::En,
            account: None,
            time_zone: None,
            attributes: Attributes::new(),
            customer_since: None,
            created_at: ts("2026-01-01T00:00:00Z"),
            updated_at: ts("2026-01-01T00:00:00Z"),
            last_surveyed_at: None,
            unsubscribed_at: None,
            version: 1,
        }
    }

    /// A contact of `account`.
    pub fn contact_of(id: &str, email: &str, account: &str) -> Contact {
        let mut c = contact(id, email);
        c.account = Some(AccountName::parse(account).expect("fixture account"));
        c
    }

    /// A scheduled relational send for `contact`, its id from `key`, due at `next_action_at`.
    pub fn send(key: &str, contact: &str, next_action_at: Option<Timestamp>) -> SurveySend {
        SurveySend {
            id: SendId::for_key(key),
            contact_id: ContactId::parse(contact).expect("fixture contact id"),
            kind: SurveyKind::Relational,
            touchpoint: None,
            key: key.into(),
            locale: Locale::En,
            created_at: ts("2026-03-01T00:00:00Z"),
            due_at: next_action_at.unwrap_or_else(|| ts("2026-03-02T09:00:00Z")),
            status: SendStatus::Scheduled,
            reminder: ReminderState::None,
            message_id: None,
            answered_at: None,
            next_action_at,
            version: 1,
        }
    }

    /// A counted (human) answer to the send of `key`, by `contact`, on `day` at 10:00 UTC.
    pub fn response(
        key: &str,
        contact: &str,
        score: u8,
        comment: Option<&str>,
        day: Date,
    ) -> Response {
        let at = pulso_core::time::at_local(
            day,
            jiff::civil::time(10, 0, 0, 0),
            &jiff::tz::TimeZone::UTC,
        );
        Response {
            send_id: SendId::for_key(key),
            contact_id: Some(ContactId::parse(contact).expect("fixture contact id")),
            score: Score::new(score).expect("fixture score"),
            comment: comment.map(String::from),
            locale: Locale::En,
            kind: SurveyKind::Relational,
            touchpoint: None,
            account: None,
            attributes: Attributes::new(),
            day,
            answered_at: at,
            updated_at: at,
            source: AnswerSource::Human,
            flag_reason: None,
            commits: vec![at],
            version: 1,
        }
    }

    /// An open follow-up of the send of `key`, opened at `opened_at` (its day in UTC).
    pub fn follow_up(key: &str, opened_at: Timestamp) -> FollowUp {
        FollowUp {
            send_id: SendId::for_key(key),
            contact_id: None,
            score: Score::new(2).expect("fixture score"),
            account: None,
            opened_at,
            opened_day: opened_at.to_zoned(jiff::tz::TimeZone::UTC).date(),
            status: FollowUpStatus::Open,
            closed_at: None,
            closed_by: None,
            note: None,
            version: 1,
        }
    }

    /// A pending webhook delivery created at `created_at`, next tried at `next_attempt_at`.
    pub fn delivery(
        id: &str,
        created_at: Timestamp,
        next_attempt_at: Option<Timestamp>,
    ) -> WebhookDelivery {
        WebhookDelivery {
            id: DeliveryId::parse(id).expect("fixture delivery id"),
            event: "response.created".into(),
            url: "https://hooks.example/pulso".into(),
            body: "{}".into(),
            created_at,
            attempts: 0,
            status: DeliveryStatus::Pending,
            next_attempt_at,
            last_error: None,
            version: 1,
        }
    }
}
pub mod aws;
pub mod browser;
