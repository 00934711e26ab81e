//! What the `pulso` binary's tests share: the contact fixtures and reading the CSV it prints.

use std::path::{Path, PathBuf};

/// A file of tests/fixtures/contacts/.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/contacts")
        .join(name)
}

/// Every row of a CSV text, the header included.
pub fn read_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

/// The cells of the column headed `name`, sorted.
pub fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = rows[0].iter().position(|h| h == name).unwrap();
    let mut v: Vec<String> = rows[1..].iter().map(|r| r[i].clone()).collect();
    v.sort();
    v
}

/// What `pulso ARGS` printed, once it is known to have succeeded (else the test fails with its
/// error output).
pub fn succeeded(args: &[&str], out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "pulso {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
