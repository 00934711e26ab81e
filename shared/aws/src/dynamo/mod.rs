//! The DynamoDB store: one table (see `docs/data-model.md`), records stored whole beside their key
//! attributes, versioned writes by condition expressions, every listing a paginated `Query`.
//!
//! This module owns the table's definition ([`table_definition`], [`create_table`]) and the
//! low-level helpers the port implementations in [`store`] share: item conversion, conditional
//! puts, transactions, and the paginated query loop. There is no `Scan` here, by rule.

mod store;
mod table;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use pulso_core::ports::{StoreError, StoreResult};

use crate::keys::{self, IndexKey, Key};
use crate::lazy::LazyClient;

pub use table::{TableDefinition, create_table, table_definition};

pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limit on the items of one `TransactWriteItems`.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// DynamoDB's limit on the keys of one `BatchGetItem`.
pub const MAX_BATCH_GET_KEYS: usize = 100;

/// How often one batch of keys is asked for while DynamoDB leaves some unprocessed.
const BATCH_GET_ATTEMPTS: u32 = 8;

/// Requests of one read in flight at most (each on its own connection): the chunks of a batch
/// read, the partitions of [`DynamoStore::query_each`].
pub(crate) const REQUESTS_AT_ONCE: usize = 8;

/// The DynamoDB adapter of every store port. Cheap to clone (the SDK client is shared).
#[derive(Clone)]
pub struct DynamoStore {
    client: LazyClient<Client>,
    table: Arc<str>,
    /// Items per `Query` page; `None`: DynamoDB's own pages (up to 1 MB).
    page_size: Option<usize>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish()
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self::with_client(LazyClient::ready(client), table.into())
    }

    fn with_client(client: LazyClient<Client>, table: String) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            page_size: None,
        }
    }

    /// Reads listings in pages of at most `items` (bounds the memory of one page; tests use it to
    /// exercise pagination).
    pub fn with_page_size(mut self, items: usize) -> Self {
        self.page_size = Some(items.clamp(1, 1_000));
        self
    }

    /// A store over `table` with a client built from `sdk` (see [`crate::sdk_config`]).
    /// The client is built on first use.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let sdk = sdk.clone();
        Self::with_client(LazyClient::new(move || Client::new(&sdk)), table.into())
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        self.client.get()
    }
}

// --- items ------------------------------------------------------------------------------------

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A record as an item, with its key, type and index attributes.
pub(crate) fn record_item<T: Serialize>(
    record: &T,
    key: &Key,
    kind: &str,
    indexes: &[(&str, &str, Option<IndexKey>)],
) -> StoreResult<Item> {
    let mut item: Item = serde_dynamo::to_item(record)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {kind}: {e}")))?;
    item.insert(keys::PK.into(), s(&key.pk));
    item.insert(keys::SK.into(), s(&key.sk));
    item.insert(keys::TYPE.into(), s(kind));
    for (pk_attr, sk_attr, index) in indexes {
        if let Some(ix) = index {
            item.insert((*pk_attr).into(), s(&ix.pk));
            item.insert((*sk_attr).into(), s(&ix.sk));
        }
    }
    Ok(item)
}

/// The attributes that are not part of a record.
const NON_RECORD: [&str; 10] = [
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
];

/// The record an item holds.
pub(crate) fn from_record_item<T: DeserializeOwned>(mut item: Item) -> StoreResult<T> {
    let pk = match item.get(keys::PK) {
        Some(AttributeValue::S(pk)) => pk.clone(),
        _ => String::new(),
    };
    for a in NON_RECORD {
        item.remove(a);
    }
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("{pk}: {e}")))
}

pub(crate) fn key_map(key: &Key) -> Item {
    HashMap::from([
        (keys::PK.to_string(), s(&key.pk)),
        (keys::SK.to_string(), s(&key.sk)),
    ])
}

/// The condition of a versioned write of version `version`: insert only where nothing is (v1),
/// replace only version `v - 1`.
pub(crate) fn versioned_put(table: &str, item: Item, version: u64) -> StoreResult<Put> {
    let b = Put::builder().table_name(table).set_item(Some(item));
    let b = if version <= 1 {
        b.condition_expression("attribute_not_exists(PK)")
    } else {
        b.condition_expression("#version = :prev")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":prev", n(version - 1))
    };
    b.build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

// --- errors -------------------------------------------------------------------------------------

