//! The HTTP client the Lambda functions give the AWS SDK: rustls (aws-lc) trusting Mozilla's root
//! certificates compiled into the binary (the `webpki-root-certs` crate, written as PEM by
//! `build.rs`), instead of the machine's certificate store.
//!
//! Why: the SDK's default client reads and parses the platform store at every cold start (on a
//! Debian machine, a 280-file directory walk plus a bundle: ~4.7 ms of a function's start) and
//! re-parses it each time a service client is built. Compiled-in roots need no file I/O, are parsed
//! once, on the first request, and are the same on every machine. The cost: the roots change when
//! the crate is updated, not with the operating system, and a private CA cannot be added without a
//! rebuild (Lambda talks to public AWS endpoints only). The `pulso` command, which may run behind
//! a corporate proxy, keeps the platform store (`crate::sdk_config`).

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

/// Mozilla's root certificates as one PEM bundle (from `build.rs`).
pub const ROOTS_PEM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/roots.pem"));

/// An HTTPS client for the SDK that trusts [`ROOTS_PEM`] only. Connectors (and the parsed roots)
/// are built on first use and cached per timeout settings; building a service client costs nothing.
pub fn bundled_roots_client() -> SharedHttpClient {
    let store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(ROOTS_PEM);
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store alone is a valid TLS context");
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(Lazy(inner))
}

/// The SDK's client minus its eager check: `validate_base_client_config` builds (and drops) a
/// whole TLS connector each time a service client is constructed, only so that certificate loading
/// happens early. Here loading happens on the first request, once.
#[derive(Debug)]
struct Lazy(SharedHttpClient);

impl HttpClient for Lazy {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _components: &RuntimeComponentsBuilder,
        _cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_bundle_is_mozillas_roots_and_parses() {
        let text = std::str::from_utf8(ROOTS_PEM).unwrap();
        let count = text.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(count, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(count > 100, "{count} roots");
        // Every certificate decodes back to the DER the crate ships, in order.
        let ders: Vec<Vec<u8>> = text
            .split("-----END CERTIFICATE-----")
            .filter(|b| b.contains("BEGIN"))
            .map(|block| {
                let b64: String = block
                    .lines()
                    .filter(|l| !l.starts_with("-----") && !l.is_empty())
                    .collect();
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()
            })
            .collect();
        for (der, shipped) in ders.iter().zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS) {
            assert_eq!(der.as_slice(), shipped.as_ref());
        }
    }

    #[test]
    fn the_roots_include_the_authority_aws_endpoints_chain_to() {
        // AWS service endpoints present Amazon Trust Services certificates (Amazon Root CA 1-4).
        let amazon = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|c| {
                c.as_ref()
                    .windows(b"Amazon Root CA".len())
                    .any(|w| w == b"Amazon Root CA")
            })
            .count();
        assert!(amazon >= 4, "{amazon} Amazon roots");
    }
}
