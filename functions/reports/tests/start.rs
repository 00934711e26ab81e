//! The reports binary's start against a stand-in Lambda Runtime API on loopback. Its context is
//! handed over while the signing keys are read (its first reads go out meanwhile); keys that
//! cannot be read still fail each invocation, naming the setting, and the process stays up for the
//! next one, which reads them again.

#[path = "../../../shared/aws/testing/lambda_api.rs"]
mod lambda_api;

#[tokio::test]
async fn keys_that_cannot_be_read_fail_each_run_by_name_and_the_process_stays_up() {
    let answers = lambda_api::two_invocations(
        env!("CARGO_BIN_EXE_reports"),
        "reports",
        r#"{"report":"daily","at":"2026-03-02T07:00:00Z"}"#,
        // Nothing listens there: no claim can be made.
        &[("PULSO__STORE__ENDPOINT_URL", "http://127.0.0.1:9")],
    )
    .await;
    answers.assert_each_failed_naming_the_keys();
}
