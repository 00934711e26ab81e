//! `pulso run dispatch [--at TIME]`: one run of the dispatch function on this machine — the same
//! handler the scheduler calls every 15 minutes in AWS — with the clock at TIME (company time zone
//! unless it says `Z` or an offset). Prints what the run did and where the emails are.

use std::sync::Arc;
use std::time::Duration;

use pulso_core::dispatch::DispatchOutcome;

use crate::Cli;
use crate::app::{self, LocalCtx};

#[derive(clap::Args, Debug)]
pub struct RunDispatchArgs {
    /// Run as of this time: 2026-03-02T08:00 (company time zone), 2026-03-02T08:00:00Z or with an
    /// offset. Default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// Stop taking new sends after this many seconds; the rest waits for the next run.
    #[arg(long, default_value_t = 840)]
    pub budget_seconds: u64,
    /// Print the outcome as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The outbox has no rate limit: unless the configuration sets one, local runs go as fast as the
/// machine (the default for an unknown mail service is SES's sandbox rate of one per second).
pub const LOCAL_RATE: f64 = 1_000.0;

/// `ctx` paced for the local outbox.
pub fn paced_for_outbox(ctx: LocalCtx) -> LocalCtx {
    if ctx.config.email.max_send_rate.is_some() {
        return ctx;
    }
    let mut config = (*ctx.config).clone();
    config.email.max_send_rate = Some(LOCAL_RATE);
    LocalCtx {
        config: Arc::new(config),
        ..ctx
    }
}

pub async fn run(cli: &Cli, args: &RunDispatchArgs) -> anyhow::Result<()> {
    let config = app::load_config(cli)?;
    let clock = app::clock_at(&config, args.at.as_deref())?;
    let ctx = paced_for_outbox(app::open_at(cli, clock)?);
    let outcome = pulso_dispatch::run(&ctx, Duration::from_secs(args.budget_seconds)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        for line in describe(&ctx, &outcome) {
            println!("{line}");
        }
    }
    Ok(())
}

fn by_reason(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a run did, in lines for a person.
pub fn describe(ctx: &LocalCtx, o: &DispatchOutcome) -> Vec<String> {
    let tz = ctx.tz();
    let mut lines = Vec::new();
    if let Some(at) = o.at {
        lines.push(format!(
            "Dispatch run at {} ({})",
            at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M"),
            ctx.config.company.time_zone.as_str()
        ));
    }
    let w = &o.wave;
    if w.days.is_empty() {
        lines.push("  wave: no slice today (not a working day, or waves are off)".into());
    } else {
        let days: Vec<String> = w.days.iter().map(|d| d.to_string()).collect();
        lines.push(format!(
            "  wave: cycle {}, slices of {}: {} contacts read, {} planned ({} later: settling or fatigue), {} already planned, {} waiting for next cycle",
            w.cycle.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            days.join(" and "),
            w.contacts,
            w.planned,
            w.planned_later,
            w.already_planned,
            w.not_settled
        ));
    }
    lines.push(format!(
        "  sent: {} surveys, {} reminders",
        o.sent, o.reminders_sent
    ));
    lines.push(format!("  skipped: {}", by_reason(&o.skipped)));
    lines.push(format!(
        "  reminders cancelled: {}",
        by_reason(&o.reminders_cancelled)
    ));
    lines.push(format!("  failed: {}", by_reason(&o.failed)));
    if o.deferred > 0 {
        lines.push(format!(
            "  deferred (a more recent survey came first): {}",
            o.deferred
        ));
    }
    lines.push(format!(
        "  retry later: {}, throttled: {}, store errors: {}",
        o.retry_later, o.throttled, o.errors
    ));
    lines.push(format!(
        "  left for the next run: {}{}",
        o.left_for_next_run,
        o.stopped_early
            .as_deref()
            .map(|r| format!(" (stopped early: {r})"))
            .unwrap_or_default()
    ));
    lines.push(format!("  pace: {:.0} messages/second", o.rate));
    let outbox = ctx.mailer.dir();
    let count = ctx.mailer.list().map(|l| l.len()).unwrap_or(0);
    lines.push(format!("Outbox: {}/ ({count} messages)", outbox.display()));
    lines
}
