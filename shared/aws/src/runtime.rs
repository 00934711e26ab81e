//! What a Lambda function builds once, at cold start: configuration from the environment, one AWS
//! SDK configuration (adaptive retries, TLS roots compiled in: [`crate::tls`]), the adapters, the
//! link-signing keys and — where `webhooks.urls` is set — the webhook secret (each from the
//! environment or, once, from Secrets Manager), the clock and the id source. The keys' read goes
//! out first, and the rest is built while it is on its way (see `load`); alerts and reports do not
//! wait for it, and their first link waits instead ([`Keys`]).
//! Anything missing or invalid fails here (or, for arriving keys, at their first use and at every
//! invocation: see the functions' `main`), with a message naming the variable.
//!
//! Every environment variable read by Pulso's functions is named in [`ENV_VARS`] (and in
//! `docs/aws-adapters.md`); the SAM template sets them.

use std::sync::Arc;

use anyhow::Context as _;
use aws_config::SdkConfig;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};

use pulso_core::Ctx;
use pulso_core::config::Config;
use pulso_core::ports::SystemClock;
use pulso_core::token::{KeySource, Keys, KeysUnavailable, SigningKeys};

use crate::tls::Https;
use crate::{DynamoStore, RandomIds, S3Archive, SesMailer};

/// Link-signing keys, `kid:base64secret[,kid:base64secret…]`, the first active (local runs and tests).
pub const TOKEN_KEYS: &str = "PULSO_TOKEN_KEYS";
/// In AWS: the ARN of the Secrets Manager secret holding the signing keys (read once).
pub const TOKEN_SECRET_ARN: &str = "PULSO_TOKEN_SECRET_ARN";
/// The webhook signing secret (local runs and tests).
pub const WEBHOOK_SECRET: &str = "PULSO_WEBHOOK_SECRET";
/// In AWS: the ARN of the Secrets Manager secret holding the webhook secret (read once).
pub const WEBHOOK_SECRET_ARN: &str = "PULSO_WEBHOOK_SECRET_ARN";
/// Log filter (`tracing_subscriber` syntax); `info` when unset.
pub const LOG_FILTER: &str = "RUST_LOG";

/// Every environment variable the functions read, beside the `PULSO__SECTION__KEY` configuration
/// overrides (see [`CONFIG_VARS`]) and the variables Lambda itself sets (`AWS_REGION`, credentials).
pub const ENV_VARS: &[&str] = &[
    TOKEN_KEYS,
    TOKEN_SECRET_ARN,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_ARN,
    LOG_FILTER,
];

/// The configuration overrides a deployment sets (any `PULSO__SECTION__KEY` is honoured; these are
/// the ones the AWS adapters depend on).
pub const CONFIG_VARS: &[&str] = &[
    "PULSO__STORE__KIND",
    "PULSO__STORE__TABLE",
    "PULSO__STORE__BUCKET",
    "PULSO__STORE__ENDPOINT_URL",
    "PULSO__EMAIL__CONFIGURATION_SET",
];

/// Everything a function needs, built at cold start.
pub struct Runtime {
    pub ctx: Ctx<DynamoStore, SesMailer, S3Archive>,
    /// The webhook signing secret, if one is configured.
    pub webhook_secret: Option<String>,
    /// The shared AWS SDK configuration (for clients the adapters do not cover).
    pub sdk: SdkConfig,
}

/// Which secrets a function reads at cold start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secrets {
    /// None: the function neither signs nor checks links (events, feedback).
    None,
    /// The link-signing keys (capture, dispatch, reports).
    SigningKeys,
    /// The keys and, where `webhooks.urls` is set, the webhook secret (alerts, which posts).
    SigningKeysAndWebhook,
}

/// The clients a function's first event uses beside the table's. A function that reads a secret at
/// cold start builds them while the secret is on its way, where they cost no time; any other
/// client is built on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstUse {
    /// SES (alerts, reports, dispatch).
    pub mail: bool,
    /// S3 (reports).
    pub archive: bool,
}

impl FirstUse {
    /// The table only (capture, events, feedback).
    pub const TABLE: FirstUse = FirstUse {
        mail: false,
        archive: false,
    };
    /// The table and SES (alerts, dispatch).
    pub const MAIL: FirstUse = FirstUse {
        mail: true,
        archive: false,
    };
    /// The table, SES and S3 (reports).
    pub const MAIL_AND_ARCHIVE: FirstUse = FirstUse {
        mail: true,
        archive: true,
    };
}

