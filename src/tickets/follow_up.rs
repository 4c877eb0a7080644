//! The follow-up clock (回访): a resolved ticket past `delay_secs` gets its satisfaction
//! question (the `follow_up` event, which the SMS notices text the resident); a question
//! with no rating after `close_after_secs` closes the ticket (结案) with that noted. And the
//! schedule of the survey call for residents who did not text back: who is due now, in
//! working hours only, each attempt claimed once in `follow_up_calls`. Placing the call is
//! the voice menus' job (`ivr::survey`); this module knows nothing of SIP.
//!
//! Exactly once across nodes and restarts, the supervision clock's way: each step is a mark
//! in `deadline_marks` (`follow_up@<resolved_at>`, `auto_close@<asked_at>`) taken in the
//! transaction of the step itself; a survey attempt is the unique row of its attempt.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::store::now_ms;

use super::config::{FollowUpConfig, SurveyCallConfig};
use super::deadline::Calendar;
use super::error::TicketsError;
use super::model::{Actor, PhoneNumber, State, TicketId};
use super::service::Tickets;
use super::state::Action;
use super::supervision::claim_mark;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Satisfaction questions that went out.
    pub asked: usize,
    /// Tickets closed for want of an answer.
    pub closed: usize,
}

/// One pass: asks the resolved tickets past the delay and closes the unanswered ones past
/// `close_after_secs`. `now` is unix ms (a parameter so tests can move time).
pub async fn tick(tickets: &Tickets, cfg: &FollowUpConfig, now: i64) -> Result<Pass, TicketsError> {
    let mut pass = Pass::default();
    let delay = secs_ms(cfg.delay_secs);
    let resolved = sqlx::query(
        "SELECT id, resolved_at FROM tickets WHERE state = $1 AND resolved_at IS NOT NULL AND resolved_at <= $2 ORDER BY resolved_at",
    )
    .bind(State::Resolved.code())
    .bind(now - delay)
    .fetch_all(tickets.db().pool())
    .await?;
    for row in resolved {
        let id = TicketId(row.try_get(0)?);
        let resolved_at: i64 = row.try_get(1)?;
        let point = format!("follow_up@{resolved_at}");
        match step_once(tickets, id, &point, &Action::FollowUp, "", now).await {
            Ok(true) => pass.asked += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(ticket = %id, error = %e, "follow-up not asked; will retry"),
        }
    }
    let note = format!(
        "逾期未评价自动结案：{}内未收到评价 (no answer within {}, closed automatically)",
        span_zh(cfg.close_after_secs),
        span_en(cfg.close_after_secs)
    );
    for (id, asked_at) in asked_before(tickets, now - secs_ms(cfg.close_after_secs)).await? {
        let point = format!("auto_close@{asked_at}");
        match step_once(tickets, id, &point, &Action::Close, &note, now).await {
            Ok(true) => pass.closed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(ticket = %id, error = %e, "unanswered follow-up not closed; will retry")
            }
        }
    }
    Ok(pass)
}

/// Tickets waiting for a rating whose question went out at or before `before`, with when
/// it went out (the last `follow_up` of the audit trail: the clock's or a person's).
async fn asked_before(
    tickets: &Tickets,
    before: i64,
) -> Result<Vec<(TicketId, i64)>, TicketsError> {
    let rows = sqlx::query(
        "SELECT t.id, MAX(a.at) FROM tickets t JOIN ticket_audit a ON a.ticket_id = t.id AND a.action = $1
         WHERE t.state = $2 GROUP BY t.id HAVING MAX(a.at) <= $3 ORDER BY 2",
    )
    .bind(Action::FollowUp.name())
    .bind(State::FollowUp.code())
    .bind(before)
    .fetch_all(tickets.db().pool())
    .await?;
    rows.iter()
        .map(|r| Ok((TicketId(r.try_get(0)?), r.try_get(1)?)))
        .collect()
}

/// Takes the mark `point` and runs `action` as the system in one transaction. False when
/// another node or an earlier pass took it, or the ticket moved on meanwhile (a rating
/// arrived): both mean there is nothing to do.
#[tracing::instrument(skip(tickets, action, note, now), fields(ticket = %id))]
async fn step_once(
    tickets: &Tickets,
    id: TicketId,
    point: &str,
    action: &Action,
    note: &str,
    now: i64,
) -> Result<bool, TicketsError> {
    let mut tx = tickets.db().pool().begin().await?;
    if !claim_mark(&mut tx, id, point, now).await? {
        return Ok(false);
    }
    let (ticket, events) = match tickets
        .apply_in(&mut tx, id, action, &Actor::System, note)
        .await
    {
        Ok(x) => x,
        Err(TicketsError::Transition(_) | TicketsError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    tracing::info!(number = %ticket.number, action = action.name(), "follow-up clock");
    for e in events {
        let _ = tickets.live().send(e);
    }
    Ok(true)
}

/// Runs [`tick`] every `interval_secs` until shutdown.
pub async fn run(tickets: Tickets, cfg: FollowUpConfig, shutdown: CancellationToken) {
    let mut timer = tokio::time::interval(Duration::from_secs(cfg.interval_secs.max(1)));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = timer.tick() => {
                if let Err(e) = tick(&tickets, &cfg, now_ms()).await {
                    tracing::warn!(error = %e, "follow-up pass failed");
                }
            }
        }
    }
}

