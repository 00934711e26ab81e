//! The dispatch binary's start against a stand-in Lambda Runtime API on loopback: the runtime asks
//! for its first event while the context is built and the keys are read, and keys that cannot be
//! read fail each run with an error that names the missing setting, the process staying up for the
//! next one (which tries again), instead of dying before its first event.

#[path = "../../../shared/aws/testing/lambda_api.rs"]
mod lambda_api;

#[tokio::test]
async fn keys_that_cannot_be_read_fail_each_run_by_name_and_the_process_stays_up() {
    // A deployment's settings, but neither the signing keys nor the secret that holds them.
    let answers = lambda_api::two_invocations(
        env!("CARGO_BIN_EXE_dispatch"),
        "dispatch",
        r#"{"source":"aws.scheduler","detail-type":"Scheduled Event","detail":{}}"#,
        // Nothing listens there: the run's first reads, which go out beside the keys' read, fail
        // too, but the run fails on its keys at once instead of waiting for their retries.
        &[("PULSO__STORE__ENDPOINT_URL", "http://127.0.0.1:9")],
    )
    .await;
    answers.assert_each_failed_naming_the_keys();
}
