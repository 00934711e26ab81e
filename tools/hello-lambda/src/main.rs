//! The smallest `lambda_runtime` function: answers every event with `{"hello":"world"}`.
//! `scripts/cold-start` builds it in the same run as Pulso's functions and reports each function's
//! cold start as a ratio to this one's.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({ "hello": "world" }))
    }))
    .await
}
