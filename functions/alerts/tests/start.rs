//! The alerts binary's start against a stand-in Lambda Runtime API on loopback. Its context is
//! handed over while the signing keys are read, so a batch's reads go out meanwhile; keys that
//! cannot be read still fail each invocation, naming the setting, even a batch that needed no
//! link, and the process stays up for the next one, which reads them again.

#[path = "../../../shared/aws/testing/lambda_api.rs"]
mod lambda_api;

#[tokio::test]
async fn keys_that_cannot_be_read_fail_each_batch_by_name_and_the_process_stays_up() {
    let answers = lambda_api::two_invocations(
        env!("CARGO_BIN_EXE_alerts"),
        "alerts",
        // A batch with no change to handle: it needs no link, and still fails.
        r#"{"Records":[]}"#,
        &[("PULSO__STORE__ENDPOINT_URL", "http://127.0.0.1:9")],
    )
    .await;
    answers.assert_each_failed_naming_the_keys();
}
