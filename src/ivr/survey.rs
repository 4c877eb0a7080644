//! The survey call of the follow-up (回访电话): residents who did not text back their rating
//! are called through a trunk, hear the department's answer and press 1/2/3. Who is due,
//! when (working hours, retries) and the claim of each attempt are the tickets domain's
//! (`tickets::follow_up`); here the call is placed through the SIP dialer and, once
//! answered, run through a dialplan (`[tickets.follow_up.survey_call] dialplan`), whose
//! `rate_ticket` nodes rate the ticket. Survey calls are not inbound calls and leave no row
//! in `calls`; each attempt is kept in `follow_up_calls` and the ticket's audit trail.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::media::{PlayOutcome, Prompt, RecordOptions, Recording};
use crate::sip::{BridgeOutcome, CallError, Dialer, OutboundLeg};
use crate::store::now_ms;
use crate::tickets::follow_up::{claim_due_surveys, record_survey, SurveyAttempt, SurveyResult};
use crate::tickets::{FollowUpConfig, SurveyCallConfig};

use super::call::CallControl;
use super::format::PromptDef;
use super::run::Run;
use super::{Dialplan, Dialplans, Engine};

/// Why survey calls cannot be placed with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum SurveySetupError {
    #[error("[tickets.follow_up.survey_call] trunk `{0}` is not in [sip.destinations]")]
    NoTrunk(String),
    #[error(
        "[tickets.follow_up.survey_call] dialplan `{0}` has no file in the dialplan directory"
    )]
    NoDialplan(String),
}

/// Checks what the survey call needs, before the hotline starts and in `hotline check`.
pub fn check(
    cfg: &SurveyCallConfig,
    destinations: &[String],
    plans: &Dialplans,
) -> Result<(), SurveySetupError> {
    if !destinations.contains(&cfg.trunk) {
        return Err(SurveySetupError::NoTrunk(cfg.trunk.clone()));
    }
    if plans.named(&cfg.dialplan).is_none() {
        return Err(SurveySetupError::NoDialplan(cfg.dialplan.clone()));
    }
    Ok(())
}

/// Every `interval_secs`, places the survey calls that are due, until shutdown. Calls run
/// side by side; a call in progress at shutdown is ended with the process.
pub async fn run(engine: Arc<Engine>, cfg: FollowUpConfig, shutdown: CancellationToken) {
    let mut timer = tokio::time::interval(Duration::from_secs(cfg.interval_secs.max(1)));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = timer.tick() => pass(&engine, &cfg).await,
        }
    }
}

async fn pass(engine: &Arc<Engine>, cfg: &FollowUpConfig) {
    let sc = &cfg.survey_call;
    // Until SIP runs there is no dialer; nothing is claimed meanwhile.
    let Some(dialer) = engine.acd().and_then(|a| a.dialer()).cloned() else {
        return;
    };
    let Some(via) = dialer.destination(&sc.trunk) else {
        tracing::warn!(trunk = %sc.trunk, "survey calls due but the trunk is not a [sip.destinations] entry");
        return;
    };
    let Some(plan) = engine.current().named(&sc.dialplan) else {
        tracing::warn!(dialplan = %sc.dialplan, "survey calls due but the survey dialplan is gone");
        return;
    };
    let due = match claim_due_surveys(&engine.tickets, cfg, now_ms()).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "survey calls not looked up; will retry");
            return;
        }
    };
    for attempt in due {
        let (engine, dialer, via, plan, sc) = (
            engine.clone(),
            dialer.clone(),
            via.clone(),
            plan.clone(),
            sc.clone(),
        );
        tokio::spawn(async move { place(&engine, &dialer, &via, plan, &sc, attempt).await });
    }
}

