//! Message catalogs: every word a person reads comes from `catalog/<locale>/<area>.toml`, not from
//! code. Each area (common, survey, pages, alerts, reports) has one file per locale; a test checks
//! that both locales have the same keys and placeholders.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::types::Locale;

const FILES: &[(Locale, &str, &str)] = &[
    (
        Locale::En,
        "common",
        include_str!("../catalog/en/common.toml"),
    ),
    (
        Locale::En,
        "survey",
        include_str!("../catalog/en/survey.toml"),
    ),
    (
        Locale::En,
        "pages",
        include_str!("../catalog/en/pages.toml"),
    ),
    (
        Locale::En,
        "alerts",
        include_str!("../catalog/en/alerts.toml"),
    ),
    (
        Locale::En,
        "reports",
        include_str!("../catalog/en/reports.toml"),
    ),
    (
        Locale::Es,
        "common",
        include_str!("../catalog/es/common.toml"),
    ),
    (
        Locale::Es,
        "survey",
        include_str!("../catalog/es/survey.toml"),
    ),
    (
        Locale::Es,
        "pages",
        include_str!("../catalog/es/pages.toml"),
    ),
    (
        Locale::Es,
        "alerts",
        include_str!("../catalog/es/alerts.toml"),
    ),
    (
        Locale::Es,
        "reports",
        include_str!("../catalog/es/reports.toml"),
    ),
];

type Catalog = HashMap<(Locale, String), String>;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut map = HashMap::new();
        for (locale, area, text) in FILES {
            // The catalogs are compiled in and checked by tests; a broken one shows as missing keys.
            let Ok(table) = text.parse::<toml::Table>() else {
                tracing::error!(
                    area,
                    locale = locale.code(),
                    "message catalog does not parse"
                );
                continue;
            };
            for (k, v) in table {
                if let toml::Value::String(s) = v {
                    map.insert((*locale, k), s);
                }
            }
        }
        map
    })
}

/// The message `key` in `locale`; English if the locale lacks it; the key itself if both do.
pub fn t(locale: Locale, key: &str) -> &str {
    let c = catalog();
    c.get(&(locale, key.to_string()))
        .or_else(|| c.get(&(Locale::En, key.to_string())))
        .map(String::as_str)
        .unwrap_or(key)
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// `t` then `fill`.
pub fn tf(locale: Locale, key: &str, values: &[(&str, &str)]) -> String {
    fill(t(locale, key), values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn placeholders(s: &str) -> BTreeSet<String> {
        s.split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
            .collect()
    }

    #[test]
    fn every_catalog_parses() {
        for (locale, area, text) in FILES {
            assert!(
                text.parse::<toml::Table>().is_ok(),
                "{area} ({locale}) does not parse"
            );
        }
    }

    #[test]
    fn both_locales_have_the_same_keys_and_placeholders() {
        let c = catalog();
        for ((locale, key), value) in c {
            for other in Locale::ALL {
                let theirs = c.get(&(other, key.clone()));
                assert!(theirs.is_some(), "{key} is in {locale} but not in {other}");
                assert_eq!(
                    placeholders(value),
                    placeholders(theirs.map(String::as_str).unwrap_or("")),
                    "placeholders of {key} differ between {locale} and {other}"
                );
            }
        }
    }

    #[test]
    fn the_question_follows_the_brief() {
        assert_eq!(
            tf(Locale::En, "nps.question", &[("company", "Acme")]),
            "How likely is it that you would recommend Acme to a friend or colleague?"
        );
        assert_eq!(
            tf(Locale::Es, "nps.question", &[("company", "Acme")]),
            "¿Qué tan probable es que recomiendes Acme a un amigo o colega?"
        );
        assert_eq!(t(Locale::Es, "no.such.key"), "no.such.key");
    }
}
