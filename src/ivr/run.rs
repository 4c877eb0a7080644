//! Running one call through a dialplan: one node at a time, each an `await` on the call
//! handle, with the caller's variables in a map. What each node does is in `nodes/`; this
//! file holds the loop and what nodes share (prompts, keys, variables, conditions).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;

use crate::calls::HangupSide;
use crate::media::Prompt;
use crate::sip::CallError;

use super::call::CallControl;
use super::format::Condition;
use super::{Dialplan, Engine};

/// Where the call goes after a node.
pub(super) enum Step {
    Goto(String),
    End(&'static str),
}

/// What happened in a call, for the log and the `calls` table.
#[derive(Debug, Default)]
pub struct Trace {
    pub nodes: Vec<String>,
    pub prompts: Vec<String>,
    pub digits: String,
    pub outcome: String,
    pub ticket_number: Option<String>,
    pub recording_path: Option<String>,
    /// Who ended the call, when a node knows better than the engine (the caller's hang-up
    /// seen mid-node, an agent ending a bridged call the dialplan ends with).
    pub hangup: Option<HangupSide>,
}

pub(super) struct Run<'a, C: CallControl> {
    pub(super) call: &'a C,
    pub(super) plan: Arc<Dialplan>,
    pub(super) eng: &'a Engine,
    pub(super) vars: HashMap<String, String>,
    pub(super) trace: Trace,
    pub(super) recordings: u32,
    /// Keys pressed during a prompt that did not want them (type-ahead), for the next
    /// question: a caller who knows the menu need not wait for it.
    pub(super) pending: VecDeque<char>,
    /// The call's record, for the events nodes add to it.
    pub(super) record: Option<crate::calls::CallRecordId>,
}

