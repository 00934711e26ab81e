//! The store ports of `pulso_core::ports` on the DynamoDB table: one impl per trait, each method a
//! `GetItem`, a conditional write, a transaction or a paginated `Query` as `docs/data-model.md`
//! lists.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use pulso_core::model::{
    ApiKey, Contact, Counts, DeliveryStatus, Dimension, FollowUp, FollowUpStatus, ReportKind,
    ReportRun, Response, Rollup, RollupDelta, Suppression, SurveySend, WebhookDelivery,
};
use pulso_core::ports::{
    ApiKeys, Contacts, FollowUps, ReportRuns, Responses, Rollups, Sends, StoreError, StoreResult,
    Suppressions, WebhookDeliveries,
};
use pulso_core::types::{AccountKey, ContactId, DeliveryId, Email, EmailHash, SendId};

use super::{
    DynamoStore, Item, QuerySpec, SortKey, from_record_item, key_map, n, record_item, s,
    versioned_put,
};
use crate::keys::{self, GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, GSI3PK, GSI3SK};

/// Delivered webhook deliveries are kept this long, dead ones longer (for the operator).
const DELIVERED_KEPT: SignedDuration = SignedDuration::from_hours(30 * 24);
const DEAD_KEPT: SignedDuration = SignedDuration::from_hours(90 * 24);

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn put_item(put: Put) -> TransactWriteItem {
    TransactWriteItem::builder().put(put).build()
}

// --- items of each record -------------------------------------------------------------------------

fn contact_item(c: &Contact) -> StoreResult<Item> {
    record_item(
        c,
        &keys::contact(&c.id),
        "contact",
        &[
            (
                GSI1PK,
                GSI1SK,
                Some(keys::contact_slot_index(&c.id, c.slot)),
            ),
            (
                GSI2PK,
                GSI2SK,
                c.account_key()
                    .map(|a| keys::contact_account_index(&c.id, &a)),
            ),
        ],
    )
}

fn send_item(x: &SurveySend) -> StoreResult<Item> {
    record_item(
        x,
        &keys::send(&x.id),
        "send",
        &[
            (
                GSI1PK,
                GSI1SK,
                x.next_action_at.map(|t| keys::send_due_index(&x.id, t)),
            ),
            (
                GSI2PK,
                GSI2SK,
                Some(keys::send_owner_index(&x.contact_id, x.created_at, &x.id)),
            ),
        ],
    )
}

fn response_item(r: &Response) -> StoreResult<Item> {
    record_item(
        r,
        &keys::response(&r.send_id),
        "response",
        &[
            (
                GSI1PK,
                GSI1SK,
                Some(keys::response_day_index(r.day, r.answered_at, &r.send_id)),
            ),
            (
                GSI2PK,
                GSI2SK,
                r.contact_id
                    .as_ref()
                    .map(|c| keys::response_owner_index(c, r.answered_at, &r.send_id)),
            ),
            (
                GSI3PK,
                GSI3SK,
                r.has_comment()
                    .then(|| keys::commented_day_index(r.day, r.answered_at, &r.send_id)),
            ),
        ],
    )
}

fn follow_up_item(f: &FollowUp) -> StoreResult<Item> {
    record_item(
        f,
        &keys::follow_up(&f.send_id),
        "follow_up",
        &[
            (
                GSI1PK,
                GSI1SK,
                (f.status == FollowUpStatus::Open)
                    .then(|| keys::open_follow_up_index(f.opened_at, &f.send_id)),
            ),
            (
                GSI2PK,
                GSI2SK,
                Some(keys::follow_up_month_index(
                    f.opened_day,
                    f.opened_at,
                    &f.send_id,
                )),
            ),
        ],
    )
}

fn delivery_item(d: &WebhookDelivery) -> StoreResult<Item> {
    let due = match (d.status, d.next_attempt_at) {
        (DeliveryStatus::Pending, Some(t)) => Some(keys::delivery_due_index(&d.id, t)),
        _ => None,
    };
    let dead =
        (d.status == DeliveryStatus::Dead).then(|| keys::dead_delivery_index(d.created_at, &d.id));
    let mut item = record_item(
        d,
        &keys::delivery(&d.id),
        "webhook",
        &[(GSI1PK, GSI1SK, due), (GSI2PK, GSI2SK, dead)],
    )?;
    let kept = match d.status {
        DeliveryStatus::Pending => None,
        DeliveryStatus::Delivered => Some(DELIVERED_KEPT),
        DeliveryStatus::Dead => Some(DEAD_KEPT),
    };
    if let Some(expires) = kept.and_then(|k| d.created_at.checked_add(k).ok()) {
        item.insert(keys::EXPIRES_AT.into(), n(expires.as_second()));
    }
    Ok(item)
}