/// The Lambda context from the process environment, with the link-signing keys at hand and without
/// the webhook secret (capture, dispatch: they record webhook deliveries, never post them).
/// See [`context_from_vars`].
pub async fn context_from_env(
    first_use: FirstUse,
) -> anyhow::Result<Ctx<DynamoStore, SesMailer, S3Archive>> {
    context_from_vars(std::env::vars().collect(), first_use).await
}

/// The Lambda context from the process environment without reading any secret: for a function
/// that neither signs nor checks links (events, feedback), whose role may then not read them. Its
/// keys are [`SigningKeys::none`].
pub async fn context_without_secrets_from_env()
-> anyhow::Result<Ctx<DynamoStore, SesMailer, S3Archive>> {
    context_without_secrets_from_vars(std::env::vars().collect()).await
}

/// [`Runtime`] from the process environment, with the keys arriving and, where `webhooks.urls` is
/// set, the webhook secret (the alerts function, which posts). See [`load_from_vars`].
pub async fn load_from_env(first_use: FirstUse) -> anyhow::Result<Runtime> {
    load_from_vars(std::env::vars().collect(), first_use).await
}

/// The context from the given variables, as [`load_from_vars`] builds it but never reading the
/// webhook secret.
pub async fn context_from_vars(
    vars: Vec<(String, String)>,
    first_use: FirstUse,
) -> anyhow::Result<Ctx<DynamoStore, SesMailer, S3Archive>> {
    Ok(load(vars, Secrets::SigningKeys, first_use, KeysAt::Start)
        .await?
        .ctx)
}

/// The Lambda context from the process environment at once, its keys still arriving (see
/// [`Keys`]): for a function whose first reads need no key (reports), which then go out while the
/// keys are read. See [`context_keys_arriving_from_vars`].
pub async fn context_keys_arriving_from_env(
    first_use: FirstUse,
) -> anyhow::Result<Ctx<DynamoStore, SesMailer, S3Archive>> {
    context_keys_arriving_from_vars(std::env::vars().collect(), first_use).await
}

/// The context from the given variables as [`context_from_vars`] builds it, without waiting for
/// the keys: where they cannot be read, [`Keys::get`] says so, naming the setting, and the next
/// call reads them again.
pub async fn context_keys_arriving_from_vars(
    vars: Vec<(String, String)>,
    first_use: FirstUse,
) -> anyhow::Result<Ctx<DynamoStore, SesMailer, S3Archive>> {
    Ok(
        load(vars, Secrets::SigningKeys, first_use, KeysAt::FirstUse)
            .await?
            .ctx,
    )
}

/// The context from the given variables without reading any secret (see
/// [`context_without_secrets_from_env`]).
pub async fn context_without_secrets_from_vars(
    vars: Vec<(String, String)>,
) -> anyhow::Result<Ctx<DynamoStore, SesMailer, S3Archive>> {
    Ok(load(vars, Secrets::None, FirstUse::TABLE, KeysAt::Start)
        .await?
        .ctx)
}

/// [`Runtime`] from the given variables: configuration (`Config::load("", vars)`), SDK config
/// (`PULSO__STORE__ENDPOINT_URL` honoured), adapters, the keys arriving ([`Keys`]: their read has
/// started, and a failure shows at [`Keys::get`]) and, where `webhooks.urls` is set, the webhook
/// secret (required then).
pub async fn load_from_vars(
    vars: Vec<(String, String)>,
    first_use: FirstUse,
) -> anyhow::Result<Runtime> {
    load(
        vars,
        Secrets::SigningKeysAndWebhook,
        first_use,
        KeysAt::FirstUse,
    )
    .await
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The configuration and the adapters, prepared while the secrets are read.
struct Prepared {
    config: Config,
    store: DynamoStore,
    mailer: SesMailer,
    archive: S3Archive,
    webhook_secret: Option<String>,
}

/// When a context's keys are there: at its start (the context waits for them), or at their first
/// use ([`Keys::get`]; the context is handed over while they are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeysAt {
    Start,
    FirstUse,
}

