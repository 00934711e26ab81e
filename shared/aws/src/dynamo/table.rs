//! The table's definition, as data ([`table_definition`]) and as a `CreateTable` call
//! ([`create_table`], for tests and local servers). `infra/template.yaml` declares the same table;
//! `docs/data-model.md` explains it.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification,
};

use crate::keys;

/// What the table is: keys, indexes, stream, TTL, billing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// Partition and sort key attribute names (both strings).
    pub key: (&'static str, &'static str),
    /// Each GSI: name, partition key attribute, sort key attribute (strings, projection `ALL`).
    pub indexes: Vec<(&'static str, &'static str, &'static str)>,
    /// `NEW_AND_OLD_IMAGES`.
    pub stream_view_type: &'static str,
    /// The TTL attribute (Unix seconds).
    pub ttl_attribute: &'static str,
    /// `PAY_PER_REQUEST`.
    pub billing_mode: &'static str,
}

/// The table as documented in `docs/data-model.md`.
pub fn table_definition() -> TableDefinition {
    TableDefinition {
        key: (keys::PK, keys::SK),
        indexes: vec![
            (keys::GSI1, keys::GSI1PK, keys::GSI1SK),
            (keys::GSI2, keys::GSI2PK, keys::GSI2SK),
            (keys::GSI3, keys::GSI3PK, keys::GSI3SK),
        ],
        stream_view_type: "NEW_AND_OLD_IMAGES",
        ttl_attribute: keys::EXPIRES_AT,
        billing_mode: "PAY_PER_REQUEST",
    }
}

fn key_schema(pk: &str, sk: &str) -> anyhow::Result<Vec<KeySchemaElement>> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(pk)
            .key_type(KeyType::Hash)
            .build()?,
        KeySchemaElement::builder()
            .attribute_name(sk)
            .key_type(KeyType::Range)
            .build()?,
    ])
}

fn string_attribute(name: &str) -> anyhow::Result<AttributeDefinition> {
    Ok(AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()?)
}

/// Creates `name` exactly as [`table_definition`] says, waits (bounded) until it is active, and
/// turns TTL on. For tests and local servers: in AWS the SAM template owns the table.
pub async fn create_table(client: &Client, name: &str) -> anyhow::Result<()> {
    let def = table_definition();
    let mut attributes = vec![string_attribute(def.key.0)?, string_attribute(def.key.1)?];
    let mut indexes = Vec::new();
    for (index, pk, sk) in &def.indexes {
        attributes.push(string_attribute(pk)?);
        attributes.push(string_attribute(sk)?);
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(*index)
                .set_key_schema(Some(key_schema(pk, sk)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?,
        );
    }
    client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(def.key.0, def.key.1)?))
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(BillingMode::from(def.billing_mode))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(def.stream_view_type))
                .build()?,
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateTable {name}: {}", super::DisplayErrorChain(&e)))?;
    for _ in 0..120 {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("DescribeTable {name}: {}", super::DisplayErrorChain(&e))
            })?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(def.ttl_attribute)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("UpdateTimeToLive {name}: {}", super::DisplayErrorChain(&e))
        })?;
    Ok(())
}
