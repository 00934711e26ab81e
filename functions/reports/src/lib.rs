//! The `reports` function: one handler for the three report schedules. The EventBridge Scheduler's
//! event says which report and, optionally, when the run is for:
//! `{"report": "daily" | "weekly" | "quarterly", "at": "<aws.scheduler.scheduled-time>"}`.
//! Passing the scheduled time makes a retry an hour later report on the same period. An
//! EventBridge rule's envelope (`{"detail": {…}}`) is accepted too.
//!
//! The handler parses the event and calls `pulso_core::reports::run`, which claims the period,
//! builds, archives and emails the report once (see that module for the idempotency rules). The
//! same handler runs in Lambda (`main.rs`) and locally (`pulso run reports …`).

use jiff::Timestamp;
use pulso_core::Ctx;
use pulso_core::model::ReportKind;
use pulso_core::ports::{Archive, Mailer, ReportRuns};
use pulso_core::reports::ReportError;
use pulso_core::reports::build::ReportStore;
use pulso_core::reports::periods::parse_run_time;
pub use pulso_core::reports::run::{Outcome, RunResult};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HandlerError {
    /// The event is not a report schedule's: nothing was done.
    #[error("bad report event: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// What a schedule asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRequest {
    pub kind: ReportKind,
    /// When the run is for; the clock's time when absent.
    pub at: Option<Timestamp>,
}

pub fn parse_kind(raw: &str) -> Option<ReportKind> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "daily" | "digest" => Some(ReportKind::Daily),
        "weekly" => Some(ReportKind::Weekly),
        "quarterly" => Some(ReportKind::Quarterly),
        _ => None,
    }
}

/// Reads the schedule's event. `at` may be an RFC 3339 instant, a company-local date-time or a
/// date (that day at `reports.daily_hour`).
pub fn parse_event(
    event: &serde_json::Value,
    tz: &jiff::tz::TimeZone,
    daily_hour: u8,
) -> Result<ReportRequest, HandlerError> {
    let body = match event.get("detail") {
        Some(d) if d.is_object() => d,
        _ => event,
    };
    let obj = body
        .as_object()
        .ok_or_else(|| HandlerError::BadEvent("expected a JSON object".into()))?;
    let kind = match obj.get("report") {
        Some(serde_json::Value::String(s)) => parse_kind(s).ok_or_else(|| {
            HandlerError::BadEvent("`report` must be \"daily\", \"weekly\" or \"quarterly\"".into())
        })?,
        Some(_) => {
            return Err(HandlerError::BadEvent("`report` must be a string".into()));
        }
        None => return Err(HandlerError::BadEvent("`report` is missing".into())),
    };
    let at = match obj.get("at") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(
            parse_run_time(s, daily_hour, tz)
                .map_err(|e| HandlerError::BadEvent(format!("`at`: {e}")))?,
        ),
        Some(_) => return Err(HandlerError::BadEvent("`at` must be a string".into())),
    };
    Ok(ReportRequest { kind, at })
}

/// Runs the report the event asks for.
pub async fn handle<S, M, A>(
    ctx: &Ctx<S, M, A>,
    event: &serde_json::Value,
) -> Result<RunResult, HandlerError>
where
    S: ReportStore + ReportRuns,
    M: Mailer,
    A: Archive,
{
    let req = parse_event(event, &ctx.tz(), ctx.config.reports.daily_hour)?;
    Ok(pulso_core::reports::run(ctx, req.kind, req.at).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn madrid() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Europe/Madrid").unwrap()
    }

    #[test]
    fn the_event_says_which_report_and_when() {
        let r = parse_event(&json!({"report": "weekly"}), &madrid(), 8).unwrap();
        assert_eq!(
            r,
            ReportRequest {
                kind: ReportKind::Weekly,
                at: None
            }
        );
        let r = parse_event(
            &json!({"report": "quarterly", "at": "2026-04-01T06:00:00Z"}),
            &madrid(),
            8,
        )
        .unwrap();
        assert_eq!(r.kind, ReportKind::Quarterly);
        assert_eq!(r.at.unwrap().to_string(), "2026-04-01T06:00:00Z");
        // A date means the morning run of that day, company time.
        let r = parse_event(
            &json!({"report": "daily", "at": "2026-03-02"}),
            &madrid(),
            8,
        )
        .unwrap();
        assert_eq!(r.at.unwrap().to_string(), "2026-03-02T07:00:00Z");
        // An EventBridge rule's envelope.
        let r = parse_event(
            &json!({"version": "0", "detail-type": "Scheduled Event", "detail": {"report": "daily"}}),
            &madrid(),
            8,
        )
        .unwrap();
        assert_eq!(r.kind, ReportKind::Daily);
    }

    #[test]
    fn a_bad_event_is_refused_with_the_reason() {
        for (event, needle) in [
            (json!({}), "missing"),
            (json!({"report": "monthly"}), "\"daily\""),
            (json!({"report": 3}), "string"),
            (json!({"report": "daily", "at": "someday"}), "`at`"),
            (json!({"report": "daily", "at": 5}), "`at`"),
            (json!(["daily"]), "object"),
        ] {
            let e = parse_event(&event, &madrid(), 8).unwrap_err();
            assert!(e.to_string().contains(needle), "{event}: {e}");
        }
    }
}
