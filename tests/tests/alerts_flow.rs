//! Closing the loop through the capture router with alerts inline (the local host), and through
//! the alerts function's stream handler (the AWS host): detractor alerts to the audience with the
//! follow-up link, follow-ups opened and marked done, passives by configuration, and the stream
//! handler's idempotence.

mod capture_support;

use capture_support::*;
use jiff::SignedDuration;
use mail_parser::MessageParser;
use pulso_core::alerts::SYSTEM_CLOSER;
use pulso_core::alerts::webhooks::{NoWebhookClient, Sender};
use pulso_core::model::{FollowUpStatus, Response, rollup_deltas};
use pulso_core::ports::{FollowUps, Responses};
use pulso_core::token::{Purpose, SigningKeys};
use pulso_core::types::{Locale, SendId};

struct Mail {
    subject: String,
    html: String,
    text: String,
    to: String,
}

fn parse(raw: &str) -> Mail {
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME");
    Mail {
        subject: m.subject().unwrap_or("").to_string(),
        html: m.body_html(0).map(|b| b.to_string()).unwrap_or_default(),
        text: m.body_text(0).map(|b| b.to_string()).unwrap_or_default(),
        to: m
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or("")
            .to_string(),
    }
}

/// An earlier counted answer of contact `c{n}` (a previous cycle).
async fn earlier_answer(h: &Harness, n: u32, score: u8, comment: &str) {
    let mut r: Response = pulso_core::model::Response {
        send_id: SendId::for_key(&format!("wave:c{n}:0")),
        contact_id: Some(pulso_core::types::ContactId::parse(&format!("c{n}")).unwrap()),
        score: pulso_core::types::Score::new(score).unwrap(),
        comment: Some(comment.into()),
        locale: Locale::En,
        kind: pulso_core::model::SurveyKind::Relational,
        touchpoint: None,
        account: None,
        attributes: Default::default(),
        day: "2025-12-01".parse().unwrap(),
        answered_at: "2025-12-01T10:00:00Z".parse().unwrap(),
        updated_at: "2025-12-01T10:00:00Z".parse().unwrap(),
        source: pulso_core::model::AnswerSource::Human,
        flag_reason: None,
        commits: vec![],
        version: 1,
    };
    r.commits.push(r.answered_at);
    let deltas = rollup_deltas(None, &r);
    h.ctx.store.save_response(&r, &deltas).await.unwrap();
}

