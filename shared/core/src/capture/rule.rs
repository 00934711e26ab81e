//! The automated-answer rule: whether a score commit looks like a person or like a mail scanner,
//! and how a commit changes the stored answer of its send.
//!
//! A commit arrives in one of three ways, told apart by the form fields the comment page sends:
//! - **script**: the page's inline script posts the pre-selected score after
//!   `capture.commit_delay_ms`, saying how long the page had been open (`open_ms`);
//! - **button**: the person pressed the page's Send button (with or without JavaScript); the page
//!   carries the time it was rendered, so the server knows how long it had been open;
//! - **bare**: anything else (a POST without the page's fields).
//!
//! A commit is **automated** when the first of these holds (checked in this order):
//! 1. `soon_after_delivery`: it came less than `capture.automated_after_delivery_seconds` after the
//!    survey email (or its reminder) was mailed;
//! 2. `burst`: it is a script or bare commit and another commit of the same send came less than
//!    `capture.automated_burst_seconds` before it (button presses never make a burst: a person
//!    whose page committed the score and who then presses Send is one person);
//! 3. `no_page_timing`: it is bare, a script commit whose page was open for less than three
//!    quarters of `capture.commit_delay_ms`, or a button press less than [`MIN_HUMAN_PRESS_MS`]
//!    after the page was rendered (no person reads a page and presses a button that fast).
//!
//! Everything else is a person's answer. How a commit changes the stored answer:
//! - a person's commit always wins: it sets the score (and the comment, when the form carried one)
//!   and the answer counts — it replaces an automated answer;
//! - an automated commit never replaces a person's answer; it is only recorded (its time joins
//!   `commits`), except that a **burst** that includes the person's own latest commit turns the
//!   answer automated: the first commit of a scanner's sweep looked human until the second came;
//! - an automated commit over an automated (or no) answer sets the score and stays flagged.

use jiff::{SignedDuration, Timestamp};

use crate::config::CaptureSettings;
use crate::model::{AnswerSource, Response};

/// A button press sooner than this after the page was rendered is not a person's.
pub const MIN_HUMAN_PRESS_MS: u64 = 1_000;

/// How many commit times an answer keeps for the burst rule.
pub const MAX_COMMITS_KEPT: usize = 20;

/// How a commit reached us (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The page's script, with how long the page had been open.
    Script { open_ms: u64 },
    /// The Send button, with how long the page had been open (`None` when the page's render time
    /// was missing or unreadable).
    Button { open_ms: Option<u64> },
    /// Neither: no page fields.
    Bare,
}

impl Timing {
    fn is_button(self) -> bool {
        matches!(self, Timing::Button { .. })
    }
}

/// Why a commit was flagged as automated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagReason {
    SoonAfterDelivery,
    Burst,
    NoPageTiming,
}

impl FlagReason {
    /// Stored in `Response::flag_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagReason::SoonAfterDelivery => "soon_after_delivery",
            FlagReason::Burst => "burst",
            FlagReason::NoPageTiming => "no_page_timing",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Human,
    Automated(FlagReason),
}

/// What the rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct CommitFacts<'a> {
    pub now: Timestamp,
    pub timing: Timing,
    /// When the survey email or its reminder was last mailed, if it was.
    pub delivered_at: Option<Timestamp>,
    /// Earlier commits of the same send.
    pub previous_commits: &'a [Timestamp],
}

fn within(earlier: Timestamp, later: Timestamp, seconds: u32) -> bool {
    let gap = later.duration_since(earlier);
    gap >= SignedDuration::ZERO && gap < SignedDuration::from_secs(i64::from(seconds))
}

/// Judges one commit (see the module doc for the rule).
pub fn judge(settings: &CaptureSettings, facts: &CommitFacts<'_>) -> Verdict {
    if let Some(delivered) = facts.delivered_at
        && within(
            delivered,
            facts.now,
            settings.automated_after_delivery_seconds,
        )
    {
        return Verdict::Automated(FlagReason::SoonAfterDelivery);
    }
    if !facts.timing.is_button()
        && facts
            .previous_commits
            .iter()
            .any(|p| within(*p, facts.now, settings.automated_burst_seconds))
    {
        return Verdict::Automated(FlagReason::Burst);
    }
    let timed = match facts.timing {
        Timing::Script { open_ms } => open_ms >= u64::from(settings.commit_delay_ms) * 3 / 4,
        Timing::Button { open_ms } => open_ms.is_some_and(|ms| ms >= MIN_HUMAN_PRESS_MS),
        Timing::Bare => false,
    };
    if !timed {
        return Verdict::Automated(FlagReason::NoPageTiming);
    }
    Verdict::Human
}

