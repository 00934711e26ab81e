//! Shared by the capture, alerts, webhooks, feedback, browser and load tests: a local `Ctx` over a
//! temporary directory (SQLite store, outbox, archive) on a clock the test moves, contacts with a
//! survey already mailed, and the capture router served on a loopback port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use pulso_core::alerts::InlineLoop;
use pulso_core::alerts::webhooks::{NoWebhookClient, Sender};
use pulso_core::capture::NoHooks;
use pulso_core::model::{Contact, ReminderState, SendStatus, SurveyKind, SurveySend, slot_of};
use pulso_core::ports::{Contacts, FixedClock, Responses, Rollups, Sends, SequentialIds};
use pulso_core::token::SigningKeys;
use pulso_core::types::{AccountName, Attributes, ContactId, Email, Locale, Score, SendId};
use pulso_core::{Config, Ctx, links};
use pulso_local::{DirArchive, Outbox, SqliteStore};

pub type LocalCtx = Ctx<SqliteStore, Outbox, DirArchive>;

/// When every test starts.
pub const T0: &str = "2026-03-02T09:00:00Z";

pub struct Harness {
    pub ctx: LocalCtx,
    pub clock: FixedClock,
    pub dir: tempfile::TempDir,
}

/// A configuration: the defaults plus `extra` TOML (an alert audience is always set).
pub fn config(extra: &str) -> Config {
    let text = format!(
        "[company]\nname = \"Acme Analytics\"\ntime_zone = \"Europe/Madrid\"\n\
         [audiences.alerts]\nrecipients = [\"support@acme.example\"]\n{extra}"
    );
    Config::load(&text, Vec::<(String, String)>::new()).expect("test config")
}

impl Harness {
    pub fn new(extra_config: &str) -> Harness {
        Self::with_config(config(extra_config))
    }

    pub fn with_config(config: Config) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = FixedClock::at(T0.parse().expect("T0"));
        let store = SqliteStore::open(dir.path().join("pulso.db")).expect("store");
        let mailer =
            Outbox::with_clock(dir.path().join("outbox"), Arc::new(clock.clone())).expect("outbox");
        let archive = DirArchive::new(dir.path().join("archive")).expect("archive");
        let keys = SigningKeys::single("t1", &[9u8; 32]).expect("keys");
        let ctx = Ctx {
            config: Arc::new(config),
            keys: keys.into(),
            store,
            mailer,
            archive,
            clock: Arc::new(clock.clone()),
            ids: Arc::new(SequentialIds::new("id")),
        };
        Harness { ctx, clock, dir }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.0.lock().map(|t| *t).expect("clock")
    }

    pub fn advance_secs(&self, secs: i64) {
        self.clock.advance(SignedDuration::from_secs(secs));
    }

    /// Contact `c{n}` (`person{n}@example.com`, of `account` if any) with a relational survey
    /// mailed `mailed_ago` before now.
    pub async fn mailed(
        &self,
        n: u32,
        locale: Locale,
        account: Option<&str>,
        mailed_ago: SignedDuration,
    ) -> (Contact, SurveySend) {
        let id = ContactId::parse(&format!("c{n}")).expect("contact id");
        let mut contact = Contact {
            slot: slot_of(&id),
            id: id.clone(),
            email: Email::parse(&format!("person{n}@example.com")).expect("email"),
            name: Some(
                if locale == Locale::Es {
                    "Lucía Gómez"
                } else {
                    "Ana Pérez"
                }
                .into(),
            ),
            locale,
            account: account.map(self::account),
            time_zone: None,
            attributes: Attributes::new(),
            customer_since: None,
            created_at: "2026-01-01T00:00:00Z".parse().expect("ts"),
            updated_at: "2026-01-01T00:00:00Z".parse().expect("ts"),
            last_surveyed_at: None,
            unsubscribed_at: None,
            version: 1,
        };
        if n.is_multiple_of(2) {
            contact.attributes.set("plan", "pro").expect("attribute");
        }
        self.ctx.store.put_contact(&contact).await.expect("contact");
        let at = self.now() - mailed_ago;
        let key = format!("wave:{id}:1");
        let send = SurveySend {
            id: SendId::for_key(&key),
            contact_id: id,
            kind: SurveyKind::Relational,
            touchpoint: None,
            key,
            locale,
            created_at: at,
            due_at: at,
            status: SendStatus::Sent { at },
            reminder: ReminderState::None,
            message_id: None,
            answered_at: None,
            next_action_at: None,
            version: 1,
        };
        self.ctx.store.put_send(&send).await.expect("send");
        (contact, send)
    }

    /// A contact with a survey mailed an hour ago.
    pub async fn mailed_an_hour_ago(&self, n: u32) -> (Contact, SurveySend) {
        self.mailed(n, Locale::En, None, SignedDuration::from_hours(1))
            .await
    }

    pub fn answer_token(&self, send: &SurveySend) -> String {
        links::answer_token(
            &self.ctx.config,
            self.ctx.keys.at_hand().expect("the test's keys"),
            &send.id,
            self.now(),
        )
    }

    /// The path of a score link (`/a/{token}?s=N`).
    pub fn score_path(&self, token: &str, score: u8) -> String {
        let url = links::score_url(&self.ctx.config, token, Score::new(score).expect("score"));
        path_of(&url)
    }

    pub fn unsubscribe_path(&self, send: &SurveySend) -> String {
        path_of(&links::unsubscribe_url(
            &self.ctx.config,
            self.ctx.keys.at_hand().expect("the test's keys"),
            &send.id,
            self.now(),
        ))
    }

    pub fn follow_up_path(&self, send: &SurveySend) -> String {
        path_of(&links::follow_up_url(
            &self.ctx.config,
            self.ctx.keys.at_hand().expect("the test's keys"),
            &send.id,
            self.now(),
        ))
    }

    /// The router with nothing after writes (the AWS shape).
    pub fn router(&self) -> axum::Router {
        pulso_capture::router(self.ctx.clone(), NoHooks)
    }

    /// The router with alerts inline (the local shape), webhooks posted by `client`.
    pub fn router_inline<C: pulso_core::ports::WebhookClient + 'static>(
        &self,
        sender: Sender<C>,
    ) -> axum::Router {
        pulso_capture::router(self.ctx.clone(), InlineLoop::new(sender))
    }

    pub fn router_inline_no_webhooks(&self) -> axum::Router {
        self.router_inline(Sender {
            client: NoWebhookClient,
            secret: None,
        })
    }

    /// Counted answers, flagged answers and comments summed over every rollup of "all".
    pub async fn totals(&self) -> Totals {
        use jiff::ToSpan;
        let day = self.ctx.today();
        let rollups = self
            .ctx
            .store
            .rollups(day - 40.days(), day + 40.days())
            .await
            .expect("rollups");
        let mut t = Totals::default();
        for r in rollups
            .iter()
            .filter(|r| r.dimension == pulso_core::model::Dimension::All)
        {
            for (i, c) in r.counts.scores.iter().enumerate() {
                t.scores[i] += c;
            }
            t.flagged += r.counts.flagged;
            t.comments += r.counts.comments;
        }
        t
    }

    pub async fn answer(&self, send: &SurveySend) -> Option<pulso_core::model::Response> {
        self.ctx.store.response(&send.id).await.expect("response")
    }

    pub async fn contact(&self, contact: &Contact) -> Contact {
        self.ctx
            .store
            .contact(&contact.id)
            .await
            .expect("contact")
            .expect("contact exists")
    }

    /// The outbox's messages, as text.
    pub fn outbox(&self) -> Vec<String> {
        let mut names = self.ctx.mailer.list().expect("outbox list");
        names.sort();
        names
            .iter()
            .map(|n| String::from_utf8_lossy(&self.ctx.mailer.read(n).expect("read")).into_owned())
            .collect()
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    pub scores: [i64; 11],
    pub flagged: i64,
    pub comments: i64,
}

