//! The SQLite store: every store trait of pulso-core's ports over one database file.
//!
//! Each record is kept whole as JSON in a `data` column, beside the few index columns its queries
//! need, so records can grow fields (with `#[serde(default)]`) without a schema change. Rollup
//! counters are columns so that a delta is one `INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`.
//! The schema is versioned with `PRAGMA user_version`; docs/local-store.md lists the tables, the
//! index behind each access pattern and the durability settings.
//!
//! One connection behind a mutex: SQLite serialises writers anyway, and every call is short. The
//! lock is taken and released inside a synchronous closure, never held across an `.await`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use jiff::civil::Date;
use pulso_core::model::{
    ApiKey, Contact, Counts, DeliveryStatus, Dimension, FollowUp, FollowUpStatus, ReportKind,
    ReportRun, Response, Rollup, RollupDelta, Suppression, SurveySend, WebhookDelivery,
};
use pulso_core::ports::{
    ApiKeys, Contacts, FollowUps, ReportRuns, Responses, Rollups, Sends, StoreError, StoreResult,
    Suppressions, WebhookDeliveries,
};
use pulso_core::types::{AccountKey, ContactId, DeliveryId, Email, EmailHash, SendId};
use rusqlite::{Connection, OptionalExtension, ToSql, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::LocalError;

/// The schema this build writes. A database with a higher `user_version` was written by a newer
/// Pulso and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE contacts (
    id      TEXT PRIMARY KEY,
    email   TEXT NOT NULL UNIQUE,
    slot    INTEGER NOT NULL,
    account TEXT,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX contacts_by_slot ON contacts (slot, id);
CREATE INDEX contacts_by_account ON contacts (account, id) WHERE account IS NOT NULL;

CREATE TABLE sends (
    id             TEXT PRIMARY KEY,
    contact_id     TEXT NOT NULL,
    next_action_at INTEGER,
    version        INTEGER NOT NULL,
    data           TEXT NOT NULL
);
CREATE INDEX sends_due ON sends (next_action_at, id) WHERE next_action_at IS NOT NULL;
CREATE INDEX sends_by_contact ON sends (contact_id);

CREATE TABLE responses (
    send_id     TEXT PRIMARY KEY,
    contact_id  TEXT,
    day         TEXT NOT NULL,
    answered_at INTEGER NOT NULL,
    commented   INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX responses_by_day ON responses (day, answered_at DESC, send_id);
CREATE INDEX responses_commented_by_day ON responses (day, answered_at DESC, send_id)
    WHERE commented = 1;
CREATE INDEX responses_by_contact ON responses (contact_id) WHERE contact_id IS NOT NULL;

CREATE TABLE rollups (
    day  TEXT NOT NULL,
    dim  TEXT NOT NULL,
    s0 INTEGER NOT NULL, s1 INTEGER NOT NULL, s2 INTEGER NOT NULL, s3 INTEGER NOT NULL,
    s4 INTEGER NOT NULL, s5 INTEGER NOT NULL, s6 INTEGER NOT NULL, s7 INTEGER NOT NULL,
    s8 INTEGER NOT NULL, s9 INTEGER NOT NULL, s10 INTEGER NOT NULL,
    comments INTEGER NOT NULL,
    sent     INTEGER NOT NULL,
    flagged  INTEGER NOT NULL,
    PRIMARY KEY (day, dim)
) WITHOUT ROWID;

CREATE TABLE follow_ups (
    send_id    TEXT PRIMARY KEY,
    open       INTEGER NOT NULL,
    opened_at  INTEGER NOT NULL,
    opened_day TEXT NOT NULL,
    version    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX follow_ups_open ON follow_ups (opened_at, send_id) WHERE open = 1;
CREATE INDEX follow_ups_by_day ON follow_ups (opened_day, opened_at, send_id);

CREATE TABLE suppressions (
    email_hash TEXT PRIMARY KEY,
    data       TEXT NOT NULL
);

CREATE TABLE api_keys (
    hash       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    data       TEXT NOT NULL
);

CREATE TABLE report_runs (
    kind    TEXT NOT NULL,
    period  TEXT NOT NULL,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (kind, period)
);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    next_attempt_at INTEGER,
    created_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    data            TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (created_at DESC, id) WHERE status = 'dead';
";

const ROLLUP_COLUMNS: &str =
    "day, dim, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, comments, sent, flagged";

const ROLLUP_UPSERT: &str = "INSERT INTO rollups
    (day, dim, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, comments, sent, flagged)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
    ON CONFLICT (day, dim) DO UPDATE SET
    s0 = s0 + excluded.s0, s1 = s1 + excluded.s1, s2 = s2 + excluded.s2, s3 = s3 + excluded.s3,
    s4 = s4 + excluded.s4, s5 = s5 + excluded.s5, s6 = s6 + excluded.s6, s7 = s7 + excluded.s7,
    s8 = s8 + excluded.s8, s9 = s9 + excluded.s9, s10 = s10 + excluded.s10,
    comments = comments + excluded.comments, sent = sent + excluded.sent,
    flagged = flagged + excluded.flagged";

/// Every store trait over SQLite. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LocalError> {
        let path = path.as_ref();
        let err = |e: rusqlite::Error| LocalError::Database {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let conn = Connection::open(path).map_err(err)?;
        // WAL: readers never block the writer and a crash loses at most the last transactions
        // since the OS flushed (synchronous=NORMAL), never consistency.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "SQLite did not switch to WAL");
        }
        Self::setup(conn).map_err(|e| match e {
            LocalError::Database { message, .. } => LocalError::Database {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// A private, empty store in memory (tests).
    pub fn in_memory() -> Result<Self, LocalError> {
        let conn = Connection::open_in_memory().map_err(|e| LocalError::Database {
            path: ":memory:".into(),
            message: e.to_string(),
        })?;
        Self::setup(conn)
    }

    fn setup(conn: Connection) -> Result<Self, LocalError> {
        let err = |e: rusqlite::Error| LocalError::Database {
            path: String::new(),
            message: e.to_string(),
        };
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF;",
        )
        .map_err(err)?;
        conn.set_prepared_statement_cache_capacity(64);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        match version {
            0 => {
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA_V1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(err)?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(LocalError::Database {
                    path: String::new(),
                    message: format!(
                        "schema version {newer} is newer than this pulso understands ({SCHEMA_VERSION}); \
                         upgrade pulso"
                    ),
                });
            }
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection. The lock is released when `f` returns.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Unavailable("store lock poisoned".into()))?;
        f(&mut guard)
    }

    /// Runs `f` in one immediate transaction, committed only if `f` succeeds.
    fn in_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.with(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let out = f(&tx)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
    }
}

// ---- helpers ---------------------------------------------------------------------------------

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn encode<T: Serialize>(record: &T) -> StoreResult<String> {
    serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(data: &str) -> StoreResult<T> {
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn day_key(d: Date) -> String {
    d.strftime("%Y-%m-%d").to_string()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn version(v: u64) -> StoreResult<i64> {
    i64::try_from(v)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| StoreError::Conflict(format!("invalid record version {v}")))
}

/// The versioned write of the ports' module doc. `params` serve both statements: `insert` is used
/// for version 1 (a key that exists is a conflict), `update` for later versions and must only touch
/// the row whose stored version is `?version - 1` (its text spells the condition).
fn versioned(
    conn: &Connection,
    record_version: u64,
    insert: &str,
    update: &str,
    params: &[&dyn ToSql],
    what: &str,
) -> StoreResult<()> {
    if version(record_version)? == 1 {
        match conn
            .prepare_cached(insert)
            .and_then(|mut s| s.execute(params))
        {
            Ok(_) => Ok(()),
            Err(e) if is_constraint(&e) => Err(StoreError::Conflict(format!("{what} exists"))),
            Err(e) => Err(db(e)),
        }
    } else {
        match conn
            .prepare_cached(update)
            .and_then(|mut s| s.execute(params))
        {
            Ok(1) => Ok(()),
            Ok(_) => Err(StoreError::Conflict(format!(
                "{what} is not at version {}",
                record_version - 1
            ))),
            Err(e) if is_constraint(&e) => Err(StoreError::Conflict(format!("{what} conflicts"))),
            Err(e) => Err(db(e)),
        }
    }
}

fn one<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> StoreResult<Option<T>> {
    let data: Option<String> = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, |r| r.get(0)).optional())
        .map_err(db)?;
    data.as_deref().map(decode).transpose()
}

fn list<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(&row.map_err(db)?)?);
    }
    Ok(out)
}

fn put_contact_on(conn: &Connection, c: &Contact) -> StoreResult<()> {
    let data = encode(c)?;
    let account = c.account_key().map(|k| k.0);
    let v = version(c.version)?;
    versioned(
        conn,
        c.version,
        "INSERT INTO contacts (id, email, slot, account, version, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        // The email is part of the condition: a contact's email never changes.
        "UPDATE contacts SET slot = ?3, account = ?4, version = ?5, data = ?6
         WHERE id = ?1 AND email = ?2 AND version = ?5 - 1",
        &[
            &c.id.as_str(),
            &c.email.as_str(),
            &i64::from(c.slot),
            &account,
            &v,
            &data,
        ],
        "contact",
    )
}

fn put_send_on(conn: &Connection, s: &SurveySend) -> StoreResult<()> {
    let data = encode(s)?;
    let v = version(s.version)?;
    versioned(
        conn,
        s.version,
        "INSERT INTO sends (id, contact_id, next_action_at, version, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        "UPDATE sends SET contact_id = ?2, next_action_at = ?3, version = ?4, data = ?5
         WHERE id = ?1 AND version = ?4 - 1",
        &[
            &s.id.as_str(),
            &s.contact_id.as_str(),
            &s.next_action_at.map(micros),
            &v,
            &data,
        ],
        "send",
    )
}

fn add_rollups_on(conn: &Connection, deltas: &[RollupDelta]) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(ROLLUP_UPSERT).map_err(db)?;
    for d in deltas {
        let c = &d.counts;
        let day = day_key(d.day);
        let dim = d.dimension.key();
        let s = &c.scores;
        stmt.execute(params![
            day, dim, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10],
            c.comments, c.sent, c.flagged
        ])
        .map_err(db)?;
    }
    Ok(())
}

