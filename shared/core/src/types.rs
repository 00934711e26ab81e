//! Values that parse: every way into the domain goes through a constructor that checks its input,
//! so that a value of these types is always valid (`Email`, `Score`, `Locale`, ids, segments).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a value was refused at the edge. The message names the problem without echoing personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("email address is empty")]
    EmptyEmail,
    #[error("email address is too long (at most 254 characters)")]
    EmailTooLong,
    #[error("email address must be one address of the form name@example.com")]
    MalformedEmail,
    #[error("score must be a whole number from 0 to 10")]
    ScoreOutOfRange,
    #[error("unknown locale {0:?}: Pulso speaks en and es")]
    UnknownLocale(String),
    #[error("malformed id")]
    MalformedId,
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("segment attribute name {0:?} must be 1-40 characters of a-z, 0-9 or _")]
    BadAttributeName(String),
    #[error("segment attribute {0:?} is longer than 200 characters")]
    AttributeTooLong(String),
    #[error("too many segment attributes (at most {max})")]
    TooManyAttributes { max: usize },
    #[error("account name must be 1-200 characters")]
    BadAccount,
    #[error("name is longer than 200 characters")]
    NameTooLong,
    #[error("touchpoint must be 1-64 characters of a-z, 0-9, _ or -")]
    BadTouchpoint,
}

