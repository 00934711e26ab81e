//! Answers per second and latency of the capture router on the local host: the router served on a
//! loopback port over the SQLite file store (WAL), loaded by keep-alive HTTP/1.1 clients on the
//! same machine. Each send gets two answers — the page's script commit, then the Send button with
//! a comment — so half the answers update an existing one.
//!
//! Run: `cargo bench -p pulso-capture --no-default-features --bench answers`
//! Knobs (environment): `PULSO_BENCH_SENDS` (default 5000), `PULSO_BENCH_CONCURRENCY` (64),
//! `PULSO_BENCH_INLINE=1` to run alerts inline as `pulso serve` does (default: off, as in AWS,
//! where the stream runs them).
//! Prints figures; asserts only that no answer was lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use pulso_core::alerts::InlineLoop;
use pulso_core::alerts::webhooks::{NoWebhookClient, Sender};
use pulso_core::capture::NoHooks;
use pulso_core::model::{Contact, ReminderState, SendStatus, SurveyKind, SurveySend, slot_of};
use pulso_core::ports::{Contacts, FixedClock, Responses, Sends, SequentialIds};
use pulso_core::token::SigningKeys;
use pulso_core::types::{Attributes, ContactId, Email, Locale, SendId};
use pulso_core::{Config, Ctx, links};
use pulso_local::{DirArchive, Outbox, SqliteStore};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive connection that POSTs forms and reads status and body.
struct Conn {
    reader: BufReader<tokio::net::TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    async fn post(&mut self, path: &str, body: &str) -> std::io::Result<u16> {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.reader.get_mut().write_all(req.as_bytes()).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).await?;
        Ok(status)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let sends_n = env_usize("PULSO_BENCH_SENDS", 5_000);
    let concurrency: Vec<usize> = std::env::var("PULSO_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "16,64".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let inline = std::env::var("PULSO_BENCH_INLINE").is_ok_and(|v| v == "1");
    // The server and the load generator run on separate runtimes (threads), as they would on
    // separate machines; both still share this machine's cores.
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server runtime");
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");
    for c in concurrency {
        run(&server, &clients, sends_n, c, inline);
    }
}

fn run(
    server: &tokio::runtime::Runtime,
    clients: &tokio::runtime::Runtime,
    sends_n: usize,
    concurrency: usize,
    inline: bool,
) {
    let (ctx, tokens, ids, addr, start, _dir) = server.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let start: Timestamp = "2026-03-02T09:00:00Z".parse().expect("time");
        let clock = FixedClock::at(start);
        let config = Config::load(
            "[audiences.alerts]\nrecipients = [\"support@acme.example\"]\n",
            Vec::<(String, String)>::new(),
        )
        .expect("config");
        let ctx = Ctx {
            config: Arc::new(config),
            keys: SigningKeys::single("b1", &[4u8; 32]).expect("keys").into(),
            store: SqliteStore::open(dir.path().join("pulso.db")).expect("store"),
            mailer: Outbox::new(dir.path().join("outbox")).expect("outbox"),
            archive: DirArchive::new(dir.path().join("archive")).expect("archive"),
            clock: Arc::new(clock.clone()),
            ids: Arc::new(SequentialIds::new("b")),
        };
        let mailed = start - SignedDuration::from_hours(2);
        let mut tokens = Vec::with_capacity(sends_n);
        let mut ids = Vec::with_capacity(sends_n);
        for n in 0..sends_n {
            let id = ContactId::parse(&format!("c{n}")).expect("id");
            let contact = Contact {
                slot: slot_of(&id),
                id: id.clone(),
                email: Email::parse(&format!("p{n}@example.com")).expect("email"),
                name: Some(format!("Person {n}")),
                locale: Locale::En,
                account: None,
                time_zone: None,
                attributes: Attributes::new(),
                customer_since: None,
                created_at: mailed,
                updated_at: mailed,
                last_surveyed_at: Some(mailed),
                unsubscribed_at: None,
                version: 1,
            };
            ctx.store.put_contact(&contact).await.expect("contact");
            let key = format!("wave:c{n}:1");
            let send = SurveySend {
                id: SendId::for_key(&key),
                contact_id: id,
                kind: SurveyKind::Relational,
                touchpoint: None,
                key,
                locale: Locale::En,
                created_at: mailed,
                due_at: mailed,
                status: SendStatus::Sent { at: mailed },
                reminder: ReminderState::None,
                message_id: None,
                answered_at: None,
                next_action_at: None,
                version: 1,
            };
            ctx.store.put_send(&send).await.expect("send");
            tokens.push(links::answer_token(
                &ctx.config,
                ctx.keys.at_hand().expect("the bench's keys"),
                &send.id,
                mailed,
            ));
            ids.push(send.id);
        }
        let router = if inline {
            pulso_capture::router(
                ctx.clone(),
                InlineLoop::new(Sender {
                    client: NoWebhookClient,
                    secret: None,
                }),
            )
        } else {
            pulso_capture::router(ctx.clone(), NoHooks)
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (ctx, tokens, ids, addr, start, dir)
    });
    {
        // Two answers per send, script commits first then Send buttons, handed out in order.
        let rendered = (start - SignedDuration::from_secs(60)).as_millisecond();
        let jobs: Arc<Vec<(String, String)>> = Arc::new(
            (0..2)
                .flat_map(|round| {
                    tokens.iter().enumerate().map(move |(i, t)| {
                        let score = i % 11;
                        let body = if round == 0 {
                            format!("s={score}&via=script&open_ms=1700")
                        } else {
                            format!(
                                "s={score}&via=button&rendered_at={rendered}&open_ms=&comment=precio+y+soporte+{i}"
                            )
                        };
                        (format!("/a/{t}"), body)
                    })
                })
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let began = Instant::now();
        let (latencies, bad) = clients.block_on(async {
            let mut workers = Vec::new();
            for _ in 0..concurrency {
                let (jobs, next) = (jobs.clone(), next.clone());
                workers.push(tokio::spawn(async move {
                    let mut conn = Conn::open(addr).await.expect("connect");
                    let mut lat = Vec::new();
                    let mut bad = 0usize;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((path, body)) = jobs.get(i) else {
                            break;
                        };
                        let t = Instant::now();
                        match conn.post(path, body).await {
                            Ok(204 | 303) => {}
                            Ok(_) => bad += 1,
                            Err(_) => {
                                bad += 1;
                                conn = Conn::open(addr).await.expect("reconnect");
                            }
                        }
                        lat.push(t.elapsed());
                    }
                    (lat, bad)
                }));
            }
            let mut latencies = Vec::with_capacity(jobs.len());
            let mut bad = 0;
            for w in workers {
                let (l, b) = w.await.expect("worker");
                latencies.extend(l);
                bad += b;
            }
            (latencies, bad)
        });
        let elapsed = began.elapsed();
        let mut latencies = latencies;
        latencies.sort();
        let lost = server.block_on(async {
            let mut lost = 0;
            for id in &ids {
                match ctx.store.response(id).await {
                    Ok(Some(r)) if r.version == 2 => {}
                    _ => lost += 1,
                }
            }
            lost
        });
        println!(
            "capture answers bench: {} answers over {} sends, {} keep-alive clients, alerts {}",
            jobs.len(),
            sends_n,
            concurrency,
            if inline {
                "inline (pulso serve)"
            } else {
                "off (AWS: the stream runs them)"
            }
        );
        println!(
            "  throughput {:.0} answers/s  ({} in {:.2} s)",
            jobs.len() as f64 / elapsed.as_secs_f64(),
            jobs.len(),
            elapsed.as_secs_f64()
        );
        println!(
            "  latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            percentile(&latencies, 1.0).as_secs_f64() * 1e3
        );
        println!("  failed requests {bad}, sends without both commits {lost}");
        println!(
            "  machine: {} cores available to this process",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );
        assert_eq!(lost, 0, "answers were lost");
    }
}
