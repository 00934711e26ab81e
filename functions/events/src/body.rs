//! Reading request bodies into domain values. Every problem names the field at fault, and nothing
//! is written until the whole body has been read.

use jiff::civil::Date;
use pulso_core::model::ContactInput;
use pulso_core::types::{
    AccountName, Attributes, Email, Locale, TimeZoneName, Touchpoint, parse_name,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use pulso_core::dispatch::EventRequest;
use pulso_core::dispatch::MAX_DELAY_HOURS;

/// A body that cannot be read, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON, or not the JSON shape the endpoint takes.
    Json(String),
    /// One field is missing, of the wrong type, or invalid.
    Field { field: String, message: String },
}

fn field(name: impl Into<String>, message: impl Into<String>) -> BodyError {
    BodyError::Field {
        field: name.into(),
        message: message.into(),
    }
}

/// The longest `event_id`.
pub const MAX_EVENT_ID: usize = 200;

/// Parses JSON bytes.
pub fn json(bytes: &[u8]) -> Result<Value, BodyError> {
    serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's message names line and column, never echoes the input.
        BodyError::Json(format!("the body is not valid JSON: {e}"))
    })
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, BodyError> {
    v.as_object().ok_or_else(|| {
        if at.is_empty() {
            BodyError::Json("the body must be a JSON object".into())
        } else {
            field(at, "must be a JSON object")
        }
    })
}

fn path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A string field; `null` and absence are `None`.
fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    name: &str,
) -> Result<Option<&'a str>, BodyError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(field(path(prefix, name), "must be a string")),
    }
}

fn check_fields(obj: &Map<String, Value>, prefix: &str, allowed: &[&str]) -> Result<(), BodyError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(field(
            path(prefix, &k.chars().take(60).collect::<String>()),
            format!("unknown field (expected one of: {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

const CONTACT_FIELDS: &[&str] = &[
    "email",
    "name",
    "account",
    "locale",
    "time_zone",
    "customer_since",
    "attributes",
];

/// The contact part of a body (`prefix` names where it sits, for error messages).
fn contact_input(obj: &Map<String, Value>, prefix: &str) -> Result<ContactInput, BodyError> {
    let email = opt_str(obj, prefix, "email")?
        .ok_or_else(|| field(path(prefix, "email"), "is required"))?;
    let email = Email::parse(email).map_err(|e| field(path(prefix, "email"), e.to_string()))?;
    let name = match opt_str(obj, prefix, "name")? {
        Some(n) => parse_name(n).map_err(|e| field(path(prefix, "name"), e.to_string()))?,
        None => None,
    };
    let account = opt_str(obj, prefix, "account")?
        .filter(|a| !a.trim().is_empty())
        .map(AccountName::parse)
        .transpose()
        .map_err(|e| field(path(prefix, "account"), e.to_string()))?;
    let locale = opt_str(obj, prefix, "locale")?
        .map(Locale::parse)
        .transpose()
        .map_err(|e| field(path(prefix, "locale"), e.to_string()))?;
    let time_zone = opt_str(obj, prefix, "time_zone")?
        .map(TimeZoneName::parse)
        .transpose()
        .map_err(|e| field(path(prefix, "time_zone"), e.to_string()))?;
    let customer_since = opt_str(obj, prefix, "customer_since")?
        .map(|d| d.trim().parse::<Date>())
        .transpose()
        .map_err(|_| {
            field(
                path(prefix, "customer_since"),
                "must be a date like 2025-01-31",
            )
        })?;
    let mut attributes = Attributes::new();
    match obj.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let at = path(
                    prefix,
                    &format!("attributes.{}", k.chars().take(40).collect::<String>()),
                );
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => String::new(),
                    _ => return Err(field(at, "must be a string, number or boolean")),
                };
                attributes
                    .set(k, &value)
                    .map_err(|e| field(at, e.to_string()))?;
            }
        }
        Some(_) => return Err(field(path(prefix, "attributes"), "must be a JSON object")),
    }
    Ok(ContactInput {
        email: Some(email),
        name,
        locale,
        account,
        time_zone,
        attributes,
        customer_since,
    })
}

/// A `POST /v1/events` body, read.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBody {
    pub event: EventRequest,
    pub contact: ContactInput,
    /// The caller gave no `event_id`: it was derived from the body.
    pub derived_id: bool,
}

