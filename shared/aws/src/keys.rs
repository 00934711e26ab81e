//! Every key of the DynamoDB table: partition and sort keys, index keys, and the bounds of the
//! queries over them. The single place that knows the layout documented in `docs/data-model.md`.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use pulso_core::model::{ReportKind, SLOTS};
use pulso_core::types::{AccountKey, ContactId, DeliveryId, EmailHash, SendId};

/// Attribute names.
pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const TYPE: &str = "T";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";
/// The table's TTL attribute (Unix seconds).
pub const EXPIRES_AT: &str = "expires_at";
/// The version attribute of versioned records (a field of the record itself).
pub const VERSION: &str = "version";

/// Index names.
pub const GSI1: &str = "GSI1";
pub const GSI2: &str = "GSI2";
pub const GSI3: &str = "GSI3";

/// Due queues are split over this many index partitions.
pub const DUE_SHARDS: u32 = 8;
/// Contacts per slot bucket of the slot index: 100 slots per partition.
pub const SLOTS_PER_BUCKET: u16 = 100;

/// Sorts right after `#`: `<prefix>$` bounds every `<prefix>#…` from above.
const AFTER_HASH: char = '$';

/// A partition key and sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: &str) -> Key {
        Key {
            pk,
            sk: sk.to_string(),
        }
    }
}

/// An index entry: partition and sort key of one of the GSIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

/// Fixed-width UTC time, so that string order is time order.
pub fn ts(t: Timestamp) -> String {
    let z = t.to_zoned(TimeZone::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        z.year(),
        z.month(),
        z.day(),
        z.hour(),
        z.minute(),
        z.second(),
        z.subsec_nanosecond().max(0)
    )
}

pub fn day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