// ---- ports -----------------------------------------------------------------------------------

impl Contacts for SqliteStore {
    async fn contact(&self, id: &ContactId) -> StoreResult<Option<Contact>> {
        self.with(|c| {
            one(
                c,
                "SELECT data FROM contacts WHERE id = ?1",
                &[&id.as_str()],
            )
        })
    }

    async fn contact_by_email(&self, email: &Email) -> StoreResult<Option<Contact>> {
        self.with(|c| {
            one(
                c,
                "SELECT data FROM contacts WHERE email = ?1",
                &[&email.as_str()],
            )
        })
    }

    async fn put_contact(&self, contact: &Contact) -> StoreResult<()> {
        self.with(|c| put_contact_on(c, contact))
    }

    async fn contacts_in_slots(&self, from: u16, to: u16) -> StoreResult<Vec<Contact>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM contacts WHERE slot >= ?1 AND slot < ?2 ORDER BY slot, id",
                &[&i64::from(from), &i64::from(to)],
            )
        })
    }

    async fn contacts_of_account(&self, account: &AccountKey) -> StoreResult<Vec<Contact>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM contacts WHERE account = ?1 ORDER BY id",
                &[&account.as_str()],
            )
        })
    }

    async fn delete_contact(&self, id: &ContactId) -> StoreResult<()> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM contacts WHERE id = ?1")
                .and_then(|mut s| s.execute([id.as_str()]))
                .map_err(db)?;
            Ok(())
        })
    }
}

