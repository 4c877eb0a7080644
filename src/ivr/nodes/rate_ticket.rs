//! `do = "rate_ticket"`: the resident's key in a survey call (回访电话) rates the ticket the
//! call is about (`survey_ticket`, set by `ivr::survey`), through the same command layer as
//! a text or an operator's click, as the `survey-call` actor; sets `rated`.

use serde::Deserialize;

use crate::tickets::{Actor, Caller, Command, Input, Satisfaction, TicketId, Verb};

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTicket {
    /// `satisfied`, `basically_satisfied`, `unsatisfied` (or 满意 …), or `$VAR`.
    pub satisfaction: String,
    pub next: String,
    /// No ticket to rate in this call, or it can no longer be rated (a text came first).
    pub on_error: String,
}

impl RateTicket {
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        let s = &self.satisfaction;
        if !s.starts_with('$') && s.parse::<Satisfaction>().is_err() {
            let node_key = format!("node.{name}");
            ck.problem(
                ck.at(&format!("{node_key}.satisfaction")).or(ck.at(&node_key)),
                format!("node `{name}`: `{s}` is not a rating (satisfied, basically_satisfied, unsatisfied) or a $variable"),
            );
        }
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let Some(id) = r
            .vars
            .get("survey_ticket")
            .and_then(|v| v.parse::<i64>().ok())
        else {
            tracing::warn!("rate_ticket outside a survey call: nothing to rate");
            return Ok(Step::Goto(self.on_error));
        };
        let input = Input {
            satisfaction: Some(r.expand(&self.satisfaction)),
            ..Default::default()
        };
        let tickets = &r.eng.tickets;
        let rated = async {
            let cmd = Command::parse(Verb::Rate, &input, tickets)?;
            let t = tickets.get(TicketId(id)).await?;
            cmd.apply(tickets, &t, &Caller::Trusted(Actor::SurveyCall))
                .await
        }
        .await;
        match rated {
            Ok(out) => {
                tracing::info!(ticket = %out.ticket.number, state = %out.ticket.state, "rated by the survey call");
                r.trace.served = true;
                r.vars.insert(
                    "rated".into(),
                    out.ticket
                        .satisfaction
                        .map(|s| s.code().to_string())
                        .unwrap_or_default(),
                );
                Ok(Step::Goto(self.next))
            }
            Err(e) => {
                tracing::warn!(ticket = id, error = %e, "the survey call's rating was not taken");
                Ok(Step::Goto(self.on_error))
            }
        }
    }
}