impl<'a, C: CallControl> Run<'a, C> {
    pub(super) fn new(call: &'a C, plan: Arc<Dialplan>, eng: &'a Engine) -> Run<'a, C> {
        let mut vars = HashMap::new();
        vars.insert("caller".to_string(), call.caller().to_string());
        vars.insert("called".to_string(), call.called().to_string());
        let lang = plan
            .def
            .dialplan
            .languages
            .first()
            .cloned()
            .unwrap_or_else(|| "zh".into());
        vars.insert("language".to_string(), lang);
        Run {
            call,
            plan,
            eng,
            vars,
            trace: Trace::default(),
            recordings: 0,
            pending: Default::default(),
            record: None,
        }
    }

    /// Runs from the start node until the call ends or the dialplan hangs up.
    pub(super) async fn run(&mut self) {
        let mut node = self.plan.def.dialplan.start.clone();
        for _ in 0..self.eng.cfg.max_steps {
            self.trace.nodes.push(node.clone());
            tracing::info!(dialplan = %self.plan.name, node = %node, "ivr node");
            match self.step(&node).await {
                Ok(Step::Goto(n)) => node = n,
                Ok(Step::End(why)) => {
                    self.trace.outcome = why.into();
                    return;
                }
                Err(CallError::Hungup) => {
                    self.trace.outcome = "caller_hung_up".into();
                    self.trace.hangup = Some(HangupSide::Caller);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "call failed in the dialplan");
                    self.trace.outcome = "error".into();
                    return;
                }
            }
        }
        tracing::error!("dialplan step limit reached; ending the call");
        self.trace.outcome = "step_limit".into();
    }

    async fn step(&mut self, name: &str) -> Result<Step, CallError> {
        let Some(node) = self.plan.def.node.get(name).cloned() else {
            // The validator makes this impossible; a reload cannot change a running call.
            return Ok(Step::End("missing_node"));
        };
        node.run(self).await
    }

    /// Where the operator key leads, when `digit` is it.
    pub(super) fn operator(&self, digit: char) -> Option<Step> {
        let h = &self.plan.def.dialplan;
        match (&h.operator_key, &h.operator_node) {
            (Some(k), Some(n)) if k.starts_with(digit) => Some(Step::Goto(n.clone())),
            _ => None,
        }
    }

    /// Where a question goes once its retries are used up.
    pub(super) fn after_retries(
        &self,
        last_invalid: bool,
        on_timeout: Option<String>,
        on_invalid: Option<String>,
    ) -> Step {
        let target = if last_invalid {
            on_invalid.or(on_timeout)
        } else {
            on_timeout
        };
        match target {
            Some(n) => Step::Goto(n),
            None => Step::End("no_input"),
        }
    }

    /// The caller's number, digits only.
    pub(super) fn caller_digits(&self) -> String {
        self.call
            .caller()
            .chars()
            .filter(char::is_ascii_digit)
            .collect()
    }

    pub(super) fn test(&self, c: &Condition) -> bool {
        let cal = &self.eng.tickets.rules().calendar;
        let now = chrono::Utc::now();
        match c {
            Condition::WorkingTime => cal.is_working_time(now),
            Condition::WorkingDay => cal.is_working_day(now.with_timezone(&cal.tz()).date_naive()),
            Condition::Time { from, to } => {
                let parse = |t: &str| chrono::NaiveTime::parse_from_str(t, "%H:%M").ok();
                let (Some(a), Some(b)) = (parse(from), parse(to)) else {
                    return false;
                };
                let t = now
                    .with_timezone(&cal.tz())
                    .time()
                    .with_second(0)
                    .unwrap_or_default();
                if a <= b {
                    t >= a && t < b
                } else {
                    t >= a || t < b
                }
            }
            Condition::Variable { name, equals } => {
                self.vars.get(name).map(String::as_str) == Some(equals.as_str())
            }
            Condition::CallerIn { list } => {
                let caller = self.caller_digits();
                self.plan
                    .def
                    .lists
                    .get(list)
                    .is_some_and(|l| l.contains(&caller))
            }
        }
    }

    /// `$name` is a variable, anything else a literal.
    pub(super) fn expand(&self, v: &str) -> String {
        match v.strip_prefix('$') {
            Some(name) => self.vars.get(name).cloned().unwrap_or_default(),
            None => v.to_string(),
        }
    }

    /// Plays a list of prompts and run-time pieces; returns a key pressed (barge-in).
    pub(super) async fn play(
        &mut self,
        names: &[String],
        barge_in: bool,
    ) -> Result<Option<char>, CallError> {
        for prompt in self.prompts(names) {
            if let Some(d) = self.call.play(&prompt, barge_in).await? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// The audio of a list of prompts and run-time pieces in the caller's language, for a
    /// node that plays them itself (the queue, between offers); each is traced as played.
    pub(super) fn prompts(&mut self, names: &[String]) -> Vec<Arc<Prompt>> {
        let lang = self
            .vars
            .get("language")
            .cloned()
            .unwrap_or_else(|| "zh".into());
        let mut out = Vec::new();
        for name in self.expand_pieces(names) {
            let Some(prompt) = self.plan.prompt(&name, &lang) else {
                tracing::warn!(prompt = %name, "no audio for prompt; skipped");
                continue;
            };
            tracing::info!(prompt = %name, "ivr prompt");
            self.trace.prompts.push(name.clone());
            out.push(prompt);
        }
        out
    }

    pub(super) async fn digit(&mut self, timeout: Duration) -> Result<Option<char>, CallError> {
        self.call.next_digit(timeout).await
    }

    fn expand_pieces(&self, names: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for n in names {
            let Some((kind, var)) = n.split_once(':') else {
                out.push(n.clone());
                continue;
            };
            let value = self.vars.get(var).cloned().unwrap_or_default();
            match kind {
                "digits" => out.extend(
                    value
                        .chars()
                        .filter(char::is_ascii_digit)
                        .map(|d| format!("digit_{d}")),
                ),
                "date" => {
                    if let Ok(d) = chrono::NaiveDate::parse_from_str(&value, "%Y-%m-%d") {
                        use chrono::Datelike;
                        out.push(format!("month_{}", d.month()));
                        out.push(format!("day_{}", d.day()));
                    }
                }
                "state" if !value.is_empty() => out.push(format!("state_{value}")),
                "count" => {
                    if let Ok(n) = value.parse::<u32>() {
                        out.extend(count_pieces(n));
                    }
                }
                "department" if !value.is_empty() => out.push(format!("dept_{value}")),
                _ => {}
            }
        }
        out
    }
}

/// A number as spoken in Mandarin from the catalog's pieces: 12 → 十二, 305 → 三百零五.
/// Numbers from 1000 on are read digit by digit.
pub(super) fn count_pieces(n: u32) -> Vec<String> {
    let d = |x: u32| format!("digit_{x}");
    let (h, t, u) = (n / 100, n / 10 % 10, n % 10);
    match n {
        0..=9 => vec![d(n)],
        10..=19 => std::iter::once("ten".to_string())
            .chain((u > 0).then(|| d(u)))
            .collect(),
        20..=99 => [Some(d(t)), Some("ten".into()), (u > 0).then(|| d(u))]
            .into_iter()
            .flatten()
            .collect(),
        100..=999 => {
            let mut v = vec![d(h), "hundred".into()];
            match (t, u) {
                (0, 0) => {}
                (0, u) => v.extend([d(0), d(u)]),
                (t, u) => {
                    v.extend([d(t), "ten".into()]);
                    if u > 0 {
                        v.push(d(u));
                    }
                }
            }
            v
        }
        _ => n
            .to_string()
            .chars()
            .map(|c| format!("digit_{c}"))
            .collect(),
    }
}

#[cfg(test)]
mod count_tests {
    use super::count_pieces;

    #[test]
    fn numbers_are_read_the_chinese_way() {
        let s = |n| count_pieces(n).join(" ");
        assert_eq!(s(0), "digit_0");
        assert_eq!(s(10), "ten");
        assert_eq!(s(12), "ten digit_2");
        assert_eq!(s(40), "digit_4 ten");
        assert_eq!(s(305), "digit_3 hundred digit_0 digit_5");
        assert_eq!(s(120), "digit_1 hundred digit_2 ten");
        assert_eq!(s(1200), "digit_1 digit_2 digit_0 digit_0");
    }
}
