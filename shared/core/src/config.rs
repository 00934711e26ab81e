//! Configuration: `pulso.toml` (see `pulso.example.toml`), overridden by environment variables.
//!
//! Any setting can be overridden with `PULSO__<SECTION>__<KEY>=value` (double underscores between
//! levels; the value is read as TOML — a number, `true`, `["a","b"]` — or else as a string). Lambda
//! functions are configured that way only. Secrets never live in the file: the link-signing keys come
//! from `PULSO_TOKEN_KEYS` and the webhook secret from `PULSO_WEBHOOK_SECRET` (see [`Secrets`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{Email, Locale, TimeZoneName, Touchpoint};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file is not valid TOML: {0}")]
    Toml(String),
    #[error("configuration is invalid: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub company: Company,
    pub email: EmailSettings,
    pub links: Links,
    pub surveys: Surveys,
    pub audiences: Audiences,
    pub follow_ups: FollowUpSettings,
    pub capture: CaptureSettings,
    pub reports: ReportSettings,
    pub webhooks: WebhookSettings,
    pub retention: Retention,
    pub store: StoreSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Company {
    /// Shown in the survey question and on every page.
    pub name: String,
    /// The company's time zone: days, mornings, weeks and quarters are counted in it.
    pub time_zone: TimeZoneName,
    /// For contacts without a locale, and pages that cannot tell.
    pub default_locale: Locale,
    /// Brand colour of buttons and headers (`#rrggbb`).
    pub primary_color: String,
    /// Text colour on the brand colour.
    pub on_primary_color: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// `From:` of every email, e.g. `"Acme <nps@acme.example>"`.
    pub from: String,
    pub reply_to: Option<String>,
    /// The mailto half of `List-Unsubscribe`.
    pub unsubscribe_mailto: String,
    /// SES configuration set, so bounce and complaint events flow back.
    pub configuration_set: Option<String>,
    /// Messages per second; when unset, SES's own limit (GetAccount) is used.
    pub max_send_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Links {
    /// Public base URL of the capture endpoint (no trailing slash), e.g. `https://nps.acme.example`.
    pub base_url: String,
    /// How long score and unsubscribe links work.
    pub answer_valid_days: u32,
    /// How long a follow-up "done" link works.
    pub follow_up_valid_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Surveys {
    /// Relational cycle: each contact is surveyed once per cadence (7–365 days).
    pub cadence_days: u32,
    /// New customers wait this long after `customer_since` before their first relational survey.
    pub settle_days: u32,
    /// No contact gets more than one survey of any kind in this many days (7–365).
    pub fatigue_days: u32,
    /// One reminder to non-responders after this many days; 0 turns reminders off.
    pub reminder_after_days: u32,
    /// Days of the week waves go out on (`mon` … `sun`).
    pub working_days: Vec<String>,
    /// Local hour (contact's time zone, else the company's) at which a day's wave starts.
    pub send_hour: u8,
    /// Hours after `send_hour` over which a day's wave may go out.
    pub send_window_hours: u8,
    /// Relational waves on or off.
    pub relational: bool,
    /// Per-touchpoint settings of transactional surveys.
    pub touchpoints: BTreeMap<String, TouchpointSettings>,
    /// The delay of transactional surveys with no `delay_hours` and no touchpoint setting.
    pub default_delay_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TouchpointSettings {
    pub delay_hours: Option<u32>,
    /// Overrides `surveys.fatigue_days` for this touchpoint (7–365).
    pub fatigue_days: Option<u32>,
    /// Overrides whether a reminder is sent.
    pub reminder: Option<bool>,
}

/// Who gets what. Addresses are plain strings here and parsed by [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Audiences {
    /// Detractor alerts (customer service).
    pub alerts: Audience,
    /// Daily digest (customer service).
    pub daily: Audience,
    /// Weekly report (key team members).
    pub weekly: Audience,
    /// Quarterly report (the whole company).
    pub quarterly: Audience,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Audience {
    pub recipients: Vec<String>,
    /// Language of what this audience receives; the company's default when unset.
    pub locale: Option<Locale>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FollowUpSettings {
    /// Open follow-ups (and alert) for passives too, not only detractors.
    pub include_passives: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureSettings {
    /// Longest comment accepted, in characters.
    pub comment_max_chars: usize,
    /// Request bodies larger than this are refused (bytes).
    pub max_body_bytes: usize,
    /// Milliseconds the comment page waits before its script commits the score.
    pub commit_delay_ms: u32,
    /// A score committed this soon after the email was delivered looks automated (seconds).
    pub automated_after_delivery_seconds: u32,
    /// Several score commits of one send within this many seconds look automated.
    pub automated_burst_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSettings {
    /// The industry average NPS shown beside the company's.
    pub benchmark_average: i32,
    /// What leaders reach.
    pub benchmark_leaders: i32,
    /// At or below this counts as low.
    pub benchmark_low: i32,
    /// Local hour the daily digest goes out.
    pub daily_hour: u8,
    /// Most comments shown per category in a report.
    pub max_comments: usize,
    /// Segment attributes reports break NPS down by (all when empty).
    pub segments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Endpoints that receive every event; none means webhooks are off.
    pub urls: Vec<String>,
    /// Tries before a delivery is dead.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Comments older than this many months are removed (0 keeps them).
    pub comment_months: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// SQLite file, outbox directory and archive directory under `data_dir`.
    Local,
    /// DynamoDB table, SES and S3.
    Aws,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    pub kind: StoreKind,
    /// Local data: `pulso.db`, `outbox/`, `archive/`.
    pub data_dir: String,
    /// DynamoDB table name.
    pub table: String,
    /// S3 archive bucket.
    pub bucket: String,
    /// A custom AWS endpoint (a local test server); unset in AWS.
    pub endpoint_url: Option<String>,
}

impl Default for Company {
    fn default() -> Self {
        Company {
            name: "Pulso Demo Co".into(),
            time_zone: TimeZoneName::utc(),
            default_locale: Locale::En,
            primary_color: "#3b5bdb".into(),
            on_primary_color: "#ffffff".into(),
        }
    }
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            from: "Pulso <nps@example.com>".into(),
            reply_to: None,
            unsubscribe_mailto: "unsubscribe@example.com".into(),
            configuration_set: None,
            max_send_rate: None,
        }
    }
}

impl Default for Links {
    fn default() -> Self {
        Links {
            base_url: "http://127.0.0.1:8080".into(),
            answer_valid_days: 30,
            follow_up_valid_days: 60,
        }
    }
}

impl Default for Surveys {
    fn default() -> Self {
        Surveys {
            cadence_days: 90,
            settle_days: 30,
            fatigue_days: 90,
            reminder_after_days: 5,
            working_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            send_hour: 9,
            send_window_hours: 3,
            relational: true,
            touchpoints: BTreeMap::new(),
            default_delay_hours: 24,
        }
    }
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            comment_max_chars: 5_000,
            max_body_bytes: 64 * 1024,
            commit_delay_ms: 1_500,
            automated_after_delivery_seconds: 10,
            automated_burst_seconds: 5,
        }
    }
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            benchmark_average: 34,
            benchmark_leaders: 56,
            benchmark_low: 25,
            daily_hour: 8,
            max_comments: 20,
            segments: Vec::new(),
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            urls: Vec::new(),
            max_attempts: 8,
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            kind: StoreKind::Local,
            data_dir: "./pulso-data".into(),
            table: "pulso".into(),
            bucket: "pulso-archive".into(),
            endpoint_url: None,
        }
    }
}

