//! The AWS adapters against moto's server (and, for the SES answers moto cannot give — throttling,
//! `GetAccount` — a stub SES endpoint on loopback): the SES v2 mailer, the S3 archive, pagination
//! of the DynamoDB store, the stream decoder, the Lambda context builder, and the rules that no
//! `Scan` exists and that the table matches `docs/data-model.md`.

use std::collections::HashMap;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use jiff::civil::date;
use mail_parser::MessageParser;

use pulso_aws::stream::{StreamEvent, response_changes, stream_image};
use pulso_aws::{DynamoStore, SesMailer};
use pulso_core::mail::{Content, Envelope, Unsubscribe, build};
use pulso_core::model::*;
use pulso_core::ports::*;
use pulso_core::types::*;
use pulso_tests::aws;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// --- SES ------------------------------------------------------------------------------------------

fn survey_email(to: &str) -> OutgoingEmail {
    let to = [Email::parse(to).unwrap()];
    let env = Envelope {
        from: "Acme <nps@acme.example>",
        to: &to,
        reply_to: Some("help@acme.example"),
        message_id: "survey.s123",
        date: t("2026-03-02T08:00:00Z"),
        tag: "survey",
        reference: "s123".into(),
    };
    let content = Content {
        subject: "¿Nos recomendarías a un amigo?".into(),
        text: "Hola Ana, del 0 al 10…".into(),
        html: "<table><tr><td>Hola Ana</td></tr></table>".into(),
        images: vec![],
    };
    let unsub = Unsubscribe {
        https: "https://nps.acme.example/u/tok".into(),
        mailto: "mailto:unsubscribe@acme.example?subject=s123".into(),
    };
    build(&env, &content, Some(&unsub)).unwrap()
}

#[tokio::test]
async fn ses_sends_the_exact_mime_bytes() {
    let mailer = aws::ses_mailer("acme.example", Some("pulso-events"))
        .await
        .unwrap();
    let email = survey_email("ana@customer.example");
    let id = mailer.send(&email).await.unwrap();
    assert!(!id.is_empty());

    let sent = aws::sent_raw_message(&id).await.unwrap();
    assert_eq!(sent.source, "nps@acme.example");
    assert!(
        sent.destinations
            .contains(&"ana@customer.example".to_string())
    );
    assert_eq!(sent.raw.as_bytes(), email.raw.as_slice());

    let msg = MessageParser::default()
        .parse(sent.raw.as_bytes())
        .expect("parses");
    assert_eq!(msg.subject(), Some("¿Nos recomendarías a un amigo?"));
    assert_eq!(
        msg.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("nps@acme.example")
    );
    assert_eq!(msg.message_id(), Some("survey.s123@acme.example"));
    assert_eq!(
        msg.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        msg.header_raw("List-Unsubscribe")
            .is_some_and(|h| h.contains("https://nps.acme.example/u/tok"))
    );
    assert_eq!(
        msg.body_text(0).as_deref().map(str::trim),
        Some("Hola Ana, del 0 al 10…")
    );
    assert!(msg.body_html(0).is_some_and(|h| h.contains("Hola Ana")));
}

#[tokio::test]
async fn ses_refuses_an_unverified_sender_for_good() {
    let mailer = aws::ses_mailer("acme.example", None).await.unwrap();
    let mut email = survey_email("ana@customer.example");
    email.from = "nps@not-verified.example".into();
    let err = mailer.send(&email).await.unwrap_err();
    assert!(
        matches!(err, MailError::Rejected(ref m) if m.contains("MessageRejected")),
        "{err:?}"
    );
    // The error names the code, not the recipient.
    assert!(!err.to_string().contains("ana@"));
    // Nothing was recorded as sent from that sender.
    assert!(
        aws::sent_raw_messages()
            .await
            .unwrap()
            .iter()
            .all(|m| m.source != "nps@not-verified.example")
    );
}

