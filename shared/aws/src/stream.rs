//! Answers from the table's stream (`NEW_AND_OLD_IMAGES`), for the `alerts` function: which answer
//! items changed, with their images before and after. Other item types are ignored.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use serde_dynamo::{AttributeValue, Item};

use pulso_core::model::Response;

use crate::keys;

/// `(before, after)` for every answer written in `event`, in stream order. Inserts have no
/// `before`; removals (no `after`) and records that are not answers are skipped. An image that
/// does not decode is logged (by its key) and skipped, so that one bad record cannot stall the
/// stream.
pub fn response_changes(event: &Event) -> Vec<(Option<Response>, Response)> {
    event.records.iter().filter_map(response_change).collect()
}

fn response_change(record: &EventRecord) -> Option<(Option<Response>, Response)> {
    let new = &record.change.new_image;
    if !is_response(new) {
        return None;
    }
    let after = decode(record, new)?;
    let old = &record.change.old_image;
    let before = if is_response(old) {
        decode(record, old)
    } else {
        None
    };
    Some((before, after))
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    }
}

/// An answer item: `PK = S#<send>`, `SK = R`.
fn is_response(item: &Item) -> bool {
    text(item, keys::SK) == Some("R") && text(item, keys::PK).is_some_and(|pk| pk.starts_with("S#"))
}

fn decode(record: &EventRecord, item: &Item) -> Option<Response> {
    let mut record_item = item.clone();
    for a in [
        keys::PK,
        keys::SK,
        keys::TYPE,
        keys::GSI1PK,
        keys::GSI1SK,
        keys::GSI2PK,
        keys::GSI2SK,
        keys::GSI3PK,
        keys::GSI3SK,
        keys::EXPIRES_AT,
    ] {
        record_item.remove(a);
    }
    match serde_dynamo::from_item::<_, Response>(record_item) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(
                event_id = %record.event_id,
                key = text(item, keys::PK).unwrap_or(""),
                error = %e,
                "stream answer image does not decode"
            );
            None
        }
    }
}

pub use aws_lambda_events::event::dynamodb::Event as StreamEvent;

/// A table item as a stream image in DynamoDB JSON (`{"S": …}`), as Lambda receives it: for tests
/// and tools that replay items through [`response_changes`].
pub fn stream_image(
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> serde_json::Value {
    serde_json::to_value(Item::from(item)).unwrap_or(serde_json::Value::Null)
}
