//! Survey emails through the real AWS adapters on moto's server: dispatch plans and sends a wave
//! over the DynamoDB store and the SES v2 mailer (with the configuration set from config), and the
//! raw messages moto recorded are parsed back: RFC 8058 headers, Message-ID, Date, both parts, the
//! eleven score buttons, and every link's token verifying for its purpose.
//!
//! Needs `PULSO_TEST_AWS_ENDPOINT` (started by ./scripts/test).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use mail_parser::{MessageParser, MimeHeaders};
use pulso_core::Ctx;
use pulso_core::config::Config;
use pulso_core::dispatch::ManualTimer;
use pulso_core::model::{Contact, SendStatus, slot_of};
use pulso_core::ports::{Contacts, FixedClock, Sends, SequentialIds};
use pulso_core::token::{Purpose, SigningKeys};
use pulso_core::types::{Attributes, ContactId, Email, Locale};
use pulso_tests::aws;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn contact(id: &str, email: &str, name: &str, locale: Locale) -> Contact {
    let cid = ContactId::parse(id).unwrap();
    Contact {
        slot: slot_of(&cid),
        id: cid,
        email: Email::parse(email).unwrap(),
        name: Some(name.into()),
        locale,
        account: None,
        time_zone: None,
        attributes: Attributes::new(),
        customer_since: Some(jiff::civil::date(2024, 1, 1)),
        created_at: ts("2024-01-01T00:00:00Z"),
        updated_at: ts("2024-01-01T00:00:00Z"),
        last_surveyed_at: None,
        unsubscribed_at: None,
        version: 1,
    }
}

/// An id (prefix-N) whose slot is in the slice of `day`.
fn id_in_slice(prefix: &str, config: &Config, day: jiff::civil::Date) -> String {
    use pulso_core::dispatch::calendar::{Cycle, working_days};
    let cycle = Cycle::containing(
        day,
        config.surveys.cadence_days,
        &working_days(&config.surveys),
    );
    let (from, to) = cycle.slots_of(cycle.index_of(day).unwrap());
    (0..100_000)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| (from..to).contains(&slot_of(&ContactId::parse(id).unwrap())))
        .unwrap()
}

/// The token in a link `…/<route>/<token>[?…]`.
fn token_of<'a>(url: &'a str, route: &str) -> &'a str {
    let start = url
        .find(route)
        .unwrap_or_else(|| panic!("{route} in {url}"))
        + route.len();
    let rest = &url[start..];
    rest.split(['?', '>', '"']).next().unwrap()
}

fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|s| s.replace("&amp;", "&").replace("&#38;", "&"))
        .collect()
}