/// A stub AWS endpoint on loopback answering every request with `status`, `error_type` and
/// `body`, for the answers moto does not give. Returns its URL; the server ends with the test's
/// runtime.
async fn stub_endpoint(
    status: u16,
    error_type: Option<&'static str>,
    body: &'static str,
) -> String {
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || async move {
        let mut resp = (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body,
        )
            .into_response();
        if let Some(e) = error_type {
            resp.headers_mut()
                .insert("x-amzn-errortype", HeaderValue::from_static(e));
        }
        resp
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn stub_sdk(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "stub"))
        // One attempt: the test checks the mapping, not the SDK's backoff.
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

async fn mailer_at(url: &str) -> SesMailer {
    SesMailer::from_sdk(&stub_sdk(url).await, None)
}

#[tokio::test]
async fn ses_throttling_is_throttled_and_other_refusals_are_mapped() {
    type Case = (u16, &'static str, &'static str, fn(&MailError) -> bool);
    let cases: [Case; 4] = [
        (
            429,
            "TooManyRequestsException",
            r#"{"message":"Too many requests"}"#,
            |e| matches!(e, MailError::Throttled(_)),
        ),
        (
            400,
            "Throttling",
            r#"{"message":"Maximum sending rate exceeded."}"#,
            |e| matches!(e, MailError::Throttled(_)),
        ),
        (
            400,
            "AccountSuspendedException",
            r#"{"message":"suspended"}"#,
            |e| matches!(e, MailError::Rejected(_)),
        ),
        (500, "InternalFailure", r#"{"message":"oops"}"#, |e| {
            matches!(e, MailError::Unavailable(_))
        }),
    ];
    for (status, code, body, expected) in cases {
        let url = stub_endpoint(status, Some(code), body).await;
        let err = mailer_at(&url)
            .await
            .send(&survey_email("ana@customer.example"))
            .await
            .unwrap_err();
        assert!(expected(&err), "{code}: {err:?}");
    }
}

#[tokio::test]
async fn ses_sending_rate_comes_from_get_account() {
    let url = stub_endpoint(
        200,
        None,
        r#"{"SendQuota":{"Max24HourSend":50000.0,"MaxSendRate":14.0,"SentLast24Hours":3.0},"SendingEnabled":true,"ProductionAccessEnabled":true}"#,
    )
    .await;
    assert_eq!(
        mailer_at(&url).await.max_send_rate().await.unwrap(),
        Some(14.0)
    );
    // moto has no GetAccount: the failure is an error the caller can fall back from
    // (`email.max_send_rate` in config), never a panic or a made-up rate.
    let moto = aws::ses_mailer("acme.example", None).await.unwrap();
    assert!(matches!(
        moto.max_send_rate().await,
        Err(MailError::Unavailable(_)) | Err(MailError::Rejected(_))
    ));
}

