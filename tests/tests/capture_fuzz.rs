//! Property tests: arbitrary bytes into the token parser, and arbitrary requests (methods, paths,
//! query strings, headers, form bodies, and raw bytes that are not HTTP at all) into the capture
//! router over a real socket. Nothing panics, nothing answers 5xx, and nothing is written unless
//! the request was a well-formed commit on an authentic link.

mod capture_support;

use std::net::SocketAddr;
use std::sync::OnceLock;

use capture_support::*;
use jiff::SignedDuration;
use proptest::prelude::*;
use pulso_core::model::SurveySend;
use pulso_core::ports::{Contacts, FollowUps, Suppressions};
use pulso_core::token::Purpose;
use pulso_core::types::Locale;

struct World {
    rt: tokio::runtime::Runtime,
    h: Harness,
    addr: SocketAddr,
    /// A send whose links are authentic (fuzzed bodies may answer it).
    target: SurveySend,
    /// A send no request can reach with an authentic link.
    untouched: SurveySend,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let (h, addr, target, untouched) = rt.block_on(async {
            let h = Harness::new("");
            let (_, target) = h.mailed_an_hour_ago(1).await;
            let (_, untouched) = h
                .mailed(
                    2,
                    Locale::Es,
                    Some("Initech"),
                    SignedDuration::from_hours(1),
                )
                .await;
            let addr = serve(h.router_inline_no_webhooks()).await;
            (h, addr, target, untouched)
        });
        World {
            rt,
            h,
            addr,
            target,
            untouched,
        }
    })
}

/// Everything a request could have written about the untouched send and its contact.
fn untouched_state(w: &World) -> String {
    w.rt.block_on(async {
        let s = &w.h.ctx.store;
        let contact = s.contact(&w.untouched.contact_id).await.unwrap().unwrap();
        let suppressed = s.suppression(&contact.email.hash()).await.unwrap();
        format!(
            "{:?} {:?} {:?} {:?}",
            w.h.answer(&w.untouched).await,
            contact.version,
            suppressed,
            s.follow_up(&w.untouched.id).await.unwrap(),
        )
    })
}

/// The tests that read the target send's version around a request take turns: cargo runs tests in
/// parallel, and one test's accepted commit would otherwise look like another's stray write.
static TARGET_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn target_turn() -> std::sync::MutexGuard<'static, ()> {
    TARGET_TURN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn target_version(w: &World) -> Option<u64> {
    w.rt.block_on(w.h.answer(&w.target)).map(|r| r.version)
}

fn http(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: pulso.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn path_chars() -> impl Strategy<Value = String> {
    // Anything a request line can carry in a path: no space, CR or LF.
    proptest::collection::vec(
        prop_oneof![
            proptest::char::range('!', '~'),
            Just('%'),
            proptest::char::range('\u{80}', '\u{3ff}'),
        ],
        0..300,
    )
    .prop_map(|v| v.into_iter().collect::<String>().replace(' ', ""))
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("HEAD".to_string()),
        Just("PUT".to_string()),
        Just("DELETE".to_string()),
        Just("OPTIONS".to_string()),
        "[A-Z]{1,10}",
    ]
}

fn form_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,25}",
        "-?[0-9]{1,3}(\\.[0-9])?",
        ".{0,80}",
        "(%[0-9A-Fa-f]{2}){0,20}",
        Just("script".to_string()),
        Just("button".to_string()),
    ]
}

fn form() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (
            form_value(),
            form_value(),
            form_value(),
            form_value(),
            form_value()
        )
            .prop_map(|(s, via, comment, rendered, open)| {
                format!(
                    "s={}&via={}&comment={}&rendered_at={}&open_ms={}",
                    encode(&s),
                    encode(&via),
                    encode(&comment),
                    encode(&rendered),
                    encode(&open)
                )
                .into_bytes()
            }),
        (form_value(), form_value()).prop_map(|(name, note)| format!(
            "name={}&note={}",
            encode(&name),
            encode(&note)
        )
        .into_bytes()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just("Content-Type".to_string()),
                Just("Accept-Language".to_string()),
                Just("Accept".to_string()),
                Just("Cookie".to_string()),
                "X-[A-Za-z]{1,10}",
            ],
            "[ -~]{0,120}",
        ),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_verify_as_a_token(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let w = world();
        let text = String::from_utf8_lossy(&bytes);
        for purpose in [Purpose::Answer, Purpose::Unsubscribe, Purpose::FollowUp, Purpose::Report] {
            prop_assert!(w.h.ctx.keys.at_hand().unwrap().verify(&text, purpose, w.h.now()).is_err());
        }
    }

    #[test]
    fn a_changed_token_never_verifies(pos in 0usize..200, byte in any::<u8>()) {
        let w = world();
        let token = w.h.answer_token(&w.target);
        let mut bytes = token.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != byte);
        bytes[pos] = byte;
        let changed = String::from_utf8_lossy(&bytes);
        prop_assert!(w.h.ctx.keys.at_hand().unwrap().verify(&changed, Purpose::Answer, w.h.now()).is_err());
    }

    #[test]
    fn arbitrary_requests_on_forged_links_write_nothing(
        method in method(),
        prefix in prop_oneof![Just("/a/"), Just("/u/"), Just("/f/"), Just("/r/"), Just("/"), Just("/a/x/thanks/")],
        rest in path_chars(),
        query in proptest::option::of(path_chars()),
        headers in headers(),
        body in form(),
    ) {
        let w = world();
        let before = untouched_state(w);
        let path = match &query {
            Some(q) => format!("{prefix}{rest}?{q}"),
            None => format!("{prefix}{rest}"),
        };
        let status = w.rt.block_on(raw_request(w.addr, &http(&method, &path, &headers, &body)));
        prop_assert!(status != 0, "no answer to {method} {path}");
        prop_assert!(status < 500, "{status} for {method} {path}");
        prop_assert_eq!(untouched_state(w), before);
    }

    #[test]
    fn arbitrary_bytes_are_not_http_and_write_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let w = world();
        let before = untouched_state(w);
        let status = w.rt.block_on(raw_request(w.addr, &bytes));
        prop_assert!(status < 500);
        prop_assert_eq!(untouched_state(w), before);
    }

    #[test]
    fn arbitrary_queries_on_an_authentic_link_never_write(query in path_chars(), headers in headers()) {
        let w = world();
        let _turn = target_turn();
        let token = w.h.answer_token(&w.target);
        let version = target_version(w);
        for path in [format!("/a/{token}?{query}"), format!("/a/{token}/thanks?{query}")] {
            let status = w.rt.block_on(raw_request(w.addr, &http("GET", &path, &headers, b"")));
            prop_assert!(matches!(status, 200 | 400), "{status} for {path}");
        }
        prop_assert_eq!(target_version(w), version);
    }

    #[test]
    fn arbitrary_bodies_on_an_authentic_link_write_only_when_accepted(body in form(), headers in headers()) {
        let w = world();
        let _turn = target_turn();
        let token = w.h.answer_token(&w.target);
        let before_untouched = untouched_state(w);
        let version = target_version(w);
        let status = w.rt.block_on(raw_request(
            w.addr,
            &http("POST", &format!("/a/{token}"), &headers, &body),
        ));
        prop_assert!(status != 0 && status < 500, "{status}");
        let accepted = matches!(status, 204 | 303);
        if !accepted {
            prop_assert_eq!(target_version(w), version, "refused with {} but written", status);
        } else {
            prop_assert!(target_version(w) > version.or(Some(0)));
        }
        prop_assert_eq!(untouched_state(w), before_untouched);
    }
}