/// What a commit asks to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentChange {
    /// The commit carried no comment field (the script's): the stored comment stays.
    Keep,
    /// The form's comment (`None` when it was left empty).
    Set(Option<String>),
}

/// Applies a judged commit to the stored answer `before` (which must exist: the first answer of a
/// send is built by the caller). Returns the new answer, version bumped.
pub fn apply(
    before: &Response,
    score: crate::types::Score,
    comment: &CommentChange,
    verdict: Verdict,
    now: Timestamp,
    burst_seconds: u32,
) -> Response {
    let mut after = before.clone();
    after.version = before.version + 1;
    after.updated_at = now;
    push_commit(&mut after.commits, now);
    let set = |after: &mut Response| {
        after.score = score;
        if let CommentChange::Set(c) = comment {
            after.comment = c.clone();
        }
    };
    match verdict {
        Verdict::Human => {
            if before.source == AnswerSource::Automated {
                // A person's answer replaces the scanner's: it is answered now.
                after.answered_at = now;
            }
            set(&mut after);
            after.source = AnswerSource::Human;
            after.flag_reason = None;
        }
        Verdict::Automated(reason) => {
            let person_in_burst = reason == FlagReason::Burst
                && before
                    .commits
                    .last()
                    .is_some_and(|last| within(*last, now, burst_seconds));
            if before.source == AnswerSource::Automated || person_in_burst {
                set(&mut after);
                after.source = AnswerSource::Automated;
                after.flag_reason = Some(reason.as_str().to_string());
            }
            // Otherwise a person's answer stands; the commit is only recorded.
        }
    }
    after
}

