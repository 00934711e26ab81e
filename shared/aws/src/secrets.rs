//! Secrets Manager's `GetSecretValue`, the one Secrets Manager call Pulso makes (the functions'
//! signing keys and webhook secret, once per cold start), sent as a single SigV4-signed request
//! through the functions' HTTPS client ([`crate::tls::Https`]) instead of an SDK client.
//!
//! Why: it is the first request of every function that reads a secret, so all that precedes it
//! delays the whole cold start. An SDK client must first parse its service's endpoint partitions
//! and assemble its runtime plugins (~0.1–0.15 ms here, whatever endpoint it is given), and each
//! call then runs the orchestrator's interceptors; the read needs none of that. The DynamoDB, S3
//! and SES clients are still the SDK's, built while this request is on its way.
//!
//! What it keeps from the SDK: the region, credentials, endpoint override and timeouts of the
//! functions' [`SdkConfig`], the SDK's own signer (`aws-sigv4`), and retries of what a retry can
//! mend (a connection that failed, throttling, a server error), three attempts in all. What it
//! does not do: FIPS or dual-stack endpoints (Pulso's configuration sets neither), and partitions
//! beyond those [`dns_suffix`] knows.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{HttpConnector as _, HttpConnectorSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use crate::dynamo::DisplayErrorChain;
use crate::tls::Https;

/// Attempts in all, and the wait before each retry.
const ATTEMPTS: u32 = 3;
const BACKOFF: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

/// Why a secret could not be read. The text names the service's error code where there is one
/// (`ResourceNotFoundException`, `AccessDeniedException`, …), never the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no AWS region is set (AWS_REGION)")]
    NoRegion,
    #[error("no AWS credentials: {0}")]
    Credentials(String),
    #[error("the request could not be signed: {0}")]
    Signing(String),
    #[error("Secrets Manager could not be reached: {0}")]
    Unreachable(String),
    #[error("Secrets Manager refused the request: {}", refusal(*status, code, message))]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the secret has no string value")]
    NoString,
    #[error("Secrets Manager's answer could not be read: {0}")]
    BadAnswer(String),
}

fn refusal(status: u16, code: &str, message: &str) -> String {
    let mut text = if code.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("{code} (HTTP {status})")
    };
    if !message.is_empty() {
        text.push_str(": ");
        text.push_str(message);
    }
    text
}

impl SecretError {
    /// What another attempt can mend: a failed connection, throttling, a server error.
    fn retryable(&self) -> bool {
        match self {
            SecretError::Unreachable(_) => true,
            SecretError::Refused { status, code, .. } => {
                *status >= 500 || *status == 429 || code.contains("Throttl")
            }
            _ => false,
        }
    }
}

/// The string value of the secret `secret_id` (an ARN or a name).
pub async fn secret_string(
    sdk: &SdkConfig,
    https: &Https,
    secret_id: &str,
) -> Result<String, SecretError> {
    let region = sdk.region().ok_or(SecretError::NoRegion)?.to_string();
    let endpoint = match sdk.endpoint_url() {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("https://secretsmanager.{region}.{}", dns_suffix(&region)),
    };
    let identity: Identity = sdk
        .credentials_provider()
        .ok_or_else(|| SecretError::Credentials("no credentials provider".into()))?
        .provide_credentials()
        .await
        .map_err(|e| SecretError::Credentials(DisplayErrorChain(&e).to_string()))?
        .into();
    let body = serde_json::json!({ "SecretId": secret_id }).to_string();
    let mut settings = HttpConnectorSettings::builder();
    if let Some(timeouts) = sdk.timeout_config() {
        settings.set_connect_timeout(timeouts.connect_timeout());
        settings.set_read_timeout(timeouts.read_timeout());
    }
    let connector = https.connector(&settings.build());
    let mut attempt = 0;
    loop {
        let request = signed_request(&endpoint, &region, &identity, &body, SystemTime::now())?;
        let answer = match connector.call(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                match ByteStream::new(response.into_body()).collect().await {
                    Ok(bytes) => read_answer(status, &bytes.into_bytes()),
                    Err(e) => Err(SecretError::Unreachable(DisplayErrorChain(&e).to_string())),
                }
            }
            Err(e) => Err(SecretError::Unreachable(DisplayErrorChain(&e).to_string())),
        };
        match answer {
            Err(e) if e.retryable() && attempt + 1 < ATTEMPTS => {
                tokio::time::sleep(BACKOFF[attempt as usize]).await;
                attempt += 1;
            }
            answer => return answer,
        }
    }
}

/// The DNS suffix of the partition `region` belongs to (Secrets Manager's endpoint is
/// `secretsmanager.<region>.<suffix>` in each).
pub fn dns_suffix(region: &str) -> &'static str {
    const SUFFIXES: [(&str, &str); 6] = [
        ("cn-", "amazonaws.com.cn"),
        ("us-isof-", "csp.hci.ic.gov"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("us-iso-", "c2s.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
        ("eusc-", "amazonaws.eu"),
    ];
    SUFFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("amazonaws.com", |(_, suffix)| suffix)
}

/// `GetSecretValue`'s request, signed as of `at` (SigV4, the session token included).
fn signed_request(
    endpoint: &str,
    region: &str,
    identity: &Identity,
    body: &str,
    at: SystemTime,
) -> Result<HttpRequest, SecretError> {
    let signing = |e: &dyn std::fmt::Display| SecretError::Signing(e.to_string());
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "secretsmanager.GetSecretValue"),
    ];
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("secretsmanager")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| signing(&e))?
        .into();
    let uri = format!("{endpoint}/");
    let signable = SignableRequest::new(
        "POST",
        uri.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| signing(&e))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| signing(&e))?
        .into_parts();
    let mut request = http::Request::builder().method("POST").uri(&uri);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut request = request.body(SdkBody::from(body)).map_err(|e| signing(&e))?;
    instructions.apply_to_request_http1x(&mut request);
    HttpRequest::try_from(request).map_err(|e| signing(&e))
}

