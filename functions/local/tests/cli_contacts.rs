//! The real `pulso` binary on the contact fixtures (tests/fixtures/contacts/): imports report bad
//! rows by line and skip them, a second import changes nothing, exports are formula-safe, erasure
//! forgets the person. Each test runs in its own data directory.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use pulso_core::model::{AnswerSource, Response, SurveyKind};
use pulso_core::ports::{Contacts, Responses, Suppressions};
use pulso_core::types::{Attributes, ContactId, Email, Locale, Score, SendId};
use pulso_local::SqliteStore;
use support::{column, fixture, read_csv, succeeded};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pulso(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pulso"))
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            // No ./pulso.toml here, no configuration from the caller's environment.
            .current_dir(self.dir.path())
            .env_remove("PULSO_CONFIG")
            .env_remove("PULSO_DATA_DIR")
            .env_remove("PULSO_TOKEN_KEYS")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.pulso(args))
    }

    fn import(&self, name: &str) -> String {
        self.ok(&["contacts", "import", fixture(name).to_str().unwrap()])
    }

    fn export(&self) -> Vec<Vec<String>> {
        let text = self.ok(&["contacts", "export"]);
        read_csv(&text)
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(self.data().join("pulso.db")).unwrap()
    }
}

#[test]
fn a_good_file_imports_once_and_exports_back() {
    let env = Env::new();
    let out = env.import("good.csv");
    assert!(
        out.contains("6 created, 0 updated, 0 unchanged, 0 skipped"),
        "{out}"
    );
    let again = env.import("good.csv");
    assert!(
        again.contains("0 created, 0 updated, 6 unchanged, 0 skipped"),
        "{again}"
    );
    let rows = env.export();
    assert_eq!(rows.len(), 7);
    let emails = column(&rows, "email");
    assert!(emails.contains(&"bob.smith@acme.example".to_string()));
    assert!(column(&rows, "name").contains(&"Tanaka, Emi".to_string()));
    assert_eq!(
        column(&rows, "locale"),
        ["en", "en", "en", "es", "es", "es"]
    );
    assert!(column(&rows, "industry").contains(&"manufacturing".to_string()));

    // The export imports back as the same contacts: nothing changes.
    let export_file = env.dir.path().join("contacts.csv");
    env.ok(&["contacts", "export", "--out", export_file.to_str().unwrap()]);
    let round = env.ok(&["contacts", "import", export_file.to_str().unwrap()]);
    assert!(
        round.contains("0 created, 0 updated, 6 unchanged, 0 skipped"),
        "{round}"
    );
}

#[test]
fn semicolons_bom_and_crlf_are_read() {
    let env = Env::new();
    let out = env.import("semicolon_bom.csv");
    assert!(
        out.contains("3 created, 0 updated, 0 unchanged, 0 skipped"),
        "{out}"
    );
    let rows = env.export();
    assert!(column(&rows, "name").contains(&"Fernández; Lucía".to_string()));
    assert_eq!(
        column(&rows, "account"),
        ["Umbrella", "Umbrella", "Umbrella"]
    );
}

