//! pulso-local: the embedded adapters of pulso-core's ports, for the `pulso` command and the tests.
//!
//! - [`SqliteStore`]: every store trait over one SQLite file (or memory).
//! - [`Outbox`]: the mailer that writes each message as an `.eml` file.
//! - [`DirArchive`]: the report archive as a directory tree.
//! - [`RandomIds`]: uuid v7 ids.
//! - [`signing_keys`]: link-signing keys from `PULSO_TOKEN_KEYS`, else one generated into the data
//!   directory once.
//!
//! Adapters hold no business rules: they store, index and return what the domain hands them.

mod archive;
mod ids;
mod keys;
mod outbox;
mod store;

pub use archive::DirArchive;
pub use ids::RandomIds;
pub use keys::{KEY_FILE, signing_keys};
pub use outbox::Outbox;
pub use store::{SCHEMA_VERSION, SqliteStore};

/// Why a local adapter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("database {path}: {message}")]
    Database { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("signing keys: {0}")]
    Keys(#[from] pulso_core::token::KeyError),
    #[error("{0}")]
    Other(String),
}

impl LocalError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        LocalError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