impl Sends for SqliteStore {
    async fn send(&self, id: &SendId) -> StoreResult<Option<SurveySend>> {
        self.with(|c| one(c, "SELECT data FROM sends WHERE id = ?1", &[&id.as_str()]))
    }

    async fn put_send(&self, send: &SurveySend) -> StoreResult<()> {
        self.with(|c| put_send_on(c, send))
    }

    async fn reserve_send(&self, contact: &Contact, send: &SurveySend) -> StoreResult<()> {
        if send.version != 1 {
            return Err(StoreError::Conflict(
                "a reserved send must be a new send (version 1)".into(),
            ));
        }
        self.in_tx(|tx| {
            put_contact_on(tx, contact)?;
            put_send_on(tx, send)
        })
    }

    async fn due_sends(&self, until: Timestamp, limit_n: usize) -> StoreResult<Vec<SurveySend>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM sends WHERE next_action_at IS NOT NULL AND next_action_at <= ?1
                 ORDER BY next_action_at, id LIMIT ?2",
                &[&micros(until), &limit(limit_n)],
            )
        })
    }

    async fn sends_of_contact(&self, contact: &ContactId) -> StoreResult<Vec<SurveySend>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM sends WHERE contact_id = ?1 ORDER BY id",
                &[&contact.as_str()],
            )
        })
    }

    async fn delete_send(&self, id: &SendId) -> StoreResult<()> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM sends WHERE id = ?1")
                .and_then(|mut s| s.execute([id.as_str()]))
                .map_err(db)?;
            Ok(())
        })
    }
}