// --- contacts -------------------------------------------------------------------------------------

impl DynamoStore {
    /// The writes of a versioned contact: a new contact (v1) takes its email lock in the same
    /// transaction; a later version must keep the stored email.
    fn contact_writes(&self, c: &Contact) -> StoreResult<Vec<TransactWriteItem>> {
        let item = contact_item(c)?;
        if c.version <= 1 {
            let lock_key = keys::email_lock(&c.email.hash());
            let mut lock = key_map(&lock_key);
            lock.insert(keys::TYPE.into(), s("email"));
            lock.insert("contact_id".into(), s(c.id.as_str()));
            let lock = Put::builder()
                .table_name(self.table())
                .set_item(Some(lock))
                .condition_expression("attribute_not_exists(PK) OR #cid = :id")
                .expression_attribute_names("#cid", "contact_id")
                .expression_attribute_values(":id", s(c.id.as_str()))
                .build()
                .map_err(unavailable)?;
            Ok(vec![
                put_item(versioned_put(self.table(), item, 1)?),
                put_item(lock),
            ])
        } else {
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("#version = :prev AND #email = :email")
                .expression_attribute_names("#version", keys::VERSION)
                .expression_attribute_names("#email", "email")
                .expression_attribute_values(":prev", n(c.version - 1))
                .expression_attribute_values(":email", s(c.email.as_str()))
                .build()
                .map_err(unavailable)?;
            Ok(vec![put_item(put)])
        }
    }

    async fn write_all(&self, mut writes: Vec<TransactWriteItem>, what: &str) -> StoreResult<()> {
        if writes.len() == 1
            && let Some(put) = writes.pop().and_then(|w| w.put)
        {
            return self.put(put, what).await;
        }
        self.transact(writes, what).await
    }
}

impl Contacts for DynamoStore {
    async fn contact(&self, id: &ContactId) -> StoreResult<Option<Contact>> {
        self.get_record(&keys::contact(id)).await
    }

    async fn contacts_by_id(&self, ids: &[ContactId]) -> StoreResult<HashMap<ContactId, Contact>> {
        let keys: Vec<_> = ids.iter().map(keys::contact).collect();
        self.batch_get(&keys)
            .await?
            .into_iter()
            .map(|item| from_record_item::<Contact>(item).map(|c| (c.id.clone(), c)))
            .collect()
    }

    async fn contact_by_email(&self, email: &Email) -> StoreResult<Option<Contact>> {
        let Some(lock) = self.get_item(&keys::email_lock(&email.hash())).await? else {
            return Ok(None);
        };
        let Some(aws_sdk_dynamodb::types::AttributeValue::S(id)) = lock.get("contact_id") else {
            return Err(StoreError::Corrupt("email lock without contact_id".into()));
        };
        let id = ContactId::parse(id)
            .map_err(|_| StoreError::Corrupt("email lock with a malformed contact id".into()))?;
        // A lock whose contact is gone, or holds another address, names nobody.
        Ok(self
            .contact(&id)
            .await?
            .filter(|c: &Contact| &c.email == email))
    }

    async fn put_contact(&self, contact: &Contact) -> StoreResult<()> {
        let writes = self.contact_writes(contact)?;
        self.write_all(writes, &format!("contact {}", contact.id))
            .await
    }

    async fn contacts_in_slots(&self, from: u16, to: u16) -> StoreResult<Vec<Contact>> {
        // One query per slot bucket (a day's slice of a 90-day cycle spans 2-3), together, in
        // bucket order, which is slot order.
        let queries = keys::slot_ranges(from, to)
            .into_iter()
            .map(|(pk, lo, hi)| QuerySpec::index(GSI1, pk, SortKey::Between(lo, hi)))
            .collect();
        self.query_each(queries)
            .await?
            .into_iter()
            .flatten()
            .map(from_record_item)
            .collect()
    }

    async fn contacts_of_account(&self, account: &AccountKey) -> StoreResult<Vec<Contact>> {
        let q = QuerySpec::index(GSI2, keys::account_pk(account), SortKey::Any);
        self.query_records(&q).await
    }

