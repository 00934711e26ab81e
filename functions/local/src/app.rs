//! Builds the local `Ctx`: configuration (file + env), the SQLite store, the outbox mailer, the
//! archive directory, the signing keys (from PULSO_TOKEN_KEYS, else a key generated once into the
//! data directory), the wall clock and random ids.
//!
//! (pulso-local's adapters: being written.)
