//! 评价: the resident's rating, by text, by the survey call's key, or entered by an operator
//! who phoned them; 不满意 reopens the ticket as supervised. A reason given with it (the
//! resident's words) is kept in the audit line.

use super::{field, noted_step, Caller, Input, Outcome};
use crate::tickets::error::{Invalid, TicketsError};
use crate::tickets::model::{Satisfaction, Ticket};
use crate::tickets::service::Tickets;
use crate::tickets::state::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub satisfaction: Satisfaction,
    /// Why, in the resident's words (optional).
    pub reason: Option<String>,
}

impl Rate {
    pub fn parse(input: &Input) -> Result<Rate, Invalid> {
        let satisfaction = field(&input.satisfaction)
            .and_then(parse_satisfaction)
            .ok_or(Invalid::NoSatisfaction)?;
        Ok(Rate {
            satisfaction,
            reason: field(&input.reason).map(str::to_string),
        })
    }

    pub async fn apply(
        self,
        tickets: &Tickets,
        t: &Ticket,
        caller: &Caller,
    ) -> Result<Outcome, TicketsError> {
        let action = Action::Rate {
            satisfaction: self.satisfaction,
        };
        let note = self
            .reason
            .map(|r| format!("原因：{r}"))
            .unwrap_or_default();
        noted_step(tickets, t, action, caller, &note).await
    }
}

/// The code, the Chinese word, or the survey's key (1 满意, 2 基本满意, 3 不满意).
fn parse_satisfaction(s: &str) -> Option<Satisfaction> {
    match s {
        "1" => Some(Satisfaction::Satisfied),
        "2" => Some(Satisfaction::BasicallySatisfied),
        "3" => Some(Satisfaction::Unsatisfied),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rating_reads_from_key_code_or_word_and_keeps_the_reason() {
        let r = |s: &str, reason: Option<&str>| {
            Rate::parse(&Input {
                satisfaction: Some(s.into()),
                reason: reason.map(str::to_string),
                ..Default::default()
            })
        };
        assert_eq!(r("1", None).unwrap().satisfaction, Satisfaction::Satisfied);
        assert_eq!(
            r("basically_satisfied", None).unwrap().satisfaction,
            Satisfaction::BasicallySatisfied
        );
        let u = r("不满意", Some(" 路灯还是不亮 ")).unwrap();
        assert_eq!(u.satisfaction, Satisfaction::Unsatisfied);
        assert_eq!(u.reason.as_deref(), Some("路灯还是不亮"));
        assert_eq!(r("4", None).unwrap_err(), Invalid::NoSatisfaction);
    }
}
