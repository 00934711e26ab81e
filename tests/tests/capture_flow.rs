//! The capture router end to end over the SQLite store, on a loopback port: score links that
//! commit nothing, the script and button commits, re-answers, the automated-answer rule,
//! unsubscribe, bad links and bad input (each with "nothing written"), escaping and headers.

mod capture_support;

use capture_support::*;
use jiff::SignedDuration;
use pulso_core::model::{AnswerSource, SuppressionReason};
use pulso_core::ports::{Contacts, Sends, Suppressions};
use pulso_core::token::{Purpose, SigningKeys};
use pulso_core::types::Locale;

#[tokio::test]
async fn fetching_every_score_link_writes_nothing() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    let token = h.answer_token(&send);
    for s in 0..=10u8 {
        let page = get(addr, &h.score_path(&token, s)).await;
        assert_eq!(page.status, 200);
        assert_eq!(
            checked_score(&page.body),
            Some(s),
            "score {s} is pre-selected"
        );
        assert!(
            page.body
                .contains("What is the main reason for your score?")
        );
        assert!(page.body.contains("data-autocommit=\"1\""));
    }
    // HEAD, as some scanners do, is a GET without a body.
    let head = client()
        .head(format!("http://{addr}{}", h.score_path(&token, 0)))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(h.answer(&send).await.is_none());
    assert_eq!(h.totals().await, Totals::default());
    assert!(h.outbox().is_empty(), "no alert either");
    let stored = h.ctx.store.send(&send.id).await.unwrap().unwrap();
    assert_eq!(stored.version, send.version);
}

#[tokio::test]
async fn the_script_commits_the_score_and_the_form_adds_the_comment() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 9)).await;
    h.advance_secs(2);
    let commit = script_commit(addr, &token, 9).await;
    assert_eq!(commit.status, 204);
    let answer = h.answer(&send).await.expect("answer saved");
    assert_eq!(answer.score.value(), 9);
    assert_eq!(answer.source, AnswerSource::Human);
    assert_eq!(answer.comment, None);
    assert_eq!(h.totals().await.scores[9], 1);
    let send_now = h.ctx.store.send(&send.id).await.unwrap().unwrap();
    assert_eq!(send_now.answered_at, Some(answer.answered_at));

    h.advance_secs(20);
    let submit = press_send(
        addr,
        &token,
        &page.body,
        9,
        "Great onboarding, fast support",
    )
    .await;
    assert_eq!(submit.status, 303);
    assert_eq!(submit.header("location"), format!("/a/{token}/thanks"));
    let answer = h.answer(&send).await.unwrap();
    assert_eq!(answer.version, 2, "one answer per send, updated");
    assert_eq!(
        answer.comment.as_deref(),
        Some("Great onboarding, fast support")
    );
    let totals = h.totals().await;
    assert_eq!(
        (totals.counted(), totals.scores[9], totals.comments),
        (1, 1, 1)
    );

    let thanks = get(addr, &format!("/a/{token}/thanks")).await;
    assert_eq!(thanks.status, 200);
    assert!(thanks.body.contains("Thank you, Ana!"));
    assert!(thanks.body.contains("Your score: 9"));
    assert!(thanks.body.contains("Great onboarding, fast support"));
}

#[tokio::test]
async fn without_javascript_the_button_commits_score_and_comment() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 3)).await;
    h.advance_secs(30);
    let submit = press_send(addr, &token, &page.body, 3, "Too expensive").await;
    assert_eq!(submit.status, 303);
    let answer = h.answer(&send).await.unwrap();
    assert_eq!(answer.score.value(), 3);
    assert_eq!(answer.source, AnswerSource::Human);
    assert_eq!(answer.comment.as_deref(), Some("Too expensive"));
    assert_eq!(h.totals().await.scores[3], 1);
}