#[test]
fn broken_rows_are_reported_by_line_and_nothing_of_them_is_written() {
    let env = Env::new();
    let out = env.import("broken.csv");
    assert!(
        out.contains("2 created, 0 updated, 0 unchanged, 5 skipped"),
        "{out}"
    );
    for expected in [
        "line 3: invalid email",
        "line 4: unknown locale \"fr\"",
        "line 5: unknown time zone",
        "line 6: expected 5 columns, found 6",
        "line 7: missing email",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    assert!(
        !out.contains("line 2:") && !out.contains("line 8:"),
        "{out}"
    );
    assert_eq!(
        column(&env.export(), "email"),
        ["good.one@hooli.example", "good.two@hooli.example"]
    );
    let store = env.store();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for bad in [
        "camille.martin@hooli.example",
        "pat.doe@hooli.example",
        "too.many@hooli.example",
    ] {
        let found = rt
            .block_on(store.contact_by_email(&Email::parse(bad).unwrap()))
            .unwrap();
        assert!(found.is_none(), "{bad} was written");
    }
    // Twice: the same report, nothing new.
    let again = env.import("broken.csv");
    assert!(
        again.contains("0 created, 0 updated, 2 unchanged, 5 skipped"),
        "{again}"
    );
}

#[test]
fn unreadable_files_fail_with_a_clear_error() {
    let env = Env::new();
    let out = env.pulso(&["contacts", "import", "does-not-exist.csv"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
    let out = env.pulso(&[
        "contacts",
        "import",
        fixture("no_email_column.csv").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no email column"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing was imported.
    assert_eq!(env.export().len(), 1);
}

#[test]
fn exports_neutralise_formulas() {
    let env = Env::new();
    env.import("formulas.csv");
    let text = env.ok(&["contacts", "export"]);
    let rows = read_csv(&text);
    assert_eq!(column(&rows, "name"), ["'=cmd|' /C calc'!A0"]);
    assert_eq!(column(&rows, "account"), ["'@SUM(A1:A9)"]);
    assert_eq!(column(&rows, "plan"), ["'+1"]);
    assert_eq!(column(&rows, "note"), ["'-2+3"]);
    assert!(!text.contains(",=") && !text.contains(",@"), "{text}");
}

fn answer(send: &str, contact: Option<&ContactId>, comment: &str) -> Response {
    let at: jiff::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
    let mut attributes = Attributes::new();
    attributes.set("plan", "pro").unwrap();
    Response {
        send_id: SendId::for_key(send),
        contact_id: contact.cloned(),
        score: Score::new(2).unwrap(),
        comment: Some(comment.into()),
        locale: Locale::En,
        kind: SurveyKind::Relational,
        touchpoint: None,
        account: None,
        attributes,
        day: jiff::civil::date(2026, 3, 2),
        answered_at: at,
        updated_at: at,
        source: AnswerSource::Human,
        flag_reason: None,
        commits: vec![at],
        version: 1,
    }
}

#[test]
fn responses_export_by_day_with_safe_cells_and_erase_forgets_the_person() {
    let env = Env::new();
    env.import("good.csv");
    let store = env.store();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ana = Email::parse("ana.garcia@acme.example").unwrap();
    let contact = rt.block_on(store.contact_by_email(&ana)).unwrap().unwrap();
    let r = answer("s1", Some(&contact.id), "=HYPERLINK(\"http://x\")");
    rt.block_on(store.save_response(&r, &pulso_core::model::rollup_deltas(None, &r)))
        .unwrap();
    drop(store);

    let text = env.ok(&[
        "responses",
        "export",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
    ]);
    let rows = read_csv(&text);
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(column(&rows, "comment"), ["'=HYPERLINK(\"http://x\")"]);
    assert_eq!(column(&rows, "email"), ["ana.garcia@acme.example"]);
    assert_eq!(column(&rows, "plan"), ["pro"]);
    // Without dates: from the first day with answers to today.
    let all = read_csv(&env.ok(&["responses", "export"]));
    assert_eq!(all.len(), 2);
    let bad = env.pulso(&[
        "responses",
        "export",
        "--from",
        "2026-03-05",
        "--to",
        "2026-03-01",
    ]);
    assert!(!bad.status.success());

    let out = env.ok(&["contacts", "erase", "Ana.Garcia@acme.example"]);
    assert!(out.contains("Erased contact"), "{out}");
    assert!(!column(&env.export(), "email").contains(&ana.to_string()));
    let rows = read_csv(&env.ok(&["responses", "export"]));
    assert_eq!(rows.len(), 2);
    assert_eq!(column(&rows, "comment"), [""]);
    assert_eq!(column(&rows, "email"), [""]);
    assert_eq!(column(&rows, "score"), ["2"]);
    let store = env.store();
    let s = rt.block_on(store.suppression(&ana.hash())).unwrap();
    assert!(s.is_some_and(|s| s.suppresses()));
    let bad = env.pulso(&["contacts", "erase", "not an address"]);
    assert!(!bad.status.success());
}

#[test]
fn the_demo_company_is_the_same_on_every_run_and_fresh_keeps_other_files() {
    let a = Env::new();
    let b = Env::new();
    let at = "2026-03-02T08:00";
    let out = a.ok(&["demo", "--at", at]);
    assert!(out.contains("A sample company"), "{out}");
    b.ok(&["demo", "--at", at]);
    let rows = a.export();
    assert!(rows.len() > 250, "{}", rows.len());
    assert_eq!(rows, b.export());
    let locales = column(&rows, "locale");
    assert!(locales.contains(&"en".to_string()) && locales.contains(&"es".to_string()));
    // Again in the same place: nothing changes.
    let again = a.ok(&["demo", "--at", at]);
    assert!(again.contains("0 created, 0 updated"), "{again}");
    assert_eq!(a.export(), rows);
    // --fresh removes the store, the outbox and the archive, and nothing else.
    std::fs::write(a.data().join("notes.txt"), "mine").unwrap();
    std::fs::write(a.data().join("outbox").join("old.eml"), "x").unwrap();
    let fresh = a.ok(&["demo", "--fresh", "--at", at]);
    assert!(
        fresh.contains(" created, 0 updated, 0 already there"),
        "{fresh}"
    );
    assert!(a.data().join("notes.txt").exists());
    // With no configuration of its own, the demo ran with (and kept) a copy of the example's.
    let settings = std::fs::read_to_string(a.data().join("pulso.toml")).unwrap();
    assert!(settings.contains("[audiences.alerts]"));
    assert!(!a.data().join("outbox").join("old.eml").exists());
    assert_eq!(a.export(), rows);
}