/// Weekdays by their config names.
pub fn weekday(name: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Monday,
        "tue" | "tuesday" => Tuesday,
        "wed" | "wednesday" => Wednesday,
        "thu" | "thursday" => Thursday,
        "fri" | "friday" => Friday,
        "sat" | "saturday" => Saturday,
        "sun" | "sunday" => Sunday,
        _ => return None,
    })
}

impl Config {
    /// Reads `toml_text` (may be empty), applies `PULSO__…` overrides from `env`, and validates.
    pub fn load<I, K, V>(toml_text: &str, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut root: toml::Table = if toml_text.trim().is_empty() {
            toml::Table::new()
        } else {
            toml_text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Toml(e.to_string()))?
        };
        apply_overrides(&mut root, env, |_| true);
        let config: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The string [`Config::load`] would find at `path` (e.g. `["store", "endpoint_url"]`) from the
    /// `PULSO__…` overrides in `env` alone, read the same way (sections and keys in any case, the
    /// last one wins, an override of an enclosing table counts), without loading the rest: for a value
    /// needed before the whole configuration is parsed. `None` when no override sets it to a
    /// string; `load` still judges the whole.
    pub fn env_string<I, K, V>(env: I, path: &[&str]) -> Option<String>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        // Only overrides on the way to `path`, at it or below it can change what is there.
        let mut root = toml::Table::new();
        apply_overrides(&mut root, env, |keys| {
            keys.iter().zip(path).all(|(k, p)| k == p)
        });
        let (last, tables) = path.split_last()?;
        let mut table = &root;
        for key in tables {
            table = table.get(*key)?.as_table()?;
        }
        match table.get(*last)? {
            toml::Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// Checks ranges and parses addresses; the first problem found is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let s = &self.surveys;
        if !(7..=365).contains(&s.cadence_days) {
            return bad(format!(
                "surveys.cadence_days must be 7-365, not {}",
                s.cadence_days
            ));
        }
        if !(7..=365).contains(&s.fatigue_days) {
            return bad(format!(
                "surveys.fatigue_days must be 7-365, not {}",
                s.fatigue_days
            ));
        }
        if s.settle_days > 365 {
            return bad("surveys.settle_days must be at most 365".into());
        }
        if s.reminder_after_days > 30 {
            return bad("surveys.reminder_after_days must be 0-30".into());
        }
        if s.send_hour > 23 || s.send_window_hours == 0 || s.send_window_hours > 12 {
            return bad("surveys.send_hour must be 0-23 and send_window_hours 1-12".into());
        }
        if s.working_days.is_empty() {
            return bad("surveys.working_days must name at least one day".into());
        }
        if let Some(d) = s.working_days.iter().find(|d| weekday(d).is_none()) {
            return bad(format!("surveys.working_days: unknown day {d:?}"));
        }
        for (name, t) in &s.touchpoints {
            if Touchpoint::parse(name).is_err() {
                return bad(format!("surveys.touchpoints: bad touchpoint name {name:?}"));
            }
            if t.fatigue_days.is_some_and(|f| !(7..=365).contains(&f)) {
                return bad(format!(
                    "surveys.touchpoints.{name}.fatigue_days must be 7-365"
                ));
            }
        }
        for (name, a) in [
            ("alerts", &self.audiences.alerts),
            ("daily", &self.audiences.daily),
            ("weekly", &self.audiences.weekly),
            ("quarterly", &self.audiences.quarterly),
        ] {
            if let Some((i, _)) = a
                .recipients
                .iter()
                .enumerate()
                .find(|(_, r)| Email::parse(r).is_err())
            {
                return bad(format!(
                    "audiences.{name}.recipients[{i}] is not an email address"
                ));
            }
        }
        if !self.links.base_url.starts_with("https://")
            && !self.links.base_url.starts_with("http://")
        {
            return bad("links.base_url must start with https:// (or http:// locally)".into());
        }
        if self.links.answer_valid_days == 0 || self.links.follow_up_valid_days == 0 {
            return bad("links validity must be at least one day".into());
        }
        for c in [&self.company.primary_color, &self.company.on_primary_color] {
            let ok =
                c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return bad(format!("company colours must be #rrggbb, not {c:?}"));
            }
        }
        // Characters, as the template's CompanyName parameter counts them ("Café Ñandú" is 10).
        if self.company.name.trim().is_empty() || self.company.name.chars().count() > 100 {
            return bad("company.name must be 1-100 characters".into());
        }
        if self.capture.comment_max_chars == 0 || self.capture.max_body_bytes < 1024 {
            return bad("capture limits are too small".into());
        }
        if let Some(r) = self.email.max_send_rate
            && !(r > 0.0 && r.is_finite())
        {
            return bad("email.max_send_rate must be a positive number".into());
        }
        Ok(())
    }

    /// The audience's recipients, parsed (validated at load).
    pub fn recipients(audience: &Audience) -> Vec<Email> {
        audience
            .recipients
            .iter()
            .filter_map(|r| Email::parse(r).ok())
            .collect()
    }

    pub fn audience_locale(&self, audience: &Audience) -> Locale {
        audience.locale.unwrap_or(self.company.default_locale)
    }

    pub fn touchpoint(&self, t: &Touchpoint) -> TouchpointSettings {
        self.surveys
            .touchpoints
            .get(t.as_str())
            .cloned()
            .unwrap_or_default()
    }
}

