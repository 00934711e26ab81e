//! The demo's wave step: replays the last four weeks of the dispatch schedule on the sample company
//! — an hourly dispatch run on each day, with a tenth of the contacts reporting an event (a ticket
//! closed, an order delivered, onboarding finished) on the way — so that the outbox holds what four
//! weeks of Pulso would have sent: the wave's daily slices in each contact's morning, the
//! transactional surveys after their delay, and the reminders. The same handler and rules as
//! `pulso run dispatch`; only the clock is simulated. Running it again sends nothing twice.
//!
//! Four weeks keeps every survey link valid for a few more days (links last
//! `links.answer_valid_days`, 30 by default), so the answers step and `pulso serve` can use them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::ToSpan;
use jiff::civil::{Date, time};
use pulso_core::dispatch::{EventRequest, ManualTimer, schedule_event};
use pulso_core::model::SLOTS;
use pulso_core::ports::{Contacts, FixedClock};
use pulso_core::time::{at_local, local_day};
use pulso_core::types::Touchpoint;
use pulso_local::Outbox;

use crate::app::LocalCtx;

/// How far back the replay starts.
pub const DAYS: i64 = 28;

/// The touchpoints of the demo's events.
const TOUCHPOINTS: [&str; 3] = ["ticket_closed", "order_delivered", "onboarding_finished"];

/// What the replay did.
#[derive(Debug, Clone, Default)]
pub struct DemoWave {
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub runs: u64,
    pub slices: u64,
    pub surveys: u64,
    pub reminders: u64,
    pub events: u64,
    pub events_scheduled: u64,
    /// Events recorded as skipped, and sends skipped at send time, by reason.
    pub skipped: BTreeMap<String, u64>,
    pub reminders_cancelled: BTreeMap<String, u64>,
    pub outbox: PathBuf,
    /// The newest survey email, to open first.
    pub example: Option<String>,
}

fn add(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn reasons(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for DemoWave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            writeln!(
                f,
                "Replayed four weeks of the schedule ({from} to {to}): {} dispatch runs, {} daily wave slices.",
                self.runs, self.slices
            )?;
        }
        writeln!(
            f,
            "Surveys sent: {} (relational wave and {} after events); reminders sent: {}.",
            self.surveys, self.events_scheduled, self.reminders
        )?;
        writeln!(
            f,
            "Events posted: {} ({}); not mailed, by reason: {}.",
            self.events,
            TOUCHPOINTS.join(", "),
            reasons(&self.skipped)
        )?;
        writeln!(
            f,
            "Reminders not sent, by reason: {}.",
            reasons(&self.reminders_cancelled)
        )?;
        write!(f, "The emails are in {}/", self.outbox.display())?;
        if let Some(e) = &self.example {
            write!(f, " — open {e} in any mail program")?;
        }
        Ok(())
    }
}

/// Replays the last [`DAYS`] days of dispatch up to the context's "now" (see the module doc).
pub async fn run(ctx: &LocalCtx) -> anyhow::Result<DemoWave> {
    let start = ctx.now();
    let tz = ctx.tz();
    let clock = FixedClock::at(start);
    let outbox = Outbox::with_clock(ctx.mailer.dir().to_path_buf(), Arc::new(clock.clone()))?;
    let base = crate::cmd_dispatch::paced_for_outbox(ctx.clone());
    let ctx = LocalCtx {
        clock: Arc::new(clock.clone()),
        mailer: outbox,
        ..base
    };
    let today = local_day(start, &tz);
    let first = today.saturating_sub(DAYS.days());
    let mut out = DemoWave {
        from: Some(first),
        to: Some(today),
        outbox: ctx.mailer.dir().to_path_buf(),
        ..DemoWave::default()
    };

    // A tenth of the contacts report an event, each on a day and hour of its own.
    let mut events: Vec<(jiff::Timestamp, pulso_core::types::ContactId, usize)> = ctx
        .store
        .contacts_in_slots(0, SLOTS)
        .await?
        .into_iter()
        .filter(|c| c.slot % 10 == 3)
        .map(|c| {
            let day = first.saturating_add(i64::from(c.slot % DAYS as u16).days());
            let at = at_local(day, time(10 + (c.slot % 8) as i8, 30, 0, 0), &tz);
            (at, c.id, usize::from(c.slot / 10) % TOUCHPOINTS.len())
        })
        .filter(|(at, _, _)| *at <= start)
        .collect();
    events.sort_by_key(|(at, _, _)| *at);
    let mut next_event = 0;

    let mut day = first;
    while day <= today {
        for hour in 0..24 {
            let t = at_local(day, time(hour, 5, 0, 0), &tz);
            if t > start {
                break;
            }
            while next_event < events.len() && events[next_event].0 <= t {
                let (at, id, tp) = &events[next_event];
                next_event += 1;
                clock.set(*at);
                let Some(contact) = ctx.store.contact(id).await? else {
                    continue;
                };
                let request = EventRequest {
                    touchpoint: Touchpoint::parse(TOUCHPOINTS[*tp])?,
                    event_id: format!("demo-{}-{}", id.as_str(), day),
                    delay_hours: Some(2 + (contact.slot % 20) as u32),
                };
                let e = schedule_event(&ctx.config, &ctx.store, *at, contact, &request).await?;
                if !e.duplicate {
                    out.events += 1;
                    match e.skip_reason() {
                        Some(r) => *out.skipped.entry(r.as_str().to_string()).or_default() += 1,
                        None => out.events_scheduled += 1,
                    }
                }
            }
            clock.set(t);
            let o = pulso_dispatch_run(&ctx, &ManualTimer::new()).await?;
            out.runs += 1;
            if hour == 0 {
                out.slices += o.wave.days.iter().filter(|d| **d == day).count() as u64;
            }
            out.surveys += o.sent;
            out.reminders += o.reminders_sent;
            add(&mut out.skipped, &o.skipped);
            add(&mut out.reminders_cancelled, &o.reminders_cancelled);
        }
        day = day.saturating_add(1.days());
    }
    out.example = ctx
        .mailer
        .list()?
        .into_iter()
        .rfind(|n| n.contains("-survey-"));
    Ok(out)
}

/// One dispatch run on the simulated clock (pacing and budget on a manual timer: no real waiting).
async fn pulso_dispatch_run(
    ctx: &LocalCtx,
    timer: &ManualTimer,
) -> anyhow::Result<pulso_core::dispatch::DispatchOutcome> {
    Ok(pulso_core::dispatch::run(ctx, timer, Duration::from_secs(24 * 3600)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_reasons_and_the_outbox() {
        let mut w = DemoWave {
            surveys: 12,
            outbox: PathBuf::from("/tmp/x/outbox"),
            example: Some("a.eml".into()),
            ..DemoWave::default()
        };
        w.skipped.insert("fatigue".into(), 2);
        let text = w.to_string();
        assert!(text.contains("Surveys sent: 12"));
        assert!(text.contains("fatigue 2"));
        assert!(text.contains("/tmp/x/outbox/ — open a.eml"));
    }
}