#[tokio::test]
async fn a_re_answer_moves_the_count_and_keeps_one_answer() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 9)).await;
    h.advance_secs(5);
    assert_eq!(
        press_send(addr, &token, &page.body, 9, "").await.status,
        303
    );
    // Days later the person opens the email again and changes the score.
    h.advance_secs(3 * 86_400);
    let again = get(addr, &h.score_path(&token, 4)).await;
    assert!(again.body.contains("We have your score of 9"));
    assert!(
        again.body.contains("data-autocommit=\"0\""),
        "an answered send does not commit by itself"
    );
    h.advance_secs(10);
    assert_eq!(
        press_send(addr, &token, &again.body, 4, "Support got slow")
            .await
            .status,
        303
    );
    let answer = h.answer(&send).await.unwrap();
    assert_eq!((answer.score.value(), answer.version), (4, 2));
    let totals = h.totals().await;
    assert_eq!(totals.scores[9], 0);
    assert_eq!(totals.scores[4], 1);
    assert_eq!(totals.counted(), 1);
}

#[tokio::test]
async fn a_scanner_at_delivery_is_flagged_and_a_person_later_replaces_it() {
    let h = Harness::new("");
    let (_, send) = h
        .mailed(1, Locale::En, None, SignedDuration::from_secs(2))
        .await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    // A scanner that runs the page's script on every link, seconds after delivery.
    for s in 0..=10u8 {
        get(addr, &h.score_path(&token, s)).await;
        assert_eq!(script_commit(addr, &token, s).await.status, 204);
    }
    let flagged = h.answer(&send).await.unwrap();
    assert_eq!(flagged.source, AnswerSource::Automated);
    assert_eq!(flagged.flag_reason.as_deref(), Some("soon_after_delivery"));
    let totals = h.totals().await;
    assert_eq!((totals.counted(), totals.flagged), (0, 1));
    let stored = h.ctx.store.send(&send.id).await.unwrap().unwrap();
    assert_eq!(
        stored.answered_at, None,
        "a flagged answer does not stop the reminder"
    );

    // The person opens the email the next morning.
    h.advance_secs(20 * 3600);
    let page = get(addr, &h.score_path(&token, 6)).await;
    assert!(page.body.contains("data-autocommit=\"1\""));
    h.advance_secs(3);
    assert_eq!(script_commit(addr, &token, 6).await.status, 204);
    let answer = h.answer(&send).await.unwrap();
    assert_eq!(answer.source, AnswerSource::Human);
    assert_eq!(answer.score.value(), 6);
    let totals = h.totals().await;
    assert_eq!(
        (totals.counted(), totals.scores[6], totals.flagged),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn a_burst_of_script_commits_is_flagged_even_long_after_delivery() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    script_commit(addr, &token, 0).await;
    assert_eq!(
        h.totals().await.scores[0],
        1,
        "the first commit alone looks human"
    );
    h.advance_secs(1);
    script_commit(addr, &token, 1).await;
    let answer = h.answer(&send).await.unwrap();
    assert_eq!(answer.source, AnswerSource::Automated);
    assert_eq!(answer.flag_reason.as_deref(), Some("burst"));
    let totals = h.totals().await;
    assert_eq!((totals.counted(), totals.flagged), (0, 1));
}

#[tokio::test]
async fn a_commit_without_the_page_timing_is_flagged() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    // A bare POST, and a button press the instant the page was rendered.
    let bare = post_form(addr, &format!("/a/{token}"), &[("s", "10")]).await;
    assert_eq!(bare.status, 303);
    let answer = h.answer(&send).await.unwrap();
    assert_eq!(answer.flag_reason.as_deref(), Some("no_page_timing"));
    h.advance_secs(60);
    let page = get(addr, &h.score_path(&token, 10)).await;
    press_send(addr, &token, &page.body, 10, "").await;
    let answer = h.answer(&send).await.unwrap();
    assert_eq!(answer.source, AnswerSource::Automated);
    assert_eq!(h.totals().await.counted(), 0);
}