// --- the survey call's schedule

/// Whether a ticket waiting for its rating is to be called now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyDecision {
    /// The SMS answer may still come, or the last call was too recent.
    Wait,
    /// Due, but outside office hours or on a day off: residents are not called then.
    OffHours,
    /// Call now; this is attempt number `attempt` (from 1).
    Call { attempt: u32 },
    /// Every attempt was made.
    Exhausted,
}

/// The one rule of the survey call: `asked_at` when the question went out, `made` calls so
/// far in this round (the last at `last_placed`), all unix ms.
pub fn survey_decision(
    cfg: &SurveyCallConfig,
    sms_wait_secs: u64,
    calendar: &Calendar,
    asked_at: i64,
    made: u32,
    last_placed: Option<i64>,
    now: i64,
) -> SurveyDecision {
    if made >= cfg.attempts {
        return SurveyDecision::Exhausted;
    }
    if now < asked_at + secs_ms(sms_wait_secs) {
        return SurveyDecision::Wait;
    }
    if last_placed.is_some_and(|at| now < at + secs_ms(cfg.retry_secs)) {
        return SurveyDecision::Wait;
    }
    let Some(t) = Utc.timestamp_millis_opt(now).single() else {
        return SurveyDecision::Wait;
    };
    if !calendar.is_working_time(t) {
        return SurveyDecision::OffHours;
    }
    SurveyDecision::Call { attempt: made + 1 }
}

/// A survey call to place, claimed for this node.
#[derive(Debug, Clone)]
pub struct SurveyAttempt {
    /// The row in `follow_up_calls`.
    pub id: i64,
    pub ticket: TicketId,
    pub number: String,
    pub phone: PhoneNumber,
    /// The department's answer, read out before the question.
    pub answer: Option<String>,
    pub attempt: u32,
}

/// How a survey call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyResult {
    Answered,
    NoAnswer,
    Busy,
    Failed,
}

impl SurveyResult {
    pub fn code(self) -> &'static str {
        match self {
            SurveyResult::Answered => "answered",
            SurveyResult::NoAnswer => "no_answer",
            SurveyResult::Busy => "busy",
            SurveyResult::Failed => "failed",
        }
    }

    fn label_zh(self) -> &'static str {
        match self {
            SurveyResult::Answered => "已接听",
            SurveyResult::NoAnswer => "无人接听",
            SurveyResult::Busy => "占线",
            SurveyResult::Failed => "呼叫失败",
        }
    }
}

/// Finds the tickets due for a survey call now and claims one attempt of each (the row
/// `follow_up_calls` of this round and attempt: another node or a restart cannot place
/// it again). A caller who withheld their number is not called.
pub async fn claim_due_surveys(
    tickets: &Tickets,
    cfg: &FollowUpConfig,
    now: i64,
) -> Result<Vec<SurveyAttempt>, TicketsError> {
    let calendar = &tickets.rules().calendar;
    let mut out = Vec::new();
    for (id, asked_at) in asked_before(tickets, now - secs_ms(cfg.sms_wait_secs)).await? {
        let row = sqlx::query(
            "SELECT COUNT(*), MAX(placed_at) FROM follow_up_calls WHERE ticket_id = $1 AND asked_at = $2",
        )
        .bind(id.0)
        .bind(asked_at)
        .fetch_one(tickets.db().pool())
        .await?;
        let made: i64 = row.try_get(0)?;
        let last: Option<i64> = row.try_get(1)?;
        let attempt = match survey_decision(
            &cfg.survey_call,
            cfg.sms_wait_secs,
            calendar,
            asked_at,
            made as u32,
            last,
            now,
        ) {
            SurveyDecision::Call { attempt } => attempt,
            SurveyDecision::OffHours => {
                tracing::debug!(ticket = %id, "survey call due, waiting for office hours");
                continue;
            }
            SurveyDecision::Wait | SurveyDecision::Exhausted => continue,
        };
        let t = tickets.get(id).await?;
        if t.phone == PhoneNumber::anonymous() {
            continue;
        }
        let claimed = sqlx::query(
            "INSERT INTO follow_up_calls (ticket_id, asked_at, attempt, placed_at, result) VALUES ($1, $2, $3, $4, 'placing')
             ON CONFLICT (ticket_id, asked_at, attempt) DO NOTHING RETURNING id",
        )
        .bind(id.0)
        .bind(asked_at)
        .bind(attempt as i64)
        .bind(now)
        .fetch_optional(tickets.db().pool())
        .await?;
        let Some(row) = claimed else { continue };
        out.push(SurveyAttempt {
            id: row.try_get(0)?,
            ticket: id,
            number: t.number.to_string(),
            phone: t.phone.clone(),
            answer: t.answer.clone(),
            attempt,
        });
    }
    Ok(out)
}

