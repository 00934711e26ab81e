//! Demo step "answers": people answer the surveys in the outbox — a realistic spread of
//! promoters, passives and detractors with comments in English and Spanish, a few mail scanners,
//! some unsubscribes — through the capture router itself, with alerts and follow-ups running
//! inline as in `pulso serve`; then customer service closes about half of the follow-ups. The
//! demo's clock moves with the answers (minutes to a day after each email) and ends after the
//! last of them.

use std::collections::HashMap;

use pulso_capture::simulate::{self, Browser};
use pulso_core::alerts::InlineLoop;
use pulso_core::model::{FollowUpStatus, SLOTS, SendStatus};
use pulso_core::nps::Category;
use pulso_core::ports::{Contacts, FollowUps, Responses, Sends};

use crate::demo::{Demo, Step};

/// Runs the step (see the module doc).
pub async fn run(demo: &Demo) -> anyhow::Result<Step> {
    let ctx = &demo.ctx;
    let staff_locale = ctx.config.audience_locale(&ctx.config.audiences.alerts);
    // The surveys that were mailed: every contact's sent surveys.
    let mut mailed = HashMap::new();
    let mut actions = Vec::new();
    for contact in ctx.store.contacts_in_slots(0, SLOTS).await? {
        for send in ctx.store.sends_of_contact(&contact.id).await? {
            if let SendStatus::Sent { at } = send.status {
                actions.extend(simulate::plan(&send.id, at, send.locale, staff_locale));
                mailed.insert(send.id, at);
            }
        }
    }
    if mailed.is_empty() {
        return Ok(Step {
            title: "Answers: no survey has been mailed yet, so nobody could answer".into(),
            lines: Vec::new(),
        });
    }
    let sender = crate::cmd_serve::webhook_sender(ctx)?;
    let browser = Browser::new(pulso_capture::router(ctx.clone(), InlineLoop::new(sender)));
    let outcome = simulate::run(ctx, &browser, &demo.clock, &mailed, actions).await;

    // What is in the store now.
    let (mut promoters, mut passives, mut detractors, mut comments, mut flagged) = (0, 0, 0, 0, 0);
    let (mut open, mut done) = (0, 0);
    let mut latest = None;
    for id in mailed.keys() {
        if let Some(r) = ctx.store.response(id).await? {
            latest = latest.max(Some(r.updated_at));
            if !r.counted() {
                flagged += 1;
                continue;
            }
            match r.category() {
                Category::Promoter => promoters += 1,
                Category::Passive => passives += 1,
                Category::Detractor => detractors += 1,
            }
            comments += usize::from(r.has_comment());
        }
        match ctx.store.follow_up(id).await? {
            Some(f) if f.status == FollowUpStatus::Open => open += 1,
            Some(_) => done += 1,
            None => {}
        }
    }
    let counted = promoters + passives + detractors;
    let alerts = count_alerts(demo);
    if let Some(t) = latest {
        demo.clock.set(t.max(demo.ctx.now()));
    }
    let nps = if counted == 0 {
        "no NPS yet".to_string()
    } else {
        let v = ((promoters as f64 - detractors as f64) * 100.0 / counted as f64).round() as i64;
        format!("NPS {v:+}")
    };
    let mut lines = vec![
        format!(
            "{promoters} promoters, {passives} passives, {detractors} detractors; {comments} left a comment (English and Spanish)"
        ),
        format!(
            "mail scanners fetched every link of {} emails without answering anything; {flagged} answers looked automated and are flagged, not counted",
            outcome.scanner_sweeps
        ),
        format!(
            "{alerts} alert emails to customer service (a detractor's score at once, the comment when it follows); {} follow-ups opened, {done} marked done with a note, {open} still open",
            open + done
        ),
        format!(
            "{} people answered without JavaScript, {} changed their answer later, {} unsubscribed",
            outcome.without_javascript, outcome.re_answers, outcome.unsubscribed
        ),
        "answer a survey yourself: `pulso serve`, then open a score link of an email in the outbox"
            .to_string(),
    ];
    if outcome.unexpected > 0 {
        lines.push(format!(
            "warning: {} simulated requests got an unexpected answer (see PULSO_LOG=warn)",
            outcome.unexpected
        ));
    }
    Ok(Step {
        title: format!(
            "Answers: {counted} of {} surveyed people answered through the survey pages ({nps}, n = {counted})",
            mailed.len()
        ),
        lines,
    })
}

