//! The survey in real headless Chromium: a real survey email (rendered by dispatch's renderer into
//! the outbox, parsed back), its score link opened at phone width; the page's script commits the
//! score; a comment and Send lead to the thank-you page. With JavaScript disabled the form does
//! the same. A mail scanner's plain GETs of all eleven links count nothing. Screenshots land in
//! `target/browser-screens/`.

mod capture_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use capture_support::*;
use headless_chrome::Tab;
use headless_chrome::protocol::cdp::{Emulation, Page};
use jiff::SignedDuration;
use mail_parser::MessageParser;
use pulso_core::dispatch::{EmailKind, SurveyRenderer};
use pulso_core::model::{AnswerSource, Contact, SurveySend};
use pulso_core::ports::Mailer;
use pulso_core::types::Locale;
use pulso_tests::browser;

/// A harness whose links point at a loopback server that serves its router (alerts inline).
fn setup(rt: &tokio::runtime::Runtime) -> (Harness, SocketAddr) {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let h = Harness::new(&format!("[links]\nbase_url = \"http://{addr}\"\n"));
        let router = h.router_inline_no_webhooks();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (h, addr)
    })
}

/// The survey email of `send` as the outbox holds it, and its eleven score links in order.
fn survey_links(
    rt: &tokio::runtime::Runtime,
    h: &Harness,
    contact: &Contact,
    send: &SurveySend,
) -> Vec<String> {
    let email = SurveyRenderer::new(&h.ctx.config)
        .render(
            &h.ctx.config,
            h.ctx.keys.at_hand().unwrap(),
            send,
            contact,
            EmailKind::Survey,
            h.now(),
        )
        .expect("survey email");
    rt.block_on(h.ctx.mailer.send(&email))
        .expect("into the outbox");
    let raw = h
        .outbox()
        .into_iter()
        .find(|m| m.contains("X-Pulso-Kind: survey"))
        .expect("the survey in the outbox");
    let message = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME");
    let html = message.body_html(0).expect("HTML part").to_string();
    let mut links: Vec<String> = html
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| href.contains("/a/"))
        .map(|href| href.replace("&amp;", "&"))
        .collect();
    links.dedup();
    assert_eq!(links.len(), 11, "eleven score buttons");
    for (i, link) in links.iter().enumerate() {
        assert!(link.ends_with(&format!("?s={i}")), "{link}");
    }
    links
}

/// Waits (bounded) until the store holds an answer for `send` that satisfies `ok`.
fn wait_for_answer(
    rt: &tokio::runtime::Runtime,
    h: &Harness,
    send: &SurveySend,
    ok: impl Fn(&pulso_core::model::Response) -> bool,
) -> pulso_core::model::Response {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = rt.block_on(h.answer(send))
            && ok(&r)
        {
            return r;
        }
        assert!(Instant::now() < deadline, "no such answer in the store");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    std::fs::write(browser::screenshot_dir().join(name), png).expect("write screenshot");
}

fn text_of(tab: &Tab, selector: &str) -> String {
    tab.wait_for_element(selector)
        .and_then(|e| e.get_inner_text())
        .unwrap_or_default()
}

