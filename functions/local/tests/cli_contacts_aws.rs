//! The real `pulso` binary's contact tools on a deployed table: with `store.kind = "aws"` they read
//! and write DynamoDB (here moto's server, `PULSO_TEST_AWS_ENDPOINT`, started by `./scripts/test`)
//! exactly as they do the local store, and open nothing local. Each test has its own table.

mod support;

use std::process::{Command, Output};

use pulso_aws::DynamoStore;
use pulso_core::ports::{Contacts, Responses, Sends, Suppressions};
use pulso_core::types::{Email, Locale};
use pulso_tests::{aws, fixtures};
use support::{column, fixture, read_csv, succeeded};

struct Deployed {
    store: DynamoStore,
    endpoint: String,
    /// The command's working directory: it must stay empty.
    dir: tempfile::TempDir,
}

impl Deployed {
    async fn new() -> Deployed {
        Deployed {
            store: aws::fresh_table().await.unwrap(),
            endpoint: aws::endpoint().unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn pulso(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_pulso"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("PULSO_CONFIG")
            .env_remove("PULSO_DATA_DIR")
            .env_remove("PULSO_TOKEN_KEYS")
            .env("PULSO__STORE__KIND", "aws")
            .env("PULSO__STORE__TABLE", self.store.table())
            .env("PULSO__STORE__ENDPOINT_URL", &self.endpoint)
            // The operator's credentials come from the environment; moto takes any, and no
            // profile file of the machine running the tests is read.
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let left: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "pulso {args:?} wrote locally: {left:?}");
        out
    }

    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.pulso(args))
    }

    fn import(&self, name: &str) -> String {
        self.ok(&["contacts", "import", fixture(name).to_str().unwrap()])
    }

    async fn contact(&self, email: &str) -> Option<pulso_core::model::Contact> {
        self.store
            .contact_by_email(&Email::parse(email).unwrap())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_csv_imports_into_the_deployed_table_once_and_exports_back() {
    let d = Deployed::new().await;
    let out = d.import("good.csv");
    assert!(
        out.contains("6 created, 0 updated, 0 unchanged, 0 skipped"),
        "{out}"
    );
    let ana = d.contact("ana.garcia@acme.example").await.unwrap();
    assert_eq!(ana.locale, Locale::Es);
    assert_eq!(ana.version, 1);

    let again = d.import("good.csv");
    assert!(
        again.contains("0 created, 0 updated, 6 unchanged, 0 skipped"),
        "{again}"
    );
    assert_eq!(d.contact("ana.garcia@acme.example").await.unwrap(), ana);

    let rows = read_csv(&d.ok(&["contacts", "export"]));
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert!(column(&rows, "email").contains(&"ana.garcia@acme.example".to_string()));
    assert!(rows[0].iter().any(|h| h == "plan"), "{:?}", rows[0]);
}

#[tokio::test]
async fn broken_rows_are_reported_and_nothing_of_them_reaches_the_table() {
    let d = Deployed::new().await;
    let out = d.import("broken.csv");
    assert!(
        out.contains("2 created, 0 updated, 0 unchanged, 5 skipped"),
        "{out}"
    );
    for expected in [
        "line 3: invalid email",
        "line 4: unknown locale \"fr\"",
        "line 6: expected 5 columns, found 6",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    for bad in [
        "camille.martin@hooli.example",
        "pat.doe@hooli.example",
        "too.many@hooli.example",
    ] {
        assert!(d.contact(bad).await.is_none(), "{bad} was written");
    }
    assert_eq!(
        column(&read_csv(&d.ok(&["contacts", "export"])), "email"),
        ["good.one@hooli.example", "good.two@hooli.example"]
    );

    // A file without an email column stops before anything is written.
    let out = d.pulso(&[
        "contacts",
        "import",
        fixture("no_email_column.csv").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no email column"));
    assert_eq!(read_csv(&d.ok(&["contacts", "export"])).len(), 3);
}

#[tokio::test]
async fn answers_export_and_erasure_work_on_the_deployed_table() {
    let d = Deployed::new().await;
    d.import("good.csv");
    let ana = Email::parse("ana.garcia@acme.example").unwrap();
    let contact = d.contact(ana.as_str()).await.unwrap();
    // Two answers of one person on one day: the person is read once, and named on both rows.
    for (send, comment) in [("s1", "=HYPERLINK(\"http://x\")"), ("s2", "slow")] {
        let mut r = fixtures::response(
            send,
            contact.id.as_str(),
            2,
            Some(comment),
            jiff::civil::date(2026, 3, 2),
        );
        r.attributes.set("plan", "pro").unwrap();
        d.store
            .save_response(&r, &pulso_core::model::rollup_deltas(None, &r))
            .await
            .unwrap();
    }
    let text = d.ok(&[
        "responses",
        "export",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-03",
    ]);
    let rows = read_csv(&text);
    assert_eq!(rows.len(), 3, "{text}");
    assert_eq!(
        column(&rows, "comment"),
        ["'=HYPERLINK(\"http://x\")", "slow"]
    );
    assert_eq!(column(&rows, "email"), [ana.as_str(), ana.as_str()]);
    // Without dates: from the first day with answers (the rollups say which) to today.
    assert_eq!(read_csv(&d.ok(&["responses", "export"])).len(), 3);

    let out = d.ok(&["contacts", "erase", "Ana.Garcia@acme.example"]);
    assert!(out.contains("Erased contact"), "{out}");
    assert!(d.contact(ana.as_str()).await.is_none());
    assert!(
        d.store
            .sends_of_contact(&contact.id)
            .await
            .unwrap()
            .is_empty()
    );
    let s = d.store.suppression(&ana.hash()).await.unwrap();
    assert!(s.is_some_and(|s| s.suppresses()));
    let rows = read_csv(&d.ok(&["responses", "export"]));
    assert_eq!(column(&rows, "comment"), ["", ""]);
    assert_eq!(column(&rows, "email"), ["", ""]);
    assert_eq!(column(&rows, "score"), ["2", "2"]);
    // The other contacts are untouched.
    assert_eq!(read_csv(&d.ok(&["contacts", "export"])).len(), 6);

    let bad = d.pulso(&["contacts", "erase", "not an address"]);
    assert!(!bad.status.success());
    assert_eq!(read_csv(&d.ok(&["contacts", "export"])).len(), 6);
}

// Without the table the command fails with the AWS error named, and writes nothing locally.
#[tokio::test]
async fn a_missing_table_is_a_clear_error() {
    let d = Deployed::new().await;
    let out = Command::new(env!("CARGO_BIN_EXE_pulso"))
        .args(["contacts", "import", fixture("good.csv").to_str().unwrap()])
        .current_dir(d.dir.path())
        .env("PULSO__STORE__KIND", "aws")
        .env("PULSO__STORE__TABLE", "pulso-no-such-table")
        .env("PULSO__STORE__ENDPOINT_URL", &d.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ResourceNotFound"), "{err}");
    assert_eq!(std::fs::read_dir(d.dir.path()).unwrap().count(), 0);
}