/// A normalised email address: trimmed, lower-cased, one address, length-bounded.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ParseError::EmptyEmail);
        }
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::EmailTooLong);
        }
        let s = s.to_lowercase();
        let (local, domain) = s.split_once('@').ok_or(ParseError::MalformedEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = domain.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2);
        if !(local_ok && domain_ok) {
            return Err(ParseError::MalformedEmail);
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.split_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The hash that stands for the address where the address itself must not be kept
    /// (suppression list, erased contacts): SHA-256 of the normalised address.
    pub fn hash(&self) -> EmailHash {
        EmailHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for Email {
    // Personal data stays out of logs, even debug ones.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email(<redacted>)")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// SHA-256 (hex) of a normalised email address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EmailHash(pub String);

impl EmailHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An answer on the 0–10 scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Score(u8);

impl Score {
    pub fn new(v: u8) -> Result<Self, ParseError> {
        if v <= 10 {
            Ok(Score(v))
        } else {
            Err(ParseError::ScoreOutOfRange)
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let v: u8 = raw
            .trim()
            .parse()
            .map_err(|_| ParseError::ScoreOutOfRange)?;
        Score::new(v)
    }

    pub fn value(self) -> u8 {
        self.0
    }

    pub fn category(self) -> crate::nps::Category {
        crate::nps::Category::of(self)
    }

    pub fn all() -> impl Iterator<Item = Score> {
        (0..=10).map(Score)
    }
}

impl TryFrom<u8> for Score {
    type Error = ParseError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Score::new(v)
    }
}

impl From<Score> for u8 {
    fn from(s: Score) -> u8 {
        s.0
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A language Pulso speaks. Parsing accepts a language tag (`es`, `es-MX`, `EN_gb`) and keeps the
/// language; anything else is an `UnknownLocale` error. Pages that only need a best effort use
/// [`Locale::negotiate`], which falls back instead of failing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    Es,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Es];

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let t = raw.trim();
        let lang = t
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match lang.as_str() {
            "en" => Ok(Locale::En),
            "es" => Ok(Locale::Es),
            _ => Err(ParseError::UnknownLocale(t.chars().take(20).collect())),
        }
    }

    /// Best effort from an `Accept-Language` header or a stored tag: the first language Pulso
    /// speaks, else `fallback`.
    pub fn negotiate(header: Option<&str>, fallback: Locale) -> Locale {
        header
            .into_iter()
            .flat_map(|h| h.split(','))
            .filter_map(|part| Locale::parse(part.split(';').next().unwrap_or("")).ok())
            .next()
            .unwrap_or(fallback)
    }

    pub fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// 1–64 characters of `A-Z a-z 0-9 _ -`.
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                if !raw.is_empty()
                    && raw.len() <= 64
                    && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    Ok($name(raw.to_string()))
                } else {
                    Err(ParseError::MalformedId)
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

id_type!(
    /// A contact's id: opaque, random, safe to log.
    ContactId
);
id_type!(
    /// A survey send's id. Deterministic from the send's idempotency key (see [`SendId::for_key`]),
    /// so that a retried wave or event finds the send it already recorded.
    SendId
);
id_type!(
    /// A webhook delivery's id.
    DeliveryId
);

impl SendId {
    /// `key` names the send uniquely: e.g. `wave:<contact>:<cycle>`, `event:<event id>`.
    pub fn for_key(key: &str) -> SendId {
        let digest = Sha256::digest(key.as_bytes());
        SendId(format!("s{}", hex::encode(&digest[..12])))
    }
}

/// A company (B2B account) a contact belongs to, as the CRM names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
            return Err(ParseError::BadAccount);
        }
        Ok(AccountName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The account's key: case- and space-insensitive, so "ACME  Corp" and "acme corp" are one.
    pub fn key(&self) -> AccountKey {
        AccountKey(
            self.0
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase(),
        )
    }
}

impl TryFrom<String> for AccountName {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AccountName::parse(&s)
    }
}

impl From<AccountName> for String {
    fn from(v: AccountName) -> String {
        v.0
    }
}

/// The normalised key of an account (see [`AccountName::key`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountKey(pub String);

impl AccountKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The time zone database every zone name is looked up in: the copy of the IANA database compiled
/// into the binary (jiff's bundled tzdb), not the machine's `/usr/share/zoneinfo`. The same rules
/// on every machine and in Lambda (whose images need not carry tzdata), and no directory walk at
/// cold start.
fn tz_db() -> &'static jiff::tz::TimeZoneDatabase {
    static DB: std::sync::LazyLock<jiff::tz::TimeZoneDatabase> =
        std::sync::LazyLock::new(jiff::tz::TimeZoneDatabase::bundled);
    &DB
}

/// An IANA time zone name that exists (e.g. `Europe/Madrid`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        tz_db()
            .get(s)
            .map_err(|_| ParseError::UnknownTimeZone(s.chars().take(40).collect()))?;
        Ok(TimeZoneName(s.to_string()))
    }

    pub fn utc() -> Self {
        TimeZoneName("UTC".to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn tz(&self) -> jiff::tz::TimeZone {
        // Checked at parse time; fall back to UTC rather than panic if the database changed.
        tz_db().get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TimeZoneName::parse(&s)
    }
}

impl From<TimeZoneName> for String {
    fn from(v: TimeZoneName) -> String {
        v.0
    }
}

/// A touchpoint: what a transactional survey follows (`ticket_closed`, `order_delivered`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Touchpoint(String);

impl Touchpoint {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let s = raw.trim();
        if s.is_empty()
            || s.len() > 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ParseError::BadTouchpoint);
        }
        Ok(Touchpoint(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Touchpoint {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Touchpoint::parse(&s)
    }
}

impl From<Touchpoint> for String {
    fn from(v: Touchpoint) -> String {
        v.0
    }
}

/// Free segment attributes from the CRM (plan, region, industry, …): bounded in count and size.
/// Names are normalised to `snake_case`; empty values are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Attributes(BTreeMap<String, String>);

impl Attributes {
    pub const MAX_COUNT: usize = 20;
    pub const MAX_NAME: usize = 40;
    pub const MAX_VALUE: usize = 200;

    pub fn new() -> Self {
        Self::default()
    }

    pub fn normalise_name(raw: &str) -> Result<String, ParseError> {
        let name: String = raw
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| if c == ' ' || c == '-' { '_' } else { c })
            .collect();
        if name.is_empty()
            || name.len() > Self::MAX_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ParseError::BadAttributeName(raw.chars().take(40).collect()));
        }
        Ok(name)
    }

    /// Sets `name` to `value` (trimmed); an empty value removes the attribute.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ParseError> {
        let name = Self::normalise_name(name)?;
        let value = value.trim();
        if value.chars().count() > Self::MAX_VALUE || value.chars().any(char::is_control) {
            return Err(ParseError::AttributeTooLong(name));
        }
        if value.is_empty() {
            self.0.remove(&name);
            return Ok(());
        }
        if !self.0.contains_key(&name) && self.0.len() >= Self::MAX_COUNT {
            return Err(ParseError::TooManyAttributes {
                max: Self::MAX_COUNT,
            });
        }
        self.0.insert(name, value.to_string());
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `other`'s attributes override ours; ours that `other` lacks stay.
    pub fn merged(&self, other: &Attributes) -> Result<Attributes, ParseError> {
        let mut out = self.clone();
        for (k, v) in other.iter() {
            out.set(k, v)?;
        }
        Ok(out)
    }
}

