//! Helpers for tests against moto's server (`PULSO_TEST_AWS_ENDPOINT`, started by `scripts/test`):
//! an SDK configuration that can only reach that server, fresh tables and buckets, a verified SES
//! sender, and the raw messages moto recorded as sent.

use anyhow::{Context as _, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

use pulso_aws::{DynamoStore, RandomIds, S3Archive, SesMailer};
use pulso_core::ports::Ids;

/// The variable naming moto's server.
pub const ENDPOINT_VAR: &str = "PULSO_TEST_AWS_ENDPOINT";

/// moto's base URL, or a clear error saying how to get one.
pub fn endpoint() -> anyhow::Result<String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().trim_end_matches('/').to_string()),
        _ => bail!(
            "{ENDPOINT_VAR} is not set: run ./scripts/test, or start moto yourself \
             (python3 -m moto.server -H 127.0.0.1 -p 5055) and export \
             {ENDPOINT_VAR}=http://127.0.0.1:5055"
        ),
    }
}

/// SDK configuration for moto: its endpoint, a fixed region and fake credentials (so a test can
/// never reach a real account), adaptive retries as in production.
pub async fn sdk() -> anyhow::Result<SdkConfig> {
    let endpoint = endpoint()?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "pulso-tests",
        ))
        .retry_config(aws_config::retry::RetryConfig::adaptive())
        .load()
        .await)
}

/// A name no other test uses (moto is shared by every test of a run).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", RandomIds.new_id())
}

/// A new, empty table exactly as `pulso_aws::dynamo::create_table` defines it, and a store on it.
pub async fn fresh_table() -> anyhow::Result<DynamoStore> {
    let sdk = sdk().await?;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let name = unique("pulso");
    pulso_aws::dynamo::create_table(&client, &name)
        .await
        .with_context(|| format!("creating table {name} on moto"))?;
    Ok(DynamoStore::new(client, name))
}

/// A new, empty bucket and an archive on it.
pub async fn fresh_bucket() -> anyhow::Result<S3Archive> {
    let sdk = sdk().await?;
    let name = unique("pulso").to_lowercase();
    let archive = S3Archive::from_sdk(&sdk, name.clone());
    archive
        .client()
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("creating bucket {name}: {e:?}"))?;
    Ok(archive)
}

/// A mailer on moto's SES v2 whose sender `domain` is verified (moto refuses unverified senders,
/// as SES does).
pub async fn ses_mailer(
    domain: &str,
    configuration_set: Option<&str>,
) -> anyhow::Result<SesMailer> {
    let sdk = sdk().await?;
    let mailer = SesMailer::from_sdk(&sdk, configuration_set.map(String::from));
    // Creating an identity twice is an error on SES; for the tests it only matters that it exists.
    let _ = mailer
        .client()
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await;
    Ok(mailer)
}

/// One message moto recorded as sent with raw content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRaw {
    /// The MessageId SES returned.
    pub id: String,
    pub source: String,
    pub destinations: Vec<String>,
    /// The whole MIME message as sent.
    pub raw: String,
}

/// Every raw message moto's SES recorded (from `<endpoint>/moto-api/data.json`, `ses.RawMessage`).
pub async fn sent_raw_messages() -> anyhow::Result<Vec<SentRaw>> {
    let url = format!("{}/moto-api/data.json", endpoint()?);
    let data: serde_json::Value = reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("{url} is not JSON"))?;
    let Some(list) = data.pointer("/ses/RawMessage").and_then(|v| v.as_array()) else {
        return Ok(Vec::new());
    };
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Ok(list
        .iter()
        .map(|m| SentRaw {
            id: text(m, "id"),
            source: text(m, "source"),
            destinations: m
                .get("destinations")
                .and_then(|d| d.as_array())
                .map(|d| {
                    d.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            raw: text(m, "raw_data"),
        })
        .collect())
}

/// The raw message moto recorded under `message_id`.
pub async fn sent_raw_message(message_id: &str) -> anyhow::Result<SentRaw> {
    sent_raw_messages()
        .await?
        .into_iter()
        .find(|m| m.id == message_id)
        .with_context(|| format!("moto recorded no message {message_id}"))
}