#[tokio::test]
async fn a_detractor_alerts_customer_service_and_the_follow_up_is_marked_done() {
    let h = Harness::new("");
    let (_, send) = h
        .mailed(
            1,
            Locale::En,
            Some("Globex Iberia"),
            SignedDuration::from_hours(3),
        )
        .await;
    earlier_answer(&h, 1, 8, "Good product, invoices are slow").await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 2)).await;
    h.advance_secs(45);
    let comment = "<b>Billing</b> is a mess & support never answers";
    assert_eq!(
        press_send(addr, &token, &page.body, 2, comment)
            .await
            .status,
        303
    );

    let f = h
        .ctx
        .store
        .follow_up(&send.id)
        .await
        .unwrap()
        .expect("follow-up");
    assert_eq!(f.status, FollowUpStatus::Open);
    assert_eq!(f.score.value(), 2);
    assert_eq!(f.opened_at, h.now());
    let mails = h.outbox();
    assert_eq!(mails.len(), 1, "one alert");
    let m = parse(&mails[0]);
    assert_eq!(m.to, "support@acme.example");
    assert_eq!(
        m.subject,
        "[Acme Analytics] Detractor alert: Ana Pérez scored 2"
    );
    for part in [&m.html, &m.text] {
        assert!(part.contains("person1@example.com"));
        assert!(part.contains("Globex Iberia"));
        assert!(part.contains("2 (Detractor)"));
        assert!(
            part.contains("Good product, invoices are slow"),
            "earlier answers"
        );
    }
    assert!(
        m.html.contains(&escaped(comment)),
        "comment escaped in HTML"
    );
    assert!(!m.html.contains("<b>Billing"));
    assert!(m.text.contains(comment), "plain text as typed");
    assert!(!m.html.contains("<script"), "no scripts in email");
    // The follow-up link verifies for this send.
    let link = m
        .text
        .lines()
        .find(|l| l.contains("/f/"))
        .expect("follow-up link")
        .trim()
        .to_string();
    let f_token = link.rsplit('/').next().unwrap();
    let claims = h
        .ctx
        .keys
        .at_hand()
        .unwrap()
        .verify(f_token, Purpose::FollowUp, h.now())
        .unwrap();
    assert_eq!(claims.subject, send.id.as_str());

    // Customer service opens it a few hours later.
    h.advance_secs(4 * 3600);
    let path = path_of(&link);
    let page = get(addr, &path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Follow-up: Ana Pérez"));
    assert!(page.body.contains(&escaped(comment)));
    assert!(page.body.contains("Globex Iberia"));
    let missing = post_form(addr, &path, &[("name", "  "), ("note", "Called her")]).await;
    assert_eq!(missing.status, 422);
    assert!(missing.body.contains("Please enter your name."));
    assert!(missing.body.contains(">Called her</textarea>"));
    assert_eq!(
        h.ctx
            .store
            .follow_up(&send.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        FollowUpStatus::Open
    );
    let done = post_form(
        addr,
        &path,
        &[
            ("name", "Marta <Support>"),
            ("note", "Called, credited the invoice"),
        ],
    )
    .await;
    assert_eq!(done.status, 303);
    let f = h.ctx.store.follow_up(&send.id).await.unwrap().unwrap();
    assert_eq!(f.status, FollowUpStatus::Done);
    assert_eq!(f.closed_by.as_deref(), Some("Marta <Support>"));
    assert_eq!(f.note.as_deref(), Some("Called, credited the invoice"));
    assert_eq!(f.closed_at, Some(h.now()));
    assert_eq!(f.time_to_close(), Some(SignedDuration::from_hours(4)));
    let page = get(addr, &path).await;
    assert!(
        page.body
            .contains(&escaped("Marked done by Marta <Support>"))
    );
    assert!(page.body.contains("Time to close: 4 hours."));
    assert!(!page.body.contains("<form"), "no form once done");
    // A second close does not overwrite the first.
    h.advance_secs(60);
    post_form(addr, &path, &[("name", "Someone else")]).await;
    let again = h.ctx.store.follow_up(&send.id).await.unwrap().unwrap();
    assert_eq!(again.closed_by.as_deref(), Some("Marta <Support>"));
    assert_eq!(again.version, f.version);
}

#[tokio::test]
async fn the_score_alerts_at_once_and_the_comment_follows_in_an_update() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 4)).await;
    h.advance_secs(2);
    assert_eq!(script_commit(addr, &token, 4).await.status, 204);
    let mails = h.outbox();
    assert_eq!(mails.len(), 1);
    assert!(parse(&mails[0]).text.contains("No comment yet."));
    h.advance_secs(40);
    press_send(addr, &token, &page.body, 4, "Onboarding took weeks").await;
    let mails = h.outbox();
    assert_eq!(mails.len(), 2, "an update with the comment");
    let update = mails
        .iter()
        .map(|m| parse(m))
        .find(|m| m.subject.contains("Comment added"))
        .expect("update");
    assert!(update.text.contains("Onboarding took weeks"));
    // The same comment again changes nothing.
    h.advance_secs(40);
    press_send(addr, &token, &page.body, 4, "Onboarding took weeks").await;
    assert_eq!(h.outbox().len(), 2);
    assert_eq!(
        h.ctx
            .store
            .follow_up(&send.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        1,
        "one follow-up per send"
    );
}

#[tokio::test]
async fn promoters_and_passives_do_not_alert_unless_passives_are_configured() {
    let h = Harness::new("");
    let (_, promoter) = h.mailed_an_hour_ago(1).await;
    let (_, passive) = h.mailed_an_hour_ago(3).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    for (send, score) in [(&promoter, 10), (&passive, 7)] {
        let token = h.answer_token(send);
        script_commit(addr, &token, score).await;
    }
    assert!(h.outbox().is_empty());
    assert!(h.ctx.store.open_follow_ups().await.unwrap().is_empty());

    let h = Harness::new("[follow_ups]\ninclude_passives = true\n");
    let (_, passive) = h.mailed_an_hour_ago(3).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    script_commit(addr, &h.answer_token(&passive), 7).await;
    let mails = h.outbox();
    assert_eq!(mails.len(), 1);
    assert!(parse(&mails[0]).subject.contains("Passive alert"));
    assert!(h.ctx.store.follow_up(&passive.id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_detractor_who_turns_promoter_keeps_the_follow_up_open() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 3)).await;
    h.advance_secs(30);
    press_send(addr, &token, &page.body, 3, "slow").await;
    h.advance_secs(86_400);
    press_send(addr, &token, &page.body, 9, "fixed now, thanks").await;
    let f = h.ctx.store.follow_up(&send.id).await.unwrap().unwrap();
    assert_eq!(f.status, FollowUpStatus::Open);
    assert_eq!(h.outbox().len(), 1, "no alert for the better score");
    let page = get(addr, &h.follow_up_path(&send)).await;
    assert!(
        page.body.contains("9 (Promoter)"),
        "the page shows the answer as it is now"
    );
}

#[tokio::test]
async fn a_scanner_burst_closes_the_follow_up_it_opened() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    let token = h.answer_token(&send);
    script_commit(addr, &token, 0).await;
    assert!(h.ctx.store.follow_up(&send.id).await.unwrap().is_some());
    h.advance_secs(1);
    script_commit(addr, &token, 1).await;
    let f = h.ctx.store.follow_up(&send.id).await.unwrap().unwrap();
    assert_eq!(f.status, FollowUpStatus::Done);
    assert_eq!(f.closed_by.as_deref(), Some(SYSTEM_CLOSER));
    let page = get(addr, &h.follow_up_path(&send)).await;
    assert!(
        page.body
            .contains("Pulso (the answer was flagged as automated)")
    );
    assert!(page.body.contains("flagged as automated (a mail scanner)"));
}