    async fn delete_contact(&self, id: &ContactId) -> StoreResult<()> {
        let Some(c) = self.contact(id).await? else {
            return Ok(());
        };
        let contact = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key_map(&keys::contact(id))))
            .build()
            .map_err(unavailable)?;
        // The lock goes only if it is this contact's.
        let lock = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key_map(&keys::email_lock(&c.email.hash()))))
            .condition_expression("attribute_not_exists(PK) OR #cid = :id")
            .expression_attribute_names("#cid", "contact_id")
            .expression_attribute_values(":id", s(id.as_str()))
            .build()
            .map_err(unavailable)?;
        let writes = vec![
            TransactWriteItem::builder().delete(contact).build(),
            TransactWriteItem::builder().delete(lock).build(),
        ];
        match self.transact(writes, &format!("contact {id}")).await {
            // Another contact holds the address now: delete the contact alone.
            Err(StoreError::Conflict(_)) => self.delete(&keys::contact(id)).await,
            other => other,
        }
    }
}

// --- sends ------------------------------------------------------------------------------------------

/// Merges per-shard lists (each in key order) into the first `limit` in key order.
fn first_in_order<T>(lists: Vec<Vec<(String, T)>>, limit: usize) -> Vec<T> {
    let mut all: Vec<(String, T)> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.into_iter().take(limit).map(|(_, v)| v).collect()
}

fn index_sort_key(item: &Item, attr: &str) -> String {
    match item.get(attr) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    }
}

// A due queue's shards are all queried at once.
const _: () = assert!(keys::DUE_SHARDS as usize <= super::REQUESTS_AT_ONCE);

impl DynamoStore {
    /// Queries every shard of a due queue (`pk(shard)`) for entries at or before `until`,
    /// concurrently, and keeps the earliest `limit`.
    async fn due<T: serde::de::DeserializeOwned>(
        &self,
        pk: fn(u32) -> String,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let bound = keys::until_bound(until);
        let queries = (0..keys::DUE_SHARDS)
            .map(|shard| {
                QuerySpec::index(GSI1, pk(shard), SortKey::LessThan(bound.clone())).limit(limit)
            })
            .collect();
        let lists = self
            .query_each(queries)
            .await?
            .into_iter()
            .map(|items| {
                items
                    .into_iter()
                    .map(|item| {
                        let k = index_sort_key(&item, GSI1SK);
                        from_record_item::<T>(item).map(|r| (k, r))
                    })
                    .collect::<StoreResult<Vec<_>>>()
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(first_in_order(lists, limit))
    }
}

impl Sends for DynamoStore {
    async fn send(&self, id: &SendId) -> StoreResult<Option<SurveySend>> {
        self.get_record(&keys::send(id)).await
    }

    async fn put_send(&self, send: &SurveySend) -> StoreResult<()> {
        let put = versioned_put(self.table(), send_item(send)?, send.version)?;
        self.put(put, &format!("send {}", send.id)).await
    }

    async fn reserve_send(&self, contact: &Contact, send: &SurveySend) -> StoreResult<()> {
        if send.version != 1 {
            return Err(StoreError::Conflict(format!(
                "send {} must be new (version 1) to be reserved",
                send.id
            )));
        }
        let mut writes = self.contact_writes(contact)?;
        writes.push(put_item(versioned_put(self.table(), send_item(send)?, 1)?));
        self.transact(
            writes,
            &format!("send {} or contact {}", send.id, contact.id),
        )
        .await
    }

    async fn due_sends(&self, until: Timestamp, limit: usize) -> StoreResult<Vec<SurveySend>> {
        self.due(keys::due_pk, until, limit).await
    }

    async fn sends_of_contact(&self, contact: &ContactId) -> StoreResult<Vec<SurveySend>> {
        let q = QuerySpec::index(
            GSI2,
            keys::contact_owner_pk(contact),
            SortKey::BeginsWith(keys::SEND_PREFIX.into()),
        );
        self.query_records(&q).await
    }

    async fn delete_send(&self, id: &SendId) -> StoreResult<()> {
        self.delete(&keys::send(id)).await
    }
}

// --- answers and rollups ------------------------------------------------------------------------------

/// Deltas of the same rollup summed (a transaction may touch an item once); zero ones dropped.
fn merge_deltas(deltas: &[RollupDelta]) -> Vec<RollupDelta> {
    let mut merged: BTreeMap<(Date, String), RollupDelta> = BTreeMap::new();
    for d in deltas {
        merged
            .entry((d.day, d.dimension.key()))
            .and_modify(|m| m.counts.add(&d.counts))
            .or_insert_with(|| d.clone());
    }
    merged
        .into_values()
        .filter(|d| !d.counts.is_zero())
        .collect()
}

/// Counter attribute names and values of a delta (non-zero ones).
fn counters(c: &Counts) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = c
        .scores
        .iter()
        .enumerate()
        .map(|(i, x)| (format!("s{i}"), *x))
        .collect();
    v.push(("comments".into(), c.comments));
    v.push(("sent".into(), c.sent));
    v.push(("flagged".into(), c.flagged));
    v.retain(|(_, x)| *x != 0);
    v
}

impl DynamoStore {
    /// `SET day, dim ADD <counters>`: creates the rollup on its first delta.
    fn rollup_update(&self, d: &RollupDelta) -> StoreResult<TransactWriteItem> {
        let dim = d.dimension.key();
        let key = keys::rollup(d.day, &dim);
        let mut b = Update::builder()
            .table_name(self.table())
            .set_key(Some(key_map(&key)))
            .expression_attribute_names("#t", keys::TYPE)
            .expression_attribute_values(":t", s("rollup"))
            .expression_attribute_values(":day", s(keys::day(d.day)))
            .expression_attribute_values(":dim", s(dim));
        let mut adds = Vec::new();
        for (i, (name, value)) in counters(&d.counts).into_iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            b = b
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), n(value));
        }
        let mut expr = "SET #t = :t, #day = :day, #dim = :dim".to_string();
        b = b
            .expression_attribute_names("#day", "day")
            .expression_attribute_names("#dim", "dim");
        if !adds.is_empty() {
            expr.push_str(" ADD ");
            expr.push_str(&adds.join(", "));
        }
        let u = b.update_expression(expr).build().map_err(unavailable)?;
        Ok(TransactWriteItem::builder().update(u).build())
    }
}