async fn load(
    vars: Vec<(String, String)>,
    secrets: Secrets,
    first_use: FirstUse,
    keys_at: KeysAt,
) -> anyhow::Result<Runtime> {
    if secrets == Secrets::None {
        // Nothing to read first: built in a task beside the runtime loop (`Starting`), the context
        // lets the runtime's request for the event be written before this work, and the event
        // arrives while it is done.
        let_requests_go().await;
    }
    // The signing keys' read goes out first, in a task of its own: waiting for Secrets Manager is
    // milliseconds, parsing the configuration and building the clients a fraction of one, done
    // meanwhile. With `KeysAt::FirstUse` the context does not wait for it either: its keys are
    // arriving ([`Keys`]), and the first link signed or checked waits for them, so a function's
    // first reads go out beside the keys' read. Its SDK configuration needs one setting of
    // Pulso's, the endpoint, read ahead as `Config::load` reads it.
    let endpoint = Config::env_string(
        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["store", "endpoint_url"],
    );
    let https = crate::tls::Https::bundled_roots();
    let sdk = crate::lambda_sdk_config(&https, endpoint.as_deref());
    let reading = (secrets != Secrets::None).then(|| {
        Starting::spawn({
            let (sdk, https, vars) = (sdk.clone(), https.clone(), vars.clone());
            move || signing_keys(sdk.clone(), https.clone(), vars.clone())
        })
    });
    if reading.is_some() && var(&vars, TOKEN_KEYS).is_none() {
        // The read's request is written before the work below fills the wait.
        let_requests_go().await;
    }
    let Prepared {
        config,
        store,
        mailer,
        archive,
        webhook_secret,
    } = prepare(&sdk, &https, &vars, secrets, first_use).await?;
    let keys = match (reading, keys_at) {
        (None, _) => Keys::from(SigningKeys::none()),
        (Some(reading), KeysAt::Start) => Keys::from(reading.first().await?),
        (Some(reading), KeysAt::FirstUse) => Keys::arriving(Arc::new(reading)),
    };
    tracing::info!(
        table = %config.store.table,
        bucket = %config.store.bucket,
        webhooks = config.webhooks.urls.len(),
        "context ready"
    );
    let ctx = Ctx {
        config: Arc::new(config),
        keys,
        store,
        mailer,
        archive,
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
    };
    Ok(Runtime {
        ctx,
        webhook_secret,
        sdk,
    })
}

/// The link-signing keys, from `PULSO_TOKEN_KEYS` or the secret `PULSO_TOKEN_SECRET_ARN` names.
async fn signing_keys(
    sdk: SdkConfig,
    https: Https,
    vars: Vec<(String, String)>,
) -> anyhow::Result<Arc<SigningKeys>> {
    let spec = secret(
        &sdk,
        &https,
        &vars,
        TOKEN_KEYS,
        TOKEN_SECRET_ARN,
        "token_keys",
    )
    .await?
    .with_context(|| format!("no link-signing keys: set {TOKEN_KEYS} or {TOKEN_SECRET_ARN}"))?;
    let keys = SigningKeys::parse(&spec)
        .with_context(|| format!("link-signing keys ({TOKEN_KEYS} / {TOKEN_SECRET_ARN})"))?;
    tracing::info!(key_id = keys.active_key_id(), "link-signing keys ready");
    Ok(Arc::new(keys))
}

/// Arriving keys come from the task that reads them; one that failed is started again by the
/// next caller (see [`Starting::get`]).
impl KeySource for Starting<Arc<SigningKeys>> {
    fn keys(&self) -> BoxFuture<'_, Result<Arc<SigningKeys>, KeysUnavailable>> {
        Box::pin(async move { self.get().await.map_err(|e| KeysUnavailable(e.0)) })
    }
}