#[tokio::test]
async fn alerts_speak_the_audience_language() {
    let mut config = config("");
    config.audiences.alerts.locale = Some(Locale::Es);
    let h2 = Harness::with_config(config);
    let (_, send) = h2
        .mailed(2, Locale::Es, None, SignedDuration::from_hours(2))
        .await;
    let addr = serve(h2.router_inline_no_webhooks()).await;
    script_commit(addr, &h2.answer_token(&send), 1).await;
    let m = parse(&h2.outbox()[0]);
    assert_eq!(
        m.subject,
        "[Acme Analytics] Alerta de detractor: Lucía Gómez puntuó 1"
    );
    assert!(m.text.contains("1 (Detractor)"));
    let page = get(addr, &h2.follow_up_path(&send)).await;
    assert!(page.body.contains("Marcar como hecho"));
}

#[tokio::test]
async fn bad_follow_up_links_write_nothing() {
    let h = Harness::new("");
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router_inline_no_webhooks()).await;
    // No follow-up exists for this send.
    let path = h.follow_up_path(&send);
    assert_eq!(get(addr, &path).await.status, 404);
    assert_eq!(
        post_form(addr, &path, &[("name", "Marta")]).await.status,
        404
    );
    let forger = SigningKeys::single("t1", &[2u8; 32]).unwrap();
    let forged = forger.sign(
        Purpose::FollowUp,
        send.id.as_str(),
        h.now() + SignedDuration::from_hours(1),
    );
    assert_eq!(
        post_form(addr, &format!("/f/{forged}"), &[("name", "Marta")])
            .await
            .status,
        403
    );
    assert!(h.ctx.store.follow_up(&send.id).await.unwrap().is_none());
}

/// A detractor's answer (5, with a comment) written through the capture router, which runs no
/// alert, and the stream's change for it, with a sender that posts no webhook.
async fn detractor_answered(
    h: &Harness,
) -> (
    pulso_core::model::SurveySend,
    Vec<(Option<Response>, Response)>,
    Sender<NoWebhookClient>,
) {
    let (_, send) = h.mailed_an_hour_ago(1).await;
    let addr = serve(h.router()).await;
    let token = h.answer_token(&send);
    let page = get(addr, &h.score_path(&token, 5)).await;
    h.advance_secs(20);
    press_send(addr, &token, &page.body, 5, "Price went up").await;
    let changes = vec![(None, h.answer(&send).await.unwrap())];
    let sender = Sender {
        client: NoWebhookClient,
        secret: None,
    };
    (send, changes, sender)
}

#[tokio::test]
async fn the_stream_handler_runs_the_same_loop_and_a_retried_batch_alerts_once() {
    let h = Harness::new("");
    // The capture function in AWS writes the answer and runs nothing after it…
    let (send, changes, sender) = detractor_answered(&h).await;
    assert!(h.outbox().is_empty());
    assert!(h.ctx.store.follow_up(&send.id).await.unwrap().is_none());
    // …and the stream brings the change to the alerts function.
    let out = pulso_alerts::handle_changes(&h.ctx, &sender, &changes)
        .await
        .unwrap();
    assert_eq!(
        (out.answers, out.follow_ups_opened, out.alerts_emailed),
        (1, 1, 1)
    );
    let again = pulso_alerts::handle_changes(&h.ctx, &sender, &changes)
        .await
        .unwrap();
    assert_eq!((again.follow_ups_opened, again.alerts_emailed), (0, 0));
    assert_eq!(h.outbox().len(), 1);
    assert!(pulso_alerts::is_retry_schedule(
        &serde_json::json!({"action": "retry_webhooks"})
    ));
    assert!(!pulso_alerts::is_retry_schedule(
        &serde_json::json!({"Records": []})
    ));
}

#[tokio::test]
async fn a_batch_whose_keys_cannot_be_read_fails_whole_and_its_retry_alerts_once() {
    let h = Harness::new("");
    let (send, changes, sender) = detractor_answered(&h).await;
    // The alerts function's context, its keys not readable yet.
    let (later, keys) = pulso_tests::KeysLater::new();
    let mut ctx = h.ctx.clone();
    ctx.keys = keys;
    let e = pulso_alerts::handle_changes(&ctx, &sender, &changes)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PULSO_TOKEN_KEYS"), "{e}");
    // No alert without its follow-up link, and no follow-up opened: the batch is retried whole.
    assert!(h.outbox().is_empty());
    assert!(h.ctx.store.follow_up(&send.id).await.unwrap().is_none());
    later.arrive();
    let out = pulso_alerts::handle_changes(&ctx, &sender, &changes)
        .await
        .unwrap();
    assert_eq!(
        (out.answers, out.follow_ups_opened, out.alerts_emailed),
        (1, 1, 1)
    );
    assert_eq!(h.outbox().len(), 1);
}