#[tokio::test]
async fn unsubscribe_is_a_page_then_a_post_in_force_at_once_and_idempotent() {
    let h = Harness::new("");
    let (contact, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    let path = h.unsubscribe_path(&send);
    let page = get(addr, &path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("p***@example.com"));
    assert!(page.body.contains("<form method=\"post\">"));
    assert_eq!(
        h.contact(&contact).await.unsubscribed_at,
        None,
        "a GET writes nothing"
    );

    // RFC 8058 one-click, as a mail provider sends it.
    let one_click = post_raw(
        addr,
        &path,
        "application/x-www-form-urlencoded",
        b"List-Unsubscribe=One-Click".to_vec(),
    )
    .await;
    assert_eq!(one_click.status, 200);
    assert!(one_click.body.contains("You are unsubscribed"));
    let after = h.contact(&contact).await;
    assert_eq!(after.unsubscribed_at, Some(h.now()));
    let s = h
        .ctx
        .store
        .suppression(&contact.email.hash())
        .await
        .unwrap()
        .expect("suppressed");
    assert_eq!(s.reason, Some(SuppressionReason::Unsubscribed));

    h.advance_secs(60);
    let multipart = post_raw(
        addr,
        &path,
        "multipart/form-data; boundary=x",
        b"--x\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--x--\r\n".to_vec(),
    )
    .await;
    assert_eq!(multipart.status, 200);
    let again = h.contact(&contact).await;
    assert_eq!(again.unsubscribed_at, after.unsubscribed_at, "idempotent");
    assert_eq!(again.version, after.version);
    let page = get(addr, &path).await;
    assert!(page.body.contains("You are unsubscribed"));
}

#[tokio::test]
async fn bad_links_get_a_friendly_page_the_right_status_and_write_nothing() {
    let h = Harness::new("");
    let (contact, send) = h
        .mailed(2, Locale::Es, None, SignedDuration::from_hours(1))
        .await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    let token = h.answer_token(&send);
    let forger = SigningKeys::single("t1", &[1u8; 32]).unwrap();
    let forged = forger.sign(
        Purpose::Answer,
        send.id.as_str(),
        h.now() + SignedDuration::from_hours(1),
    );
    let unsubscribe_token = h
        .unsubscribe_path(&send)
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let cut = &token[..token.len() - 4];

    let cases: Vec<(String, u16, &str)> = vec![
        (format!("/a/{forged}?s=3"), 403, "not valid"),
        (format!("/a/{cut}?s=3"), 400, "incomplete"),
        // Authentic links for another page: the survey is known, so its language (Spanish).
        (
            format!("/a/{unsubscribe_token}?s=3"),
            404,
            "es de otra página",
        ),
        (format!("/u/{token}"), 404, "es de otra página"),
        ("/a/%FF%FE?s=3".to_string(), 400, "incomplete"),
        ("/a/x.y.z".to_string(), 400, "incomplete"),
        ("/nothing/here".to_string(), 404, "Page not found"),
    ];
    for (path, status, text) in &cases {
        let page = get_with(addr, path, &[("accept-language", "en-GB,en;q=0.9")]).await;
        assert_eq!(page.status, *status, "{path}");
        assert!(page.body.contains(text), "{path}: {}", page.body);
        let post = post_form(addr, path, &[("s", "3"), ("via", "button")]).await;
        assert!(post.status >= 400, "{path}: POST {}", post.status);
    }
    // Spanish from Accept-Language when the send cannot be known.
    let page = get_with(
        addr,
        &format!("/a/{forged}"),
        &[("accept-language", "es-MX")],
    )
    .await;
    assert!(page.body.contains("Este enlace no es válido"));
    assert!(page.body.contains("lang=\"es\""));

    // Expired: the send is known, so its language (Spanish) whatever the browser says.
    h.advance_secs(31 * 86_400);
    let expired = get_with(addr, &h.score_path(&token, 3), &[("accept-language", "en")]).await;
    assert_eq!(expired.status, 410);
    assert!(
        expired.body.contains("Este enlace ha caducado"),
        "{}",
        expired.body
    );
    let post = post_form(
        addr,
        &format!("/a/{token}"),
        &[("s", "3"), ("via", "button")],
    )
    .await;
    assert_eq!(post.status, 410);
    let unsub_expired = post_raw(
        addr,
        &format!("/u/{unsubscribe_token}"),
        "text/plain",
        vec![],
    )
    .await;
    assert_eq!(
        unsub_expired.status, 200,
        "unsubscribe links outlive answer links"
    );
    // …which unsubscribed, so undo the check of that one write and check the rest.
    assert!(h.answer(&send).await.is_none());
    assert_eq!(h.totals().await, Totals::default());
    assert!(h.outbox().is_empty());
    assert!(h.contact(&contact).await.unsubscribed_at.is_some());
}

#[tokio::test]
async fn scores_off_the_scale_are_refused_and_nothing_is_written() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    for bad in ["11", "-1", "abc", "7.5", "99999999999999999999"] {
        let page = get(addr, &format!("/a/{token}?s={bad}")).await;
        assert_eq!(page.status, 400, "GET s={bad}");
        assert!(page.body.contains("not on the scale"));
        for via in ["button", "script"] {
            let post = post_form(
                addr,
                &format!("/a/{token}"),
                &[("s", bad), ("via", via), ("open_ms", "5000")],
            )
            .await;
            assert_eq!(post.status, 400, "POST s={bad} via {via}");
        }
    }
    assert!(h.answer(&send).await.is_none());
    assert_eq!(h.totals().await, Totals::default());
}