/// The configuration, the adapters with the clients `first_use` names built (the table's always:
/// every function reads it on its first request), and the webhook secret where the function posts
/// and webhooks are configured.
async fn prepare(
    sdk: &SdkConfig,
    https: &Https,
    vars: &[(String, String)],
    secrets: Secrets,
    first_use: FirstUse,
) -> anyhow::Result<Prepared> {
    let config = Config::load("", vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .context("configuration from PULSO__* environment variables")?;
    let store = DynamoStore::from_sdk(sdk, config.store.table.clone());
    let mailer = SesMailer::from_sdk(sdk, config.email.configuration_set.clone());
    let archive = S3Archive::from_sdk(sdk, config.store.bucket.clone());
    // The webhook secret, where this function posts and webhooks are configured, is read while
    // the clients are built.
    let reads_webhook_secret =
        secrets == Secrets::SigningKeysAndWebhook && !config.webhooks.urls.is_empty();
    let (webhook_secret, ()) = read_secret_while(
        sdk,
        https,
        vars,
        reads_webhook_secret,
        (WEBHOOK_SECRET, WEBHOOK_SECRET_ARN, "webhook_secret"),
        async {
            store.client();
            if first_use.mail {
                mailer.client();
            }
            if first_use.archive {
                archive.client();
            }
        },
    )
    .await;
    let webhook_secret = webhook_secret?;
    if reads_webhook_secret && webhook_secret.is_none() {
        anyhow::bail!(
            "webhooks.urls is set but no webhook secret: set {WEBHOOK_SECRET} or {WEBHOOK_SECRET_ARN}"
        );
    }
    Ok(Prepared {
        config,
        store,
        mailer,
        archive,
        webhook_secret,
    })
}

/// Reads the secret `(direct, arn_var, field)` (see [`secret`]) where `wanted`, else nothing, and
/// runs `work` meanwhile on this one thread. Where the read calls Secrets Manager, `work` first
/// lets the read's request go ([`let_requests_go`]), so that the work fills the wait for the answer
/// instead of delaying the request. Against AWS the turns end while DNS, TCP and TLS are still on
/// their way, which hides the work as well.
async fn read_secret_while<W: Future>(
    sdk: &SdkConfig,
    https: &Https,
    vars: &[(String, String)],
    wanted: bool,
    (direct, arn_var, field): (&str, &str, &str),
    work: W,
) -> (anyhow::Result<Option<String>>, W::Output) {
    let fetches = wanted && var(vars, direct).is_none();
    tokio::join!(
        async {
            if wanted {
                secret(sdk, https, vars, direct, arn_var, field).await
            } else {
                Ok(None)
            }
        },
        async {
            if fetches {
                let_requests_go().await;
            }
            work.await
        }
    )
}

/// Gives way three times on this one thread, so that a request just started is written before the
/// work that follows: one turn for the connection to be made, one for the request to be handed to
/// the connection's task, one for that task to write it (traced with strace on loopback).
async fn let_requests_go() {
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
}

/// A secret from `direct` (the value itself) or else from the Secrets Manager secret named by
/// `arn_var` (one signed request: [`crate::secrets`]). A secret string that is a JSON object is
/// read at `field`; any other string is the secret itself.
async fn secret(
    sdk: &SdkConfig,
    https: &Https,
    vars: &[(String, String)],
    direct: &str,
    arn_var: &str,
    field: &str,
) -> anyhow::Result<Option<String>> {
    if let Some(v) = var(vars, direct) {
        return Ok(Some(v.to_string()));
    }
    let Some(arn) = var(vars, arn_var) else {
        return Ok(None);
    };
    let text = crate::secrets::secret_string(sdk, https, arn)
        .await
        .with_context(|| format!("reading the secret named by {arn_var}"))?;
    Ok(Some(secret_field(&text, field)))
}

fn secret_field(text: &str, field: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map
            .get(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .trim()
            .to_string(),
        _ => text.trim().to_string(),
    }
}

/// A value built in the background from process start on (the function's context), so that the
/// runtime asks Lambda for the first event while the signing keys are read: the event's round
/// trip and parsing fill that wait instead of following it. Every invocation awaits the same
/// build; one that failed is started again by the next invocation (a secret that could not be
/// read at cold start is read again, as a fresh start would), and each invocation it fails
/// answers with the message naming the setting or secret.
pub struct Starting<T> {
    attempt: std::sync::Mutex<Attempt<T>>,
    make: Box<dyn Fn() -> BoxFuture<'static, anyhow::Result<T>> + Send + Sync>,
}

type Attempt<T> = Shared<BoxFuture<'static, Result<T, StartError>>>;

/// Why [`Starting::get`] has no value: the build's error, with its causes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StartError(Arc<str>);

impl<T: Clone + Send + Sync + 'static> Starting<T> {
    /// Spawns `make()` at once on the current Tokio runtime; a later attempt calls `make` again.
    pub fn spawn<F, Fut>(make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let make: Box<dyn Fn() -> BoxFuture<'static, anyhow::Result<T>> + Send + Sync> =
            Box::new(move || Box::pin(make()));
        let attempt = std::sync::Mutex::new(Self::attempt(&make));
        Starting { attempt, make }
    }

    fn attempt(
        make: &(dyn Fn() -> BoxFuture<'static, anyhow::Result<T>> + Send + Sync),
    ) -> Attempt<T> {
        let task = tokio::spawn(make());
        async move {
            match task.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(StartError(format!("{e:#}").into())),
                Err(e) => Err(StartError(format!("building the context: {e}").into())),
            }
        }
        .boxed()
        .shared()
    }

    /// The first attempt's value or error, starting no other: for a caller that gives up where it
    /// fails.
    pub async fn first(self) -> Result<T, StartError> {
        let attempt = self.attempt.into_inner().unwrap_or_else(|e| e.into_inner());
        attempt.await
    }

    /// The value, once built; the build's error if it failed. A call that finds the last attempt
    /// failed starts a new one and awaits it: the attempt starts after the call, so a cause mended
    /// in between (a secret created, a permission granted) is seen.
    pub async fn get(&self) -> Result<T, StartError> {
        let attempt = {
            let mut current = self.attempt.lock().expect("not poisoned");
            // Under the lock: of the calls that find it failed, only the first starts the next.
            if matches!(current.peek(), Some(Err(_))) {
                *current = Self::attempt(self.make.as_ref());
            }
            current.clone()
        };
        let result = attempt.await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "cold start failed; the next invocation tries again");
        }
        result
    }
}

