//! The public links Pulso puts in emails, and the routes the capture router serves for them.
//! One place builds them so that the emails and the router always agree.
//!
//! | link | route | token purpose / subject |
//! |---|---|---|
//! | score button | `GET /a/{token}?s={0..10}` (page), `POST /a/{token}` (commit, comment) | `Answer` / send id |
//! | unsubscribe | `GET /u/{token}` (confirm page), `POST /u/{token}` (RFC 8058 one-click) | `Unsubscribe` / send id |
//! | follow-up done | `GET /f/{token}` (form), `POST /f/{token}` | `FollowUp` / send id |
//! | archived report | `GET /r/{token}` | `Report` / archive key |

use jiff::{SignedDuration, Timestamp};

use crate::config::Config;
use crate::token::{Purpose, SigningKeys};
use crate::types::{Score, SendId};

fn base(config: &Config) -> &str {
    config.links.base_url.trim_end_matches('/')
}

fn days(n: u32) -> SignedDuration {
    SignedDuration::from_hours(i64::from(n) * 24)
}

fn expiry(now: Timestamp, valid_days: u32) -> Timestamp {
    now.checked_add(days(valid_days)).unwrap_or(now)
}

/// The token every score link of one survey email carries.
pub fn answer_token(config: &Config, keys: &SigningKeys, send: &SendId, now: Timestamp) -> String {
    keys.sign(
        Purpose::Answer,
        send.as_str(),
        expiry(now, config.links.answer_valid_days),
    )
}

/// The link of one score button: opens the comment page with `score` pre-selected (commits nothing).
pub fn score_url(config: &Config, answer_token: &str, score: Score) -> String {
    format!("{}/a/{}?s={}", base(config), answer_token, score.value())
}

/// The comment page's own address (where its form posts).
pub fn answer_url(config: &Config, answer_token: &str) -> String {
    format!("{}/a/{}", base(config), answer_token)
}

/// The https half of `List-Unsubscribe` and the visible unsubscribe link.
pub fn unsubscribe_url(
    config: &Config,
    keys: &SigningKeys,
    send: &SendId,
    now: Timestamp,
) -> String {
    // Unsubscribe links outlive answer links: people unsubscribe from old emails.
    let token = keys.sign(
        Purpose::Unsubscribe,
        send.as_str(),
        expiry(
            now,
            config.links.answer_valid_days.saturating_mul(12).max(365),
        ),
    );
    format!("{}/u/{}", base(config), token)
}

/// The mailto half of `List-Unsubscribe`: the subject names the send, so a mail handler could act.
pub fn unsubscribe_mailto(config: &Config, send: &SendId) -> String {
    format!(
        "mailto:{}?subject=unsubscribe-{}",
        config.email.unsubscribe_mailto,
        send.as_str()
    )
}

/// The "mark follow-up done" link in a detractor alert.
pub fn follow_up_url(config: &Config, keys: &SigningKeys, send: &SendId, now: Timestamp) -> String {
    let token = keys.sign(
        Purpose::FollowUp,
        send.as_str(),
        expiry(now, config.links.follow_up_valid_days),
    );
    format!("{}/f/{}", base(config), token)
}

/// A link to an archived report (`key` as stored in the archive), valid for a year.
pub fn report_url(config: &Config, keys: &SigningKeys, key: &str, now: Timestamp) -> String {
    let token = keys.sign(Purpose::Report, key, expiry(now, 366));
    format!("{}/r/{}", base(config), token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_tokens_for_their_purpose() {
        let config = Config::default();
        let keys = SigningKeys::single("k1", &[3u8; 32]).unwrap();
        let now: Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
        let send = SendId::for_key("wave:c1:1");
        let tok = answer_token(&config, &keys, &send, now);
        let url = score_url(&config, &tok, Score::new(7).unwrap());
        assert!(url.starts_with("http://127.0.0.1:8080/a/") && url.ends_with("?s=7"));
        let claims = keys.verify(&tok, Purpose::Answer, now).unwrap();
        assert_eq!(claims.subject, send.as_str());
        let later = now.checked_add(days(31)).unwrap();
        assert!(keys.verify(&tok, Purpose::Answer, later).is_err());

        let u = unsubscribe_url(&config, &keys, &send, now);
        let utok = u.rsplit('/').next().unwrap();
        assert!(keys.verify(utok, Purpose::Unsubscribe, later).is_ok());
        assert!(keys.verify(utok, Purpose::Answer, now).is_err());
        assert!(
            unsubscribe_mailto(&config, &send)
                .starts_with("mailto:unsubscribe@example.com?subject=")
        );

        let r = report_url(&config, &keys, "reports/weekly/2026-W10/report.html", now);
        let rtok = r.rsplit('/').next().unwrap();
        assert_eq!(
            keys.verify(rtok, Purpose::Report, now).unwrap().subject,
            "reports/weekly/2026-W10/report.html"
        );
    }
}
