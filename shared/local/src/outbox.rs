//! The local mailer: every message becomes one `.eml` file (the exact bytes SES would get) under
//! `<data_dir>/outbox/`, named `<UTC yyyymmddThhmmss>-<tag>-<reference>.eml` so that a listing
//! reads in the order the messages were sent. Files appear whole: written to a temporary name, then
//! linked into place (never over an existing file).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pulso_core::ports::{Clock, MailError, Mailer, OutgoingEmail, SystemClock};

use crate::LocalError;

#[derive(Clone)]
pub struct Outbox {
    dir: PathBuf,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("dir", &self.dir).finish()
    }
}

impl Outbox {
    /// An outbox in `dir` (created if missing), naming files by the wall clock.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, LocalError> {
        Self::with_clock(dir, Arc::new(SystemClock))
    }

    /// An outbox naming files by `clock` (runs `--at` a chosen time).
    pub fn with_clock(dir: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Result<Self, LocalError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(&dir, e))?;
        Ok(Outbox { dir, clock })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `.eml` file names, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".eml") && !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The raw bytes of one message, by the file name `send` returned.
    pub fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        if name.contains('/') || name.contains('\\') || name.starts_with('.') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not an outbox file name",
            ));
        }
        std::fs::read(self.dir.join(name))
    }

    fn write(&self, email: &OutgoingEmail) -> std::io::Result<String> {
        let stamp = self.clock.now().strftime("%Y%m%dT%H%M%S").to_string();
        let base = format!(
            "{stamp}-{}-{}",
            sanitise(email.tag, 24),
            sanitise(&email.reference, 80)
        );
        let tmp = self
            .dir
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, &email.raw)?;
        let result = (|| {
            for n in 1..=10_000u32 {
                let name = if n == 1 {
                    format!("{base}.eml")
                } else {
                    format!("{base}-{n}.eml")
                };
                // A hard link never replaces an existing file, so two messages with one name both stay.
                match std::fs::hard_link(&tmp, self.dir.join(&name)) {
                    Ok(()) => return Ok(name),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(std::io::Error::other("too many messages with one name"))
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }
}

/// Keeps `A-Z a-z 0-9 - _ .`, replaces the rest, bounds the length.
fn sanitise(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let out = out.trim_start_matches('.').to_string();
    if out.is_empty() { "x".into() } else { out }
}

impl Mailer for Outbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let name = self
            .write(email)
            .map_err(|e| MailError::Unavailable(format!("outbox: {e}")))?;
        tracing::debug!(tag = email.tag, reference = %email.reference, file = %name, "message written to the outbox");
        Ok(name)
    }

    async fn max_send_rate(&self) -> Result<Option<f64>, MailError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::ports::FixedClock;

    fn email(reference: &str) -> OutgoingEmail {
        OutgoingEmail {
            from: "nps@example.com".into(),
            to: vec!["ana@example.com".into()],
            raw: b"Subject: hi\r\n\r\nbody\r\n".to_vec(),
            tag: "survey",
            reference: reference.into(),
        }
    }

    #[tokio::test]
    async fn messages_become_named_eml_files() {
        let dir = tempfile::tempdir().unwrap();
        let clock = FixedClock::at("2026-03-02T08:15:30Z".parse().unwrap());
        let outbox = Outbox::with_clock(dir.path().join("outbox"), Arc::new(clock)).unwrap();
        let id = outbox.send(&email("s1")).await.unwrap();
        assert_eq!(id, "20260302T081530-survey-s1.eml");
        // Same second, same reference: a second file, not an overwrite.
        let id2 = outbox.send(&email("s1")).await.unwrap();
        assert_eq!(id2, "20260302T081530-survey-s1-2.eml");
        // Hostile references cannot leave the directory.
        let id3 = outbox.send(&email("../../etc/passwd")).await.unwrap();
        assert!(!id3.contains('/'), "{id3}");
        assert_eq!(outbox.list().unwrap().len(), 3);
        assert_eq!(outbox.read(&id).unwrap(), email("s1").raw);
        assert!(outbox.read("../x").is_err());
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(outbox.dir()).unwrap().count(), 3);
        assert_eq!(outbox.max_send_rate().await.unwrap(), None);
    }
}