fn rollup_from_item(item: &Item) -> StoreResult<Rollup> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt(format!("rollup without {name}"))),
    };
    let num = |name: &str| -> StoreResult<i64> {
        match item.get(name) {
            None => Ok(0),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("rollup counter {name} is {v:?}"))),
            Some(_) => Err(StoreError::Corrupt(format!("rollup counter {name}"))),
        }
    };
    let day: Date = text("day")?
        .parse()
        .map_err(|_| StoreError::Corrupt("rollup day".into()))?;
    let dim = text("dim")?;
    let dimension = Dimension::from_key(&dim)
        .ok_or_else(|| StoreError::Corrupt(format!("rollup dimension {dim:?}")))?;
    let mut counts = Counts::default();
    for (i, c) in counts.scores.iter_mut().enumerate() {
        *c = num(&format!("s{i}"))?;
    }
    counts.comments = num("comments")?;
    counts.sent = num("sent")?;
    counts.flagged = num("flagged")?;
    Ok(Rollup {
        day,
        dimension,
        counts,
    })
}

impl Responses for DynamoStore {
    async fn response(&self, send: &SendId) -> StoreResult<Option<Response>> {
        self.get_record(&keys::response(send)).await
    }

    async fn save_response(&self, response: &Response, deltas: &[RollupDelta]) -> StoreResult<()> {
        let put = versioned_put(self.table(), response_item(response)?, response.version)?;
        let what = format!("answer to {}", response.send_id);
        let deltas = merge_deltas(deltas);
        if deltas.is_empty() {
            return self.put(put, &what).await;
        }
        let mut writes = vec![put_item(put)];
        for d in &deltas {
            writes.push(self.rollup_update(d)?);
        }
        self.transact(writes, &what).await
    }

    async fn responses_of_day(&self, day: Date) -> StoreResult<Vec<Response>> {
        let q = QuerySpec::index(GSI1, keys::response_day_pk(day), SortKey::Any).backward();
        self.query_records(&q).await
    }

