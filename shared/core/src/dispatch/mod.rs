//! Survey dispatch: the sending half of Pulso.
//!
//! - [`calendar`]: relational cycles, their working days, the slot range of each day, mornings.
//! - [`rules`]: settling, fatigue across kinds, suppression.
//! - [`email`]: the survey and reminder emails.
//! - [`pacing`]: the run's [`Timer`] and the [`Pacer`] that keeps to the mail service's rate.
//! - planning the day's wave slice, scheduling a transactional event ([`schedule_event`]) and the
//!   send state machine (private modules), driven by [`run`].
//!
//! The state machine of a send (docs/dispatch.md has the full table):
//! `Scheduled → Sending{attempt, claimed_at} → Sent` (then the reminder: `Due → Sending → Sent`),
//! with `Skipped{reason}` and `Failed{reason}` as the other ends. A send is claimed by a versioned
//! write before the mailer is called, so a crash or a concurrent run never mails it twice; a claim
//! found stale was possibly mailed and is marked failed, never resent.

pub mod calendar;
pub mod email;
mod event;
pub mod pacing;
mod plan;
pub mod rules;
mod send;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::context::Ctx;
use crate::ports::{Contacts, Mailer, Responses, Rollups, Sends, StoreError, Suppressions};

pub use email::{EmailKind, SurveyRenderer};
pub use event::{EventRequest, MAX_DELAY_HOURS, ScheduledEvent, schedule_event};
pub use pacing::{DEFAULT_RATE, ManualTimer, Pacer, Timer};

/// What dispatch needs of a store.
pub trait DispatchStore: Contacts + Sends + Responses + Rollups + Suppressions {}

impl<T: Contacts + Sends + Responses + Rollups + Suppressions> DispatchStore for T {}

/// How long a claim protects a send being mailed. Far longer than one send can take (mailing and
/// its bounded throttling retries take seconds), so a claim older than this belongs to a run that
/// died.
pub const LEASE: SignedDuration = SignedDuration::from_mins(15);

/// The reason recorded on a send whose claim went stale.
pub const INTERRUPTED: &str = "interrupted while mailing; not resent to avoid a duplicate";

/// Sends are read from the queue in batches of this many.
const BATCH: usize = 200;

/// A run stops taking new sends when less than this is left of its budget: one send with its
/// throttling retries fits in it.
const SEND_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The store failed repeatedly: the run stopped; what it did is kept, the rest waits.
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
    /// The link-signing keys could not be read: nothing was sent.
    #[error("link-signing keys: {0}")]
    Keys(#[from] crate::token::KeysUnavailable),
}

/// The relational part of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WaveOutcome {
    /// The cycle of today's slice, if today is a working day.
    pub cycle: Option<i64>,
    /// The days whose slices were planned (today, and the previous working day to catch up a missed
    /// day).
    pub days: Vec<Date>,
    /// Contacts read from the slices.
    pub contacts: u64,
    /// Sends newly scheduled.
    pub planned: u64,
    /// Of those, scheduled later than their slot day: after settling (new contacts) or after the
    /// fatigue gap.
    pub planned_later: u64,
    /// Contacts already planned for this cycle by an earlier run.
    pub already_planned: u64,
    /// Contacts not settled before the cycle ends: they wait for the next cycle.
    pub not_settled: u64,
}

/// What one dispatch run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DispatchOutcome {
    /// The run's clock when it started.
    pub at: Option<Timestamp>,
    /// Messages per second the run was paced to at its start…
    pub rate: f64,
    /// …and at its end (lower if the mail service throttled it).
    pub rate_at_end: f64,
    pub wave: WaveOutcome,
    /// Survey emails accepted by the mail service.
    pub sent: u64,
    pub reminders_sent: u64,
    /// Sends newly recorded as skipped, by reason (`fatigue`, `unsubscribed`, `bounced`, …).
    pub skipped: BTreeMap<String, u64>,
    /// Reminders newly cancelled, by reason (`answered`, `unsubscribed`, …).
    pub reminders_cancelled: BTreeMap<String, u64>,
    /// Sends (or reminders) newly marked failed, by reason.
    pub failed: BTreeMap<String, u64>,
    /// Relational sends moved later at send time because of a more recent survey.
    pub deferred: u64,
    /// Throttling answers from the mail service.
    pub throttled: u64,
    /// Sends put back in the queue after a mail-service error, for a later run.
    pub retry_later: u64,
    /// Store errors on single sends (the send stays as it was, for a later run).
    pub errors: u64,
    /// Why the run stopped before the queue was empty: `budget`, `throttled`, `mail_unavailable`.
    pub stopped_early: Option<String>,
    /// Sends due but left for the next run (counted up to 1,000).
    pub left_for_next_run: u64,
}

impl DispatchOutcome {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
        *map.entry(key.to_string()).or_default() += 1;
    }
}

/// Whether the send loop goes on after one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// One run's state.
struct Runner<'a, S, M, A, T> {
    ctx: &'a Ctx<S, M, A>,
    timer: &'a T,
    budget: Duration,
    /// The context's signing keys, at hand for the run.
    keys: std::sync::Arc<crate::token::SigningKeys>,
    renderer: SurveyRenderer,
    pacer: Pacer,
    out: DispatchOutcome,
    consecutive_store_errors: u32,
    consecutive_mail_errors: u32,
}