impl Responses for SqliteStore {
    async fn response(&self, send: &SendId) -> StoreResult<Option<Response>> {
        self.with(|c| {
            one(
                c,
                "SELECT data FROM responses WHERE send_id = ?1",
                &[&send.as_str()],
            )
        })
    }

    async fn save_response(&self, r: &Response, deltas: &[RollupDelta]) -> StoreResult<()> {
        let data = encode(r)?;
        let v = version(r.version)?;
        let day = day_key(r.day);
        let contact = r.contact_id.as_ref().map(|c| c.as_str().to_string());
        let commented = i64::from(r.has_comment());
        self.in_tx(|tx| {
            versioned(
                tx,
                r.version,
                "INSERT INTO responses (send_id, contact_id, day, answered_at, commented, version, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                "UPDATE responses SET contact_id = ?2, day = ?3, answered_at = ?4, commented = ?5,
                 version = ?6, data = ?7 WHERE send_id = ?1 AND version = ?6 - 1",
                &[
                    &r.send_id.as_str(),
                    &contact,
                    &day,
                    &micros(r.answered_at),
                    &commented,
                    &v,
                    &data,
                ],
                "response",
            )?;
            add_rollups_on(tx, deltas)
        })
    }

    async fn responses_of_day(&self, day: Date) -> StoreResult<Vec<Response>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM responses WHERE day = ?1 ORDER BY answered_at DESC, send_id",
                &[&day_key(day)],
            )
        })
    }

    async fn commented_responses_of_day(
        &self,
        day: Date,
        limit_n: usize,
    ) -> StoreResult<Vec<Response>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM responses WHERE day = ?1 AND commented = 1
                 ORDER BY answered_at DESC, send_id LIMIT ?2",
                &[&day_key(day), &limit(limit_n)],
            )
        })
    }

    async fn responses_of_contact(&self, contact: &ContactId) -> StoreResult<Vec<Response>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM responses WHERE contact_id = ?1 ORDER BY answered_at, send_id",
                &[&contact.as_str()],
            )
        })
    }

    async fn remove_comments_of_day(&self, day: Date) -> StoreResult<usize> {
        self.in_tx(|tx| {
            let commented: Vec<Response> = list(
                tx,
                "SELECT data FROM responses WHERE day = ?1 AND commented = 1",
                &[&day_key(day)],
            )?;
            for r in &commented {
                let kept = Response {
                    comment: None,
                    version: r.version + 1,
                    ..r.clone()
                };
                tx.execute(
                    "UPDATE responses SET commented = 0, version = ?2, data = ?3
                     WHERE send_id = ?1 AND version = ?2 - 1",
                    rusqlite::params![r.send_id.as_str(), version(kept.version)?, encode(&kept)?],
                )
                .map_err(db)?;
            }
            Ok(commented.len())
        })
    }
}

