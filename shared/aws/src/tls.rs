//! The HTTP client the Lambda functions give the AWS SDK: hyper (HTTP/1.1) over rustls (aws-lc),
//! trusting Mozilla's root certificates compiled into the binary as ready-made trust anchors (the
//! `webpki-roots` crate), instead of the machine's certificate store.
//!
//! Why: the SDK's default client reads and parses the platform store at every cold start (on a
//! Debian machine, a 280-file directory walk plus a bundle: ~4.7 ms of a function's start) and
//! re-parses it each time a service client is built. The SDK's client also accepts extra roots only
//! as PEM, whose base64 decoding and certificate parsing cost ~0.5 ms of CPU on the first request
//! (more on Lambda's fractional vCPU). `webpki-roots` ships the anchors already extracted (subject,
//! key, name constraints), so building the trust store is a copy: no file I/O, no parsing, the same
//! roots on every machine. The cost: the roots change when the crate is updated, not with the
//! operating system, and a private CA cannot be added without a rebuild (Lambda talks to public AWS
//! endpoints only); and this module owns what the SDK's client did for these functions (connection
//! pool, timeouts, error classes). The `pulso` command, which may run behind a corporate proxy,
//! keeps the SDK's client and the platform store (`crate::sdk_config`).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;

/// How long an idle pooled connection is kept (the SDK's client keeps them 90 s too).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// An HTTPS client for the SDK that trusts Mozilla's roots (`webpki-roots`) only. Building it costs
/// nothing: the TLS configuration is made on the first request, once per timeout settings.
pub fn bundled_roots_client() -> SharedHttpClient {
    Https::bundled_roots().for_sdk()
}

/// The functions' HTTPS client itself, shared: given to the SDK ([`Https::for_sdk`]), and used
/// directly for the one request Pulso signs itself (`crate::secrets`), with the same TLS setup,
/// timeouts and connection pools.
#[derive(Debug, Clone)]
pub struct Https(Arc<RustlsClient>);

impl Https {
    /// Trusting Mozilla's roots only, as [`bundled_roots_client`].
    pub fn bundled_roots() -> Self {
        Https(Arc::new(RustlsClient::new(Roots::Mozilla)))
    }

    /// This client, for an [`aws_config::SdkConfig`].
    pub fn for_sdk(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// The connector (one connection pool) for `settings`' timeouts.
    pub fn connector(&self, settings: &HttpConnectorSettings) -> SharedHttpConnector {
        self.0.connector(settings)
    }
}

impl HttpClient for Https {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.validate_base_client_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// [`bundled_roots_client`] trusting `roots` instead: for tests, which run a TLS server whose
/// authority they made.
pub fn client_trusting(roots: RootCertStore) -> SharedHttpClient {
    SharedHttpClient::new(RustlsClient::new(Roots::Only(roots)))
}

#[derive(Debug)]
enum Roots {
    /// Mozilla's, compiled in.
    Mozilla,
    Only(RootCertStore),
}

/// Connect and read timeouts.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The SDK asks its HTTP client for a connector on every attempt, with the attempt's timeout
/// settings; each distinct setting gets one connector (one connection pool), kept here.
#[derive(Debug)]
struct RustlsClient {
    roots: Roots,
    config: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl RustlsClient {
    fn new(roots: Roots) -> Self {
        Self {
            roots,
            config: std::sync::OnceLock::new(),
            connectors: Mutex::new(HashMap::new()),
        }
    }

    fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.config
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let mut config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc supports rustls' default protocol versions")
                    .with_root_certificates(match &self.roots {
                        Roots::Mozilla => webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
                        Roots::Only(roots) => roots.clone(),
                    })
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Arc::new(config)
            })
            .clone()
    }

    fn connector(&self, settings: &HttpConnectorSettings) -> SharedHttpConnector {
        let key: Timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                let mut tcp = TcpConnector::new();
                tcp.enforce_http(false);
                tcp.set_nodelay(true);
                tcp.set_connect_timeout(key.0);
                // https:// through TLS; http:// (a local test server) in the clear.
                let https = hyper_rustls::HttpsConnector::from((tcp, self.tls_config()));
                let client = Client::builder(TokioExecutor::new())
                    .pool_timer(TokioTimer::new())
                    .pool_idle_timeout(POOL_IDLE)
                    .build(https);
                SharedHttpConnector::new(Connector {
                    client,
                    read_timeout: key.1,
                })
            })
            .clone()
    }
}

impl HttpClient for RustlsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector(settings)
    }

    /// Nothing to check early: there is no file to read and nothing that can fail to parse.
    fn validate_base_client_config(
        &self,
        _components: &RuntimeComponentsBuilder,
        _cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

type HyperClient = Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>;

#[derive(Debug)]
struct Connector {
    client: HyperClient,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let sent = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answered = match read_timeout {
                // The SDK's read timeout: until the response's head has arrived.
                Some(limit) => match tokio::time::timeout(limit, sent).await {
                    Ok(answered) => answered,
                    Err(_) => {
                        return Err(ConnectorError::timeout(
                            format!("no response within the read timeout of {limit:?}").into(),
                        ));
                    }
                },
                None => sent.await,
            };
            let response = answered.map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The error classes the SDK's retry strategy reads, as its own client assigns them: failures to
/// connect (refused, unreachable, connect timeout, TLS handshake) and broken connections are I/O
/// errors, retried; hyper's timeouts are timeouts; a malformed request is the caller's.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if error.is_connect() {
        return ConnectorError::io(error.into());
    }
    let hyper_error = find::<hyper::Error>(&error);
    match hyper_error {
        Some(h) if h.is_timeout() => ConnectorError::timeout(error.into()),
        Some(h) if h.is_user() => ConnectorError::user(error.into()),
        Some(h) if h.is_incomplete_message() => {
            ConnectorError::other(error.into(), Some(ErrorKind::TransientError))
        }
        Some(h) if h.is_closed() || h.is_canceled() => ConnectorError::io(error.into()),
        _ if find::<std::io::Error>(&error).is_some() => ConnectorError::io(error.into()),
        _ => ConnectorError::other(error.into(), None),
    }
}

fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    std::iter::successors(Some(error), |&e| e.source()).find_map(|e| e.downcast_ref::<E>())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_roots_include_the_authority_aws_endpoints_chain_to() {
        // AWS service endpoints present Amazon Trust Services certificates (Amazon Root CA 1-4).
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        let amazon = webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .filter(|a| {
                a.subject
                    .as_ref()
                    .windows(b"Amazon Root CA".len())
                    .any(|w| w == b"Amazon Root CA")
            })
            .count();
        assert!(amazon >= 4, "{amazon} Amazon roots");
    }
}
