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
pub mod secrets;
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
/// (the function's role). The configuration is put together directly rather than by
/// `aws_config`'s loader, which would look for profile files and a dozen settings Lambda never
/// sets, and whose default credential chain (profiles, web identity through an STS client,
/// container and instance metadata) would be linked into every function even when unused.
/// It keeps what the loader would give a function: the same retries, the SDK's 3.1 s connect
/// timeout, a lazy identity cache and `endpoint_url` when set.
///
/// `https` is the functions' client ([`tls::Https::bundled_roots`]); the caller keeps it to send
/// the request Pulso signs itself ([`secrets`]) through the same pools.
pub fn lambda_sdk_config(https: &tls::Https, endpoint_url: Option<&str>) -> SdkConfig {
    lambda_sdk_config_with(
        |name| std::env::var(name).ok(),
        https.for_sdk(),
        endpoint_url,
    )
}

fn lambda_sdk_config_with(
    env: impl Fn(&str) -> Option<String>,
    http_client: aws_smithy_runtime_api::client::http::SharedHttpClient,
    endpoint_url: Option<&str>,
) -> SdkConfig {
    use aws_config::Region;
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::identity::IdentityCache;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_dynamodb::config::SharedCredentialsProvider;

    // Lambda sets AWS_REGION; AWS_DEFAULT_REGION is the fallback the SDK's own provider reads.
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .filter_map(&env)
        .map(|r| r.trim().to_string())
        .find(|r| !r.is_empty())
        .map(Region::new);
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client)
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .retry_config(retry_config())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(3100))
                .build(),
        );
    builder.set_region(region);
    builder.set_endpoint_url(custom_endpoint(endpoint_url).map(str::to_string));
    builder.build()
}

/// The SDK's adaptive retry mode (client-side rate limiting on throttling), five attempts.
fn retry_config() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(5)
}

/// `endpoint_url` when it names one (a local test server such as moto).
fn custom_endpoint(endpoint_url: Option<&str>) -> Option<&str> {
    endpoint_url.map(str::trim).filter(|u| !u.is_empty())
}

fn loader(endpoint_url: Option<&str>) -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config());
    match custom_endpoint(endpoint_url) {
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
    fn the_lambda_configuration_keeps_what_the_loader_would_give() {
        use std::time::Duration;
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };

        let conf = lambda_sdk_config_with(
            env(&[
                ("AWS_REGION", "eu-west-1"),
                ("AWS_DEFAULT_REGION", "us-east-1"),
            ]),
            tls::bundled_roots_client(),
            Some(" http://127.0.0.1:5000 "),
        );
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(conf.endpoint_url(), Some("http://127.0.0.1:5000"));
        let retry = conf.retry_config().expect("retries are set");
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        assert_eq!(retry.max_attempts(), 5);
        assert_eq!(
            conf.timeout_config().and_then(|t| t.connect_timeout()),
            Some(Duration::from_millis(3100))
        );
        assert!(conf.credentials_provider().is_some());
        assert!(conf.identity_cache().is_some());
        assert!(conf.behavior_version().is_some());
        assert!(conf.http_client().is_some());

        // AWS_DEFAULT_REGION when AWS_REGION is unset or blank; no endpoint when none is named.
        let conf = lambda_sdk_config_with(
            env(&[("AWS_REGION", " "), ("AWS_DEFAULT_REGION", "ap-south-2")]),
            tls::bundled_roots_client(),
            Some("  "),
        );
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("ap-south-2"));
        assert_eq!(conf.endpoint_url(), None);
        let conf = lambda_sdk_config_with(env(&[]), tls::bundled_roots_client(), None);
        assert!(conf.region().is_none());
    }

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