/// Any SDK error of a single-item operation: a failed condition is a `Conflict`, the rest (after
/// the SDK's own retries) `Unavailable`.
pub(crate) fn map_err<E, R>(op: &str, what: &str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = e.as_service_error() {
        if service.code() == Some("ConditionalCheckFailedException") {
            return StoreError::Conflict(format!("{what} changed or already exists"));
        }
        let code = service.code().unwrap_or("unknown");
        tracing::warn!(op, code, "dynamodb request failed");
        return StoreError::Unavailable(format!("dynamodb {op}: {code}"));
    }
    tracing::warn!(op, error = %DisplayErrorChain(&e), "dynamodb request failed");
    StoreError::Unavailable(format!("dynamodb {op}: {}", DisplayErrorChain(&e)))
}

/// A transaction's error: cancelled by a failed condition is a `Conflict`.
pub(crate) fn map_transaction_err<R: std::fmt::Debug>(
    what: &str,
    e: SdkError<TransactWriteItemsError, R>,
) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() {
        let reasons: Vec<&str> = c
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None"))
            .collect();
        if reasons.contains(&"ConditionalCheckFailed") {
            return StoreError::Conflict(format!("{what} changed or already exists"));
        }
        tracing::warn!(?reasons, "dynamodb transaction cancelled");
        return StoreError::Unavailable(format!(
            "dynamodb transaction cancelled: {}",
            reasons.join(",")
        ));
    }
    map_err("TransactWriteItems", what, e)
}

/// An error and its sources on one line (the SDK's top-level message alone says little).
pub(crate) struct DisplayErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for DisplayErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        let mut depth = 0;
        while let Some(e) = src {
            if depth >= 8 {
                break;
            }
            write!(f, ": {e}")?;
            src = e.source();
            depth += 1;
        }
        Ok(())
    }
}

// --- queries ------------------------------------------------------------------------------------

/// The sort-key condition of a query.
#[derive(Debug, Clone)]
pub(crate) enum SortKey {
    Any,
    Between(String, String),
    BeginsWith(String),
    LessThan(String),
}

/// One `Query`: the table or an index, a partition, a sort-key condition, an order and a limit.
#[derive(Debug, Clone)]
pub(crate) struct QuerySpec {
    pub index: Option<&'static str>,
    pub pk_attr: &'static str,
    pub sk_attr: &'static str,
    pub pk: String,
    pub sk: SortKey,
    pub forward: bool,
    pub limit: Option<usize>,
}

impl QuerySpec {
    /// A query of the table's own keys.
    pub fn table(pk: String, sk: SortKey) -> Self {
        QuerySpec {
            index: None,
            pk_attr: keys::PK,
            sk_attr: keys::SK,
            pk,
            sk,
            forward: true,
            limit: None,
        }
    }

