//! Signed, expiring link tokens for the answer, unsubscribe and follow-up links.
//!
//! A token is `<key id>.<payload>.<signature>`, base64url without padding, where the payload is
//! `<purpose>:<subject>:<expiry, unix seconds>` and the signature is HMAC-SHA256 over
//! `pulso-v1.<key id>.<payload>` truncated to 128 bits. The key id lets keys rotate: new links are
//! signed with the active key while links signed with older keys still verify until they expire.
//! Verification is constant-time in the signature.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use futures::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const SIG_LEN: usize = 16;
const DOMAIN: &str = "pulso-v1";
/// Longer tokens are refused before any work is done.
pub const MAX_TOKEN_LEN: usize = 256;

/// What a link may be used for. A token for one purpose is refused for any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Answer a survey send (score and comment). Subject: the send id.
    Answer,
    /// Unsubscribe the contact of a send. Subject: the send id.
    Unsubscribe,
    /// Mark a follow-up done. Subject: the send id of the detractor's answer.
    FollowUp,
    /// Open an archived report. Subject: the archive key.
    Report,
}

impl Purpose {
    fn code(self) -> &'static str {
        match self {
            Purpose::Answer => "a",
            Purpose::Unsubscribe => "u",
            Purpose::FollowUp => "f",
            Purpose::Report => "r",
        }
    }

    fn from_code(c: &str) -> Option<Purpose> {
        Some(match c {
            "a" => Purpose::Answer,
            "u" => Purpose::Unsubscribe,
            "f" => Purpose::FollowUp,
            "r" => Purpose::Report,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is malformed or truncated")]
    Malformed,
    #[error("the link was signed with a key Pulso does not know")]
    UnknownKey,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
    #[error("the link is not for this action")]
    WrongPurpose,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key configured")]
    NoKeys,
    #[error("signing key {0:?} is shorter than 32 bytes")]
    TooShort(String),
    #[error("signing key entry {0:?} must look like KEY_ID:BASE64_SECRET")]
    Malformed(String),
    #[error("key id {0:?} must be 1-16 characters of a-z, A-Z, 0-9")]
    BadKeyId(String),
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub purpose: Purpose,
    pub subject: String,
    pub expires_at: Timestamp,
    pub key_id: String,
}

/// The keys links are signed and checked with. The first key listed is the active one.
#[derive(Clone)]
pub struct SigningKeys {
    active: String,
    keys: BTreeMap<String, Vec<u8>>,
}

impl fmt::Debug for SigningKeys {
    // Never print secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SigningKeys {
    /// Parses `kid:base64secret[,kid2:base64secret2…]`; the first is active.
    pub fn parse(spec: &str) -> Result<SigningKeys, KeyError> {
        let mut keys = BTreeMap::new();
        let mut active = None;
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, secret) = entry.split_once(':').ok_or_else(|| {
                KeyError::Malformed(entry.chars().take(4).collect::<String>() + "…")
            })?;
            let secret = base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .or_else(|_| B64.decode(secret.trim()))
                .map_err(|_| KeyError::Malformed(kid.to_string()))?;
            Self::check_kid(kid)?;
            if secret.len() < 32 {
                return Err(KeyError::TooShort(kid.to_string()));
            }
            active.get_or_insert_with(|| kid.to_string());
            keys.insert(kid.to_string(), secret);
        }
        let active = active.ok_or(KeyError::NoKeys)?;
        Ok(SigningKeys { active, keys })
    }

    /// One key from raw bytes (tests, generated local keys).
    pub fn single(kid: &str, secret: &[u8]) -> Result<SigningKeys, KeyError> {
        Self::check_kid(kid)?;
        if secret.len() < 32 {
            return Err(KeyError::TooShort(kid.to_string()));
        }
        Ok(SigningKeys {
            active: kid.to_string(),
            keys: BTreeMap::from([(kid.to_string(), secret.to_vec())]),
        })
    }

    /// No key at all, for a process that neither signs nor checks links (the events and feedback
    /// functions, which then never read the keys' secret): every link it checks is refused
    /// (unknown key) and a link it signed would be empty.
    pub fn none() -> SigningKeys {
        SigningKeys {
            active: String::new(),
            keys: BTreeMap::new(),
        }
    }

    /// Whether this holds no key ([`SigningKeys::none`]).
    pub fn is_none(&self) -> bool {
        self.keys.is_empty()
    }

    fn check_kid(kid: &str) -> Result<(), KeyError> {
        if kid.is_empty() || kid.len() > 16 || !kid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyError::BadKeyId(kid.chars().take(16).collect()));
        }
        Ok(())
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    fn mac(&self, kid: &str, payload_b64: &str) -> Option<HmacSha256> {
        let key = self.keys.get(kid)?;
        let mut mac = HmacSha256::new_from_slice(key).ok()?;
        mac.update(DOMAIN.as_bytes());
        mac.update(b".");
        mac.update(kid.as_bytes());
        mac.update(b".");
        mac.update(payload_b64.as_bytes());
        Some(mac)
    }

    /// Signs a link for `purpose` on `subject` (which must not contain ':'), valid until `expires_at`.
    pub fn sign(&self, purpose: Purpose, subject: &str, expires_at: Timestamp) -> String {
        debug_assert!(!subject.contains(':'));
        let payload = format!("{}:{}:{}", purpose.code(), subject, expires_at.as_second());
        let payload_b64 = B64.encode(payload.as_bytes());
        let sig = match self.mac(&self.active, &payload_b64) {
            Some(mac) => mac.finalize().into_bytes(),
            // The active key is always present by construction.
            None => return String::new(),
        };
        format!(
            "{}.{}.{}",
            self.active,
            payload_b64,
            B64.encode(&sig[..SIG_LEN])
        )
    }

    /// Checks a token's form, key, signature, purpose and expiry, in that order.
    pub fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(kid), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let sig = B64.decode(sig_b64).map_err(|_| TokenError::Malformed)?;
        if sig.len() != SIG_LEN {
            return Err(TokenError::Malformed);
        }
        let mac = self.mac(kid, payload_b64).ok_or(TokenError::UnknownKey)?;
        mac.verify_truncated_left(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = B64.decode(payload_b64).map_err(|_| TokenError::Malformed)?;
        let payload = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let mut fields = payload.split(':');
        let (Some(p), Some(subject), Some(exp), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(TokenError::Malformed);
        };
        let token_purpose = Purpose::from_code(p).ok_or(TokenError::Malformed)?;
        if token_purpose != purpose {
            return Err(TokenError::WrongPurpose);
        }
        let exp: i64 = exp.parse().map_err(|_| TokenError::Malformed)?;
        let expires_at = Timestamp::from_second(exp).map_err(|_| TokenError::Malformed)?;
        if now >= expires_at {
            return Err(TokenError::Expired);
        }
        Ok(Claims {
            purpose,
            subject: subject.to_string(),
            expires_at,
            key_id: kid.to_string(),
        })
    }
}

