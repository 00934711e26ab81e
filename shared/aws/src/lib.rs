//! pulso-aws: Pulso's AWS adapters of `pulso_core`'s ports.
//!
//! - [`DynamoStore`]: every store port on one DynamoDB table (`docs/data-model.md`).
//! - [`SesMailer`]: the mailer on SES v2 (raw MIME).
//! - [`S3Archive`]: the report archive on S3.
//! - [`RandomIds`]: UUID v7 ids.
//! - [`runtime`]: what a Lambda function builds at cold start; [`stream`]: answers from the
//!   table's stream.
//!
//! Adapters hold no business rules: they map ports to AWS calls and AWS errors to port errors.

pub mod dynamo;
pub mod keys;
mod lazy;
pub mod runtime;
pub mod s3;
pub mod ses;
pub mod stream;
pub mod tls;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub use dynamo::DynamoStore;
pub use s3::S3Archive;
pub use ses::SesMailer;

/// The AWS SDK configuration every adapter shares: region and credentials from the environment
/// (the Lambda role in AWS), the SDK's adaptive retry mode (client-side rate limiting on
/// throttling), and `endpoint_url` when set (a local test server such as moto). TLS trusts the
/// platform's certificate store (the `pulso` command; the functions use [`lambda_sdk_config`]).
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    loader(endpoint_url).load().await
}

/// [`sdk_config`] for the Lambda functions, built for a fast cold start: the HTTPS client of
/// [`tls`] (Mozilla's roots compiled in, parsed on the first request) instead of the platform's
/// certificate store, and region and credentials read from the environment variables Lambda sets
/// (the function's role), without the default provider chain (profile files, web identity through
/// an STS client, container and instance metadata), which Lambda never needs.
pub async fn lambda_sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    loader(endpoint_url)
        .http_client(tls::bundled_roots_client())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .region(EnvironmentVariableRegionProvider::new())
        .load()
        .await
}

fn loader(endpoint_url: Option<&str>) -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(5));
    match endpoint_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => loader.endpoint_url(url),
        None => loader,
    }
}

/// Fresh ids: UUID v7 (time-ordered, random), in the simple 32-hex-digit form.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl pulso_core::ports::Ids for RandomIds {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::ports::Ids;
    use pulso_core::types::ContactId;

    #[test]
    fn random_ids_are_valid_unique_and_ordered() {
        let ids: Vec<String> = (0..1000).map(|_| RandomIds.new_id()).collect();
        assert!(ids.iter().all(|id| ContactId::parse(id).is_ok()));
        let mut dedup = ids.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), ids.len());
    }
}