/// Reads a `POST /v1/events` body.
///
/// Without an `event_id`, the id is derived from the body itself (SHA-256 of its canonical JSON),
/// so that a retried request is recognised; two identical events without ids count as one.
pub fn event(bytes: &[u8]) -> Result<EventBody, BodyError> {
    let value = json(bytes)?;
    let obj = object(&value, "")?;
    let mut allowed = vec!["event", "event_id", "delay_hours"];
    allowed.extend_from_slice(CONTACT_FIELDS);
    check_fields(obj, "", &allowed)?;
    let touchpoint = opt_str(obj, "", "event")?.ok_or_else(|| field("event", "is required"))?;
    let touchpoint = Touchpoint::parse(touchpoint).map_err(|e| field("event", e.to_string()))?;
    let (event_id, derived_id) = match obj.get("event_id") {
        None | Some(Value::Null) => {
            // serde_json's maps are sorted, so this is the same for the same content.
            let canonical = serde_json::to_vec(&value).unwrap_or_default();
            (
                format!("h-{}", hex::encode(&Sha256::digest(&canonical)[..16])),
                true,
            )
        }
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() || s.chars().count() > MAX_EVENT_ID || s.chars().any(char::is_control) {
                return Err(field(
                    "event_id",
                    format!("must be 1-{MAX_EVENT_ID} printable characters"),
                ));
            }
            (s.to_string(), false)
        }
        Some(Value::Number(n)) => (n.to_string(), false),
        Some(_) => return Err(field("event_id", "must be a string")),
    };
    let delay_hours = match obj.get("delay_hours") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|h| *h <= u64::from(MAX_DELAY_HOURS))
                .ok_or_else(|| {
                    field(
                        "delay_hours",
                        format!("must be a whole number of hours from 0 to {MAX_DELAY_HOURS}"),
                    )
                })? as u32,
        ),
    };
    let contact = contact_input(obj, "")?;
    Ok(EventBody {
        event: EventRequest {
            touchpoint,
            event_id,
            delay_hours,
        },
        contact,
        derived_id,
    })
}

/// The most contacts one `POST /v1/contacts` may carry. Each new contact is a read and a
/// transaction in DynamoDB, one after another: 200 finish well inside the function's 29 s and the
/// HTTP API's 30 s, where 1,000 could not be relied on to.
pub const MAX_BATCH: usize = 200;