/// The signing keys as a context holds them: at hand, or still on their way. A Lambda function
/// starts its first reads while its keys are read from Secrets Manager; the first link it signs or
/// checks waits for them ([`Keys::get`]). Cheap to clone.
#[derive(Clone)]
pub struct Keys(KeysInner);

#[derive(Clone)]
enum KeysInner {
    Ready(Arc<SigningKeys>),
    Arriving(Arc<Arriving>),
}

struct Arriving {
    source: Arc<dyn KeySource>,
    got: std::sync::OnceLock<Arc<SigningKeys>>,
}

/// Where keys that are not at hand come from. [`KeySource::keys`] may fail (a secret that could
/// not be read); each later call tries again.
pub trait KeySource: Send + Sync {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<SigningKeys>, KeysUnavailable>>;
}

/// Why a context has no keys: what could not be read, naming the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeysUnavailable(pub Arc<str>);

impl Keys {
    /// Keys that will come from `source`, asked on first use (and again after a failure).
    pub fn arriving(source: Arc<dyn KeySource>) -> Keys {
        Keys(KeysInner::Arriving(Arc::new(Arriving {
            source,
            got: std::sync::OnceLock::new(),
        })))
    }

    /// The keys, once there.
    pub async fn get(&self) -> Result<Arc<SigningKeys>, KeysUnavailable> {
        match &self.0 {
            KeysInner::Ready(keys) => Ok(keys.clone()),
            KeysInner::Arriving(a) => {
                if let Some(keys) = a.got.get() {
                    return Ok(keys.clone());
                }
                let keys = a.source.keys().await?;
                Ok(a.got.get_or_init(|| keys).clone())
            }
        }
    }