impl Totals {
    pub fn counted(&self) -> i64 {
        self.scores.iter().sum()
    }
}

pub fn account(name: &str) -> AccountName {
    AccountName::parse(name).expect("account")
}

/// The path and query of a URL.
pub fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/')
        .map(|i| rest[i..].to_string())
        .unwrap_or_else(|| "/".into())
}

/// Serves `router` on a loopback port for the rest of the test.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A reqwest client that does not follow redirects (tests look at the 303s).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// One response, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    get_with(addr, path, &[]).await
}

pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    read(req.send().await.expect("GET")).await
}

/// POSTs form fields, url-encoded.
pub async fn post_form(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> Reply {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    post_raw(
        addr,
        path,
        "application/x-www-form-urlencoded",
        body.into_bytes(),
    )
    .await
}

pub async fn post_raw(addr: SocketAddr, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let req = client()
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .body(body);
    read(req.send().await.expect("POST")).await
}

async fn read(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.text().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The page's render time (ms), from its hidden field.
pub fn rendered_at(html: &str) -> String {
    let marker = "name=\"rendered_at\" value=\"";
    let start = html.find(marker).expect("rendered_at field") + marker.len();
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect()
}

/// The score a comment page pre-selects.
pub fn checked_score(html: &str) -> Option<u8> {
    (0..=10).find(|s| html.contains(&format!("value=\"{s}\" checked>")))
}

/// A person's comment submission from the page they were shown (the no-JavaScript path).
pub async fn press_send(
    addr: SocketAddr,
    token: &str,
    page: &str,
    score: u8,
    comment: &str,
) -> Reply {
    post_form(
        addr,
        &format!("/a/{token}"),
        &[
            ("s", &score.to_string()),
            ("comment", comment),
            ("rendered_at", &rendered_at(page)),
            ("open_ms", ""),
            ("via", "button"),
        ],
    )
    .await
}

/// The page's script committing the pre-selected score.
pub async fn script_commit(addr: SocketAddr, token: &str, score: u8) -> Reply {
    post_form(
        addr,
        &format!("/a/{token}"),
        &[
            ("s", &score.to_string()),
            ("via", "script"),
            ("open_ms", "1600"),
        ],
    )
    .await
}

/// Raw bytes over a TCP connection (for requests no HTTP client would build). Returns the status
/// (0 when the server closed the connection without one).
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    if stream.write_all(request).await.is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    if read.is_err() {
        return 0;
    }
    let text = String::from_utf8_lossy(&buf);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `text` as the pages escape it.
pub fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