impl TryFrom<BTreeMap<String, String>> for Attributes {
    type Error = ParseError;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        let mut a = Attributes::new();
        for (k, v) in &map {
            a.set(k, v)?;
        }
        Ok(a)
    }
}

impl From<Attributes> for BTreeMap<String, String> {
    fn from(a: Attributes) -> Self {
        a.0
    }
}

/// A person's display name, bounded.
pub fn parse_name(raw: &str) -> Result<Option<String>, ParseError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > 200 {
        return Err(ParseError::NameTooLong);
    }
    Ok(Some(s.chars().filter(|c| !c.is_control()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        let e = Email::parse("  Ana.Garcia@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ana.garcia@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn email_refuses_what_is_not_one_address() {
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a@b.com, c@d.com",
            "Ana <ana@example.com>",
            "a b@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example.c0m",
            "a@exa_mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(ParseError::EmailTooLong));
    }

    #[test]
    fn email_debug_hides_the_address() {
        let e = Email::parse("ana@example.com").unwrap();
        assert!(!format!("{e:?}").contains("ana"));
    }

    #[test]
    fn email_hash_is_stable_and_case_insensitive() {
        let a = Email::parse("Ana@Example.com").unwrap().hash();
        let b = Email::parse("ana@example.com").unwrap().hash();
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 64);
    }

    #[test]
    fn score_is_zero_to_ten() {
        assert_eq!(Score::parse("10").unwrap().value(), 10);
        assert_eq!(Score::parse("0").unwrap().value(), 0);
        assert_eq!(Score::parse("11"), Err(ParseError::ScoreOutOfRange));
        assert_eq!(Score::parse("-1"), Err(ParseError::ScoreOutOfRange));
        assert_eq!(Score::parse("7.5"), Err(ParseError::ScoreOutOfRange));
        assert!(serde_json::from_str::<Score>("11").is_err());
    }

    #[test]
    fn locale_parses_tags_and_refuses_unknown_languages() {
        assert_eq!(Locale::parse("es-MX").unwrap(), Locale::Es);
        assert_eq!(Locale::parse("EN_gb").unwrap(), Locale::En);
        assert!(matches!(
            Locale::parse("fr"),
            Err(ParseError::UnknownLocale(_))
        ));
        assert!(serde_json::from_str::<Locale>("\"fr\"").is_err());
    }

    #[test]
    fn locale_negotiation_falls_back() {
        assert_eq!(
            Locale::negotiate(Some("fr-FR,es;q=0.8,en;q=0.5"), Locale::En),
            Locale::Es
        );
        assert_eq!(Locale::negotiate(Some("de"), Locale::En), Locale::En);
        assert_eq!(Locale::negotiate(None, Locale::Es), Locale::Es);
    }

    #[test]
    fn ids_are_bounded_and_send_ids_deterministic() {
        assert!(ContactId::parse("c_01H-x").is_ok());
        assert!(ContactId::parse("../etc").is_err());
        assert!(ContactId::parse(&"a".repeat(65)).is_err());
        assert_eq!(SendId::for_key("wave:c1:3"), SendId::for_key("wave:c1:3"));
        assert_ne!(SendId::for_key("wave:c1:3"), SendId::for_key("wave:c1:4"));
        assert!(SendId::parse(SendId::for_key("x").as_str()).is_ok());
    }

    #[test]
    fn attributes_are_bounded() {
        let mut a = Attributes::new();
        a.set("Revenue Band", "10-50M").unwrap();
        assert_eq!(a.get("revenue_band"), Some("10-50M"));
        assert!(a.set("bad name!", "x").is_err());
        assert!(a.set("plan", &"x".repeat(201)).is_err());
        for i in 0..19 {
            a.set(&format!("k{i}"), "v").unwrap();
        }
        assert_eq!(
            a.set("one_too_many", "v"),
            Err(ParseError::TooManyAttributes { max: 20 })
        );
        a.set("k0", "").unwrap();
        assert_eq!(a.get("k0"), None);
    }

    #[test]
    fn account_key_folds_case_and_space() {
        let a = AccountName::parse(" ACME  Corp ").unwrap();
        assert_eq!(a.as_str(), "ACME  Corp");
        assert_eq!(a.key(), AccountName::parse("acme corp").unwrap().key());
    }

    #[test]
    fn time_zones_must_exist() {
        assert!(TimeZoneName::parse("Europe/Madrid").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
    }
}
