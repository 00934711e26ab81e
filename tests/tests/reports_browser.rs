//! The report emails, parsed back from the outbox, rendered in real headless Chromium (Debian's
//! `chromium`, at `PULSO_CHROMIUM` or /usr/bin/chromium) at a phone's width (375px) and a desktop's
//! (1280px): the page renders (a screenshot is taken, the DOM is read back), the key figures are
//! on it, nothing overflows sideways on the phone, and there is no script and no external resource.
//! Screenshots are kept under `target/report-screenshots/` for people to look at.

mod reports_fixture;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use headless_chrome::protocol::cdp::Emulation;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions};
use jiff::civil::date;
use mail_parser::{MessageParser, MimeHeaders};
use pulso_core::model::ReportKind;
use pulso_core::reports::build::ReportBody;
use pulso_core::reports::run::run;
use reports_fixture::*;

fn chromium() -> PathBuf {
    std::env::var_os("PULSO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/report-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Rendered {
    text: String,
    scroll_width: f64,
    inner_width: f64,
    png: Vec<u8>,
    scripts: f64,
    external: f64,
}

/// A device `width` CSS pixels wide (a headless window cannot be narrower than 500px); phones are
/// emulated as mobile, so the page's viewport meta applies.
fn metrics(width: u32, height: u32) -> Emulation::SetDeviceMetricsOverride {
    Emulation::SetDeviceMetricsOverride {
        width,
        height,
        device_scale_factor: 1.0,
        mobile: width < 600,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    }
}

fn render_in_chromium(html_file: &std::path::Path, width: u32) -> anyhow::Result<Rendered> {
    let profile = tempfile::tempdir()?;
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--hide-scrollbars",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions {
        headless: true,
        sandbox: false,
        path: Some(chromium()),
        window_size: Some((width, 900)),
        user_data_dir: Some(profile.path().to_path_buf()),
        args,
        idle_browser_timeout: Duration::from_secs(60),
        ..LaunchOptions::default()
    };
    let browser = Browser::new(options)?;
    let tab = browser.new_tab()?;
    tab.set_default_timeout(Duration::from_secs(30));
    // The exact CSS width of the device (a headless window cannot be narrower than 500px).
    tab.call_method(metrics(width, 900))?;
    let url = format!("file://{}", html_file.display());
    tab.navigate_to(&url)?.wait_until_navigated()?;
    let num = |expr: &str| -> anyhow::Result<f64> {
        tab.evaluate(expr, false)?
            .value
            .and_then(|v| v.as_f64())
            .ok_or_else(|| anyhow::anyhow!("{expr} gave no number"))
    };
    let text = tab
        .evaluate("document.body.innerText", false)?
        .value
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let scroll_width = num("document.documentElement.scrollWidth")?;
    let inner_width = num("window.innerWidth")?;
    let scripts = num("document.scripts.length")?;
    let external = num(
        "performance.getEntriesByType('resource').filter(r => !r.name.startsWith('file:') && !r.name.startsWith('data:')).length",
    )?;
    // The whole page, not just the first screen: a device as tall as the page.
    let height = num("document.documentElement.scrollHeight")?;
    tab.call_method(metrics(width, height.ceil() as u32))?;
    let png = tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)?;
    Ok(Rendered {
        text,
        scroll_width,
        inner_width,
        png,
        scripts,
        external,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_emails_render_on_a_phone_and_a_desktop_with_their_figures() {
    assert!(
        chromium().exists(),
        "Chromium not found at {} (install Debian's chromium or set PULSO_CHROMIUM)",
        chromium().display()
    );
    let mut f = Fixture::new().await;
    populate(&mut f, date(2025, 1, 1), date(2026, 3, 31), 3, 17).await;
    // A long word in a comment must not push the phone layout sideways.
    let c = f
        .contact(
            "long@example.com",
            "Long",
            pulso_core::Locale::En,
            Some("Globex"),
            Some("pro"),
        )
        .await;
    f.answer(
        &c,
        date(2026, 2, 26),
        2,
        Some("Unacceptable: https://example.com/a/very/long/path/that/never/breaks/anywhere/at/all/xxxxxxxxxxxxxxxxxxxxxxxx"),
    )
    .await;
    f.answer(&c, date(2026, 3, 1), 9, Some("Quick answers from support"))
        .await;
    f.set_now("2026-03-02T07:00:00Z");
    let weekly = run(&f.ctx, ReportKind::Weekly, None).await.unwrap();
    let daily = run(&f.ctx, ReportKind::Daily, None).await.unwrap();
    f.set_now("2026-04-01T06:00:00Z");
    let quarterly = run(&f.ctx, ReportKind::Quarterly, None).await.unwrap();

    let out = f.outbox();
    assert_eq!(out.len(), 3);
    let shots = screenshots_dir();
    for (result, tag) in [
        (&weekly, "weekly"),
        (&daily, "digest"),
        (&quarterly, "quarterly"),
    ] {
        let (_, raw) = out.iter().find(|(n, _)| n.contains(tag)).unwrap();
        let msg = MessageParser::default().parse(raw).unwrap();
        // Both parts, and no inline images to resolve (charts are table bars).
        let html = msg.body_html(0).expect("an HTML part").into_owned();
        let text = msg.body_text(0).expect("a text part").into_owned();
        assert_eq!(msg.html_body_count(), 1);
        assert_eq!(msg.text_body_count(), 1);
        for part in msg.attachments() {
            let cid = part
                .content_id()
                .expect("every inline image has a Content-ID");
            assert!(html.contains(&format!("cid:{cid}")), "{cid} is referenced");
        }
        assert!(!html.contains("src=\"http"), "no external image in {tag}");

        // The figures to look for: the archived JSON says what they are.
        let json = f.archived(&result.archive.as_ref().unwrap().json).unwrap();
        let report: pulso_core::reports::build::Report = serde_json::from_str(&json).unwrap();
        let stats = match &report.body {
            ReportBody::Daily(d) => d.day.stats,
            ReportBody::Weekly(w) => w.week.stats,
            ReportBody::Quarterly(q) => q.quarter.stats,
        };
        let nps = match stats.score.unwrap() {
            s if s > 0 => format!("+{s}"),
            s => s.to_string(),
        };
        let n = format!("n = {}", stats.n);
        assert!(text.contains(&nps) && text.contains(&n), "{tag} text part");

        let file = f.dir.path().join(format!("{tag}.html"));
        std::fs::write(&file, &html).unwrap();
        for width in [375u32, 1280] {
            let page = tokio::task::spawn_blocking({
                let file = file.clone();
                move || render_in_chromium(&file, width)
            })
            .await
            .unwrap()
            .unwrap();
            assert!(page.png.len() > 10_000, "{tag}@{width}: a real screenshot");
            assert!(page.png.starts_with(b"\x89PNG"), "{tag}@{width}: a PNG");
            std::fs::write(shots.join(format!("{tag}-{width}.png")), &page.png).unwrap();
            assert!(
                page.text.contains(&nps),
                "{tag}@{width}: NPS {nps} on the page"
            );
            assert!(page.text.contains(&n), "{tag}@{width}: {n} on the page");
            assert_eq!(page.scripts, 0.0, "{tag}: no script");
            assert_eq!(page.external, 0.0, "{tag}: nothing fetched from outside");
            assert_eq!(
                page.inner_width,
                f64::from(width),
                "{tag}: the device's width"
            );
            assert!(
                page.scroll_width <= page.inner_width + 1.0,
                "{tag}@{width}: the page is {} wide in a {} viewport",
                page.scroll_width,
                page.inner_width
            );
        }
    }
}