impl<S, M, A, T: Timer> Runner<'_, S, M, A, T> {
    fn out_of_budget(&self) -> bool {
        self.timer.elapsed() + SEND_MARGIN > self.budget
    }

    fn store_error(&mut self, what: &str, e: &StoreError) -> Result<(), DispatchError> {
        self.out.errors += 1;
        self.consecutive_store_errors += 1;
        tracing::warn!(what, error = %e, "store error during dispatch");
        if self.consecutive_store_errors >= 10 {
            return Err(DispatchError::Store(e.clone()));
        }
        Ok(())
    }

    fn store_ok(&mut self) {
        self.consecutive_store_errors = 0;
    }
}

/// The messages-per-second a run is paced to: `email.max_send_rate`, else what the mail service
/// says (SES `GetAccount`), else [`DEFAULT_RATE`].
pub async fn send_rate<M: Mailer>(config: &crate::Config, mailer: &M) -> f64 {
    if let Some(r) = config
        .email
        .max_send_rate
        .filter(|r| r.is_finite() && *r > 0.0)
    {
        return r;
    }
    match mailer.max_send_rate().await {
        Ok(Some(r)) if r.is_finite() && r > 0.0 => r,
        Ok(_) => DEFAULT_RATE,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the mail service's rate; using the default");
            DEFAULT_RATE
        }
    }
}

/// One dispatch run: plans today's wave slice, then sends what is due (wave sends, delayed
/// transactional sends, reminders) until the queue is empty or `budget` (measured on `timer`) is
/// nearly spent. What is left waits, safely recorded, for the next run.
pub async fn run<S, M, A, T>(
    ctx: &Ctx<S, M, A>,
    timer: &T,
    budget: Duration,
) -> Result<DispatchOutcome, DispatchError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    // The run's first reads go out while its signing keys may still be arriving (a Lambda
    // function reads them at its cold start): reading needs no keys. No email goes out without
    // links, though: a run whose keys cannot be read stops as soon as that is known, having
    // written nothing (its reads are dropped).
    use futures::{FutureExt as _, TryFutureExt as _};
    let reads = futures::future::join(plan::read_wave(ctx), ctx.store.due_sends(ctx.now(), BATCH));
    let (keys, rate, (wave, first)) = futures::try_join!(
        ctx.keys.get().err_into::<DispatchError>(),
        send_rate(&ctx.config, &ctx.mailer).map(Ok),
        reads.map(Ok)
    )?;
    let mut r = Runner {
        ctx,
        timer,
        budget,
        keys,
        renderer: SurveyRenderer::new(&ctx.config),
        pacer: Pacer::new(rate),
        out: DispatchOutcome {
            at: Some(ctx.now()),
            rate,
            ..DispatchOutcome::default()
        },
        consecutive_store_errors: 0,
        consecutive_mail_errors: 0,
    };
    let result = drive(&mut r, wave, first).await;
    let mut out = r.out;
    out.rate_at_end = r.pacer.rate();
    match result {
        Ok(()) => {
            tracing::info!(
                sent = out.sent,
                reminders = out.reminders_sent,
                planned = out.wave.planned,
                skipped = out.skipped_total(),
                failed = out.failed_total(),
                left = out.left_for_next_run,
                "dispatch run done"
            );
            Ok(out)
        }
        Err(e) => {
            tracing::error!(error = %e, sent = out.sent, planned = out.wave.planned, "dispatch run stopped");
            Err(e)
        }
    }
}

/// Plans the wave `wave` holds and sends what is due. `first` is the due queue as read with the
/// wave: most runs plan nothing new, and then it is the queue as planning left it; a run that
/// planned sends reads it again.
async fn drive<S, M, A, T>(
    r: &mut Runner<'_, S, M, A, T>,
    wave: Result<Vec<plan::Slice>, StoreError>,
    first: Result<Vec<crate::model::SurveySend>, StoreError>,
) -> Result<(), DispatchError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    plan::plan_wave(r, wave?).await?;
    let mut first = (r.out.wave.planned == 0).then_some(first);
    let mut seen: HashSet<crate::types::SendId> = HashSet::new();
    'queue: loop {
        if r.out_of_budget() {
            r.out.stopped_early = Some("budget".into());
            break;
        }
        let batch = match first.take() {
            Some(read) => read?,
            None => r.ctx.store.due_sends(r.ctx.now(), BATCH).await?,
        };
        let fresh: Vec<_> = batch
            .into_iter()
            .filter(|s| seen.insert(s.id.clone()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for send in fresh {
            if r.out_of_budget() {
                r.out.stopped_early = Some("budget".into());
                break 'queue;
            }
            if send::process(r, send).await? == Flow::Stop {
                break 'queue;
            }
        }
    }
    if r.out.stopped_early.is_some() {
        r.out.left_for_next_run = r
            .ctx
            .store
            .due_sends(r.ctx.now(), 1_000)
            .await
            .map(|v| v.len() as u64)
            .unwrap_or(0);
    }
    Ok(())
}