#[tokio::test]
async fn survey_emails_through_ses_carry_headers_parts_and_verifiable_links() {
    let config = Config::load(
        "[company]\nname = \"Acme <Analytics>\"\n\
         [email]\nfrom = \"Acme <nps@acme.example>\"\nunsubscribe_mailto = \"unsubscribe@acme.example\"\n\
         configuration_set = \"pulso-feedback\"\n\
         [links]\nbase_url = \"https://nps.acme.example\"\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let store = aws::fresh_table()
        .await
        .expect("moto (PULSO_TEST_AWS_ENDPOINT)");
    let mailer = aws::ses_mailer("acme.example", Some("pulso-feedback"))
        .await
        .unwrap();
    let _ = mailer
        .client()
        .create_configuration_set()
        .configuration_set_name("pulso-feedback")
        .send()
        .await;
    let keys = SigningKeys::single("k1", &[5u8; 32]).unwrap();
    let clock = FixedClock::at(ts("2026-03-04T00:05:00Z"));
    let ctx = Ctx {
        config: Arc::new(config.clone()),
        keys: keys.clone().into(),
        store: store.clone(),
        mailer,
        archive: (),
        clock: Arc::new(clock.clone()),
        ids: Arc::new(SequentialIds::new("c")),
    };
    let day = jiff::civil::date(2026, 3, 4);
    let en = id_in_slice("en", &config, day);
    let es = id_in_slice("es", &config, day);
    let run_tag = aws::unique("r");
    let en_addr = format!("ana.{run_tag}@example.com").to_lowercase();
    let es_addr = format!("lucia.{run_tag}@example.com").to_lowercase();
    store
        .put_contact(&contact(
            &en,
            &en_addr,
            "Ana <script>x</script>",
            Locale::En,
        ))
        .await
        .unwrap();
    store
        .put_contact(&contact(&es, &es_addr, "Lucía", Locale::Es))
        .await
        .unwrap();

    let plan = pulso_core::dispatch::run(&ctx, &ManualTimer::new(), Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(plan.wave.planned, 2);
    clock.set(ts("2026-03-04T12:30:00Z"));
    let out = pulso_core::dispatch::run(&ctx, &ManualTimer::new(), Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(out.sent, 2, "{out:?}");
    assert!(out.rate > 0.0);

    for (id, address, locale) in [(&en, &en_addr, Locale::En), (&es, &es_addr, Locale::Es)] {
        let send = store
            .sends_of_contact(&ContactId::parse(id).unwrap())
            .await
            .unwrap()
            .remove(0);
        assert!(matches!(send.status, SendStatus::Sent { .. }));
        let message_id = send.message_id.clone().expect("SES message id kept");
        let sent = aws::sent_raw_message(&message_id).await.unwrap();
        // moto lists the envelope recipients and the To header: both are this one address.
        assert!(!sent.destinations.is_empty());
        assert!(
            sent.destinations.iter().all(|d| d == address),
            "{:?}",
            sent.destinations
        );
        let msg = MessageParser::default()
            .parse(sent.raw.as_bytes())
            .expect("the message parses");

        // Headers.
        assert_eq!(
            msg.message_id(),
            Some(format!("survey.{}@acme.example", send.id).as_str())
        );
        let date = msg.date().expect("Date").to_timestamp();
        assert_eq!(date, ts("2026-03-04T12:30:00Z").as_second());
        let lu = msg
            .header_raw("List-Unsubscribe")
            .expect("List-Unsubscribe")
            .replace(['\r', '\n'], "");
        assert!(lu.contains("<https://nps.acme.example/u/"), "{lu}");
        assert!(
            lu.contains(&format!(
                "<mailto:unsubscribe@acme.example?subject=unsubscribe-{}>",
                send.id
            )),
            "{lu}"
        );
        assert_eq!(
            msg.header_raw("List-Unsubscribe-Post").map(str::trim),
            Some("List-Unsubscribe=One-Click")
        );
        let header_token = token_of(&lu, "/u/");
        assert_eq!(
            keys.verify(
                header_token,
                Purpose::Unsubscribe,
                ts("2026-03-04T12:31:00Z")
            )
            .unwrap()
            .subject,
            send.id.as_str()
        );

        // Both parts, each a real part of its own type.
        let types: Vec<String> = msg
            .parts
            .iter()
            .filter_map(|p| p.content_type())
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            .collect();
        assert!(types.contains(&"text/plain".to_string()), "{types:?}");
        assert!(types.contains(&"text/html".to_string()), "{types:?}");
        let html = msg.body_html(0).unwrap().to_string();
        let text = msg.body_text(0).unwrap().to_string();
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("src="));
        assert!(
            !html.contains("Acme <Analytics>"),
            "the company name is escaped"
        );
        let question = pulso_core::i18n::tf(locale, "nps.question", &[("company", "Acme")]);
        let head = question.split("Acme").next().unwrap();
        assert!(text.contains(head), "{text}");
        assert!(html.contains(head));
        assert!(html.contains(&format!("lang=\"{}\"", locale.code())));
        assert!(text.contains(pulso_core::i18n::t(locale, "scale.low")));

        // Every link verifies for its purpose and names this send; eleven score links 0-10.
        let now = ts("2026-03-04T12:31:00Z");
        let links = hrefs(&html);
        let mut scores = Vec::new();
        let mut unsubscribe = 0;
        for link in &links {
            assert!(link.starts_with("https://nps.acme.example/"), "{link}");
            if link.contains("/a/") {
                let claims = keys
                    .verify(token_of(link, "/a/"), Purpose::Answer, now)
                    .unwrap();
                assert_eq!(claims.subject, send.id.as_str());
                scores.push(link.rsplit("?s=").next().unwrap().parse::<u8>().unwrap());
            } else {
                let claims = keys
                    .verify(token_of(link, "/u/"), Purpose::Unsubscribe, now)
                    .unwrap();
                assert_eq!(claims.subject, send.id.as_str());
                assert!(
                    keys.verify(token_of(link, "/u/"), Purpose::Answer, now)
                        .is_err()
                );
                unsubscribe += 1;
            }
        }
        assert_eq!(scores, (0..=10).collect::<Vec<u8>>());
        assert_eq!(unsubscribe, 1, "one visible unsubscribe link");
        assert_eq!(html.matches("aria-label=").count(), 11);
        assert_eq!(html.matches("width:44px;height:44px").count(), 11);
        // The text part carries the same links.
        let text_links: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("https://"))
            .collect();
        assert_eq!(text_links.len(), 12, "{text}");
        for l in text_links {
            let route = if l.contains("/a/") { "/a/" } else { "/u/" };
            let purpose = if route == "/a/" {
                Purpose::Answer
            } else {
                Purpose::Unsubscribe
            };
            assert!(keys.verify(token_of(l.trim(), route), purpose, now).is_ok());
        }
    }
    // The hostile name is escaped in the HTML part.
    let send = store
        .sends_of_contact(&ContactId::parse(&en).unwrap())
        .await
        .unwrap()
        .remove(0);
    let raw = aws::sent_raw_message(send.message_id.as_deref().unwrap())
        .await
        .unwrap()
        .raw;
    let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let html = msg.body_html(0).unwrap();
    assert!(!html.contains("<script>x</script>"));
    assert!(html.contains("Ana &#60;script&#62;"));
}
