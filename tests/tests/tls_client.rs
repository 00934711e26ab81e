//! The HTTPS client the Lambda functions give the AWS SDK (`pulso_aws::tls`), over real TLS: a
//! server on loopback presents a certificate for `localhost` from an authority made for the test
//! and forwards the decrypted bytes to moto (`PULSO_TEST_AWS_ENDPOINT`). Real SDK calls go through
//! it: trusted, they succeed; with the compiled-in roots, the unknown authority is refused before a
//! byte reaches moto. Calls share a pooled connection, and timeouts and refused connections get the
//! error classes the SDK's retry strategy reads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::SdkError;
use pulso_tests::aws;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

/// A TLS front for moto: its port, the test authority's certificate, and counters of the TLS
/// connections it completed and of the requests' bytes it passed on.
struct TlsFront {
    port: u16,
    authority: CertificateDer<'static>,
    handshakes: Arc<AtomicUsize>,
    forwarded: Arc<AtomicUsize>,
}

async fn tls_front(upstream: SocketAddr) -> TlsFront {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Pulso test authority");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let forwarded = Arc::new(AtomicUsize::new(0));
    let (h, f) = (handshakes.clone(), forwarded.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, h, f) = (acceptor.clone(), h.clone(), f.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                let mut moto = TcpStream::connect(upstream).await.unwrap();
                if let Ok((to_moto, _)) = tokio::io::copy_bidirectional(&mut tls, &mut moto).await {
                    f.fetch_add(to_moto as usize, Ordering::SeqCst);
                }
            });
        }
    });
    TlsFront {
        port,
        authority: ca.der().clone(),
        handshakes,
        forwarded,
    }
}

fn moto_addr() -> SocketAddr {
    let endpoint = aws::endpoint().expect("moto");
    let host_port = endpoint.trim_start_matches("http://");
    std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .unwrap()
        .next()
        .unwrap()
}

/// The tests' moto configuration with `client` as the HTTP client, `endpoint` as the endpoint,
/// and (for the refusals) no retries, so each failure is one attempt.
async fn sdk_via(
    client: aws_sdk_dynamodb::config::SharedHttpClient,
    endpoint: &str,
    retries: bool,
) -> aws_sdk_dynamodb::Client {
    let sdk: SdkConfig = aws::sdk().await.unwrap();
    let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .http_client(client)
        .endpoint_url(endpoint);
    if !retries {
        config = config.retry_config(RetryConfig::disabled());
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

async fn table_names() -> Vec<String> {
    let direct = aws_sdk_dynamodb::Client::new(&aws::sdk().await.unwrap());
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let page = direct
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .unwrap();
        names.extend(page.table_names().iter().cloned());
        start = page.last_evaluated_table_name().map(str::to_string);
        if start.is_none() {
            return names;
        }
    }
}

#[tokio::test]
async fn sdk_calls_over_tls_to_a_trusted_server_succeed() {
    let front = tls_front(moto_addr()).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(front.authority.clone()).unwrap();
    let client = sdk_via(
        pulso_aws::tls::client_trusting(roots),
        &format!("https://localhost:{}", front.port),
        true,
    )
    .await;

    let name = aws::unique("tls");
    pulso_aws::dynamo::create_table(&client, &name)
        .await
        .expect("create the table over TLS");
    let described = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe it over TLS");
    assert_eq!(
        described.table().and_then(|t| t.table_name()),
        Some(name.as_str())
    );
    // moto itself (reached directly, in the clear) holds the table made through the front.
    assert!(table_names().await.contains(&name));
    // Through the front: TLS connections were made and requests passed on. (moto closes every
    // connection after one answer, so each call had its own; pooling is shown below.)
    assert!(front.handshakes.load(Ordering::SeqCst) >= 1);
    assert!(front.forwarded.load(Ordering::SeqCst) > 0);
}

/// A plain HTTP/1.1 server that keeps connections open and answers every request `200 {}` (an
/// empty DynamoDB answer); counts the connections it accepted.
async fn keep_alive_server() -> (u16, Arc<AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut conn = BufReader::new(tcp);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    conn.read_exact(&mut body).await.unwrap();
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                                  content-length: 2\r\n\r\n{}";
                    conn.get_mut().write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn calls_share_one_pooled_connection() {
    let (port, accepted) = keep_alive_server().await;
    let client = sdk_via(
        pulso_aws::tls::bundled_roots_client(),
        &format!("http://127.0.0.1:{port}"),
        false,
    )
    .await;
    for _ in 0..3 {
        let tables = client.list_tables().send().await.expect("an empty listing");
        assert!(tables.table_names().is_empty());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_compiled_in_roots_refuse_an_unknown_authority_and_nothing_is_written() {
    let front = tls_front(moto_addr()).await;
    let client = sdk_via(
        pulso_aws::tls::bundled_roots_client(),
        &format!("https://localhost:{}", front.port),
        false,
    )
    .await;
    let name = aws::unique("tls-refused");

    let err = pulso_aws::dynamo::create_table(&client, &name)
        .await
        .expect_err("a certificate from an authority Mozilla does not list is refused");

    let text = format!("{err:#}");
    assert!(
        text.contains("UnknownIssuer") || text.contains("unknown issuer"),
        "{text}"
    );
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0);
    assert_eq!(front.forwarded.load(Ordering::SeqCst), 0);
    assert!(!table_names().await.contains(&name));
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    // Accepts connections and reads nothing back.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let sdk = aws::sdk().await.unwrap();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .http_client(pulso_aws::tls::bundled_roots_client())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .read_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);

    let err = client.list_tables().send().await.unwrap_err();

    match &err {
        SdkError::DispatchFailure(failure) => assert!(failure.is_timeout(), "{err:?}"),
        other => panic!("expected a dispatch failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
    // A port nobody listens on: bound, then released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = sdk_via(
        pulso_aws::tls::bundled_roots_client(),
        &format!("http://127.0.0.1:{port}"),
        false,
    )
    .await;

    let err = client.list_tables().send().await.unwrap_err();

    match &err {
        SdkError::DispatchFailure(failure) => assert!(failure.is_io(), "{err:?}"),
        other => panic!("expected a dispatch failure, got {other:?}"),
    }
}