    /// The keys if they are at hand: always for keys made from [`SigningKeys`], and for arriving
    /// keys once [`Keys::get`] has had them.
    pub fn at_hand(&self) -> Option<&SigningKeys> {
        match &self.0 {
            KeysInner::Ready(keys) => Some(keys),
            KeysInner::Arriving(a) => a.got.get().map(|k| &**k),
        }
    }
}

impl From<SigningKeys> for Keys {
    fn from(keys: SigningKeys) -> Keys {
        Keys(KeysInner::Ready(Arc::new(keys)))
    }
}

impl From<Arc<SigningKeys>> for Keys {
    fn from(keys: Arc<SigningKeys>) -> Keys {
        Keys(KeysInner::Ready(keys))
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at_hand() {
            Some(keys) => keys.fmt(f),
            None => f.write_str("Keys(arriving)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> SigningKeys {
        SigningKeys::single("k1", &[7u8; 32]).unwrap()
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_for_its_purpose_until_it_expires() {
        let k = keys();
        let tok = k.sign(Purpose::Answer, "s123", t(2_000));
        let c = k.verify(&tok, Purpose::Answer, t(1_000)).unwrap();
        assert_eq!(c.subject, "s123");
        assert_eq!(c.key_id, "k1");
        assert_eq!(
            k.verify(&tok, Purpose::Answer, t(2_000)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            k.verify(&tok, Purpose::Unsubscribe, t(1_000)),
            Err(TokenError::WrongPurpose)
        );
    }

    #[test]
    fn no_keys_refuse_every_link_and_sign_none() {
        let none = SigningKeys::none();
        assert!(none.is_none() && !keys().is_none());
        let real = keys().sign(Purpose::Answer, "s1", t(100));
        assert_eq!(
            none.verify(&real, Purpose::Answer, t(50)),
            Err(TokenError::UnknownKey)
        );
        assert_eq!(none.sign(Purpose::Answer, "s1", t(100)), "");
        assert_eq!(
            none.verify("", Purpose::Answer, t(50)),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn forged_and_truncated_tokens_are_refused() {
        let k = keys();
        let tok = k.sign(Purpose::Answer, "s123", t(2_000));
        // Another subject with the same signature.
        let mut parts: Vec<String> = tok.split('.').map(String::from).collect();
        parts[1] = B64.encode(b"a:s999:2000");
        assert_eq!(
            k.verify(&parts.join("."), Purpose::Answer, t(1)),
            Err(TokenError::BadSignature)
        );
        // Truncated.
        assert_eq!(
            k.verify(&tok[..tok.len() - 3], Purpose::Answer, t(1)),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            k.verify("", Purpose::Answer, t(1)),
            Err(TokenError::Malformed)
        );
        // Signed with another key of the same id.
        let other = SigningKeys::single("k1", &[8u8; 32]).unwrap();
        let forged = other.sign(Purpose::Answer, "s123", t(2_000));
        assert_eq!(
            k.verify(&forged, Purpose::Answer, t(1)),
            Err(TokenError::BadSignature)
        );
        // Unknown key id.
        let stranger = SigningKeys::single("k9", &[7u8; 32]).unwrap();
        let tok9 = stranger.sign(Purpose::Answer, "s123", t(2_000));
        assert_eq!(
            k.verify(&tok9, Purpose::Answer, t(1)),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn keys_rotate() {
        let old = SigningKeys::single("old", &[1u8; 32]).unwrap();
        let tok = old.sign(Purpose::FollowUp, "s1", t(10_000));
        let b64 = base64::engine::general_purpose::STANDARD;
        let spec = format!(
            "new:{},old:{}",
            b64.encode([2u8; 32]),
            b64.encode([1u8; 32])
        );
        let rotated = SigningKeys::parse(&spec).unwrap();
        assert_eq!(rotated.active_key_id(), "new");
        assert!(rotated.verify(&tok, Purpose::FollowUp, t(1)).is_ok());
        assert!(
            rotated
                .sign(Purpose::FollowUp, "s1", t(10_000))
                .starts_with("new.")
        );
    }

    #[test]
    fn weak_or_malformed_key_specs_are_refused() {
        assert_eq!(SigningKeys::parse("").unwrap_err(), KeyError::NoKeys);
        assert!(matches!(
            SigningKeys::parse("k1:c2hvcnQ=").unwrap_err(),
            KeyError::TooShort(_)
        ));
        assert!(matches!(
            SigningKeys::parse("nokey").unwrap_err(),
            KeyError::Malformed(_)
        ));
        assert!(!format!("{:?}", keys()).contains("7, 7"));
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics_or_verifies(s in ".{0,300}") {
            let k = keys();
            for p in [Purpose::Answer, Purpose::Unsubscribe, Purpose::FollowUp, Purpose::Report] {
                prop_assert!(k.verify(&s, p, t(1)).is_err());
            }
        }

        #[test]
        fn any_single_byte_change_is_refused(pos in 0usize..60, byte in 33u8..127) {
            let k = keys();
            let tok = k.sign(Purpose::Answer, "s123abc", t(2_000));
            let pos = pos % tok.len();
            let mut bytes = tok.clone().into_bytes();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(k.verify(&changed, Purpose::Answer, t(1)).is_err());
        }
    }

    /// A source whose first `fails` reads fail, counting its reads.
    struct Flaky {
        fails: usize,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl KeySource for Flaky {
        fn keys(&self) -> BoxFuture<'_, Result<Arc<SigningKeys>, KeysUnavailable>> {
            let n = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let fails = n < self.fails;
            Box::pin(async move {
                match fails {
                    true => Err(KeysUnavailable("no link-signing keys: set X".into())),
                    false => Ok(Arc::new(keys())),
                }
            })
        }
    }

    #[test]
    fn arriving_keys_are_asked_again_after_a_failure_and_kept_once_read() {
        let source = Arc::new(Flaky {
            fails: 1,
            reads: Default::default(),
        });
        let arriving = Keys::arriving(source.clone());
        assert!(arriving.at_hand().is_none());
        let e = futures::executor::block_on(arriving.get()).unwrap_err();
        assert_eq!(e.to_string(), "no link-signing keys: set X");
        assert!(arriving.at_hand().is_none(), "a failure keeps nothing");
        let got = futures::executor::block_on(arriving.get()).unwrap();
        let tok = got.sign(Purpose::Answer, "s1", t(2_000));
        // Clones share what was read: no further read, and the keys are at hand.
        let clone = arriving.clone();
        assert!(futures::executor::block_on(clone.get()).is_ok());
        assert!(
            clone
                .at_hand()
                .unwrap()
                .verify(&tok, Purpose::Answer, t(1))
                .is_ok()
        );
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Keys made from `SigningKeys` are at hand from the start.
        let ready = Keys::from(keys());
        assert!(ready.at_hand().is_some());
        assert!(futures::executor::block_on(ready.get()).is_ok());
    }
}