#[tokio::test]
async fn dynamodb_failures_map_to_conflict_or_unavailable() {
    const CANCELLED: &str = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException";
    let cases: [(u16, &'static str, &'static str, bool); 4] = [
        (
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            r#"{"message":"slow down"}"#,
            false,
        ),
        (500, "InternalServerError", r#"{"message":"oops"}"#, false),
        (
            400,
            CANCELLED,
            r#"{"Message":"cancelled","CancellationReasons":[{"Code":"None"},{"Code":"ConditionalCheckFailed","Message":"The conditional request failed"}]}"#,
            true,
        ),
        (
            400,
            CANCELLED,
            r#"{"Message":"cancelled","CancellationReasons":[{"Code":"TransactionConflict"},{"Code":"None"}]}"#,
            false,
        ),
    ];
    for (status, code, body, conflict) in cases {
        let url = stub_endpoint(status, Some(code), body).await;
        let store = DynamoStore::from_sdk(&stub_sdk(&url).await, "pulso");
        // A new contact is a transaction (contact + email lock).
        let err = store.put_contact(&contact(1)).await.unwrap_err();
        if conflict {
            assert!(matches!(err, StoreError::Conflict(_)), "{code}: {err:?}");
        } else {
            assert!(matches!(err, StoreError::Unavailable(_)), "{code}: {err:?}");
        }
        assert!(!err.to_string().contains("p1@"), "no address in {err}");
    }
    // Nobody listening: unavailable, not a panic.
    let gone = DynamoStore::from_sdk(&stub_sdk("http://127.0.0.1:9").await, "pulso");
    assert!(matches!(
        gone.contact(&ContactId::parse("c1").unwrap()).await,
        Err(StoreError::Unavailable(_))
    ));
}

// --- S3 -------------------------------------------------------------------------------------------

#[tokio::test]
async fn s3_archive_puts_gets_and_lists_encrypted_objects() {
    let archive = aws::fresh_bucket().await.unwrap().with_page_size(2);
    let keys = [
        "reports/weekly/2026-W10/report.html",
        "reports/weekly/2026-W10/report.csv",
        "reports/weekly/2026-W10/report.json",
        "reports/weekly/2026-W11/report.html",
        "reports/daily/2026-03-02/report.html",
    ];
    for k in keys {
        archive.put(k, k.as_bytes(), "text/html").await.unwrap();
    }
    assert_eq!(
        archive
            .get("reports/weekly/2026-W10/report.csv")
            .await
            .unwrap()
            .as_deref(),
        Some(b"reports/weekly/2026-W10/report.csv".as_slice())
    );
    assert_eq!(archive.get("reports/none.html").await.unwrap(), None);
    // Five keys in pages of two, sorted.
    let mut all = keys.map(String::from).to_vec();
    all.sort();
    assert_eq!(archive.list("reports/").await.unwrap(), all);
    assert_eq!(archive.list("").await.unwrap(), all);
    assert_eq!(
        archive
            .list("reports/weekly/2026-W10/")
            .await
            .unwrap()
            .len(),
        3
    );

    let head = archive
        .client()
        .head_object()
        .bucket(archive.bucket())
        .key(keys[0])
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/html"));
}

#[tokio::test]
async fn s3_archive_keeps_the_buckets_default_encryption() {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    // The bucket encrypts with a KMS key by default, as the template's archive bucket does.
    let archive = aws::fresh_bucket().await.unwrap();
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/0e0e0e0e-pulso-archive-test";
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id(key_arn)
                .build()
                .unwrap(),
        )
        .build();
    archive
        .client()
        .put_bucket_encryption()
        .bucket(archive.bucket())
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let key = "reports/daily/2026-03-02/report.html";
    archive
        .put(key, b"<p>report</p>", "text/html")
        .await
        .unwrap();
    let head = archive
        .client()
        .head_object()
        .bucket(archive.bucket())
        .key(key)
        .send()
        .await
        .unwrap();
    // No header of the archive's overrode the bucket's key.
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key_arn));
}

#[tokio::test]
async fn s3_archive_refuses_bad_keys_and_writes_nothing() {
    let archive = aws::fresh_bucket().await.unwrap();
    for bad in ["", "/abs", "a/../b", "a//b", "a b", "x/"] {
        assert_eq!(
            archive.put(bad, b"x", "text/plain").await,
            Err(ArchiveError::BadKey)
        );
        assert_eq!(archive.get(bad).await, Err(ArchiveError::BadKey));
    }
    assert_eq!(archive.list("../").await, Err(ArchiveError::BadKey));
    assert!(archive.list("").await.unwrap().is_empty());
}

// --- DynamoDB: pagination, no Scan, the table as documented -------------------------------------------

fn contact(i: usize) -> Contact {
    let id = ContactId::parse(&format!("c{i}")).unwrap();
    Contact {
        slot: slot_of(&id),
        id,
        email: Email::parse(&format!("p{i}@acme.example")).unwrap(),
        name: None,
        locale: Locale::En,
        account: Some(AccountName::parse("Acme").unwrap()),
        time_zone: None,
        attributes: Attributes::new(),
        customer_since: None,
        created_at: t("2026-01-01T00:00:00Z"),
        updated_at: t("2026-01-01T00:00:00Z"),
        last_surveyed_at: None,
        unsubscribed_at: None,
        version: 1,
    }
}

#[tokio::test]
async fn every_listing_reads_past_the_first_page() {
    let store = aws::fresh_table().await.unwrap().with_page_size(2);
    for i in 0..15 {
        store.put_contact(&contact(i)).await.unwrap();
    }
    let acme = AccountName::parse("Acme").unwrap().key();
    assert_eq!(store.contacts_of_account(&acme).await.unwrap().len(), 15);
    assert_eq!(store.contacts_in_slots(0, SLOTS).await.unwrap().len(), 15);

    let day = date(2026, 3, 2);
    let mut deltas = Vec::new();
    for v in 0..9 {
        let counts = Counts {
            sent: 1,
            ..Counts::default()
        };
        deltas.push(Rollup {
            day,
            dimension: Dimension::Segment {
                name: "plan".into(),
                value: format!("p{v}"),
            },
            counts,
        });
    }
    store.add_to_rollups(&deltas).await.unwrap();
    assert_eq!(store.rollups(day, day).await.unwrap().len(), 9);
}

