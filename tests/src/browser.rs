//! Headless Chromium for browser tests: Debian's `chromium` (`PULSO_CHROMIUM`, else
//! `/usr/bin/chromium`; `scripts/test` installs it), launched through `headless_chrome` with the
//! flags a closed machine needs (no sandbox as root, no GPU, no background networking, no
//! component updates or sync) and a fresh profile directory per browser.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use headless_chrome::{Browser, LaunchOptions};

/// A phone's viewport (CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);
/// A desktop viewport.
pub const DESKTOP: (u32, u32) = (1280, 900);

/// The Chromium binary to use.
pub fn chromium_path() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PULSO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    anyhow::ensure!(
        path.exists(),
        "Chromium not found at {} (install Debian's chromium, or set PULSO_CHROMIUM; scripts/test does it)",
        path.display()
    );
    Ok(path)
}

/// A running headless Chromium and the profile directory it owns (removed when dropped).
pub struct Headless {
    pub browser: Browser,
    _profile: tempfile::TempDir,
}

/// Launches headless Chromium with a `window` (width, height) viewport.
pub fn launch(window: (u32, u32)) -> anyhow::Result<Headless> {
    let profile = tempfile::tempdir().context("profile directory")?;
    let args: Vec<&OsStr> = [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--disable-extensions",
        "--hide-scrollbars",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(chromium_path()?))
        .headless(true)
        .sandbox(false)
        .enable_gpu(false)
        .window_size(Some(window))
        .user_data_dir(Some(profile.path().to_path_buf()))
        .idle_browser_timeout(Duration::from_secs(120))
        .args(args)
        .build()
        .map_err(|e| anyhow::anyhow!("launch options: {e}"))?;
    let browser = Browser::new(options).context("starting Chromium")?;
    Ok(Headless {
        browser,
        _profile: profile,
    })
}

/// Makes `tab` a phone: a 390 px wide mobile viewport (windows cannot be that narrow).
pub fn emulate_phone(tab: &headless_chrome::Tab) -> anyhow::Result<()> {
    use headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride;
    tab.call_method(SetDeviceMetricsOverride {
        width: PHONE.0,
        height: PHONE.1,
        device_scale_factor: 2.0,
        mobile: true,
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
    })
    .context("phone emulation")?;
    Ok(())
}

/// Where tests leave screenshots for people to look at: `target/browser-screens/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("browser-screens");
    let _ = std::fs::create_dir_all(&dir);
    dir
}
