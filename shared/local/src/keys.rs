//! The link-signing keys of a local run: `PULSO_TOKEN_KEYS` when set (as in AWS), else one 32-byte
//! random key generated on first use into `<data_dir>/token-keys` (mode 0600, `kid:base64`) and
//! reused, so links in the outbox keep working across runs.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pulso_core::token::SigningKeys;

use crate::LocalError;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "token-keys";

const LOCAL_KID: &str = "local1";

/// The keys to sign and check links with (see the module doc).
pub fn signing_keys(data_dir: &Path) -> Result<SigningKeys, LocalError> {
    if let Ok(spec) = std::env::var("PULSO_TOKEN_KEYS")
        && !spec.trim().is_empty()
    {
        return Ok(SigningKeys::parse(&spec)?);
    }
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(spec) => return Ok(SigningKeys::parse(&spec)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LocalError::io(&path, e)),
    }
    std::fs::create_dir_all(data_dir).map_err(|e| LocalError::io(data_dir, e))?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| LocalError::Other(format!("no randomness for a signing key: {e}")))?;
    let spec = format!("{LOCAL_KID}:{}\n", STANDARD.encode(secret));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut f) => {
            f.write_all(spec.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| LocalError::io(&path, e))?;
            Ok(SigningKeys::parse(&spec)?)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let spec = std::fs::read_to_string(&path).map_err(|e| LocalError::io(&path, e))?;
            Ok(SigningKeys::parse(&spec)?)
        }
        Err(e) => Err(LocalError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use pulso_core::token::Purpose;

    // PULSO_TOKEN_KEYS is process-wide; these tests only run when it is unset, and never set it.
    #[test]
    fn a_key_is_generated_once_and_reused() {
        if std::env::var_os("PULSO_TOKEN_KEYS").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let a = signing_keys(dir.path()).unwrap();
        let b = signing_keys(dir.path()).unwrap();
        let exp = Timestamp::from_second(4_000_000_000).unwrap();
        let token = a.sign(Purpose::Answer, "s1", exp);
        assert!(
            b.verify(&token, Purpose::Answer, Timestamp::UNIX_EPOCH)
                .is_ok()
        );
        let text = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert!(text.starts_with("local1:"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another data directory gets another key.
        let other = tempfile::tempdir().unwrap();
        let c = signing_keys(other.path()).unwrap();
        assert!(
            c.verify(&token, Purpose::Answer, Timestamp::UNIX_EPOCH)
                .is_err()
        );
    }

    #[test]
    fn a_broken_key_file_is_an_error_not_a_new_key() {
        if std::env::var_os("PULSO_TOKEN_KEYS").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        assert!(matches!(signing_keys(dir.path()), Err(LocalError::Keys(_))));
    }
}