#[tokio::test]
async fn a_long_comment_is_refused_with_the_text_kept_and_nothing_written() {
    let h = Harness::new("[capture]\ncomment_max_chars = 50\n");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 5)).await;
    h.advance_secs(30);
    let long = format!("<b>{}</b>", "precio ".repeat(10));
    let reply = press_send(addr, &token, &page.body, 5, &long).await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("the limit is 50"), "{}", reply.body);
    assert!(
        reply.body.contains(&escaped("<b>precio")),
        "typed text kept, escaped"
    );
    assert_eq!(checked_score(&reply.body), Some(5));
    assert!(h.answer(&send).await.is_none());
    // Without a score the page asks for one and keeps the comment.
    let reply = post_form(
        addr,
        &format!("/a/{token}"),
        &[("comment", "hola"), ("via", "button")],
    )
    .await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("choose a score"));
    assert!(reply.body.contains(">hola</textarea>"));
    assert!(h.answer(&send).await.is_none());
}

#[tokio::test]
async fn an_oversized_body_gets_the_413_page_and_nothing_is_written() {
    let h = Harness::new("");
    let (contact, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    // Over the default limit (capture.max_body_bytes, 64 KiB).
    let big = format!("s=3&via=button&comment={}", "a".repeat(80 * 1024));
    let reply = post_raw(
        addr,
        &format!("/a/{token}"),
        "application/x-www-form-urlencoded",
        big.clone().into_bytes(),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert!(reply.body.contains("too much to send"), "{}", reply.body);
    let reply = post_raw(
        addr,
        &h.unsubscribe_path(&send),
        "text/plain",
        big.into_bytes(),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert!(h.answer(&send).await.is_none());
    assert_eq!(h.contact(&contact).await.unsubscribed_at, None);
}

#[tokio::test]
async fn html_in_a_comment_is_shown_escaped() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 8)).await;
    h.advance_secs(30);
    let evil = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    press_send(addr, &token, &page.body, 8, evil).await;
    let thanks = get(addr, &format!("/a/{token}/thanks")).await;
    assert!(!thanks.body.contains("<script>alert"));
    assert!(!thanks.body.contains("<img src=x"));
    assert!(thanks.body.contains(&escaped(evil)), "{}", thanks.body);
    let again = get(addr, &h.score_path(&token, 8)).await;
    assert!(
        again
            .body
            .contains(&format!("{}</textarea>", escaped(evil)))
    );
}

