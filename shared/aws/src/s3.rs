//! The report archive on S3: objects under one bucket, keys checked with
//! `pulso_core::ports::valid_archive_key`, every object written with server-side encryption, and
//! listings paged through continuation tokens.

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use pulso_core::ports::{Archive, ArchiveError, valid_archive_key};

use crate::dynamo::DisplayErrorChain;
use crate::lazy::LazyClient;

/// Most pages a listing reads (1,000 keys each): a runaway guard, not a limit anyone reaches.
const MAX_LIST_PAGES: usize = 10_000;

/// The S3 adapter of [`Archive`]. Cheap to clone.
#[derive(Clone)]
pub struct S3Archive {
    client: LazyClient<Client>,
    bucket: Arc<str>,
    kms_key: Option<Arc<str>>,
    /// Keys per listing page; `None`: S3's default (1,000).
    page_size: Option<i32>,
}

impl std::fmt::Debug for S3Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Archive")
            .field("bucket", &self.bucket)
            .field("kms", &self.kms_key.is_some())
            .finish()
    }
}

impl S3Archive {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self::with_client(LazyClient::ready(client), bucket.into())
    }

    fn with_client(client: LazyClient<Client>, bucket: String) -> Self {
        S3Archive {
            client,
            bucket: bucket.into(),
            kms_key: None,
            page_size: None,
        }
    }

    /// A client from `sdk`. With a custom endpoint (a local test server) objects are addressed by
    /// path (`http://host/bucket/key`), since `bucket.127.0.0.1` does not resolve.
    /// The client is built on first use.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let sdk = sdk.clone();
        let client = LazyClient::new(move || {
            let conf = aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(sdk.endpoint_url().is_some())
                .build();
            Client::from_conf(conf)
        });
        Self::with_client(client, bucket.into())
    }

    /// Encrypt with this KMS key (`aws:kms`) instead of the bucket's default encryption.
    pub fn with_kms_key(mut self, key_id: Option<String>) -> Self {
        self.kms_key = key_id.filter(|k| !k.is_empty()).map(Arc::from);
        self
    }

    /// Lists in pages of at most `keys` (tests use it to exercise pagination).
    pub fn with_page_size(mut self, keys: usize) -> Self {
        self.page_size = Some(i32::try_from(keys.clamp(1, 1_000)).unwrap_or(1_000));
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        self.client.get()
    }

    /// Whether the S3 client has been built (at cold start where the function's first event uses
    /// it, else on first use).
    pub fn client_built(&self) -> bool {
        self.client.is_built()
    }
}

fn map_err<E, R>(op: &str, e: SdkError<E, R>) -> ArchiveError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let text = match e.as_service_error().and_then(|s| s.code()) {
        Some(code) => format!("s3 {op}: {code}"),
        None => format!("s3 {op}: {}", DisplayErrorChain(&e)),
    };
    tracing::warn!(op, error = %text, "s3 request failed");
    ArchiveError::Unavailable(text)
}

/// A listing prefix: empty (everything), or a valid key, optionally ending with `/`.
fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty() || valid_archive_key(prefix.strip_suffix('/').unwrap_or(prefix))
}

impl Archive for S3Archive {
    async fn put(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), ArchiveError> {
        if !valid_archive_key(key) {
            return Err(ArchiveError::BadKey);
        }
        let req = self
            .client()
            .put_object()
            .bucket(self.bucket.as_ref())
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body.to_vec()));
        let req = match &self.kms_key {
            Some(k) => req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k.as_ref()),
            // The bucket's default encryption applies (in the template, the stack's KMS key); a
            // header here would override it.
            None => req,
        };
        req.send().await.map_err(|e| map_err("PutObject", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        if !valid_archive_key(key) {
            return Err(ArchiveError::BadKey);
        }
        let out = match self
            .client()
            .get_object()
            .bucket(self.bucket.as_ref())
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Ok(None);
            }
            Err(e) => return Err(map_err("GetObject", e)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ArchiveError::Unavailable(format!("s3 GetObject body: {e}")))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        if !valid_prefix(prefix) {
            return Err(ArchiveError::BadKey);
        }
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let out = self
                .client()
                .list_objects_v2()
                .bucket(self.bucket.as_ref())
                .prefix(prefix)
                .set_max_keys(self.page_size)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| map_err("ListObjectsV2", e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_the_key_rules() {
        assert!(valid_prefix(""));
        assert!(valid_prefix("reports/weekly/"));
        assert!(valid_prefix("reports/weekly/2026"));
        for bad in ["/", "../x", "a//", "a b/", "a/../"] {
            assert!(!valid_prefix(bad), "{bad:?}");
        }
    }
}