    /// A query of one of the GSIs (`GSI1`, `GSI2`, `GSI3`).
    pub fn index(index: &'static str, pk: String, sk: SortKey) -> Self {
        let (pk_attr, sk_attr) = match index {
            keys::GSI1 => (keys::GSI1PK, keys::GSI1SK),
            keys::GSI2 => (keys::GSI2PK, keys::GSI2SK),
            _ => (keys::GSI3PK, keys::GSI3SK),
        };
        QuerySpec {
            index: Some(index),
            pk_attr,
            sk_attr,
            pk,
            sk,
            forward: true,
            limit: None,
        }
    }

    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Most pages one query may read before it is considered runaway (1 MB each: 10 GB).
const MAX_PAGES: usize = 10_000;

impl DynamoStore {
    /// Runs `q` to the end (or to its limit), page by page through `LastEvaluatedKey`.
    pub(crate) async fn query(&self, q: &QuerySpec) -> StoreResult<Vec<Item>> {
        let mut out: Vec<Item> = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_PAGES {
            let remaining = q.limit.map(|l| l.saturating_sub(out.len()));
            if remaining == Some(0) {
                break;
            }
            let mut req = self
                .client()
                .query()
                .table_name(self.table.as_ref())
                .set_index_name(q.index.map(String::from))
                .scan_index_forward(q.forward)
                .set_exclusive_start_key(start.take())
                .expression_attribute_names("#pk", q.pk_attr)
                .expression_attribute_values(":pk", s(&q.pk));
            // Ask for what is still missing, in pages of at most the page size.
            let page = match (remaining, self.page_size) {
                (Some(r), Some(p)) => Some(r.min(p)),
                (Some(r), None) => Some(r.min(1_000)),
                (None, p) => p,
            };
            if let Some(p) = page {
                req = req.limit(i32::try_from(p).unwrap_or(1_000));
            }
            req = match &q.sk {
                SortKey::Any => req.key_condition_expression("#pk = :pk"),
                SortKey::Between(lo, hi) => req
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                    .expression_attribute_names("#sk", q.sk_attr)
                    .expression_attribute_values(":lo", s(lo))
                    .expression_attribute_values(":hi", s(hi)),
                SortKey::BeginsWith(p) => req
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
                    .expression_attribute_names("#sk", q.sk_attr)
                    .expression_attribute_values(":p", s(p)),
                SortKey::LessThan(hi) => req
                    .key_condition_expression("#pk = :pk AND #sk < :hi")
                    .expression_attribute_names("#sk", q.sk_attr)
                    .expression_attribute_values(":hi", s(hi)),
            };
            let page = req.send().await.map_err(|e| map_err("Query", &q.pk, e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        if let Some(l) = q.limit {
            out.truncate(l);
        }
        Ok(out)
    }

    /// Runs `queries`, up to [`REQUESTS_AT_ONCE`] in flight, and returns each one's items in the
    /// order of `queries` (slot buckets, months, due-queue shards: independent partitions).
    pub(crate) async fn query_each(&self, queries: Vec<QuerySpec>) -> StoreResult<Vec<Vec<Item>>> {
        futures::stream::iter(queries)
            .map(|q| async move { self.query(&q).await })
            .buffered(REQUESTS_AT_ONCE)
            .try_collect()
            .await
    }

    /// Runs `q` and decodes every item as a record.
    pub(crate) async fn query_records<T: DeserializeOwned>(
        &self,
        q: &QuerySpec,
    ) -> StoreResult<Vec<T>> {
        self.query(q)
            .await?
            .into_iter()
            .map(from_record_item)
            .collect()
    }

    /// A strongly consistent read of one item.
    pub(crate) async fn get_item(&self, key: &Key) -> StoreResult<Option<Item>> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_err("GetItem", &key.pk, e))?;
        Ok(out.item)
    }

    /// The items of `keys` that exist (strongly consistent), in no particular order: one
    /// `BatchGetItem` per [`MAX_BATCH_GET_KEYS`] distinct keys, up to [`REQUESTS_AT_ONCE`] of them
    /// in flight, and keys DynamoDB leaves unprocessed (throttling, its 16 MB answer limit) asked
    /// for again.
    pub(crate) async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let mut distinct: Vec<&Key> = Vec::with_capacity(keys.len());
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            if seen.insert((k.pk.as_str(), k.sk.as_str())) {
                distinct.push(k);
            }
        }
        let requests: Vec<Vec<Item>> = distinct
            .chunks(MAX_BATCH_GET_KEYS)
            .map(|chunk| chunk.iter().map(|k| key_map(k)).collect())
            .collect();
        let lists: Vec<Vec<Item>> = futures::stream::iter(requests)
            .map(|keys| self.batch_get_chunk(keys))
            .buffer_unordered(REQUESTS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(lists.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let table = self.table.to_string();
        let mut out = Vec::with_capacity(keys.len());
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?,
        );
        for attempt in 0..BATCH_GET_ATTEMPTS {
            let Some(request) = pending.take() else {
                return Ok(out);
            };
            if attempt > 0 {
                // Unprocessed keys mean the table is busy: wait a little longer each time.
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(5))).await;
            }
            let answer = self
                .client()
                .batch_get_item()
                .request_items(&table, request)
                .send()
                .await
                .map_err(|e| map_err("BatchGetItem", "a batch of records", e))?;
            if let Some(mut responses) = answer.responses {
                out.extend(responses.remove(&table).unwrap_or_default());
            }
            pending = answer
                .unprocessed_keys
                .and_then(|mut u| u.remove(&table))
                .filter(|k| !k.keys().is_empty());
        }
        match pending {
            None => Ok(out),
            Some(_) => Err(StoreError::Unavailable(
                "dynamodb BatchGetItem: keys left unprocessed after retries".into(),
            )),
        }
    }

    pub(crate) async fn get_record<T: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> StoreResult<Option<T>> {
        self.get_item(key).await?.map(from_record_item).transpose()
    }

    /// A conditional put (or, with `put.condition_expression` unset, an upsert).
    pub(crate) async fn put(&self, put: Put, what: &str) -> StoreResult<()> {
        self.client()
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await
            .map_err(|e| map_err("PutItem", what, e))?;
        Ok(())
    }

    pub(crate) async fn delete(&self, key: &Key) -> StoreResult<()> {
        self.client()
            .delete_item()
            .table_name(self.table.as_ref())
            .set_key(Some(key_map(key)))
            .send()
            .await
            .map_err(|e| map_err("DeleteItem", &key.pk, e))?;
        Ok(())
    }

    /// One all-or-nothing transaction of at most [`MAX_TRANSACTION_ITEMS`] writes.
    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
    ) -> StoreResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        if items.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Unavailable(format!(
                "a transaction of {} items exceeds DynamoDB's {MAX_TRANSACTION_ITEMS}",
                items.len()
            )));
        }
        self.client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| map_transaction_err(what, e))?;
        Ok(())
    }
}