#[test]
fn with_javascript_the_page_commits_the_score_and_the_comment_leads_to_thanks() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, _addr) = setup(&rt);
    let (contact, send) =
        rt.block_on(h.mailed(1, Locale::En, Some("Globex"), SignedDuration::from_hours(2)));
    let links = survey_links(&rt, &h, &contact, &send);

    let chrome = browser::launch(browser::PHONE).expect("Chromium");
    let tab = chrome.browser.new_tab().expect("tab");
    tab.set_default_timeout(Duration::from_secs(15));
    browser::emulate_phone(&tab).expect("phone");
    tab.navigate_to(&links[8])
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    assert_eq!(
        rt.block_on(h.answer(&send)),
        None,
        "opening the page writes nothing"
    );
    // The script posts the score after the delay and shows the "saved" note.
    tab.wait_for_element("#saved:not([hidden])")
        .expect("the score is committed");
    let answer = wait_for_answer(&rt, &h, &send, |r| r.counted());
    assert_eq!(answer.score.value(), 8);
    assert_eq!(answer.source, AnswerSource::Human);
    assert!(text_of(&tab, "#saved").contains("your score is saved"));
    screenshot(&tab, "answer-phone.png");

    // The person writes why and presses Send (a moment later on the server's clock).
    h.advance_secs(40);
    tab.find_element("#comment").unwrap().click().unwrap();
    tab.type_str("Reports are great, <but> exports are slow")
        .unwrap();
    tab.find_element("button[type=submit]")
        .unwrap()
        .click()
        .unwrap();
    tab.wait_for_element("#your-comment")
        .expect("the thank-you page");
    assert!(tab.get_url().ends_with("/thanks"), "{}", tab.get_url());
    assert!(text_of(&tab, "h1").contains("Thank you, Ana!"));
    assert_eq!(
        text_of(&tab, "#your-comment"),
        "Reports are great, <but> exports are slow"
    );
    screenshot(&tab, "thanks-phone.png");
    let answer = wait_for_answer(&rt, &h, &send, |r| r.comment.is_some());
    assert_eq!(answer.score.value(), 8);
    assert_eq!(
        answer.comment.as_deref(),
        Some("Reports are great, <but> exports are slow")
    );
    assert_eq!(rt.block_on(h.totals()).counted(), 1);
}

#[test]
fn without_javascript_the_form_commits_score_and_comment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, _addr) = setup(&rt);
    let (contact, send) = rt.block_on(h.mailed(2, Locale::Es, None, SignedDuration::from_hours(5)));
    let links = survey_links(&rt, &h, &contact, &send);

    let chrome = browser::launch(browser::PHONE).expect("Chromium");
    let tab = chrome.browser.new_tab().expect("tab");
    tab.set_default_timeout(Duration::from_secs(15));
    tab.call_method(Emulation::SetScriptExecutionDisabled { value: true })
        .expect("scripts off");
    tab.navigate_to(&links[3])
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    tab.wait_for_element("#comment").unwrap();
    assert!(
        tab.get_content()
            .unwrap()
            .contains("¿Cuál es el motivo principal de tu puntuación?")
    );
    // Nothing commits by itself without the script.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(rt.block_on(h.answer(&send)), None);
    screenshot(&tab, "answer-noscript-phone.png");

    // headless_chrome's element helpers run scripts in the page, so with scripts off the test uses
    // plain input: a click on the comment box, typing, then Tab to Send and Enter (the keyboard
    // path).
    h.advance_secs(25);
    let comment_box = tab
        .find_element("#comment")
        .unwrap()
        .get_midpoint()
        .unwrap();
    tab.click_point(comment_box).unwrap();
    tab.type_str("Demasiado caro para lo que usamos").unwrap();
    tab.press_key("Tab").unwrap();
    tab.press_key("Enter").unwrap();
    tab.wait_for_element("#your-comment")
        .expect("the thank-you page");
    assert!(text_of(&tab, "h1").contains("¡Gracias, Lucía!"));
    let answer = wait_for_answer(&rt, &h, &send, |r| r.counted());
    assert_eq!(answer.score.value(), 3);
    assert_eq!(
        answer.comment.as_deref(),
        Some("Demasiado caro para lo que usamos")
    );
    // A detractor: the alert went out at once.
    assert!(h.outbox().iter().any(|m| m.contains("X-Pulso-Kind: alert")));
}

#[test]
fn a_scanner_fetching_all_eleven_links_leaves_no_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, _addr) = setup(&rt);
    let (contact, send) = rt.block_on(h.mailed(3, Locale::En, None, SignedDuration::from_secs(3)));
    let links = survey_links(&rt, &h, &contact, &send);
    rt.block_on(async {
        let scanner = reqwest::Client::new();
        for link in &links {
            let res = scanner.get(link).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let page = res.text().await.unwrap();
            assert!(page.contains("How likely is it"));
        }
    });
    assert_eq!(rt.block_on(h.answer(&send)), None);
    assert_eq!(rt.block_on(h.totals()), Totals::default());
    assert!(!h.outbox().iter().any(|m| m.contains("X-Pulso-Kind: alert")));
}
