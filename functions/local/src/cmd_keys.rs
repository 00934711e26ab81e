//! `pulso keys`: API keys of the events API. `create NAME` prints a new key once (only its hash is
//! kept), `list` shows prefixes, names and states, `revoke PREFIX` stops a key at once. With
//! `store.kind = "aws"` the deployment's DynamoDB table is used (AWS credentials from the
//! environment), so keys for the deployed API are made the same way.

use std::io::Read as _;

use anyhow::Context as _;
use pulso_core::config::StoreKind;
use pulso_core::ports::ApiKeys;
use pulso_events::keys;

use crate::Cli;
use crate::app;

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key for a system that posts events (printed once: store it in that system).
    Create {
        /// What uses the key, e.g. "helpdesk" or "crm".
        name: String,
    },
    /// List the keys: prefix, name, when created, whether revoked.
    List,
    /// Revoke the key whose prefix starts with PREFIX (e.g. pulso_1a2b3c4d): refused at once.
    Revoke { prefix: String },
}

/// 32 bytes from the operating system's random source.
fn random_bytes() -> anyhow::Result<[u8; 32]> {
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read random bytes from /dev/urandom")?;
    Ok(buf)
}

pub async fn run(cli: &Cli, command: &KeysCommand) -> anyhow::Result<()> {
    let config = app::load_config(cli)?;
    let now = jiff::Timestamp::now();
    match config.store.kind {
        StoreKind::Local => {
            let ctx = app::open_loaded(cli, config)?;
            on_store(&ctx.store, command, now).await
        }
        StoreKind::Aws => {
            let store = keys::deployed_store(&config).await;
            on_store(&store, command, now).await
        }
    }
}

async fn on_store<S: ApiKeys>(
    store: &S,
    command: &KeysCommand,
    now: jiff::Timestamp,
) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create { name } => {
            let key = keys::new_key(&random_bytes()?, name, now)?;
            store
                .put_api_key(&key.record)
                .await
                .context("cannot store the key")?;
            println!("{}", key.plaintext);
            eprintln!(
                "Key {} ({}) created. It is shown only now: give it to the system as\n  Authorization: Bearer <key>",
                key.record.prefix, key.record.name
            );
        }
        KeysCommand::List => {
            let list = store.api_keys().await.context("cannot read the keys")?;
            if list.is_empty() {
                println!("No API keys. Create one: pulso keys create NAME");
            }
            for k in list {
                let state = match k.revoked_at {
                    Some(at) => format!("revoked {}", at.strftime("%Y-%m-%d %H:%M UTC")),
                    None => "active".to_string(),
                };
                println!(
                    "{}  {:<24}  created {}  {}",
                    k.prefix,
                    k.name,
                    k.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                    state
                );
            }
        }
        KeysCommand::Revoke { prefix } => {
            let k = keys::revoke(store, prefix, now).await?;
            println!("Revoked {} ({}).", k.prefix, k.name);
        }
    }
    Ok(())
}

#[cfg(test)]
// aws-config names its profile-file types by deprecated aliases of aws-runtime's, a crate this one
// does not otherwise depend on.
#[allow(deprecated)]
mod tests {
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::profile::profile_file::{ProfileFileKind, ProfileFiles};
    use aws_sdk_dynamodb::config::ProvideCredentials;

    /// `pulso keys` against a deployment takes the operator's credentials from their AWS profile;
    /// this command's build lets the profile name a `credential_process` (and SSO), which
    /// aws-config leaves out without its features.
    #[tokio::test]
    async fn the_operators_profile_may_name_a_credential_process() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "[profile operator]\ncredential_process = printf '{\"Version\":1,\"AccessKeyId\":\"AKIDFROMPROCESS\",\"SecretAccessKey\":\"not-a-secret\"}'\n",
        )
        .unwrap();
        let provider = ProfileFileCredentialsProvider::builder()
            .profile_files(
                ProfileFiles::builder()
                    .with_file(ProfileFileKind::Config, &config)
                    .build(),
            )
            .profile_name("operator")
            .build();
        let creds = provider.provide_credentials().await.unwrap();
        assert_eq!(creds.access_key_id(), "AKIDFROMPROCESS");
    }
}