/// Reads a `POST /v1/contacts` body: one contact object, an array of them, or
/// `{"contacts": [...]}`. Returns the contacts and whether the body was a batch.
pub fn contacts(bytes: &[u8]) -> Result<(Vec<ContactInput>, bool), BodyError> {
    let value = json(bytes)?;
    let list = match &value {
        Value::Array(items) => Some(items.as_slice()),
        Value::Object(obj) if obj.contains_key("contacts") => {
            check_fields(obj, "", &["contacts"])?;
            match obj.get("contacts") {
                Some(Value::Array(items)) => Some(items.as_slice()),
                _ => return Err(field("contacts", "must be an array of contacts")),
            }
        }
        _ => None,
    };
    match list {
        None => {
            let obj = object(&value, "")?;
            check_fields(obj, "", CONTACT_FIELDS)?;
            Ok((vec![contact_input(obj, "")?], false))
        }
        Some(items) => {
            if items.is_empty() {
                return Err(field("contacts", "must hold at least one contact"));
            }
            if items.len() > MAX_BATCH {
                return Err(field(
                    "contacts",
                    format!("holds more than {MAX_BATCH} contacts; send several requests"),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = format!("contacts[{i}]");
                let obj = object(item, &at)?;
                check_fields(obj, &at, CONTACT_FIELDS)?;
                out.push(contact_input(obj, &at)?);
            }
            Ok((out, true))
        }
    }
}

/// Reads a `POST /v1/contacts/erase` body: `{"email": "…"}`, nothing else.
pub fn erasure(bytes: &[u8]) -> Result<Email, BodyError> {
    let value = json(bytes)?;
    let obj = object(&value, "")?;
    check_fields(obj, "", &["email"])?;
    let email = opt_str(obj, "", "email")?.ok_or_else(|| field("email", "is required"))?;
    Email::parse(email).map_err(|e| field("email", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<EventBody, BodyError>) -> String {
        match r {
            Err(BodyError::Field { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_full_event_reads() {
        let b = event(
            br#"{"event":"ticket_closed","event_id":"T-1","email":" Ana@Example.com ","name":"Ana",
                "account":"Acme","locale":"es-MX","time_zone":"Europe/Madrid",
                "attributes":{"plan":"pro","seats":12,"trial":false},"delay_hours":24,
                "customer_since":"2025-02-01"}"#,
        )
        .unwrap();
        assert_eq!(b.event.touchpoint.as_str(), "ticket_closed");
        assert_eq!(b.event.event_id, "T-1");
        assert_eq!(b.event.delay_hours, Some(24));
        assert_eq!(b.contact.email.unwrap().as_str(), "ana@example.com");
        assert_eq!(b.contact.locale, Some(Locale::Es));
        assert_eq!(b.contact.attributes.get("seats"), Some("12"));
        assert_eq!(b.contact.attributes.get("trial"), Some("false"));
        assert!(!b.derived_id);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: &[(&str, &str)] = &[
            (r#"{"email":"a@b.co"}"#, "event"),
            (r#"{"event":"Ticket Closed!","email":"a@b.co"}"#, "event"),
            (r#"{"event":"t"}"#, "email"),
            (r#"{"event":"t","email":"not-an-address"}"#, "email"),
            (r#"{"event":"t","email":42}"#, "email"),
            (r#"{"event":"t","email":"a@b.co","locale":"fr"}"#, "locale"),
            (
                r#"{"event":"t","email":"a@b.co","time_zone":"Mars/Base"}"#,
                "time_zone",
            ),
            (
                r#"{"event":"t","email":"a@b.co","delay_hours":-1}"#,
                "delay_hours",
            ),
            (
                r#"{"event":"t","email":"a@b.co","delay_hours":1.5}"#,
                "delay_hours",
            ),
            (
                r#"{"event":"t","email":"a@b.co","delay_hours":10000}"#,
                "delay_hours",
            ),
            (
                r#"{"event":"t","email":"a@b.co","attributes":[1]}"#,
                "attributes",
            ),
            (
                r#"{"event":"t","email":"a@b.co","attributes":{"bad name!":"x"}}"#,
                "attributes.bad name!",
            ),
            (
                r#"{"event":"t","email":"a@b.co","attributes":{"plan":{"x":1}}}"#,
                "attributes.plan",
            ),
            (
                r#"{"event":"t","email":"a@b.co","event_id":""}"#,
                "event_id",
            ),
            (
                r#"{"event":"t","email":"a@b.co","customer_since":"yesterday"}"#,
                "customer_since",
            ),
            (r#"{"event":"t","email":"a@b.co","emial":"x"}"#, "emial"),
        ];
        for (body, expected) in cases {
            assert_eq!(&field_of(event(body.as_bytes())), expected, "{body}");
        }
        assert!(matches!(event(b"not json"), Err(BodyError::Json(_))));
        assert!(matches!(event(b"[1,2]"), Err(BodyError::Json(_))));
    }

    #[test]
    fn events_without_ids_get_one_from_their_content() {
        let a = event(br#"{"event":"t","email":"a@b.co","name":"A"}"#).unwrap();
        let b = event(br#"{ "name":"A",  "email":"a@b.co","event":"t"}"#).unwrap();
        let c = event(br#"{"event":"t","email":"a@b.co","name":"B"}"#).unwrap();
        assert!(a.derived_id);
        assert_eq!(a.event.event_id, b.event.event_id);
        assert_ne!(a.event.event_id, c.event.event_id);
    }

    #[test]
    fn contacts_come_one_or_in_a_batch() {
        let (one, batch) = contacts(br#"{"email":"a@b.co"}"#).unwrap();
        assert_eq!((one.len(), batch), (1, false));
        let (many, batch) =
            contacts(br#"{"contacts":[{"email":"a@b.co"},{"email":"c@d.co"}]}"#).unwrap();
        assert_eq!((many.len(), batch), (2, true));
        let (arr, _) = contacts(br#"[{"email":"a@b.co"}]"#).unwrap();
        assert_eq!(arr.len(), 1);
        match contacts(br#"[{"email":"a@b.co"},{"email":"nope"}]"#) {
            Err(BodyError::Field { field, .. }) => assert_eq!(field, "contacts[1].email"),
            other => panic!("{other:?}"),
        }
        assert!(contacts(br#"{"contacts":[]}"#).is_err());
    }

    #[test]
    fn an_erasure_names_one_valid_address_and_nothing_else() {
        assert_eq!(
            erasure(br#"{"email":" Ana@Example.com "}"#)
                .unwrap()
                .as_str(),
            "ana@example.com"
        );
        for (body, at) in [
            (&br#"{}"#[..], "email"),
            (br#"{"email":null}"#, "email"),
            (br#"{"email":"not an address"}"#, "email"),
            (br#"{"email":42}"#, "email"),
            (br#"{"email":"ana@example.com","name":"Ana"}"#, "name"),
        ] {
            match erasure(body) {
                Err(BodyError::Field { field, .. }) => assert_eq!(field, at, "{body:?}"),
                other => panic!("{body:?}: expected a field error, got {other:?}"),
            }
        }
        assert!(matches!(erasure(b"[1]"), Err(BodyError::Json(_))));
        assert!(matches!(erasure(b"{"), Err(BodyError::Json(_))));
    }
}