/// The secret's string from a 200 answer; the service's error code and message from any other.
fn read_answer(status: u16, body: &[u8]) -> Result<String, SecretError> {
    #[derive(serde::Deserialize)]
    struct Value {
        #[serde(rename = "SecretString")]
        secret_string: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Fault {
        #[serde(rename = "__type", default)]
        kind: String,
        #[serde(alias = "Message", default)]
        message: String,
    }
    if status == 200 {
        // The parser's own message could quote the answer: only where it went wrong is kept.
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            SecretError::BadAnswer(format!(
                "{:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        return value.secret_string.ok_or(SecretError::NoString);
    }
    let fault: Fault = serde_json::from_slice(body).unwrap_or(Fault {
        kind: String::new(),
        message: String::new(),
    });
    // `__type` may be namespaced: `com.amazonaws.secretsmanager#ResourceNotFoundException`.
    let code = fault.kind.rsplit('#').next().unwrap_or_default();
    Err(SecretError::Refused {
        status,
        code: code.to_string(),
        message: fault.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_signed_as_botocore_signs_it() {
        // The expected signature is botocore's `SigV4Auth` for the same request, time and keys
        // (AWS's documentation example keys), computed independently of this crate.
        let identity: Identity = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-1".into()),
            None,
            "example",
        )
        .into();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_772_445_600); // 2026-03-02T10:00Z
        let region = "eu-west-1";
        let endpoint = format!("https://secretsmanager.{region}.{}", dns_suffix(region));
        let request = signed_request(
            &endpoint,
            region,
            &identity,
            r#"{"SecretId":"pulso-token"}"#,
            at,
        )
        .unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(
            request.uri(),
            "https://secretsmanager.eu-west-1.amazonaws.com/"
        );
        let header = |name: &str| request.headers().get(name).unwrap_or_default().to_string();
        assert_eq!(header("x-amz-target"), "secretsmanager.GetSecretValue");
        assert_eq!(header("content-type"), "application/x-amz-json-1.1");
        assert_eq!(header("x-amz-date"), "20260302T100000Z");
        assert_eq!(header("x-amz-security-token"), "session-token-1");
        assert_eq!(
            header("authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260302/eu-west-1/secretsmanager/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=fbb1633ca8c075bc6eed4973f5e0ee5346fd22efbad26b26f7b1c9505f50ff2d"
        );
        assert_eq!(
            request.body().bytes().unwrap(),
            br#"{"SecretId":"pulso-token"}"#
        );
    }

    #[test]
    fn each_partition_has_its_endpoint_suffix() {
        for (region, suffix) in [
            ("eu-west-1", "amazonaws.com"),
            ("us-gov-west-1", "amazonaws.com"),
            ("cn-north-1", "amazonaws.com.cn"),
            ("us-iso-east-1", "c2s.ic.gov"),
            ("us-isob-east-1", "sc2s.sgov.gov"),
            ("us-isof-south-1", "csp.hci.ic.gov"),
            ("eu-isoe-west-1", "cloud.adc-e.uk"),
            ("eusc-de-east-1", "amazonaws.eu"),
        ] {
            assert_eq!(dns_suffix(region), suffix, "{region}");
        }
    }

    #[test]
    fn an_answer_gives_the_string_or_the_services_reason() {
        assert_eq!(
            read_answer(200, br#"{"ARN":"a","Name":"n","SecretString":"k1:abc"}"#).unwrap(),
            "k1:abc"
        );
        assert!(matches!(
            read_answer(200, br#"{"ARN":"a","SecretBinary":"AAEC"}"#),
            Err(SecretError::NoString)
        ));
        assert!(matches!(
            read_answer(200, b"<html>"),
            Err(SecretError::BadAnswer(_))
        ));
        // An answer that is not the expected object is not quoted back.
        let e = read_answer(200, br#""k1:abc""#).unwrap_err();
        assert!(!e.to_string().contains("k1:abc"), "{e}");
        let e = read_answer(
            400,
            br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Secrets Manager refused the request: ResourceNotFoundException (HTTP 400): \
             Secrets Manager can't find the specified secret."
        );
        assert!(!e.retryable());
        let e = read_answer(
            400,
            br#"{"__type":"ThrottlingException","message":"slow down"}"#,
        )
        .unwrap_err();
        assert!(e.retryable(), "{e}");
        let e = read_answer(503, b"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Secrets Manager refused the request: HTTP 503"
        );
        assert!(e.retryable());
        assert!(
            !read_answer(403, br#"{"__type":"AccessDeniedException"}"#)
                .unwrap_err()
                .retryable()
        );
    }
}