pub fn month(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// The first day of every month that `from..=to` touches, in order.
pub fn months_between(from: Date, to: Date) -> Vec<Date> {
    let mut out = Vec::new();
    let mut m = from.first_of_month();
    // Bounded: a range of a thousand years is 12,000 months, far beyond any report.
    while m <= to && out.len() < 12_000 {
        out.push(m);
        match m.checked_add(jiff::Span::new().months(1)) {
            Ok(next) => m = next,
            Err(_) => break,
        }
    }
    out
}

/// A stable hash of an id over the due-queue shards (FNV-1a).
pub fn shard(id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % DUE_SHARDS
}

/// Upper bound (exclusive) of sort keys `<ts>#<id>` at or before `until`.
pub fn until_bound(until: Timestamp) -> String {
    format!("{}{AFTER_HASH}", ts(until))
}

/// `[from, to]` bounds for sort keys that start with `<lo>#` … `<hi>#`.
pub fn between(lo: &str, hi: &str) -> (String, String) {
    (format!("{lo}#"), format!("{hi}{AFTER_HASH}"))
}

// --- contacts -------------------------------------------------------------------------------

pub fn contact(id: &ContactId) -> Key {
    Key::new(format!("C#{id}"), "C")
}

/// The email lock: makes an address unique to one contact.
pub fn email_lock(hash: &EmailHash) -> Key {
    Key::new(format!("E#{}", hash.as_str()), "E")
}

pub fn slot_bucket(slot: u16) -> u16 {
    slot / SLOTS_PER_BUCKET
}

pub fn slot_bucket_pk(bucket: u16) -> String {
    format!("SLOT#{bucket:03}")
}

pub fn contact_slot_index(id: &ContactId, slot: u16) -> IndexKey {
    IndexKey {
        pk: slot_bucket_pk(slot_bucket(slot)),
        sk: format!("{slot:05}#{id}"),
    }
}

/// For `from..to`: each slot bucket to query with its inclusive sort-key bounds.
pub fn slot_ranges(from: u16, to: u16) -> Vec<(String, String, String)> {
    let to = to.min(SLOTS);
    if from >= to {
        return Vec::new();
    }
    let last = to - 1;
    (slot_bucket(from)..=slot_bucket(last))
        .map(|b| {
            let lo = from.max(b * SLOTS_PER_BUCKET);
            let hi = last.min(b * SLOTS_PER_BUCKET + SLOTS_PER_BUCKET - 1);
            let (lo, hi) = between(&format!("{lo:05}"), &format!("{hi:05}"));
            (slot_bucket_pk(b), lo, hi)
        })
        .collect()
}

pub fn account_pk(account: &AccountKey) -> String {
    format!("ACCT#{}", account.as_str())
}

pub fn contact_account_index(id: &ContactId, account: &AccountKey) -> IndexKey {
    IndexKey {
        pk: account_pk(account),
        sk: format!("C#{id}"),
    }
}

/// A contact's sends and answers share one partition of GSI2.
pub fn contact_owner_pk(id: &ContactId) -> String {
    format!("C#{id}")
}

// --- sends, answers, follow-ups ------------------------------------------------------------------

pub fn send_pk(id: &SendId) -> String {
    format!("S#{id}")
}

pub fn send(id: &SendId) -> Key {
    Key::new(send_pk(id), "S")
}

pub fn response(id: &SendId) -> Key {
    Key::new(send_pk(id), "R")
}

pub fn follow_up(id: &SendId) -> Key {
    Key::new(send_pk(id), "F")
}

pub fn due_pk(shard: u32) -> String {
    format!("DUE#{shard}")
}

pub fn send_due_index(id: &SendId, at: Timestamp) -> IndexKey {
    IndexKey {
        pk: due_pk(shard(id.as_str())),
        sk: format!("{}#{id}", ts(at)),
    }
}

pub const SEND_PREFIX: &str = "S#";
pub const RESPONSE_PREFIX: &str = "R#";

pub fn send_owner_index(contact: &ContactId, created: Timestamp, id: &SendId) -> IndexKey {
    IndexKey {
        pk: contact_owner_pk(contact),
        sk: format!("{SEND_PREFIX}{}#{id}", ts(created)),
    }
}

pub fn response_owner_index(contact: &ContactId, answered: Timestamp, id: &SendId) -> IndexKey {
    IndexKey {
        pk: contact_owner_pk(contact),
        sk: format!("{RESPONSE_PREFIX}{}#{id}", ts(answered)),
    }
}

pub fn response_day_pk(d: Date) -> String {
    format!("RDAY#{}", day(d))
}

pub fn response_day_index(d: Date, answered: Timestamp, id: &SendId) -> IndexKey {
    IndexKey {
        pk: response_day_pk(d),
        sk: format!("{}#{id}", ts(answered)),
    }
}

pub fn commented_day_pk(d: Date) -> String {
    format!("RCOM#{}", day(d))
}

pub fn commented_day_index(d: Date, answered: Timestamp, id: &SendId) -> IndexKey {
    IndexKey {
        pk: commented_day_pk(d),
        sk: format!("{}#{id}", ts(answered)),
    }
}

pub const OPEN_FOLLOW_UPS: &str = "FOPEN";

pub fn open_follow_up_index(opened: Timestamp, id: &SendId) -> IndexKey {
    IndexKey {
        pk: OPEN_FOLLOW_UPS.to_string(),
        sk: format!("{}#{id}", ts(opened)),
    }
}

pub fn follow_up_month_pk(m: Date) -> String {
    format!("FMON#{}", month(m))
}

pub fn follow_up_month_index(opened_day: Date, opened: Timestamp, id: &SendId) -> IndexKey {
    IndexKey {
        pk: follow_up_month_pk(opened_day),
        sk: format!("{}#{}#{id}", day(opened_day), ts(opened)),
    }
}

// --- rollups ----------------------------------------------------------------------------------

pub fn rollup_pk(d: Date) -> String {
    format!("RU#{}", month(d))
}

pub fn rollup(d: Date, dimension_key: &str) -> Key {
    Key {
        pk: rollup_pk(d),
        sk: format!("{}#{dimension_key}", day(d)),
    }
}

/// For `from..=to`: each month partition with its inclusive sort-key bounds (`<day>#…`).
pub fn day_ranges(from: Date, to: Date, pk: fn(Date) -> String) -> Vec<(String, String, String)> {
    if from > to {
        return Vec::new();
    }
    months_between(from, to)
        .into_iter()
        .map(|m| {
            let lo = from.max(m);
            let hi = to.min(m.last_of_month());
            let (lo, hi) = between(&day(lo), &day(hi));
            (pk(m), lo, hi)
        })
        .collect()
}

// --- the rest ------------------------------------------------------------------------------------

pub fn suppression(hash: &EmailHash) -> Key {
    Key::new(format!("SUP#{}", hash.as_str()), "SUP")
}

pub fn api_key(hash: &str) -> Key {
    Key::new(format!("KEY#{hash}"), "KEY")
}

pub const API_KEYS: &str = "KEYS";

pub fn api_key_list_index(created: Timestamp, hash: &str) -> IndexKey {
    IndexKey {
        pk: API_KEYS.to_string(),
        sk: format!("{}#{hash}", ts(created)),
    }
}

pub fn report_run(kind: ReportKind, period: &str) -> Key {
    Key::new(format!("RUN#{}#{period}", kind.as_str()), "RUN")
}

pub fn delivery(id: &DeliveryId) -> Key {
    Key::new(format!("WH#{id}"), "WH")
}

pub fn delivery_due_pk(shard: u32) -> String {
    format!("WDUE#{shard}")
}

pub fn delivery_due_index(id: &DeliveryId, at: Timestamp) -> IndexKey {
    IndexKey {
        pk: delivery_due_pk(shard(id.as_str())),
        sk: format!("{}#{id}", ts(at)),
    }
}

pub const DEAD_DELIVERIES: &str = "WDEAD";

pub fn dead_delivery_index(created: Timestamp, id: &DeliveryId) -> IndexKey {
    IndexKey {
        pk: DEAD_DELIVERIES.to_string(),
        sk: format!("{}#{id}", ts(created)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn timestamps_sort_as_strings() {
        let a: Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
        let b: Timestamp = "2026-03-02T08:00:00.5Z".parse().unwrap();
        let c: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
        assert_eq!(ts(a), "2026-03-02T08:00:00.000000000Z");
        assert!(ts(a) < ts(b) && ts(b) < ts(c));
        // Everything at `until`, whatever the id, is under the bound; later instants are not.
        assert!(format!("{}#zzzz", ts(b)) < until_bound(b));
        assert!(until_bound(a) < format!("{}#a", ts(b)));
    }

    #[test]
    fn slot_ranges_cover_exactly_the_range() {
        let r = slot_ranges(150, 320);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], ("SLOT#001".into(), "00150#".into(), "00199$".into()));
        assert_eq!(r[2], ("SLOT#003".into(), "00300#".into(), "00319$".into()));
        assert!(slot_ranges(5, 5).is_empty());
        assert_eq!(slot_ranges(9_990, u16::MAX).len(), 1);
        let all = slot_ranges(0, SLOTS);
        assert_eq!(all.len(), 100);
        let k = contact_slot_index(&ContactId::parse("c-1").unwrap(), 199);
        assert!(k.sk.as_str() >= r[0].1.as_str() && k.sk.as_str() <= r[0].2.as_str());
    }

    #[test]
    fn day_ranges_split_by_month() {
        let r = day_ranges(date(2026, 1, 30), date(2026, 3, 2), rollup_pk);
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            (
                "RU#2026-01".into(),
                "2026-01-30#".into(),
                "2026-01-31$".into()
            )
        );
        assert_eq!(
            r[1],
            (
                "RU#2026-02".into(),
                "2026-02-01#".into(),
                "2026-02-28$".into()
            )
        );
        assert_eq!(r[2].2, "2026-03-02$");
        assert!(day_ranges(date(2026, 3, 2), date(2026, 3, 1), rollup_pk).is_empty());
        let k = rollup(date(2026, 2, 28), "seg:plan=pro");
        assert!(k.sk > r[1].1 && k.sk < r[1].2);
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard("abc"), shard("abc"));
        let mut seen = [0u32; DUE_SHARDS as usize];
        for i in 0..800 {
            seen[shard(&format!("s{i}")) as usize] += 1;
        }
        assert!(seen.iter().all(|n| (60..=140).contains(n)), "{seen:?}");
    }
}