impl Rollups for SqliteStore {
    async fn rollups(&self, from: Date, to: Date) -> StoreResult<Vec<Rollup>> {
        self.with(|c| {
            let sql = format!(
                "SELECT {ROLLUP_COLUMNS} FROM rollups WHERE day >= ?1 AND day <= ?2 ORDER BY day, dim"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(db)?;
            let rows = stmt
                .query_map([day_key(from), day_key(to)], |r| {
                    let mut counts = Counts::default();
                    for (i, s) in counts.scores.iter_mut().enumerate() {
                        *s = r.get(2 + i)?;
                    }
                    counts.comments = r.get(13)?;
                    counts.sent = r.get(14)?;
                    counts.flagged = r.get(15)?;
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, counts))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (day, dim, counts) = row.map_err(db)?;
                let day: Date = day
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("rollup day {day:?}")))?;
                let dimension = Dimension::from_key(&dim)
                    .ok_or_else(|| StoreError::Corrupt(format!("rollup dimension {dim:?}")))?;
                out.push(Rollup {
                    day,
                    dimension,
                    counts,
                });
            }
            Ok(out)
        })
    }

    async fn add_to_rollups(&self, deltas: &[RollupDelta]) -> StoreResult<()> {
        self.in_tx(|tx| add_rollups_on(tx, deltas))
    }
}

impl FollowUps for SqliteStore {
    async fn follow_up(&self, send: &SendId) -> StoreResult<Option<FollowUp>> {
        self.with(|c| {
            one(
                c,
                "SELECT data FROM follow_ups WHERE send_id = ?1",
                &[&send.as_str()],
            )
        })
    }

    async fn put_follow_up(&self, f: &FollowUp) -> StoreResult<()> {
        let data = encode(f)?;
        let v = version(f.version)?;
        let open = i64::from(f.status == FollowUpStatus::Open);
        self.with(|c| {
            versioned(
                c,
                f.version,
                "INSERT INTO follow_ups (send_id, open, opened_at, opened_day, version, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                "UPDATE follow_ups SET open = ?2, opened_at = ?3, opened_day = ?4, version = ?5,
                 data = ?6 WHERE send_id = ?1 AND version = ?5 - 1",
                &[
                    &f.send_id.as_str(),
                    &open,
                    &micros(f.opened_at),
                    &day_key(f.opened_day),
                    &v,
                    &data,
                ],
                "follow-up",
            )
        })
    }

    async fn open_follow_ups(&self) -> StoreResult<Vec<FollowUp>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM follow_ups WHERE open = 1 ORDER BY opened_at, send_id",
                &[],
            )
        })
    }

    async fn follow_ups_opened_between(
        &self,
        from: Date,
        to: Date,
        limit_n: usize,
    ) -> StoreResult<Vec<FollowUp>> {
        // The order is `follow_ups_by_day`'s, walked backwards: SQLite stops after `limit` rows
        // instead of sorting the period's follow-ups.
        self.with(|c| {
            list(
                c,
                "SELECT data FROM follow_ups WHERE opened_day >= ?1 AND opened_day <= ?2
                 ORDER BY opened_day DESC, opened_at DESC, send_id DESC LIMIT ?3",
                &[&day_key(from), &day_key(to), &limit(limit_n)],
            )
        })
    }
}

impl Suppressions for SqliteStore {
    async fn suppression(&self, email: &EmailHash) -> StoreResult<Option<Suppression>> {
        self.with(|c| {
            one(
                c,
                "SELECT data FROM suppressions WHERE email_hash = ?1",
                &[&email.as_str()],
            )
        })
    }

    async fn put_suppression(&self, s: &Suppression) -> StoreResult<()> {
        let data = encode(s)?;
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO suppressions (email_hash, data) VALUES (?1, ?2)
                 ON CONFLICT (email_hash) DO UPDATE SET data = excluded.data",
            )
            .and_then(|mut st| st.execute(params![s.email_hash.as_str(), data]))
            .map_err(db)?;
            Ok(())
        })
    }
}

impl ApiKeys for SqliteStore {
    async fn api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.with(|c| one(c, "SELECT data FROM api_keys WHERE hash = ?1", &[&hash]))
    }

    async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let data = encode(key)?;
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO api_keys (hash, created_at, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (hash) DO UPDATE SET created_at = excluded.created_at, data = excluded.data",
            )
            .and_then(|mut st| st.execute(params![key.hash, micros(key.created_at), data]))
            .map_err(db)?;
            Ok(())
        })
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM api_keys ORDER BY created_at, hash",
                &[],
            )
        })
    }
}