/// Keeps how a survey call ended: its row, and a line in the ticket's audit trail.
pub async fn record_survey(
    tickets: &Tickets,
    call: &SurveyAttempt,
    result: SurveyResult,
    pressed: Option<char>,
) -> Result<(), TicketsError> {
    sqlx::query(
        "UPDATE follow_up_calls SET result = $1, pressed = $2, ended_at = $3 WHERE id = $4",
    )
    .bind(result.code())
    .bind(pressed.map(|c| c.to_string()))
    .bind(now_ms())
    .bind(call.id)
    .execute(tickets.db().pool())
    .await?;
    let key = pressed.map(|k| format!("，按键{k}")).unwrap_or_default();
    let note = format!("第{}次回访电话：{}{key}", call.attempt, result.label_zh());
    tickets
        .audit_line(call.ticket, &Actor::SurveyCall, "survey_call", &note)
        .await
}

fn secs_ms(s: u64) -> i64 {
    (s as i64).saturating_mul(1000)
}

/// "7天", "2小时", "90秒": a span as the audit trail says it.
fn span_zh(secs: u64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}天", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}小时", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{}分钟", s / 60),
        s => format!("{s}秒"),
    }
}

fn span_en(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::TicketsConfig;

    fn calendar() -> Calendar {
        let cfg = TicketsConfig::default();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join(&cfg.calendar_file)).expect("calendar");
        Calendar::parse(&text, cfg.timezone.parse().expect("zone")).expect("calendar")
    }

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    fn cfg() -> SurveyCallConfig {
        SurveyCallConfig {
            enabled: true,
            attempts: 2,
            retry_secs: 3600,
            ..Default::default()
        }
    }

    #[test]
    fn no_survey_call_is_placed_outside_working_hours() {
        let cal = calendar();
        let asked = at("2026-11-24T09:00:00+08:00");
        // Tuesday 21:00 and Saturday 10:00: due, but not now.
        for now in ["2026-11-24T21:00:00+08:00", "2026-11-28T10:00:00+08:00"] {
            assert_eq!(
                survey_decision(&cfg(), 3600, &cal, asked, 0, None, at(now)),
                SurveyDecision::OffHours,
                "{now}"
            );
        }
        // Wednesday 10:00: called.
        assert_eq!(
            survey_decision(
                &cfg(),
                3600,
                &cal,
                asked,
                0,
                None,
                at("2026-11-25T10:00:00+08:00")
            ),
            SurveyDecision::Call { attempt: 1 }
        );
    }

    #[test]
    fn the_sms_answer_is_awaited_then_calls_are_spaced_and_counted() {
        let cal = calendar();
        let asked = at("2026-11-25T09:00:00+08:00");
        let d = |made, last: Option<&str>, now| {
            survey_decision(&cfg(), 3600, &cal, asked, made, last.map(at), at(now))
        };
        assert_eq!(
            d(0, None, "2026-11-25T09:30:00+08:00"),
            SurveyDecision::Wait
        );
        assert_eq!(
            d(
                1,
                Some("2026-11-25T10:00:00+08:00"),
                "2026-11-25T10:30:00+08:00"
            ),
            SurveyDecision::Wait
        );
        assert_eq!(
            d(
                1,
                Some("2026-11-25T10:00:00+08:00"),
                "2026-11-25T11:00:00+08:00"
            ),
            SurveyDecision::Call { attempt: 2 }
        );
        assert_eq!(
            d(
                2,
                Some("2026-11-25T11:00:00+08:00"),
                "2026-11-26T11:00:00+08:00"
            ),
            SurveyDecision::Exhausted
        );
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span_zh(7 * 86_400), "7天");
        assert_eq!(span_zh(7_200), "2小时");
        assert_eq!(span_zh(5), "5秒");
        assert_eq!(span_en(86_400), "1 day");
        assert_eq!(span_en(20), "20 seconds");
    }
}