/// Alert emails in the outbox (tagged `X-Pulso-Kind: alert`).
fn count_alerts(demo: &Demo) -> usize {
    let Ok(names) = demo.ctx.mailer.list() else {
        return 0;
    };
    names
        .iter()
        .filter(|name| {
            demo.ctx.mailer.read(name).is_ok_and(|raw| {
                let head = &raw[..raw.len().min(4096)];
                String::from_utf8_lossy(head).contains("X-Pulso-Kind: alert")
            })
        })
        .count()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pulso_core::model::{Contact, ReminderState, SendStatus, SurveyKind, SurveySend, slot_of};
    use pulso_core::ports::{Clock, Contacts, FixedClock, FollowUps, Responses, Sends};
    use pulso_core::types::{Attributes, ContactId, Email, Locale, SendId};

    use super::run;

    #[tokio::test]
    async fn the_answers_step_answers_through_the_router_and_closes_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let start: jiff::Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let clock = FixedClock::at(start);
        let config = pulso_core::Config::load(
            "[audiences.alerts]\nrecipients = [\"support@acme.example\"]\n",
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        let ctx = crate::app::open_with(config, dir.path(), Arc::new(clock.clone())).unwrap();
        let mut ids = Vec::new();
        for i in 0..200 {
            let id = ContactId::parse(&format!("c{i}")).unwrap();
            let locale = if i % 3 == 0 { Locale::Es } else { Locale::En };
            let contact = Contact {
                slot: slot_of(&id),
                id: id.clone(),
                email: Email::parse(&format!("p{i}@example.com")).unwrap(),
                name: Some(format!("Person {i}")),
                locale,
                account: None,
                time_zone: None,
                attributes: Attributes::new(),
                customer_since: None,
                created_at: start,
                updated_at: start,
                last_surveyed_at: Some(start),
                unsubscribed_at: None,
                version: 1,
            };
            ctx.store.put_contact(&contact).await.unwrap();
            let key = format!("wave:c{i}:1");
            let send = SurveySend {
                id: SendId::for_key(&key),
                contact_id: id,
                kind: SurveyKind::Relational,
                touchpoint: None,
                key,
                locale,
                created_at: start,
                due_at: start,
                status: SendStatus::Sent { at: start },
                reminder: ReminderState::None,
                message_id: None,
                answered_at: None,
                next_action_at: None,
                version: 1,
            };
            ctx.store.put_send(&send).await.unwrap();
            ids.push(send.id);
        }
        let demo = crate::demo::Demo {
            ctx,
            clock: clock.clone(),
            data_dir: dir.path().to_path_buf(),
        };
        let step = run(&demo).await.unwrap();
        eprintln!("{}\n  {}", step.title, step.lines.join("\n  "));
        assert!(step.title.starts_with("Answers: "), "{}", step.title);
        assert!(
            !step.lines.iter().any(|l| l.starts_with("warning")),
            "{:?}",
            step.lines
        );
        let mut counted = 0;
        let mut with_follow_up = 0;
        for id in &ids {
            if let Some(r) = demo.ctx.store.response(id).await.unwrap() {
                counted += usize::from(r.counted());
            }
            with_follow_up += usize::from(demo.ctx.store.follow_up(id).await.unwrap().is_some());
        }
        assert!(counted > 40, "{counted} answers");
        assert!(with_follow_up > 0);
        assert!(
            step.title.contains(&format!("n = {counted}")),
            "{}",
            step.title
        );
        assert!(clock.now() > start, "the demo's clock moved on");
        assert!(
            demo.ctx.mailer.list().unwrap().len() >= with_follow_up,
            "alerts in the outbox"
        );
    }
}