#[test]
fn no_scan_anywhere_in_the_aws_adapters() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/aws/src");
    let mut files = vec![dir.clone()];
    let mut checked = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for needle in [
            ".scan(",
            "ScanInput",
            "operation::scan",
            "ScanFluentBuilder",
        ] {
            assert!(
                !text.contains(needle),
                "{} uses {needle}: every read must be a Query or a Get",
                p.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "found only {checked} source files");
}

#[test]
fn the_table_in_code_is_the_table_in_the_docs() {
    let doc = repo_file("docs/data-model.md");
    let def = pulso_aws::dynamo::table_definition();
    assert!(def.indexes.len() <= 3);
    for needle in [
        format!("`{}` (String)", def.key.0),
        format!("`{}` (String)", def.key.1),
        format!("`{}`", def.stream_view_type),
        format!("`{}` (Number", def.ttl_attribute),
        format!("`{}`", def.billing_mode),
    ] {
        assert!(doc.contains(&needle), "docs/data-model.md lacks {needle}");
    }
    for (index, pk, sk) in &def.indexes {
        let row = format!("| `{index}` | `{pk}` (S) | `{sk}` (S) |");
        assert!(doc.contains(&row), "docs/data-model.md lacks {row}");
    }
}

#[tokio::test]
async fn the_created_table_has_the_documented_shape() {
    let store = aws::fresh_table().await.unwrap();
    let d = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let table = d.table().unwrap();
    let def = pulso_aws::dynamo::table_definition();
    let mut got: Vec<(String, String, String)> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let ks = g.key_schema();
            (
                g.index_name().unwrap_or_default().to_string(),
                ks[0].attribute_name().to_string(),
                ks[1].attribute_name().to_string(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String, String)> = def
        .indexes
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        table
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str()),
        Some(def.stream_view_type)
    );
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|t| t.attribute_name()),
        Some(def.ttl_attribute)
    );
}

// --- the stream ------------------------------------------------------------------------------------

fn response(version: u64, score: u8, comment: Option<&str>) -> Response {
    Response {
        send_id: SendId::for_key("wave:c1:1"),
        contact_id: Some(ContactId::parse("c1").unwrap()),
        score: Score::new(score).unwrap(),
        comment: comment.map(String::from),
        locale: Locale::Es,
        kind: SurveyKind::Relational,
        touchpoint: None,
        account: Some(AccountName::parse("Acme").unwrap()),
        attributes: Attributes::new(),
        day: date(2026, 3, 2),
        answered_at: t("2026-03-02T10:00:00Z"),
        updated_at: t("2026-03-02T10:00:00Z"),
        source: AnswerSource::Human,
        flag_reason: None,
        commits: vec![t("2026-03-02T10:00:00Z")],
        version,
    }
}