impl ReportRuns for SqliteStore {
    async fn report_run(&self, kind: ReportKind, period: &str) -> StoreResult<Option<ReportRun>> {
        self.with(|c| {
            one(
                c,
                "SELECT data FROM report_runs WHERE kind = ?1 AND period = ?2",
                &[&kind.as_str(), &period],
            )
        })
    }

    async fn put_report_run(&self, run: &ReportRun) -> StoreResult<()> {
        let data = encode(run)?;
        let v = version(run.version)?;
        self.with(|c| {
            versioned(
                c,
                run.version,
                "INSERT INTO report_runs (kind, period, version, data) VALUES (?1, ?2, ?3, ?4)",
                "UPDATE report_runs SET version = ?3, data = ?4
                 WHERE kind = ?1 AND period = ?2 AND version = ?3 - 1",
                &[&run.kind.as_str(), &run.period, &v, &data],
                "report run",
            )
        })
    }
}

fn delivery_status(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Dead => "dead",
    }
}

impl WebhookDeliveries for SqliteStore {
    async fn delivery(&self, id: &DeliveryId) -> StoreResult<Option<WebhookDelivery>> {
        self.with(|c| {
            one(
                c,
                "SELECT data FROM deliveries WHERE id = ?1",
                &[&id.as_str()],
            )
        })
    }

    async fn put_delivery(&self, d: &WebhookDelivery) -> StoreResult<()> {
        let data = encode(d)?;
        let v = version(d.version)?;
        self.with(|c| {
            versioned(
                c,
                d.version,
                "INSERT INTO deliveries (id, status, next_attempt_at, created_at, version, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                "UPDATE deliveries SET status = ?2, next_attempt_at = ?3, created_at = ?4,
                 version = ?5, data = ?6 WHERE id = ?1 AND version = ?5 - 1",
                &[
                    &d.id.as_str(),
                    &delivery_status(d.status),
                    &d.next_attempt_at.map(micros),
                    &micros(d.created_at),
                    &v,
                    &data,
                ],
                "webhook delivery",
            )
        })
    }

    async fn due_deliveries(
        &self,
        until: Timestamp,
        limit_n: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM deliveries WHERE status = 'pending'
                 AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?1
                 ORDER BY next_attempt_at, id LIMIT ?2",
                &[&micros(until), &limit(limit_n)],
            )
        })
    }

    async fn dead_deliveries(&self, limit_n: usize) -> StoreResult<Vec<WebhookDelivery>> {
        self.with(|c| {
            list(
                c,
                "SELECT data FROM deliveries WHERE status = 'dead'
                 ORDER BY created_at DESC, id LIMIT ?1",
                &[&limit(limit_n)],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_store_reopens_with_its_data_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pulso.db");
        {
            let s = SqliteStore::open(&path).unwrap();
            s.with(|c| {
                c.execute(
                    "INSERT INTO suppressions (email_hash, data) VALUES ('h', '{}')",
                    [],
                )
                .map_err(db)
            })
            .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        let (n, v, mode): (i64, i64, String) = s
            .with(|c| {
                c.query_row(
                    "SELECT (SELECT count(*) FROM suppressions), (SELECT user_version FROM pragma_user_version), (SELECT journal_mode FROM pragma_journal_mode)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(db)
            })
            .unwrap();
        assert_eq!((n, v, mode.as_str()), (1, SCHEMA_VERSION, "wal"));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pulso.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA user_version = 99").unwrap();
        }
        let e = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn a_corrupt_record_is_reported_not_hidden() {
        let s = SqliteStore::in_memory().unwrap();
        s.with(|c| {
            c.execute(
                "INSERT INTO suppressions (email_hash, data) VALUES ('h', 'not json')",
                [],
            )
            .map_err(db)
        })
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let r = rt.block_on(s.suppression(&EmailHash("h".into())));
        assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    }
}