/// Rings the resident; once answered, runs the survey dialplan; keeps how it ended.
#[tracing::instrument(skip_all, fields(ticket = %a.number, attempt = a.attempt))]
async fn place(
    engine: &Engine,
    dialer: &Dialer,
    via: &str,
    plan: Arc<Dialplan>,
    sc: &SurveyCallConfig,
    a: SurveyAttempt,
) {
    // Spoken before ringing, so the resident hears it at once.
    let answer = match a.answer.clone().filter(|t| !t.trim().is_empty()) {
        Some(text) => speak(engine, &plan, text).await,
        None => None,
    };
    let target = crate::acd::resident_uri(via, a.phone.as_str());
    tracing::info!(resident = %a.phone.masked(), "placing a survey call");
    let ring = dialer
        .ring(
            &target,
            &sc.caller_id,
            Duration::from_secs(sc.ring_secs.max(1)),
            &CancellationToken::new(),
        )
        .await;
    let (result, pressed) = match ring {
        Err(outcome) => {
            let result = match outcome {
                BridgeOutcome::NoAnswer => SurveyResult::NoAnswer,
                BridgeOutcome::Busy => SurveyResult::Busy,
                BridgeOutcome::Completed | BridgeOutcome::Failed => SurveyResult::Failed,
            };
            (result, None)
        }
        Ok(leg) => {
            let call = SurveyLeg {
                id: format!("survey-{}-{}", a.ticket, a.attempt),
                resident: a.phone.to_string(),
                from: sc.caller_id.clone(),
                leg,
            };
            let pressed = {
                let mut r = Run::new(&call, plan, engine);
                r.vars
                    .insert("survey_ticket".into(), a.ticket.0.to_string());
                r.vars.insert("ticket_number".into(), a.number.clone());
                if let Some(p) = answer {
                    r.spoken.insert("answer".into(), p);
                }
                r.run().await;
                tracing::info!(outcome = %r.trace.outcome, nodes = %r.trace.nodes.join(">"), rated = ?r.vars.get("rated"), "survey call finished");
                r.vars
                    .contains_key("rated")
                    .then(|| r.trace.digits.chars().last())
                    .flatten()
            };
            call.hangup().await;
            (SurveyResult::Answered, pressed)
        }
    };
    tracing::info!(result = result.code(), ?pressed, "survey call attempt");
    if let Err(e) = record_survey(&engine.tickets, &a, result, pressed).await {
        tracing::warn!(error = %e, "survey call attempt not recorded");
    }
}

/// The department's answer as a prompt, in the dialplan's first language; none when the
/// speech command fails (the call goes on without it).
async fn speak(engine: &Engine, plan: &Dialplan, text: String) -> Option<Arc<Prompt>> {
    let lang = plan
        .def
        .dialplan
        .languages
        .first()
        .cloned()
        .unwrap_or_else(|| "zh".into());
    let def = PromptDef {
        file: None,
        zh: (lang == "zh").then(|| text.clone()),
        en: (lang == "en").then_some(text),
    };
    let (builder, dir) = (engine.builder.clone(), engine.cfg.dialplan_dir.clone());
    let built =
        tokio::task::spawn_blocking(move || builder.build("survey_answer", &def, &lang, &dir))
            .await;
    match built {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the answer could not be spoken; the survey asks without it");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "speaking the answer crashed");
            None
        }
    }
}

/// An answered survey call as the dialplan engine drives it.
struct SurveyLeg {
    id: String,
    resident: String,
    from: String,
    leg: OutboundLeg,
}

#[async_trait::async_trait]
impl CallControl for SurveyLeg {
    fn id(&self) -> &str {
        &self.id
    }
    fn caller(&self) -> &str {
        &self.resident
    }
    fn called(&self) -> &str {
        &self.from
    }
    fn is_ended(&self) -> bool {
        self.leg.is_ended()
    }
    async fn answer(&self) -> Result<(), CallError> {
        Ok(())
    }
    fn reject(self, _status: u16) {}
    async fn hangup(self) {
        self.leg.hangup().await
    }
    async fn play(&self, prompt: &Arc<Prompt>, barge_in: bool) -> Result<Option<char>, CallError> {
        if self.leg.is_ended() {
            return Err(CallError::Hungup);
        }
        tokio::select! {
            out = self.leg.media().play(prompt, barge_in) => match out {
                PlayOutcome::Interrupted(d) => Ok(Some(d.as_char())),
                PlayOutcome::Finished | PlayOutcome::Speech => Ok(None),
                PlayOutcome::Ended => Err(CallError::Hungup),
            },
            _ = self.leg.ended() => Err(CallError::Hungup),
        }
    }
    async fn next_digit(&self, timeout: Duration) -> Result<Option<char>, CallError> {
        tokio::select! {
            d = self.leg.media().next_digit(timeout) => Ok(d.map(|d| d.as_char())),
            _ = self.leg.ended() => Err(CallError::Hungup),
        }
    }
    async fn record(&self, _opts: RecordOptions) -> Result<Recording, CallError> {
        Err(CallError::Media("a survey call records nothing".into()))
    }
    async fn bridge_to(&self, _destination: &str, _ring_timeout: Duration) -> BridgeOutcome {
        BridgeOutcome::Failed
    }
}
