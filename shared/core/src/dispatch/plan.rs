//! Planning the relational wave: each run reads the slot range of today's working day (and of the
//! previous working day, so that a day the schedule missed is caught up) and schedules one send
//! per eligible contact for this cycle, idempotently.
//!
//! Per contact, in order:
//! 1. already planned this cycle (its `last_surveyed_at` is this slice's morning, or the cycle's
//!    send exists) → nothing;
//! 2. unsubscribed or suppressed → a `Skipped` send with the reason, once per cycle;
//! 3. not settled on its slot day → scheduled for the first working day after settling (spread
//!    over up to ten working days, so that a bulk import does not become a burst), or, if that is
//!    past the cycle, left for the next cycle;
//! 4. surveyed (or about to be) within the fatigue gap → scheduled for the first morning clear of
//!    it (if that is more than a cycle away: `Skipped` with reason fatigue);
//! 5. otherwise → scheduled for the contact's morning on its slot day.
//!
//! Scheduling is `reserve_send`: the send (id from `wave:<contact>:<cycle>`) and the contact's new
//! `last_surveyed_at` in one atomic write, so a retried or concurrent run cannot plan twice.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

use crate::model::{Contact, ReminderState, SendStatus, SkipReason, SurveyKind, SurveySend};
use crate::ports::{Mailer, StoreError};
use crate::time::start_of_day;
use crate::types::SendId;

use super::calendar::{Cycle, days, morning, next_morning, stable_hash, working_days};
use super::rules::{contact_tz, counted_times, earliest_allowed, settle_date, suppression_reason};
use super::{DispatchError, DispatchOutcome, DispatchStore, Runner, Timer};
use crate::context::Ctx;

/// New contacts that settle together are spread over this many working days.
const CATCH_UP_SPREAD: usize = 10;

/// What planning decided for one contact.
enum Decision {
    AlreadyPlanned,
    NotSettled,
    Skip(SkipReason),
    /// Schedule at this instant; `later` when it is not the slot day's morning.
    Schedule {
        due: Timestamp,
        later: bool,
    },
}

/// The days whose slices a run at `today` plans: today (if a working day) and the previous
/// working day.
fn slice_days(today: Date, working: &[jiff::civil::Weekday]) -> Vec<Date> {
    let mut out = Vec::new();
    if working.contains(&today.weekday()) {
        out.push(today);
    }
    let mut d = today;
    for _ in 0..7 {
        d = d.saturating_sub(1.days());
        if working.contains(&d.weekday()) {
            out.insert(0, d);
            break;
        }
    }
    out
}

/// One working day's slice of the wave, its contacts read.
pub(super) struct Slice {
    day: Date,
    /// The day of the read (the previous working day's slice is caught up with it).
    today: bool,
    cycle: Cycle,
    contacts: Vec<Contact>,
}

/// The contacts of the slices a run plans (none where relational surveys are off). Only reads:
/// it goes out before the run has its signing keys.
pub(super) async fn read_wave<S, M, A>(ctx: &Ctx<S, M, A>) -> Result<Vec<Slice>, StoreError>
where
    S: DispatchStore,
{
    let config = &ctx.config;
    if !config.surveys.relational {
        return Ok(Vec::new());
    }
    let today = ctx.today();
    let working = working_days(&config.surveys);
    let slices: Vec<(Date, Cycle, (u16, u16))> = slice_days(today, &working)
        .into_iter()
        .filter_map(|day| {
            let cycle = Cycle::containing(day, config.surveys.cadence_days, &working);
            let index = cycle.index_of(day)?;
            let slots = cycle.slots_of(index);
            Some((day, cycle, slots))
        })
        .collect();
    // Both days' contacts are read together: one round trip of reads instead of one per day.
    let store = &ctx.store;
    let read = futures::future::try_join_all(
        slices
            .iter()
            .map(|(_, _, (from, to))| store.contacts_in_slots(*from, *to)),
    )
    .await?;
    Ok(slices
        .into_iter()
        .zip(read)
        .map(|((day, cycle, _), contacts)| Slice {
            day,
            today: day == today,
            cycle,
            contacts,
        })
        .collect())
}

/// Plans the slices [`read_wave`] read.
pub(super) async fn plan_wave<S, M, A, T>(
    r: &mut Runner<'_, S, M, A, T>,
    wave: Vec<Slice>,
) -> Result<(), DispatchError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    let now = r.ctx.now();
    for Slice {
        day,
        today,
        cycle,
        contacts,
    } in wave
    {
        if today {
            r.out.wave.cycle = Some(cycle.number);
        }
        r.out.wave.days.push(day);
        for contact in contacts {
            if r.out_of_budget() {
                r.out.stopped_early = Some("budget".into());
                return Ok(());
            }
            r.out.wave.contacts += 1;
            if let Err(e) = plan_contact(r, &cycle, day, contact, now).await {
                r.store_error("plan", &e)?;
            } else {
                r.store_ok();
            }
        }
    }
    Ok(())
}

