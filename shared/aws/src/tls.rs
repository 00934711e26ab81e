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
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
use http::Uri;
use hyper_rustls::MaybeHttpsStream;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::RootCertStore;

/// How long an idle pooled connection is kept (the SDK's client keeps them 90 s too).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// How long a connection opened ahead ([`Https::preconnect`]) may wait for its first request;
/// an older one is left, as the server may have closed it.
const WARM_FOR: Duration = Duration::from_secs(10);

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

    /// Trusting `roots` only, as [`client_trusting`].
    pub fn trusting(roots: RootCertStore) -> Self {
        Https(Arc::new(RustlsClient::new(Roots::Only(roots))))
    }

    /// This client, for an [`aws_config::SdkConfig`].
    pub fn for_sdk(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// The connector (one connection pool) for `settings`' timeouts.
    pub fn connector(&self, settings: &HttpConnectorSettings) -> SharedHttpConnector {
        self.0.connector(settings)
    }

    /// Opens a connection to `endpoint` (`scheme://host[:port]`) in a task of its own, TLS
    /// handshake included, for the first request to that endpoint through this client (whatever
    /// its timeouts) to take instead of connecting. A cold start calls it for the table while it
    /// waits for its event or its secret: the connection is then made during that wait, not after
    /// it. A connection that failed, or is not taken within 10 s, is left and the request
    /// connects as usual. Call it within a Tokio runtime.
    pub fn preconnect(&self, endpoint: &str, connect_timeout: Option<Duration>) {
        let Ok(uri) = endpoint.parse::<Uri>() else {
            return;
        };
        let Some(key) = endpoint_key(&uri) else {
            return;
        };
        let mut https = self.0.https_connector(connect_timeout);
        let opening =
            tokio::spawn(async move { tower_service::Service::call(&mut https, uri).await });
        self.0.warm.put(key, opening);
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
    Https::trusting(roots).for_sdk()
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
    warm: Arc<Warm>,
}

impl RustlsClient {
    fn new(roots: Roots) -> Self {
        Self {
            roots,
            config: std::sync::OnceLock::new(),
            connectors: Mutex::new(HashMap::new()),
            warm: Arc::new(Warm::default()),
        }
    }

    /// TCP, then TLS for `https://` (`http://`, a local test server, in the clear).
    fn https_connector(&self, connect_timeout: Option<Duration>) -> HttpsConnector {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        hyper_rustls::HttpsConnector::from((tcp, self.tls_config()))
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
                let https = Connecting {
                    https: self.https_connector(key.0),
                    warm: self.warm.clone(),
                };
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

type HttpsConnector = hyper_rustls::HttpsConnector<TcpConnector>;
type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
type BoxError = Box<dyn StdError + Send + Sync>;
type HyperClient = Client<Connecting, SdkBody>;

/// The pools' connector: a connection opened ahead for the destination ([`Https::preconnect`])
/// if there is one, else a new one.
#[derive(Debug, Clone)]
struct Connecting {
    https: HttpsConnector,
    warm: Arc<Warm>,
}

impl tower_service::Service<Uri> for Connecting {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.https.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Some(opening) = endpoint_key(&uri).and_then(|key| self.warm.take(&key)) else {
            return self.https.call(uri);
        };
        let mut https = self.https.clone();
        Box::pin(async move {
            match opening.await {
                Ok(Ok(stream)) => Ok(stream),
                // Opening it ahead failed: this request connects, and reports its own error.
                _ => https.call(uri).await,
            }
        })
    }
}

/// `scheme://authority`, lower-cased: what a connection is opened to.
fn endpoint_key(uri: &Uri) -> Option<String> {
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?).to_ascii_lowercase())
}

type Opening = tokio::task::JoinHandle<Result<Stream, BoxError>>;

/// Connections opened ahead, by endpoint, each taken once.
#[derive(Default)]
struct Warm(Mutex<Vec<(String, Instant, Opening)>>);

impl Warm {
    fn put(&self, key: String, opening: Opening) {
        let mut warm = self.0.lock().unwrap_or_else(|e| e.into_inner());
        warm.retain(|(_, opened, _)| opened.elapsed() < WARM_FOR);
        warm.push((key, Instant::now(), opening));
    }

    fn take(&self, key: &str) -> Option<Opening> {
        let mut warm = self.0.lock().unwrap_or_else(|e| e.into_inner());
        warm.retain(|(_, opened, _)| opened.elapsed() < WARM_FOR);
        let at = warm.iter().position(|(k, _, _)| k == key)?;
        Some(warm.swap_remove(at).2)
    }
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let warm = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list()
            .entries(warm.iter().map(|(key, _, _)| key))
            .finish()
    }
}

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