fn env_value(raw: &str) -> toml::Value {
    // Only these can begin a TOML value: a digit or sign (numbers, dates), a quote, `[`, `{`, or the
    // words true, false, inf and nan. Anything else (an address, a name, a time zone) is a string,
    // taken as it is without a parse that would fail (a failed parse, with its message, is the
    // costly part of loading the configuration at a cold start).
    let trimmed = raw.trim();
    let may_be_toml = trimmed
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || "+-\"'[{".contains(c))
        || matches!(trimmed, "true" | "false" | "inf" | "nan");
    if !may_be_toml {
        return toml::Value::String(raw.to_string());
    }
    // `x = <raw>` parses as TOML when raw is a number, bool, array or quoted string.
    format!("x = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Sets each `PULSO__SECTION__KEY` override in `env` whose lower-cased key path `keep` accepts into
/// `root`, in order (so the last one wins).
fn apply_overrides<I, K, V>(root: &mut toml::Table, env: I, keep: impl Fn(&[String]) -> bool)
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    for (k, v) in env {
        let Some(path) = k.as_ref().strip_prefix("PULSO__") else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) || !keep(&keys) {
            continue;
        }
        set_path(root, &keys, env_value(v.as_ref()));
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) {
    match keys {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
    }
}

/// Secrets, from the environment only.
#[derive(Clone)]
pub struct Secrets {
    /// `PULSO_TOKEN_KEYS`: `kid:base64secret[,kid:base64secret…]`, first active.
    pub token_keys: Option<String>,
    /// `PULSO_WEBHOOK_SECRET`: signs webhook bodies.
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Secrets {
    pub fn from_env<I, K, V>(env: I) -> Secrets
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut s = Secrets {
            token_keys: None,
            webhook_secret: None,
        };
        for (k, v) in env {
            match k.as_ref() {
                "PULSO_TOKEN_KEYS" => s.token_keys = Some(v.as_ref().to_string()),
                "PULSO_WEBHOOK_SECRET" => s.webhook_secret = Some(v.as_ref().to_string()),
                _ => {}
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_field() {
        let c = Config::load("", Vec::<(String, String)>::new()).unwrap();
        assert_eq!(c.surveys.cadence_days, 90);
        assert_eq!(c.surveys.settle_days, 30);
        assert_eq!(c.surveys.reminder_after_days, 5);
        assert_eq!(c.capture.comment_max_chars, 5_000);
    }

    #[test]
    fn the_example_file_loads() {
        let text = include_str!("../../../pulso.example.toml");
        let c = Config::load(text, Vec::<(String, String)>::new()).unwrap();
        assert!(!c.audiences.alerts.recipients.is_empty());
    }

    #[test]
    fn a_company_name_is_limited_in_characters_not_bytes() {
        let load = |name: &str| {
            let text = format!("[company]\nname = \"{name}\"\n");
            Config::load(&text, Vec::<(String, String)>::new())
        };
        // 100 characters, 200 bytes: the most the template's parameter lets through.
        let accented = "é".repeat(100);
        assert_eq!(load(&accented).unwrap().company.name, accented);
        let err = load(&"é".repeat(101)).unwrap_err().to_string();
        assert!(
            err.contains("company.name must be 1-100 characters"),
            "{err}"
        );
        assert!(load("  ").is_err());
    }

    #[test]
    fn env_overrides_the_file() {
        let c = Config::load(
            "[company]\nname = \"Acme\"\n[surveys]\ncadence_days = 60\n",
            [
                ("PULSO__SURVEYS__CADENCE_DAYS", "120"),
                ("PULSO__COMPANY__TIME_ZONE", "Europe/Madrid"),
                (
                    "PULSO__AUDIENCES__WEEKLY__RECIPIENTS",
                    "[\"a@acme.example\"]",
                ),
                ("OTHER", "x"),
            ],
        )
        .unwrap();
        assert_eq!(c.company.name, "Acme");
        assert_eq!(c.surveys.cadence_days, 120);
        assert_eq!(c.company.time_zone.as_str(), "Europe/Madrid");
        assert_eq!(
            c.audiences.weekly.recipients,
            vec!["a@acme.example".to_string()]
        );
    }

    #[test]
    fn one_value_read_ahead_is_the_one_the_whole_load_finds() {
        let path = ["store", "endpoint_url"];
        let cases: [&[(&str, &str)]; 7] = [
            &[],
            &[("PULSO__STORE__ENDPOINT_URL", "http://127.0.0.1:5000")],
            // Sections and keys in any case; the last one wins.
            &[
                ("PULSO__STORE__ENDPOINT_URL", "http://a.example"),
                ("PULSO__Store__Endpoint_Url", "http://b.example"),
            ],
            // A quoted value is TOML, read as its string.
            &[("PULSO__STORE__ENDPOINT_URL", "\"http://q.example\"")],
            // An override of the enclosing table, after the key's own, replaces it…
            &[
                ("PULSO__STORE__ENDPOINT_URL", "http://a.example"),
                ("PULSO__STORE", "{ endpoint_url = \"http://t.example\" }"),
            ],
            // …and one before it is overridden by it.
            &[
                ("PULSO__STORE", "{ endpoint_url = \"http://t.example\" }"),
                ("PULSO__STORE__ENDPOINT_URL", "http://a.example"),
            ],
            // Other overrides do not touch it.
            &[
                ("PULSO__STORE__TABLE", "t"),
                ("PULSO__EMAIL__CONFIGURATION_SET", "cs"),
                ("OTHER__STORE__ENDPOINT_URL", "http://x.example"),
            ],
        ];
        for env in cases {
            let loaded = Config::load("", env.iter().copied()).unwrap();
            assert_eq!(
                Config::env_string(env.iter().copied(), &path),
                loaded.store.endpoint_url,
                "{env:?}"
            );
        }
        assert_eq!(
            Config::env_string(cases[2].iter().copied(), &path).as_deref(),
            Some("http://b.example")
        );
        assert_eq!(
            Config::env_string(cases[4].iter().copied(), &path).as_deref(),
            Some("http://t.example")
        );
        // Not a string: nothing read ahead (and the whole load refuses it).
        let number = [("PULSO__STORE__ENDPOINT_URL", "5000")];
        assert_eq!(Config::env_string(number, &path), None);
        assert!(Config::load("", number).is_err());
    }

    #[test]
    fn env_values_are_toml_where_they_can_be_and_strings_otherwise() {
        let cases: [(&str, toml::Value); 10] = [
            ("120", toml::Value::Integer(120)),
            ("-3", toml::Value::Integer(-3)),
            ("true", toml::Value::Boolean(true)),
            (" false ", toml::Value::Boolean(false)),
            ("\"quoted\"", toml::Value::String("quoted".into())),
            (
                "[\"a\", \"b\"]",
                toml::Value::Array(vec!["a".into(), "b".into()]),
            ),
            ("Europe/Madrid", toml::Value::String("Europe/Madrid".into())),
            (
                "nps@acme.example",
                toml::Value::String("nps@acme.example".into()),
            ),
            ("truely", toml::Value::String("truely".into())),
            // Looks like a number, is not one: still a string, through the parse that fails.
            ("12 Main St", toml::Value::String("12 Main St".into())),
        ];
        for (raw, want) in cases {
            assert_eq!(env_value(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::load(
            "[surveys]\ncadence_days = 400\n",
            Vec::<(String, String)>::new(),
        );
        assert!(matches!(e, Err(ConfigError::Invalid(m)) if m.contains("cadence_days")));
        let e = Config::load(
            "[surveys]\ncadense_days = 40\n",
            Vec::<(String, String)>::new(),
        );
        assert!(matches!(e, Err(ConfigError::Invalid(m)) if m.contains("cadense_days")));
        let e = Config::load(
            "[company]\ntime_zone = \"Nowhere/Land\"\n",
            Vec::<(String, String)>::new(),
        );
        assert!(e.is_err());
        let e = Config::load(
            "[audiences.alerts]\nrecipients = [\"not an address\"]\n",
            Vec::<(String, String)>::new(),
        );
        assert!(matches!(e, Err(ConfigError::Invalid(m)) if m.contains("alerts")));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secrets::from_env([("PULSO_TOKEN_KEYS", "k1:abc")]);
        assert_eq!(s.token_keys.as_deref(), Some("k1:abc"));
        assert!(!format!("{s:?}").contains("abc"));
    }
}