    async fn commented_responses_of_day(
        &self,
        day: Date,
        limit: usize,
    ) -> StoreResult<Vec<Response>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let q = QuerySpec::index(keys::GSI3, keys::commented_day_pk(day), SortKey::Any)
            .backward()
            .limit(limit);
        self.query_records(&q).await
    }

    async fn responses_of_contact(&self, contact: &ContactId) -> StoreResult<Vec<Response>> {
        let q = QuerySpec::index(
            GSI2,
            keys::contact_owner_pk(contact),
            SortKey::BeginsWith(keys::RESPONSE_PREFIX.into()),
        );
        self.query_records(&q).await
    }

    /// Comment retention: removes the comment of every answer of `day` that has one (a query of the
    /// commented-day index, then one conditional `UpdateItem` per answer that bumps its version).
    /// Scores, rollups and the answers themselves stay. An answer rewritten meanwhile is left for
    /// the next run. Returns how many comments were removed.
    async fn remove_comments_of_day(&self, day: Date) -> StoreResult<usize> {
        let q = QuerySpec::index(keys::GSI3, keys::commented_day_pk(day), SortKey::Any);
        let mut removed = 0;
        for r in self.query_records::<Response>(&q).await? {
            let key = keys::response(&r.send_id);
            let result = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key_map(&key)))
                .update_expression("REMOVE #comment, #g3pk, #g3sk SET #version = :next")
                .condition_expression("#version = :v")
                .expression_attribute_names("#comment", "comment")
                .expression_attribute_names("#g3pk", GSI3PK)
                .expression_attribute_names("#g3sk", GSI3SK)
                .expression_attribute_names("#version", keys::VERSION)
                .expression_attribute_values(":v", n(r.version))
                .expression_attribute_values(":next", n(r.version + 1))
                .send()
                .await
                .map_err(|e| super::map_err("UpdateItem", &key.pk, e));
            match result {
                Ok(_) => removed += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

impl Rollups for DynamoStore {
    async fn rollups(&self, from: Date, to: Date) -> StoreResult<Vec<Rollup>> {
        // One query per month (a quarterly report's range is 15), together, in month order.
        let queries = keys::day_ranges(from, to, keys::rollup_pk)
            .into_iter()
            .map(|(pk, lo, hi)| QuerySpec::table(pk, SortKey::Between(lo, hi)))
            .collect();
        let months = self.query_each(queries).await?;
        months.iter().flatten().map(rollup_from_item).collect()
    }

    async fn add_to_rollups(&self, deltas: &[RollupDelta]) -> StoreResult<()> {
        let merged = merge_deltas(deltas);
        // Each chunk is atomic; a failed chunk leaves the earlier ones applied (the caller's
        // deltas are counters of one event, far fewer than a chunk).
        for chunk in merged.chunks(super::MAX_TRANSACTION_ITEMS) {
            let writes = chunk
                .iter()
                .map(|d| self.rollup_update(d))
                .collect::<StoreResult<Vec<_>>>()?;
            self.transact(writes, "rollups").await?;
        }
        Ok(())
    }
}

// --- follow-ups -------------------------------------------------------------------------------------

impl FollowUps for DynamoStore {
    async fn follow_up(&self, send: &SendId) -> StoreResult<Option<FollowUp>> {
        self.get_record(&keys::follow_up(send)).await
    }

    async fn answer_and_follow_up(
        &self,
        send: &SendId,
    ) -> StoreResult<(Option<Response>, Option<FollowUp>)> {
        let (answer_key, follow_up_key) = (keys::response(send), keys::follow_up(send));
        let (mut answer, mut follow_up) = (None, None);
        // One BatchGetItem of the two (consistent), told apart by their sort keys.
        for item in self
            .batch_get(&[answer_key.clone(), follow_up_key.clone()])
            .await?
        {
            match item.get(keys::SK) {
                Some(AttributeValue::S(sk)) if *sk == answer_key.sk => {
                    answer = Some(from_record_item(item)?)
                }
                Some(AttributeValue::S(sk)) if *sk == follow_up_key.sk => {
                    follow_up = Some(from_record_item(item)?)
                }
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "{}: unexpected item",
                        answer_key.pk
                    )));
                }
            }
        }
        Ok((answer, follow_up))
    }

    async fn put_follow_up(&self, f: &FollowUp) -> StoreResult<()> {
        let put = versioned_put(self.table(), follow_up_item(f)?, f.version)?;
        self.put(put, &format!("follow-up {}", f.send_id)).await
    }

    async fn open_follow_ups(&self) -> StoreResult<Vec<FollowUp>> {
        let q = QuerySpec::index(GSI1, keys::OPEN_FOLLOW_UPS.into(), SortKey::Any);
        self.query_records(&q).await
    }

    async fn follow_ups_opened_between(
        &self,
        from: Date,
        to: Date,
        limit: usize,
    ) -> StoreResult<Vec<FollowUp>> {
        // Month partitions from the newest backwards, each read newest first (`<day>#<opened>#<id>`
        // descending) and only for what is still missing: the read stops at `limit` items however
        // many follow-ups the period holds.
        let mut out = Vec::new();
        for (pk, lo, hi) in keys::day_ranges(from, to, keys::follow_up_month_pk)
            .into_iter()
            .rev()
        {
            let missing = limit.saturating_sub(out.len());
            if missing == 0 {
                break;
            }
            let q = QuerySpec::index(GSI2, pk, SortKey::Between(lo, hi))
                .backward()
                .limit(missing);
            out.extend(self.query_records::<FollowUp>(&q).await?);
        }
        Ok(out)
    }
}

