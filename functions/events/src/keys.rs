//! API keys of the events API: `pulso_<prefix>_<secret>`, shown once when created; only the key's
//! SHA-256 is stored (with its short public prefix, to tell keys apart in listings and revoke
//! them). Rotation: create a new key, move callers to it, revoke the old one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jiff::Timestamp;
use pulso_core::model::ApiKey;
use pulso_core::ports::{ApiKeys, StoreError};
use sha2::{Digest, Sha256};

/// Every key starts with this, so that a leaked key is easy to recognise (secret scanners).
pub const KEY_PREFIX: &str = "pulso_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key name must be 1-64 printable characters")]
    BadName,
    #[error("no key has the prefix {0:?}")]
    UnknownPrefix(String),
    #[error("the prefix {0:?} matches more than one key; give more of it")]
    AmbiguousPrefix(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a request was not let in. Deliberately vague towards the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("unknown or revoked key")]
    Refused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key just made: `plaintext` is shown once and never stored.
#[derive(Clone)]
pub struct NewKey {
    pub plaintext: String,
    pub record: ApiKey,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("prefix", &self.record.prefix)
            .finish()
    }
}

/// The stored form of a key: hex SHA-256 of the whole key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// A key from 32 random bytes (the caller's randomness: the OS in `pulso keys create`).
pub fn new_key(random: &[u8; 32], name: &str, now: Timestamp) -> Result<NewKey, KeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(KeyError::BadName);
    }
    let prefix = format!("{KEY_PREFIX}{}", hex::encode(&random[..4]));
    let plaintext = format!("{prefix}_{}", B64.encode(random));
    Ok(NewKey {
        record: ApiKey {
            hash: hash_key(&plaintext),
            prefix,
            name: name.to_string(),
            created_at: now,
            revoked_at: None,
        },
        plaintext,
    })
}

/// The key a request's `Authorization` header carries, if it is a live one.
pub async fn authenticate<S: ApiKeys>(
    store: &S,
    authorization: Option<&str>,
) -> Result<ApiKey, AuthError> {
    let token = authorization
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or(AuthError::Missing)?;
    match store.api_key(&hash_key(token)).await? {
        Some(k) if k.revoked_at.is_none() => Ok(k),
        _ => Err(AuthError::Refused),
    }
}

/// Revokes the one key whose prefix starts with `prefix` (`pulso_ab12cd34` or `ab12cd34`).
pub async fn revoke<S: ApiKeys>(
    store: &S,
    prefix: &str,
    now: Timestamp,
) -> Result<ApiKey, KeyError> {
    let wanted = prefix.trim();
    let wanted = if wanted.starts_with(KEY_PREFIX) {
        wanted.to_string()
    } else {
        format!("{KEY_PREFIX}{wanted}")
    };
    if wanted.len() <= KEY_PREFIX.len() {
        return Err(KeyError::UnknownPrefix(prefix.to_string()));
    }
    let matching: Vec<ApiKey> = store
        .api_keys()
        .await?
        .into_iter()
        .filter(|k| k.prefix.starts_with(&wanted))
        .collect();
    match matching.as_slice() {
        [] => Err(KeyError::UnknownPrefix(prefix.to_string())),
        [one] => {
            let mut k = one.clone();
            if k.revoked_at.is_none() {
                k.revoked_at = Some(now);
                store.put_api_key(&k).await?;
            }
            Ok(k)
        }
        _ => Err(KeyError::AmbiguousPrefix(prefix.to_string())),
    }
}

/// The DynamoDB store of a deployment (`store.table`, `store.endpoint_url`), for managing its keys
/// from the operator's machine with `pulso keys` (credentials from the usual AWS environment).
pub async fn deployed_store(config: &pulso_core::Config) -> pulso_aws::DynamoStore {
    let sdk = pulso_aws::sdk_config(config.store.endpoint_url.as_deref()).await;
    pulso_aws::DynamoStore::from_sdk(&sdk, config.store.table.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_look_right_and_only_their_hash_is_kept() {
        let k = new_key(&[0xab; 32], "crm", Timestamp::UNIX_EPOCH).unwrap();
        assert!(k.plaintext.starts_with("pulso_abababab_"));
        assert_eq!(k.record.prefix, "pulso_abababab");
        assert_eq!(k.record.hash, hash_key(&k.plaintext));
        assert_eq!(k.record.hash.len(), 64);
        assert!(!format!("{k:?}").contains(&k.plaintext));
        assert!(new_key(&[0; 32], "  ", Timestamp::UNIX_EPOCH).is_err());
        assert!(new_key(&[0; 32], &"x".repeat(65), Timestamp::UNIX_EPOCH).is_err());
        let other = new_key(&[0xac; 32], "crm", Timestamp::UNIX_EPOCH).unwrap();
        assert_ne!(other.record.hash, k.record.hash);
    }
}
