//! Contact imports through the library on the fixture files (tests/fixtures/contacts/) into a
//! file-backed SQLite store: what is written, what is not, and that a second import writes nothing.
//! The `pulso` binary itself is exercised on the same files in functions/local/tests/cli_contacts.rs.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use pulso_core::contacts::{self, ImportError, ImportSummary};
use pulso_core::model::{Contact, SLOTS};
use pulso_core::ports::{Contacts, SequentialIds};
use pulso_core::types::{Email, Locale};
use pulso_local::SqliteStore;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/contacts")
        .join(name)
}

async fn import(store: &SqliteStore, name: &str, now: &str) -> Result<ImportSummary, ImportError> {
    let file = std::fs::File::open(fixture(name)).unwrap();
    contacts::import(
        store,
        &SequentialIds::new("c"),
        now.parse::<Timestamp>().unwrap(),
        Locale::En,
        file,
        |_| {},
    )
    .await
}

async fn all(store: &SqliteStore) -> Vec<Contact> {
    let mut v = store.contacts_in_slots(0, SLOTS).await.unwrap();
    v.sort_by(|a, b| a.email.cmp(&b.email));
    v
}

fn file_store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("pulso.db")).unwrap()
}

#[tokio::test]
async fn good_rows_are_written_whole_and_a_second_import_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir);
    let s = import(&store, "good.csv", "2026-03-02T08:00:00Z")
        .await
        .unwrap();
    assert_eq!((s.created, s.skipped()), (6, 0));
    let first = all(&store).await;
    let carmen = first
        .iter()
        .find(|c| c.email.as_str() == "carmen.lopez@globex.example")
        .unwrap();
    assert_eq!(carmen.locale, Locale::Es);
    assert_eq!(carmen.account.as_ref().unwrap().as_str(), "Globex");
    assert_eq!(
        carmen.time_zone.as_ref().unwrap().as_str(),
        "America/Mexico_City"
    );
    assert_eq!(carmen.customer_since, Some(jiff::civil::date(2025, 1, 10)));
    assert_eq!(carmen.attributes.get("plan"), Some("enterprise"));
    assert_eq!(carmen.attributes.get("region"), Some("americas"));
    let felipe = first
        .iter()
        .find(|c| c.email.as_str() == "felipe.ruiz@initech.example")
        .unwrap();
    assert_eq!(felipe.customer_since, None);
    assert_eq!(felipe.attributes.get("industry"), None);
    let globex = carmen.account_key().unwrap();
    assert_eq!(store.contacts_of_account(&globex).await.unwrap().len(), 2);

    // Later, same file: every contact exactly as it was (version, updated_at).
    let s = import(&store, "good.csv", "2026-03-09T08:00:00Z")
        .await
        .unwrap();
    assert_eq!((s.created, s.updated, s.unchanged), (0, 0, 6));
    assert_eq!(all(&store).await, first);
}

#[tokio::test]
async fn broken_rows_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir);
    let s = import(&store, "broken.csv", "2026-03-02T08:00:00Z")
        .await
        .unwrap();
    let lines: Vec<u64> = s.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7]);
    let emails: Vec<String> = all(&store)
        .await
        .iter()
        .map(|c| c.email.to_string())
        .collect();
    assert_eq!(emails, ["good.one@hooli.example", "good.two@hooli.example"]);
    for bad in [
        "camille.martin@hooli.example",
        "pat.doe@hooli.example",
        "too.many@hooli.example",
    ] {
        assert!(
            store
                .contact_by_email(&Email::parse(bad).unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_file_without_an_email_column_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir);
    let e = import(&store, "no_email_column.csv", "2026-03-02T08:00:00Z").await;
    assert!(matches!(e, Err(ImportError::File(_))), "{e:?}");
    assert!(all(&store).await.is_empty());
}

#[tokio::test]
async fn updates_merge_and_bump_the_version_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir);
    import(&store, "semicolon_bom.csv", "2026-03-02T08:00:00Z")
        .await
        .unwrap();
    let update = "email,plan,owner\nMARK.TAYLOR@umbrella.example,enterprise,jane\n";
    let s = contacts::import(
        &store,
        &SequentialIds::new("u"),
        "2026-03-03T08:00:00Z".parse().unwrap(),
        Locale::En,
        update.as_bytes(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((s.updated, s.created), (1, 0));
    let mark = store
        .contact_by_email(&Email::parse("mark.taylor@umbrella.example").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mark.version, 2);
    assert_eq!(mark.attributes.get("plan"), Some("enterprise"));
    assert_eq!(mark.attributes.get("owner"), Some("jane"));
    assert_eq!(mark.name.as_deref(), Some("Mark Taylor"));
    assert_eq!(mark.account.as_ref().unwrap().as_str(), "Umbrella");
}
