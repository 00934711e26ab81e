//! The local report archive: one file per key under a directory (`<data_dir>/archive/`), the key's
//! `/` segments as sub-directories. Keys are checked with pulso-core's `valid_archive_key`, so none
//! can leave the directory; files appear whole (temporary file, then rename).

use std::path::{Path, PathBuf};

use pulso_core::ports::{Archive, ArchiveError, valid_archive_key};

use crate::LocalError;

const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, Clone)]
pub struct DirArchive {
    dir: PathBuf,
}

impl DirArchive {
    /// An archive in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, LocalError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(&dir, e))?;
        Ok(DirArchive { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a key is kept in.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, ArchiveError> {
        if !valid_archive_key(key) {
            return Err(ArchiveError::BadKey);
        }
        Ok(key.split('/').fold(self.dir.clone(), |p, seg| p.join(seg)))
    }

    fn collect(&self, dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            let key = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type()?.is_dir() {
                self.collect(&entry.path(), &key, out)?;
            } else {
                out.push(key);
            }
        }
        Ok(())
    }
}

fn unavailable(e: std::io::Error) -> ArchiveError {
    ArchiveError::Unavailable(e.to_string())
}

impl Archive for DirArchive {
    async fn put(&self, key: &str, body: &[u8], _content_type: &str) -> Result<(), ArchiveError> {
        let path = self.path_of(key)?;
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(unavailable)?;
        let tmp = parent.join(format!("{TMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, body).map_err(unavailable)?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            unavailable(e)
        })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let path = self.path_of(key)?;
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // A key that names a directory is not an object.
            Err(_) if path.is_dir() => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        if prefix.starts_with('/') || prefix.split('/').any(|s| s == "..") {
            return Err(ArchiveError::BadKey);
        }
        let mut keys = Vec::new();
        self.collect(&self.dir, "", &mut keys)
            .map_err(unavailable)?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_round_trip_and_list_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirArchive::new(dir.path().join("archive")).unwrap();
        a.put(
            "reports/weekly/2026-W10/report.html",
            b"<p>w10</p>",
            "text/html",
        )
        .await
        .unwrap();
        a.put("reports/daily/2026-03-02/report.csv", b"a,b", "text/csv")
            .await
            .unwrap();
        a.put(
            "reports/weekly/2026-W10/report.html",
            b"<p>v2</p>",
            "text/html",
        )
        .await
        .unwrap();
        assert_eq!(
            a.get("reports/weekly/2026-W10/report.html").await.unwrap(),
            Some(b"<p>v2</p>".to_vec())
        );
        assert_eq!(a.get("reports/none").await.unwrap(), None);
        assert_eq!(a.get("reports/weekly").await.unwrap(), None);
        assert_eq!(
            a.list("reports/").await.unwrap(),
            vec![
                "reports/daily/2026-03-02/report.csv".to_string(),
                "reports/weekly/2026-W10/report.html".to_string()
            ]
        );
        assert_eq!(a.list("reports/weekly").await.unwrap().len(), 1);
        assert!(a.list("nothing/").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn bad_keys_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirArchive::new(dir.path().join("archive")).unwrap();
        for bad in ["../escape", "/abs", "a//b", "a b", "a/../../b", ""] {
            assert_eq!(
                a.put(bad, b"x", "text/plain").await,
                Err(ArchiveError::BadKey)
            );
            assert_eq!(a.get(bad).await, Err(ArchiveError::BadKey));
        }
        assert!(!dir.path().join("escape").exists());
        assert!(a.list("").await.unwrap().is_empty());
        assert_eq!(a.list("../").await, Err(ArchiveError::BadKey));
    }
}