/// Keeps the latest [`MAX_COMMITS_KEPT`] commit times, oldest first.
pub fn push_commit(commits: &mut Vec<Timestamp>, now: Timestamp) {
    commits.push(now);
    if commits.len() > MAX_COMMITS_KEPT {
        let extra = commits.len() - MAX_COMMITS_KEPT;
        commits.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SurveyKind;
    use crate::types::{Attributes, Locale, Score, SendId};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn settings() -> CaptureSettings {
        CaptureSettings::default()
    }

    fn facts(now: i64, timing: Timing, prev: &[Timestamp]) -> CommitFacts<'_> {
        CommitFacts {
            now: t(now),
            timing,
            delivered_at: Some(t(0)),
            previous_commits: prev,
        }
    }

    const SCRIPT: Timing = Timing::Script { open_ms: 1_600 };
    const BUTTON: Timing = Timing::Button {
        open_ms: Some(8_000),
    };

    #[test]
    fn a_person_an_hour_after_delivery_counts_by_script_or_button() {
        assert_eq!(
            judge(&settings(), &facts(3600, SCRIPT, &[])),
            Verdict::Human
        );
        assert_eq!(
            judge(&settings(), &facts(3600, BUTTON, &[])),
            Verdict::Human
        );
    }

    #[test]
    fn seconds_after_delivery_is_automated_whatever_the_timing() {
        for timing in [SCRIPT, BUTTON, Timing::Bare] {
            assert_eq!(
                judge(&settings(), &facts(4, timing, &[])),
                Verdict::Automated(FlagReason::SoonAfterDelivery)
            );
        }
        // Exactly at the threshold it is no longer "less than".
        assert_eq!(judge(&settings(), &facts(10, SCRIPT, &[])), Verdict::Human);
    }

    #[test]
    fn script_commits_in_a_burst_are_automated_but_a_button_press_is_not() {
        let prev = [t(3600)];
        assert_eq!(
            judge(&settings(), &facts(3602, SCRIPT, &prev)),
            Verdict::Automated(FlagReason::Burst)
        );
        assert_eq!(
            judge(&settings(), &facts(3602, Timing::Bare, &prev)),
            Verdict::Automated(FlagReason::Burst)
        );
        assert_eq!(
            judge(&settings(), &facts(3602, BUTTON, &prev)),
            Verdict::Human
        );
        assert_eq!(
            judge(&settings(), &facts(3605, SCRIPT, &prev)),
            Verdict::Human
        );
    }

    #[test]
    fn commits_without_the_page_timing_are_automated() {
        assert_eq!(
            judge(&settings(), &facts(3600, Timing::Bare, &[])),
            Verdict::Automated(FlagReason::NoPageTiming)
        );
        assert_eq!(
            judge(
                &settings(),
                &facts(3600, Timing::Script { open_ms: 200 }, &[])
            ),
            Verdict::Automated(FlagReason::NoPageTiming)
        );
        for open_ms in [None, Some(300)] {
            assert_eq!(
                judge(&settings(), &facts(3600, Timing::Button { open_ms }, &[])),
                Verdict::Automated(FlagReason::NoPageTiming)
            );
        }
    }

    #[test]
    fn without_a_delivery_time_only_the_other_rules_apply() {
        let f = CommitFacts {
            delivered_at: None,
            ..facts(1, SCRIPT, &[])
        };
        assert_eq!(judge(&settings(), &f), Verdict::Human);
    }

    fn answer(score: u8, source: AnswerSource, commits: Vec<Timestamp>) -> Response {
        Response {
            send_id: SendId::for_key("x"),
            contact_id: None,
            score: Score::new(score).unwrap(),
            comment: Some("slow".into()),
            locale: Locale::En,
            kind: SurveyKind::Relational,
            touchpoint: None,
            account: None,
            attributes: Attributes::new(),
            day: jiff::civil::date(2027, 1, 15),
            answered_at: t(100),
            updated_at: t(100),
            source,
            flag_reason: None,
            commits,
            version: 3,
        }
    }

    fn score(v: u8) -> Score {
        Score::new(v).unwrap()
    }

    #[test]
    fn a_person_replaces_a_flagged_answer() {
        let bot = answer(10, AnswerSource::Automated, vec![t(1)]);
        let after = apply(
            &bot,
            score(4),
            &CommentChange::Set(Some("price".into())),
            Verdict::Human,
            t(5000),
            5,
        );
        assert_eq!(after.source, AnswerSource::Human);
        assert_eq!(after.score, score(4));
        assert_eq!(after.comment.as_deref(), Some("price"));
        assert_eq!(after.answered_at, t(5000));
        assert_eq!(after.version, 4);
        assert_eq!(after.commits, vec![t(1), t(5000)]);
    }

    #[test]
    fn a_scanner_does_not_replace_a_person_but_is_recorded() {
        let person = answer(3, AnswerSource::Human, vec![t(100)]);
        let after = apply(
            &person,
            score(10),
            &CommentChange::Keep,
            Verdict::Automated(FlagReason::SoonAfterDelivery),
            t(9000),
            5,
        );
        assert_eq!(after.source, AnswerSource::Human);
        assert_eq!(after.score, score(3));
        assert_eq!(after.commits.len(), 2);
    }

    #[test]
    fn a_burst_that_includes_the_first_commit_demotes_it() {
        let first = answer(0, AnswerSource::Human, vec![t(100)]);
        let after = apply(
            &first,
            score(1),
            &CommentChange::Keep,
            Verdict::Automated(FlagReason::Burst),
            t(102),
            5,
        );
        assert_eq!(after.source, AnswerSource::Automated);
        assert_eq!(after.flag_reason.as_deref(), Some("burst"));
        assert_eq!(after.score, score(1));
        assert_eq!(
            after.comment.as_deref(),
            Some("slow"),
            "the comment is kept"
        );
    }

    #[test]
    fn the_script_keeps_the_comment_and_the_form_may_clear_it() {
        let a = answer(6, AnswerSource::Human, vec![t(100)]);
        let kept = apply(
            &a,
            score(7),
            &CommentChange::Keep,
            Verdict::Human,
            t(200),
            5,
        );
        assert_eq!(kept.comment.as_deref(), Some("slow"));
        let cleared = apply(
            &a,
            score(7),
            &CommentChange::Set(None),
            Verdict::Human,
            t(200),
            5,
        );
        assert_eq!(cleared.comment, None);
    }

    #[test]
    fn commits_are_bounded() {
        let mut c = Vec::new();
        for i in 0..50 {
            push_commit(&mut c, t(i));
        }
        assert_eq!(c.len(), MAX_COMMITS_KEPT);
        assert_eq!(c.first(), Some(&t(30)));
        assert_eq!(c.last(), Some(&t(49)));
    }
}
