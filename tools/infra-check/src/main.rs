//! `pulso-infra-check`: the half of `scripts/check-infra` that needs Pulso's own parsers.
//!
//! - `pulso-infra-check table` prints `pulso_aws::dynamo::table_definition()` as JSON, which
//!   `infra/checks/check_consistency.py` compares with the table in `infra/template.yaml`.
//! - `pulso-infra-check config FILE.json…` loads every function's environment as the template sets
//!   it (files written by `check_consistency.py --write-env`: `{function: {VAR: value}}`) through
//!   `Config::load`, so a misspelt key, a badly quoted value or an invalid setting fails here rather
//!   than at a cold start in AWS; and checks that the link-signing key the template generates
//!   (`k1:` + 64 characters of A-Z a-z 0-9) is one `SigningKeys::parse` accepts.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use pulso_core::config::{Config, StoreKind};
use pulso_core::token::SigningKeys;
use serde_json::json;

const USAGE: &str = "usage: pulso-infra-check table | config FILE.json...";

/// The alphabet of the template's generated seed (`GenerateSecretString` with
/// `ExcludePunctuation: true`, no spaces).
const SEED_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SEED_LEN: usize = 64;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("table") => table(),
        Some("config") if args.len() > 1 => configs(&args[1..]).and_then(|()| generated_key()),
        _ => Err(anyhow!(USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("infra check: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn table() -> anyhow::Result<()> {
    let def = pulso_aws::dynamo::table_definition();
    let value = json!({
        "key": [def.key.0, def.key.1],
        "indexes": def.indexes.iter().map(|(n, pk, sk)| json!([n, pk, sk])).collect::<Vec<_>>(),
        "stream_view_type": def.stream_view_type,
        "ttl_attribute": def.ttl_attribute,
        "billing_mode": def.billing_mode,
    });
    println!("{value}");
    Ok(())
}

/// Every function's environment, in every file, through `Config::load`; all problems reported.
fn configs(files: &[String]) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        let envs: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text)
            .with_context(|| format!("{file} is not {{function: {{VAR: value}}}}"))?;
        if envs.is_empty() {
            problems.push(format!("{file}: no functions"));
        }
        for (function, env) in &envs {
            problems.extend(
                config_problems(env)
                    .into_iter()
                    .map(|p| format!("{file}: function {function}: {p}")),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

/// Why this environment would not start a Pulso function in AWS (empty when it would).
fn config_problems(env: &BTreeMap<String, String>) -> Vec<String> {
    let config = match Config::load("", env.iter()) {
        Ok(c) => c,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    if config.store.kind != StoreKind::Aws {
        problems.push("store.kind must be aws (PULSO__STORE__KIND)".to_string());
    }
    if config.email.configuration_set.is_none() {
        problems.push(
            "email.configuration_set is unset: bounces and complaints would not flow back".into(),
        );
    }
    if !config.links.base_url.starts_with("https://") {
        problems.push(format!(
            "links.base_url must be https in AWS, not {:?}",
            config.links.base_url
        ));
    }
    problems
}

/// A few seeds of the generated shape, including the alphabet's extremes, must all parse.
fn generated_key() -> anyhow::Result<()> {
    let seeds = [
        "A".repeat(SEED_LEN),
        "z".repeat(SEED_LEN),
        "9".repeat(SEED_LEN),
        SEED_ALPHABET
            .iter()
            .cycle()
            .take(SEED_LEN)
            .map(|&b| b as char)
            .collect::<String>(),
        SEED_ALPHABET
            .iter()
            .rev()
            .cycle()
            .take(SEED_LEN)
            .map(|&b| b as char)
            .collect::<String>(),
    ];
    for seed in seeds {
        let keys = SigningKeys::parse(&format!("k1:{seed}")).with_context(|| {
            format!(
                "the template's generated key shape (k1: + {SEED_LEN} alphanumerics) does not parse"
            )
        })?;
        if keys.active_key_id() != "k1" {
            bail!(
                "the generated key's id should be k1, not {}",
                keys.active_key_id()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws_env() -> BTreeMap<String, String> {
        [
            ("PULSO__STORE__KIND", "aws"),
            ("PULSO__EMAIL__CONFIGURATION_SET", "\"pulso-set\""),
            (
                "PULSO__LINKS__BASE_URL",
                "\"https://abc.execute-api.eu-west-1.amazonaws.com\"",
            ),
            (
                "PULSO__AUDIENCES__WEEKLY__RECIPIENTS",
                "[\"a@acme.example\"]",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_deployable_environment_passes() {
        assert_eq!(config_problems(&aws_env()), Vec::<String>::new());
    }

    #[test]
    fn misspelt_keys_bad_values_and_local_settings_are_named() {
        let mut env = aws_env();
        env.insert("PULSO__SURVEYS__CADENCE_DAY".into(), "90".into());
        assert!(config_problems(&env)[0].contains("cadence_day"));

        let mut env = aws_env();
        env.insert(
            "PULSO__AUDIENCES__WEEKLY__RECIPIENTS".into(),
            "[\"not an address\"]".into(),
        );
        assert!(config_problems(&env)[0].contains("weekly"));

        let mut env = aws_env();
        env.insert("PULSO__STORE__KIND".into(), "local".into());
        env.remove("PULSO__EMAIL__CONFIGURATION_SET");
        let problems = config_problems(&env);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn the_generated_key_shape_parses() {
        generated_key().unwrap();
        // A seed outside the shape (too short) is refused, so the check above can fail.
        assert!(SigningKeys::parse(&format!("k1:{}", "A".repeat(40))).is_err());
    }
}