// --- suppressions, API keys, report runs ----------------------------------------------------------

impl Suppressions for DynamoStore {
    async fn suppression(&self, email: &EmailHash) -> StoreResult<Option<Suppression>> {
        self.get_record(&keys::suppression(email)).await
    }

    async fn put_suppression(&self, x: &Suppression) -> StoreResult<()> {
        let item = record_item(x, &keys::suppression(&x.email_hash), "suppression", &[])?;
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .build()
            .map_err(unavailable)?;
        self.put(put, "suppression").await
    }
}

impl ApiKeys for DynamoStore {
    async fn api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.get_record(&keys::api_key(hash)).await
    }

    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let item = record_item(
            key,
            &keys::api_key(&key.hash),
            "api_key",
            &[(
                GSI2PK,
                GSI2SK,
                Some(keys::api_key_list_index(key.created_at, &key.hash)),
            )],
        )?;
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .build()
            .map_err(unavailable)?;
        self.put(put, "api key").await
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let q = QuerySpec::index(GSI2, keys::API_KEYS.into(), SortKey::Any);
        self.query_records(&q).await
    }
}

impl ReportRuns for DynamoStore {
    async fn report_run(&self, kind: ReportKind, period: &str) -> StoreResult<Option<ReportRun>> {
        self.get_record(&keys::report_run(kind, period)).await
    }

    async fn put_report_run(&self, run: &ReportRun) -> StoreResult<()> {
        let item = record_item(
            run,
            &keys::report_run(run.kind, &run.period),
            "report_run",
            &[],
        )?;
        let put = versioned_put(self.table(), item, run.version)?;
        self.put(
            put,
            &format!("report run {} {}", run.kind.as_str(), run.period),
        )
        .await
    }
}

// --- webhook deliveries ------------------------------------------------------------------------------

impl WebhookDeliveries for DynamoStore {
    async fn delivery(&self, id: &DeliveryId) -> StoreResult<Option<WebhookDelivery>> {
        self.get_record(&keys::delivery(id)).await
    }

    async fn put_delivery(&self, d: &WebhookDelivery) -> StoreResult<()> {
        let put = versioned_put(self.table(), delivery_item(d)?, d.version)?;
        self.put(put, &format!("webhook delivery {}", d.id)).await
    }

    async fn due_deliveries(
        &self,
        until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.due(keys::delivery_due_pk, until, limit).await
    }

    async fn dead_deliveries(&self, limit: usize) -> StoreResult<Vec<WebhookDelivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let q = QuerySpec::index(GSI2, keys::DEAD_DELIVERIES.into(), SortKey::Any)
            .backward()
            .limit(limit);
        self.query_records(&q).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::types::Touchpoint;

    fn delta(day: Date, dim: Dimension, score: usize, n: i64) -> RollupDelta {
        let mut counts = Counts::default();
        counts.scores[score] = n;
        Rollup {
            day,
            dimension: dim,
            counts,
        }
    }

    #[test]
    fn deltas_of_one_rollup_are_merged_and_zeros_dropped() {
        let d = jiff::civil::date(2026, 3, 2);
        let tp = Dimension::Touchpoint(Touchpoint::parse("ticket_closed").unwrap());
        let merged = merge_deltas(&[
            delta(d, Dimension::All, 3, 1),
            delta(d, Dimension::All, 3, 1),
            delta(d, tp.clone(), 9, 1),
            delta(d, tp, 9, -1),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].counts.scores[3], 2);
    }

    #[test]
    fn counters_name_only_what_moves() {
        let mut c = Counts::default();
        c.scores[10] = 1;
        c.flagged = -1;
        assert_eq!(
            counters(&c),
            vec![("s10".to_string(), 1), ("flagged".to_string(), -1)]
        );
    }

    #[test]
    fn shard_lists_merge_in_time_order() {
        let lists = vec![
            vec![("2026-01-01#a".to_string(), 1), ("2026-01-03#a".into(), 3)],
            vec![("2026-01-02#b".to_string(), 2)],
            vec![],
        ];
        assert_eq!(first_in_order(lists, 2), vec![1, 2]);
    }
}
