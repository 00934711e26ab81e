//! Load on the local host: 2,000 concurrent answers over 1,000 sends (two per send: the page's
//! script commit and the Send button with a comment, racing each other), through the capture
//! router with alerts inline, on a loopback port over the SQLite file store. Every send must end
//! with exactly one answer that went through both commits: none lost, none duplicated. Speed is
//! not asserted here; `cargo bench -p pulso-capture --no-default-features --bench answers` prints it.

mod capture_support;

use std::sync::Arc;

use capture_support::*;
use jiff::SignedDuration;
use pulso_core::ports::Responses;
use pulso_core::types::Locale;

const SENDS: u32 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_answers_leave_exactly_one_answer_per_send() {
    let h = Harness::new("");
    let mut sends = Vec::new();
    for n in 0..SENDS {
        let locale = if n % 3 == 0 { Locale::Es } else { Locale::En };
        let (_, send) = h
            .mailed(n, locale, None, SignedDuration::from_hours(2))
            .await;
        sends.push(send);
    }
    let addr = serve(h.router_inline_no_webhooks()).await;
    // The pages were opened a minute ago (the Send button's timing comes from them).
    let rendered = (h.now() - SignedDuration::from_secs(60))
        .as_millisecond()
        .to_string();
    let client = Arc::new(client());
    let mut requests = Vec::new();
    for (i, send) in sends.iter().enumerate() {
        let token = h.answer_token(send);
        let score = (i % 11).to_string();
        let url = format!("http://{addr}/a/{token}");
        requests.push((url.clone(), format!("s={score}&via=script&open_ms=1700")));
        requests.push((
            url,
            format!(
                "s={score}&via=button&rendered_at={rendered}&open_ms=&comment={}",
                encode(&format!("comment {i}: precio y soporte"))
            ),
        ));
    }
    // All at once: the two commits of a send race from different tasks.
    let calls: Vec<_> = requests
        .into_iter()
        .map(|(url, body)| {
            let client = client.clone();
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await;
                res.map(|r| r.status().as_u16()).unwrap_or(0)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap_or(0));
    }
    assert_eq!(statuses.len(), 2 * SENDS as usize);
    let failed: Vec<&u16> = statuses
        .iter()
        .filter(|s| !matches!(s, 204 | 303))
        .collect();
    assert!(
        failed.is_empty(),
        "{} requests failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );

    let mut counted = 0;
    for (i, send) in sends.iter().enumerate() {
        let answer = h
            .ctx
            .store
            .response(&send.id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("send {i} lost its answer"));
        assert_eq!(answer.version, 2, "send {i}: both commits applied, in turn");
        assert_eq!(answer.commits.len(), 2);
        assert_eq!(answer.score.value() as usize, i % 11);
        counted += usize::from(answer.counted());
    }
    let totals = h.totals().await;
    assert_eq!(
        totals.counted() + totals.flagged,
        i64::from(SENDS),
        "the rollups hold one answer per send"
    );
    assert_eq!(totals.counted(), counted as i64);
}