#[tokio::test]
async fn pages_carry_strict_security_headers() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 8)).await;
    let csp = page.header("content-security-policy");
    assert!(csp.contains("default-src 'none'"));
    assert!(csp.contains("script-src 'sha256-"));
    assert!(csp.contains("style-src 'sha256-"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert!(page.header("cache-control").contains("no-store"));
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert!(
        !page.body.contains("http://") && !page.body.contains("https://"),
        "no outside assets"
    );
    let thanks = get(addr, &format!("/a/{token}/thanks")).await;
    assert!(
        !thanks
            .header("content-security-policy")
            .contains("script-src")
    );
    let put = client()
        .put(format!("http://{addr}/a/{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
}

#[tokio::test]
async fn pages_speak_the_language_of_the_survey() {
    let h = Harness::new("");
    let (_, send) = h
        .mailed(2, Locale::Es, None, SignedDuration::from_hours(1))
        .await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get_with(addr, &h.score_path(&token, 7), &[("accept-language", "en")]).await;
    assert!(page.body.contains("lang=\"es\""));
    assert!(
        page.body
            .contains("¿Qué tan probable es que recomiendes Acme Analytics a un amigo o colega?")
    );
    assert!(
        page.body
            .contains("¿Cuál es el motivo principal de tu puntuación?")
    );
    let unsub = get(addr, &h.unsubscribe_path(&send)).await;
    assert!(
        unsub
            .body
            .contains("¿Dejar de recibir encuestas de Acme Analytics?")
    );
}

#[tokio::test]
async fn an_unsubscribed_contact_keeps_its_stronger_suppression() {
    let h = Harness::new("");
    let (contact, send) = h.mailed_an_hour_ago(1).await;
    h.ctx
        .store
        .put_suppression(&pulso_core::model::Suppression {
            email_hash: contact.email.hash(),
            reason: Some(SuppressionReason::Complaint),
            at: h.now(),
            soft_bounces: 0,
        })
        .await
        .unwrap();
    let addr = serve(h.router()).await;
    assert_eq!(
        post_raw(addr, &h.unsubscribe_path(&send), "text/plain", vec![])
            .await
            .status,
        200
    );
    let s = h
        .ctx
        .store
        .suppression(&contact.email.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.reason, Some(SuppressionReason::Complaint));
    assert!(h.contact(&contact).await.unsubscribed_at.is_some());
    // The contact store saw exactly one write.
    assert_eq!(
        h.ctx
            .store
            .contact(&contact.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

#[tokio::test]
async fn archived_reports_open_by_their_signed_link_under_a_strict_policy() {
    use pulso_core::ports::Archive;
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let html_key = "reports/weekly/2026-W10/report.html";
    let csv_key = "reports/weekly/2026-W10/report.csv";
    h.ctx
        .archive
        .put(
            html_key,
            b"<h1 style=\"color:#333\">Weekly</h1>",
            "text/html",
        )
        .await
        .unwrap();
    h.ctx
        .archive
        .put(csv_key, b"day,nps\n2026-03-02,31\n", "text/csv")
        .await
        .unwrap();
    let addr = serve(h.router()).await;
    let link = |key: &str| {
        path_of(&pulso_core::links::report_url(
            &h.ctx.config,
            h.ctx.keys.at_hand().unwrap(),
            key,
            h.now(),
        ))
    };
    let html = get(addr, &link(html_key)).await;
    assert_eq!(html.status, 200);
    assert_eq!(html.body, "<h1 style=\"color:#333\">Weekly</h1>");
    assert_eq!(html.header("content-type"), "text/html; charset=utf-8");
    let csp = html.header("content-security-policy");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    assert_eq!(html.header("x-content-type-options"), "nosniff");
    let csv = get(addr, &link(csv_key)).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(csv.body.starts_with("day,nps"));
    // Gone, not a report type, or not a report link at all.
    assert_eq!(
        get(addr, &link("reports/weekly/2026-W11/report.html"))
            .await
            .status,
        404
    );
    assert_eq!(
        get(addr, &link("reports/weekly/2026-W10/run.exe"))
            .await
            .status,
        404
    );
    let answer_token = h.answer_token(&send);
    assert_eq!(get(addr, &format!("/r/{answer_token}")).await.status, 404);
    let forger = SigningKeys::single("t1", &[3u8; 32]).unwrap();
    let forged = forger.sign(
        Purpose::Report,
        html_key,
        h.now() + SignedDuration::from_hours(1),
    );
    assert_eq!(get(addr, &format!("/r/{forged}")).await.status, 403);
    h.advance_secs(400 * 86_400);
    assert_eq!(
        get(addr, &link(html_key)).await.status,
        200,
        "a fresh link works"
    );
}