/// JSON logs for CloudWatch (one object per line, no colours), filtered by `RUST_LOG` (default
/// `info`). Pulso logs ids, never personal data. Safe to call twice.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_FILTER)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_starting_value_is_built_once_at_once_and_shared() {
        let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = builds.clone();
        let starting = Starting::spawn(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Arc::new(String::from("ctx")))
            }
        });
        // Spawned, not waiting for a caller: one turn of the runtime builds it.
        tokio::task::yield_now().await;
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
        let (a, b) = tokio::join!(starting.get(), starting.get());
        assert_eq!(a.unwrap().as_str(), "ctx");
        assert!(Arc::ptr_eq(&b.unwrap(), &starting.get().await.unwrap()));
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_start_names_its_cause_and_the_next_invocation_tries_again() {
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = attempts.clone();
        let starting = Starting::spawn(move || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(anyhow::anyhow!("secret unreachable")
                        .context("reading the secret named by PULSO_TOKEN_SECRET_ARN"))
                } else {
                    Ok(n)
                }
            }
        });
        // Two invocations waiting on the failed attempt both see its error, with its cause ...
        let (a, b) = tokio::join!(starting.get(), starting.get());
        for e in [a.unwrap_err(), b.unwrap_err()] {
            assert_eq!(
                e.to_string(),
                "reading the secret named by PULSO_TOKEN_SECRET_ARN: secret unreachable"
            );
        }
        // ... and only one new attempt was started, which the next invocation gets.
        assert_eq!(starting.get().await.unwrap(), 1);
        assert_eq!(starting.get().await.unwrap(), 1);
        assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_start_is_tried_again_when_next_asked_not_before() {
        let mended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = mended.clone();
        // The cause is read when an attempt starts, as a secret's read finds the secret or not.
        let starting = Starting::spawn(move || {
            let ok = flag.load(std::sync::atomic::Ordering::SeqCst);
            async move {
                match ok {
                    true => Ok("keys"),
                    false => Err(anyhow::anyhow!("no such secret")),
                }
            }
        });
        assert!(starting.get().await.is_err());
        tokio::task::yield_now().await;
        // Mended between two invocations: the next one's attempt starts after it, and sees it.
        mended.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(starting.get().await.unwrap(), "keys");
    }

    #[test]
    fn secrets_are_plain_or_a_json_field() {
        assert_eq!(secret_field(" k1:abc ", "token_keys"), "k1:abc");
        assert_eq!(
            secret_field(r#"{"token_keys":"k1:abc","other":1}"#, "token_keys"),
            "k1:abc"
        );
        assert_eq!(secret_field(r#"{"x":"y"}"#, "token_keys"), "");
    }

    #[test]
    fn the_last_non_empty_value_wins() {
        let vars = vec![
            (TOKEN_KEYS.to_string(), "a".to_string()),
            (TOKEN_KEYS.to_string(), "b".to_string()),
            (WEBHOOK_SECRET.to_string(), "  ".to_string()),
        ];
        assert_eq!(var(&vars, TOKEN_KEYS), Some("b"));
        assert_eq!(var(&vars, WEBHOOK_SECRET), None);
    }
}