async fn raw_item(store: &DynamoStore, pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", AttributeValue::S(pk.into()))
        .key("SK", AttributeValue::S(sk.into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("item")
}

fn record(
    name: &str,
    keys: serde_json::Value,
    old: serde_json::Value,
    new: serde_json::Value,
) -> serde_json::Value {
    let mut change = serde_json::json!({
        "ApproximateCreationDateTime": 1772445600.0,
        "Keys": keys,
        "SequenceNumber": "1",
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if !old.is_null() {
        change["OldImage"] = old;
    }
    if !new.is_null() {
        change["NewImage"] = new;
    }
    serde_json::json!({
        "eventID": format!("e-{name}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/pulso/stream/2026-03-02T00:00:00.000"
    })
}

#[tokio::test]
async fn stream_records_of_real_items_decode_to_answer_changes() {
    let store = aws::fresh_table().await.unwrap();
    let first = response(1, 3, None);
    store
        .save_response(&first, &rollup_deltas(None, &first))
        .await
        .unwrap();
    let pk = format!("S#{}", first.send_id);
    let v1 = stream_image(raw_item(&store, &pk, "R").await);
    let mut second = response(2, 2, Some("Muy lento <b>soporte</b>"));
    second.updated_at = t("2026-03-02T10:05:00Z");
    store
        .save_response(&second, &rollup_deltas(Some(&first), &second))
        .await
        .unwrap();
    let v2 = stream_image(raw_item(&store, &pk, "R").await);
    let c = contact(1);
    store.put_contact(&c).await.unwrap();
    let contact_image = stream_image(raw_item(&store, "C#c1", "C").await);
    let rollup_pk = "RU#2026-03";
    let rollup_image = stream_image(raw_item(&store, rollup_pk, "2026-03-02#all").await);

    let keys = serde_json::json!({"PK": {"S": pk}, "SK": {"S": "R"}});
    let event = serde_json::json!({"Records": [
        record("INSERT", keys.clone(), serde_json::Value::Null, v1.clone()),
        record("MODIFY", serde_json::json!({"PK": {"S": "C#c1"}, "SK": {"S": "C"}}), serde_json::Value::Null, contact_image),
        record("MODIFY", serde_json::json!({"PK": {"S": rollup_pk}, "SK": {"S": "2026-03-02#all"}}), serde_json::Value::Null, rollup_image),
        record("MODIFY", keys.clone(), v1, v2.clone()),
        record("REMOVE", keys, v2, serde_json::Value::Null),
    ]});
    let event: StreamEvent = serde_json::from_value(event).unwrap();
    let changes = response_changes(&event);
    assert_eq!(changes, vec![(None, first.clone()), (Some(first), second)]);
}

// --- the Lambda context ---------------------------------------------------------------------------

/// Creates a Secrets Manager secret on moto (JSON protocol; moto does not check signatures).
async fn create_secret(name: &str, value: &str) -> String {
    let body = serde_json::json!({"Name": name, "SecretString": value});
    let resp = moto_json("secretsmanager.CreateSecret", body).await;
    resp["ARN"].as_str().expect("secret ARN").to_string()
}

#[tokio::test]
async fn a_secret_is_read_in_one_signed_request_and_a_refusal_is_named() {
    use pulso_aws::secrets::{SecretError, secret_string};
    let endpoint = aws::endpoint().unwrap();
    // The functions' HTTPS client and SDK configuration, as a Lambda function builds them.
    let https = pulso_aws::tls::Https::bundled_roots();
    let sdk = pulso_aws::lambda_sdk_config(&https, Some(&endpoint));
    let name = aws::unique("pulso-plain");
    let arn = create_secret(&name, "whsec-9").await;
    assert_eq!(secret_string(&sdk, &https, &arn).await.unwrap(), "whsec-9");
    assert_eq!(secret_string(&sdk, &https, &name).await.unwrap(), "whsec-9");
    // No such secret: the service's code and message, not retried.
    let nope = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-000000";
    let e = secret_string(&sdk, &https, nope).await.unwrap_err();
    assert!(
        matches!(&e, SecretError::Refused { code, .. } if code == "ResourceNotFoundException"),
        "{e:?}"
    );
    assert!(e.to_string().contains("ResourceNotFoundException"), "{e}");
    // A secret with a binary value only has no string to give.
    let binary = aws::unique("pulso-binary");
    let resp: serde_json::Value = moto_json(
        "secretsmanager.CreateSecret",
        serde_json::json!({"Name": binary, "SecretBinary": "AAEC"}),
    )
    .await;
    assert!(resp["ARN"].is_string(), "{resp}");
    assert!(matches!(
        secret_string(&sdk, &https, &binary).await,
        Err(SecretError::NoString)
    ));
    // Nothing listening: three attempts, then the reason.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nowhere = pulso_aws::lambda_sdk_config(&https, Some(&format!("http://127.0.0.1:{closed}")));
    let started = std::time::Instant::now();
    let e = secret_string(&nowhere, &https, &arn).await.unwrap_err();
    assert!(matches!(e, SecretError::Unreachable(_)), "{e:?}");
    // The two waits between the three attempts (50 and 250 ms) were taken.
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

/// One call of moto's JSON protocol (moto does not check signatures).
async fn moto_json(target: &str, body: serde_json::Value) -> serde_json::Value {
    let endpoint = aws::endpoint().unwrap();
    reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260302/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// 32 bytes, base64: a valid signing key.
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The SDK reads region and credentials from the process; moto accepts any.
    v.push(("PULSO__STORE__KIND".into(), "aws".into()));
    v
}

#[tokio::test]
async fn the_lambda_context_reads_keys_from_secrets_manager_and_works() {
    let table = aws::fresh_table().await.unwrap();
    let endpoint = aws::endpoint().unwrap();
    let token_arn = create_secret(
        &aws::unique("pulso-token"),
        &format!(r#"{{"token_keys":"k2:{KEY}"}}"#),
    )
    .await;
    let hook_arn = create_secret(&aws::unique("pulso-hook"), "whsec-123").await;
    let rt = pulso_aws::runtime::load_from_vars(
        vars(&[
            ("PULSO__STORE__ENDPOINT_URL", &endpoint),
            ("PULSO__STORE__TABLE", table.table()),
            (
                "PULSO__WEBHOOKS__URLS",
                r#"["https://hooks.example/pulso"]"#,
            ),
            ("PULSO_TOKEN_SECRET_ARN", &token_arn),
            ("PULSO_WEBHOOK_SECRET_ARN", &hook_arn),
        ]),
        pulso_aws::runtime::FirstUse::MAIL,
    )
    .await
    .unwrap();
    assert_eq!(rt.ctx.keys.get().await.unwrap().active_key_id(), "k2");
    assert_eq!(rt.webhook_secret.as_deref(), Some("whsec-123"));
    assert_eq!(rt.ctx.store.table(), table.table());
    // The clients its first event uses were built while the secrets were read; the rest wait.
    assert!(rt.ctx.mailer.client_built());
    assert!(!rt.ctx.archive.client_built());
    // The context's store reaches the table.
    rt.ctx.store.put_contact(&contact(7)).await.unwrap();
    assert!(table.contact(&contact(7).id).await.unwrap().is_some());
    // The reports function's context: the keys from the secret, both other clients ready.
    let reports = pulso_aws::runtime::context_from_vars(
        vars(&[
            ("PULSO__STORE__ENDPOINT_URL", &endpoint),
            ("PULSO__STORE__TABLE", table.table()),
            ("PULSO_TOKEN_SECRET_ARN", &token_arn),
        ]),
        pulso_aws::runtime::FirstUse::MAIL_AND_ARCHIVE,
    )
    .await
    .unwrap();
    assert_eq!(reports.keys.get().await.unwrap().active_key_id(), "k2");
    assert!(reports.mailer.client_built() && reports.archive.client_built());
}

#[tokio::test]
async fn a_context_with_arriving_keys_reads_at_once_and_reads_its_keys_again_after_a_failure() {
    let table = aws::fresh_table().await.unwrap();
    let endpoint = aws::endpoint().unwrap();
    // A secret that does not exist yet (Secrets Manager takes a name as well as an ARN).
    let name = aws::unique("pulso-token-later");
    let ctx = pulso_aws::runtime::context_keys_arriving_from_vars(
        vars(&[
            ("PULSO__STORE__ENDPOINT_URL", &endpoint),
            ("PULSO__STORE__TABLE", table.table()),
            ("PULSO_TOKEN_SECRET_ARN", &name),
        ]),
        pulso_aws::runtime::FirstUse::MAIL_AND_ARCHIVE,
    )
    .await
    .expect("the context does not wait for its keys");
    // Its store works while the keys are unavailable ...
    ctx.store.put_contact(&contact(8)).await.unwrap();
    assert!(table.contact(&contact(8).id).await.unwrap().is_some());
    // ... the keys' failure names the setting, every time it is asked, with no keys kept ...
    for _ in 0..2 {
        let e = ctx.keys.get().await.expect_err("no such secret yet");
        assert!(e.to_string().contains("PULSO_TOKEN_SECRET_ARN"), "{e}");
        assert!(ctx.keys.at_hand().is_none());
    }
    // ... and once the secret is there, the next call reads it: no restart needed.
    create_secret(&name, &format!(r#"{{"token_keys":"k3:{KEY}"}}"#)).await;
    assert_eq!(ctx.keys.get().await.unwrap().active_key_id(), "k3");
    assert_eq!(ctx.keys.at_hand().unwrap().active_key_id(), "k3");
    // A report run with those keys links its archived page.
    let url = pulso_core::links::report_url(
        &ctx.config,
        ctx.keys.at_hand().unwrap(),
        "reports/daily/2026-03-02/report.html",
        jiff::Timestamp::now(),
    );
    assert!(url.contains("/r/k3."), "{url}");
}

#[tokio::test]
async fn the_lambda_context_fails_at_cold_start_with_the_variable_named() {
    use pulso_aws::runtime::{
        FirstUse, context_from_vars, context_without_secrets_from_vars, load_from_vars,
    };
    let endpoint = aws::endpoint().unwrap();
    let at_moto = ("PULSO__STORE__ENDPOINT_URL", endpoint.as_str());
    let key_spec = format!("k1:{KEY}");
    let keys = ("PULSO_TOKEN_KEYS", key_spec.as_str());
    let hook_urls = (
        "PULSO__WEBHOOKS__URLS",
        r#"["https://hooks.example/pulso"]"#,
    );
    let nope = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-000000";
    let unreadable_hook_secret = ("PULSO_WEBHOOK_SECRET_ARN", nope);
    let unreadable_keys = ("PULSO_TOKEN_SECRET_ARN", nope);

    // Where the keys are awaited at start (capture, dispatch), no keys fails the start; where
    // they arrive (alerts, reports), it fails their first use, naming the same variables.
    let no_keys = context_from_vars(vars(&[at_moto]), FirstUse::MAIL).await;
    let msg = format!("{:#}", no_keys.err().expect("no keys is an error"));
    assert!(msg.contains("PULSO_TOKEN_KEYS"), "{msg}");
    let arriving = load_from_vars(vars(&[at_moto]), FirstUse::MAIL)
        .await
        .unwrap();
    let msg = arriving.ctx.keys.get().await.unwrap_err().to_string();
    assert!(
        msg.contains("PULSO_TOKEN_KEYS") && msg.contains("PULSO_TOKEN_SECRET_ARN"),
        "{msg}"
    );

    let hooks_without_secret =
        load_from_vars(vars(&[at_moto, keys, hook_urls]), FirstUse::MAIL).await;
    let msg = format!("{:#}", hooks_without_secret.err().expect("an error"));
    assert!(msg.contains("PULSO_WEBHOOK_SECRET"), "{msg}");
    // A function that only records deliveries (capture) never reads the webhook secret: the same
    // variables, even with an unreadable secret named, build its context.
    let recorder = context_from_vars(
        vars(&[at_moto, keys, hook_urls, unreadable_hook_secret]),
        FirstUse::TABLE,
    )
    .await
    .expect("no webhook secret is read");
    assert_eq!(recorder.config.webhooks.urls.len(), 1);
    assert!(!recorder.mailer.client_built() && !recorder.archive.client_built());
    // Without webhook URLs the posting runtime does not read the secret either.
    let no_hooks = load_from_vars(
        vars(&[at_moto, keys, unreadable_hook_secret]),
        FirstUse::MAIL,
    )
    .await
    .expect("no webhook URLs, no secret read");
    assert_eq!(no_hooks.webhook_secret, None);
    // Events and feedback read no secret at all, even with one named: their keys are none.
    let no_secrets = context_without_secrets_from_vars(vars(&[at_moto, unreadable_keys]))
        .await
        .expect("no secret is read");
    assert!(no_secrets.keys.at_hand().unwrap().is_none());

    let bad_config = load_from_vars(
        vars(&[keys, ("PULSO__SURVEYS__CADENCE_DAYS", "400")]),
        FirstUse::MAIL,
    )
    .await;
    let msg = format!("{:#}", bad_config.err().expect("an error"));
    assert!(msg.contains("cadence_days"), "{msg}");

    let missing_secret = context_from_vars(vars(&[at_moto, unreadable_keys]), FirstUse::MAIL).await;
    let msg = format!("{:#}", missing_secret.err().expect("an error"));
    assert!(msg.contains("PULSO_TOKEN_SECRET_ARN"), "{msg}");
    let arriving = load_from_vars(vars(&[at_moto, unreadable_keys]), FirstUse::MAIL)
        .await
        .unwrap();
    let msg = arriving.ctx.keys.get().await.unwrap_err().to_string();
    assert!(msg.contains("PULSO_TOKEN_SECRET_ARN"), "{msg}");
}