async fn plan_contact<S, M, A, T>(
    r: &mut Runner<'_, S, M, A, T>,
    cycle: &Cycle,
    day: Date,
    mut contact: Contact,
    now: Timestamp,
) -> Result<(), StoreError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    let key = format!("wave:{}:{}", contact.id.as_str(), cycle.number);
    let id = SendId::for_key(&key);
    // A conflict means the contact changed under us (an import, an event): decide again.
    for _ in 0..3 {
        let decision = decide(r, cycle, day, &contact, &id).await?;
        let send = |due: Timestamp, status: SendStatus| SurveySend {
            id: id.clone(),
            contact_id: contact.id.clone(),
            kind: SurveyKind::Relational,
            touchpoint: None,
            key: key.clone(),
            locale: contact.locale,
            created_at: now,
            due_at: due,
            next_action_at: matches!(status, SendStatus::Scheduled).then_some(due),
            status,
            reminder: ReminderState::None,
            message_id: None,
            answered_at: None,
            version: 1,
        };
        match decision {
            Decision::AlreadyPlanned => {
                r.out.wave.already_planned += 1;
                return Ok(());
            }
            Decision::NotSettled => {
                r.out.wave.not_settled += 1;
                return Ok(());
            }
            Decision::Skip(reason) => {
                let morning = morning(
                    day,
                    &contact_tz(&r.ctx.config, &contact),
                    &r.ctx.config.surveys,
                    &contact.id,
                );
                match r
                    .ctx
                    .store
                    .put_send(&send(morning, SendStatus::Skipped { reason, at: now }))
                    .await
                {
                    Ok(()) => DispatchOutcome::bump(&mut r.out.skipped, reason.as_str()),
                    Err(StoreError::Conflict(_)) => r.out.wave.already_planned += 1,
                    Err(e) => return Err(e),
                }
                return Ok(());
            }
            Decision::Schedule { due, later } => {
                let mut updated = contact.clone();
                updated.last_surveyed_at =
                    Some(contact.last_surveyed_at.map_or(due, |l| l.max(due)));
                updated.version = contact.version + 1;
                match r
                    .ctx
                    .store
                    .reserve_send(&updated, &send(due, SendStatus::Scheduled))
                    .await
                {
                    Ok(()) => {
                        r.out.wave.planned += 1;
                        if later {
                            r.out.wave.planned_later += 1;
                        }
                        return Ok(());
                    }
                    Err(StoreError::Conflict(_)) => {
                        if r.ctx.store.send(&id).await?.is_some() {
                            r.out.wave.already_planned += 1;
                            return Ok(());
                        }
                        match r.ctx.store.contact(&contact.id).await? {
                            Some(fresh) => contact = fresh,
                            None => return Ok(()),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(StoreError::Conflict(format!(
        "contact {} kept changing while planning",
        contact.id
    )))
}

async fn decide<S, M, A, T>(
    r: &Runner<'_, S, M, A, T>,
    cycle: &Cycle,
    day: Date,
    contact: &Contact,
    id: &SendId,
) -> Result<Decision, StoreError>
where
    S: DispatchStore,
    M: Mailer,
    T: Timer,
{
    let config = &r.ctx.config;
    let s = &config.surveys;
    let tz = contact_tz(config, contact);
    let slot_morning = morning(day, &tz, s, &contact.id);
    if contact.last_surveyed_at == Some(slot_morning) {
        return Ok(Decision::AlreadyPlanned);
    }
    let cycle_start = start_of_day(cycle.start, &config.company.time_zone.tz());
    let maybe_planned = contact.last_surveyed_at.is_some_and(|l| l >= cycle_start);
    if (maybe_planned || contact.unsubscribed_at.is_some()) && r.ctx.store.send(id).await?.is_some()
    {
        return Ok(Decision::AlreadyPlanned);
    }
    if contact.unsubscribed_at.is_some() {
        return Ok(Decision::Skip(SkipReason::Unsubscribed));
    }
    let mut due = slot_morning;
    let mut later = false;
    let settled = settle_date(config, contact);
    if settled > day {
        let candidates = cycle.working_from(settled);
        if candidates.is_empty() {
            return Ok(Decision::NotSettled);
        }
        let spread = candidates.len().min(CATCH_UP_SPREAD) as u64;
        let pick = candidates[(stable_hash(&contact.id, "catch-up") % spread) as usize];
        due = morning(pick, &tz, s, &contact.id);
        later = true;
    }
    if let Some(reason) = r
        .ctx
        .store
        .suppression(&contact.email.hash())
        .await?
        .as_ref()
        .and_then(suppression_reason)
    {
        return Ok(Decision::Skip(reason));
    }
    if contact.last_surveyed_at.is_some() {
        let sends = r.ctx.store.sends_of_contact(&contact.id).await?;
        let others = counted_times(&sends, id, false);
        let gap = days(s.fatigue_days);
        let working = working_days(s);
        let original = due;
        for _ in 0..=others.len() {
            let allowed = earliest_allowed(due, &others, gap);
            if allowed == due {
                break;
            }
            due = next_morning(allowed, &tz, s, &working, &contact.id);
            later = true;
        }
        if due.duration_since(original) >= days(s.cadence_days)
            || !super::rules::clear_of(due, &others, gap)
        {
            return Ok(Decision::Skip(SkipReason::Fatigue));
        }
    }
    // On a day caught up late the morning may be past: the send is simply due at once.
    Ok(Decision::Schedule { due, later })
}
