//! Running one call through a dialplan: one node at a time, each an `await` on the call
//! handle, with the caller's variables in a map.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;

use crate::media::RecordOptions;
use crate::sip::{BridgeOutcome, Call, CallError};
use crate::tickets::{Actor, Channel, Kind, NewTicket, PhoneNumber, TicketNumber};

use super::format::{Condition, Node};
use super::{Dialplan, Engine};

/// Where the call goes after a node.
enum Step {
    Goto(String),
    End(&'static str),
}

/// What a caller gave to a question asked by voice or keys.
enum Answer {
    Key(char),
    Phrase(usize),
    NotUnderstood,
    Nothing,
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
}

pub struct Run<'a> {
    pub call: &'a Call,
    pub plan: Arc<Dialplan>,
    pub eng: &'a Engine,
    pub vars: HashMap<String, String>,
    pub trace: Trace,
    recordings: u32,
    /// Keys pressed during a prompt that did not want them (type-ahead), for the next
    /// question: a caller who knows the menu need not wait for it.
    pending: std::collections::VecDeque<char>,
}

impl<'a> Run<'a> {
    pub fn new(call: &'a Call, plan: Arc<Dialplan>, eng: &'a Engine) -> Run<'a> {
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
        }
    }

    /// Runs from the start node until the call ends or the dialplan hangs up.
    pub async fn run(&mut self) {
        let mut node = self.plan.def.dialplan.start.clone();
        for _ in 0..self.eng.cfg.max_steps {
            self.trace.nodes.push(node.clone());
            tracing::info!(call = %self.call.id(), dialplan = %self.plan.name, node = %node, "ivr node");
            match self.step(&node).await {
                Ok(Step::Goto(n)) => node = n,
                Ok(Step::End(why)) => {
                    self.trace.outcome = why.into();
                    return;
                }
                Err(CallError::Hungup) => {
                    self.trace.outcome = "caller_hung_up".into();
                    return;
                }
                Err(e) => {
                    tracing::warn!(call = %self.call.id(), error = %e, "call failed in the dialplan");
                    self.trace.outcome = "error".into();
                    return;
                }
            }
        }
        tracing::error!(call = %self.call.id(), "dialplan step limit reached; ending the call");
        self.trace.outcome = "step_limit".into();
    }

    fn operator(&self, digit: char) -> Option<Step> {
        let h = &self.plan.def.dialplan;
        match (&h.operator_key, &h.operator_node) {
            (Some(k), Some(n)) if k.starts_with(digit) => Some(Step::Goto(n.clone())),
            _ => None,
        }
    }

    async fn step(&mut self, name: &str) -> Result<Step, CallError> {
        let Some(node) = self.plan.def.node.get(name).cloned() else {
            // The validator makes this impossible; a reload cannot change a running call.
            return Ok(Step::End("missing_node"));
        };
        match node {
            Node::Play {
                prompts,
                barge_in,
                next,
            } => {
                if let Some(d) = self.play(&prompts, barge_in).await? {
                    if let Some(s) = self.operator(d) {
                        return Ok(s);
                    }
                    self.pending.push_back(d);
                }
                Ok(Step::Goto(next))
            }
            Node::Menu {
                prompts,
                choices,
                timeout_secs,
                retries,
                timeout_retries,
                invalid_prompts,
                on_timeout,
                on_invalid,
            } => {
                let (mut wrong, mut silent) = (0, 0);
                let mut next_key = self.pending.pop_front();
                loop {
                    let pressed = match next_key.take() {
                        Some(d) => Some(d),
                        None => match self.play(&prompts, true).await? {
                            Some(d) => Some(d),
                            None => self.digit(Duration::from_secs(timeout_secs)).await?,
                        },
                    };
                    let Some(d) = pressed else {
                        silent += 1;
                        if silent > timeout_retries.unwrap_or(retries) {
                            return Ok(self.after_retries(false, on_timeout, on_invalid));
                        }
                        continue;
                    };
                    self.trace.digits.push(d);
                    if let Some(s) = self.operator(d) {
                        return Ok(s);
                    }
                    if let Some(next) = choices.get(&d.to_string()) {
                        return Ok(Step::Goto(next.clone()));
                    }
                    wrong += 1;
                    if wrong > retries {
                        return Ok(self.after_retries(true, on_timeout, on_invalid));
                    }
                    next_key = self.play(&invalid_prompts, true).await?;
                }
            }
            Node::Gather {
                prompts,
                into,
                min_digits,
                max_digits,
                terminator,
                first_timeout_secs,
                between_timeout_secs,
                retries,
                operator,
                next,
                invalid_prompts,
                on_timeout,
                on_invalid,
            } => {
                let (op_key, op_node) = match operator {
                    true => (
                        self.plan.def.dialplan.operator_key.clone(),
                        self.plan.def.dialplan.operator_node.clone(),
                    ),
                    false => (None, None),
                };
                let op = |d: char| match (&op_key, &op_node) {
                    (Some(k), Some(n)) if k.starts_with(d) => Some(Step::Goto(n.clone())),
                    _ => None,
                };
                let term = terminator.as_deref().and_then(|t| t.chars().next());
                let mut last_invalid = false;
                for attempt in 0..=retries {
                    let first = match self.pending.pop_front() {
                        Some(d) => Some(d),
                        None => self.play(&prompts, true).await?,
                    };
                    if let Some(d) = first {
                        if let Some(s) = op(d) {
                            return Ok(s);
                        }
                    }
                    let mut got = String::new();
                    let mut terminated = false;
                    match first {
                        Some(d) if Some(d) == term => terminated = true,
                        Some(d) => got.push(d),
                        None => {}
                    }
                    while !terminated && got.len() < max_digits {
                        if let Some(d) = self.pending.pop_front() {
                            if Some(d) == term {
                                terminated = true;
                            } else {
                                got.push(d);
                            }
                            continue;
                        }
                        let wait = if got.is_empty() {
                            first_timeout_secs
                        } else {
                            between_timeout_secs
                        };
                        match self.digit(Duration::from_secs(wait)).await? {
                            Some(d) if Some(d) == term => terminated = true,
                            Some(d) if got.is_empty() && op(d).is_some() => {
                                return Ok(op(d).unwrap_or(Step::End("operator")));
                            }
                            Some(d) => got.push(d),
                            None => break,
                        }
                    }
                    self.trace.digits.push_str(&got);
                    if got.is_empty() && !terminated {
                        last_invalid = false;
                        continue;
                    }
                    if got.len() >= min_digits {
                        self.vars.insert(into.clone(), got);
                        return Ok(Step::Goto(next));
                    }
                    last_invalid = true;
                    if attempt < retries {
                        self.play(&invalid_prompts, true).await?;
                    }
                }
                Ok(self.after_retries(last_invalid, on_timeout, on_invalid))
            }
            Node::GatherSpeech {
                prompts,
                phrases,
                choices,
                timeout_secs,
                retries,
                timeout_retries,
                invalid_prompts,
                on_timeout,
                on_invalid,
                on_unrecognized,
            } => {
                let speech = self.eng.speech.clone().filter(|s| s.available());
                let phrase_list: Vec<String> = phrases.keys().cloned().collect();
                let (mut wrong, mut silent) = (0, 0);
                let mut next_key = self.pending.pop_front();
                loop {
                    let key = match next_key.take() {
                        Some(d) => Some(d),
                        None => self.play(&prompts, true).await?,
                    };
                    // A key always works; without a speech model only keys do.
                    let answer = match (key, &speech) {
                        (Some(d), _) => Answer::Key(d),
                        (None, Some(speech)) => {
                            let opts = RecordOptions {
                                max: Duration::from_secs(5),
                                // Time to start speaking, and the pause that ends an answer.
                                silence_end: Some(Duration::from_millis(1500)),
                                stop_on_hash: true,
                            };
                            let rec = self.call.record(opts).await?;
                            if !rec.heard_voice {
                                Answer::Nothing
                            } else {
                                match speech.choose(rec.pcm, phrase_list.clone()).await {
                                    Some(i) => Answer::Phrase(i),
                                    None => Answer::NotUnderstood,
                                }
                            }
                        }
                        (None, None) => {
                            match self.digit(Duration::from_secs(timeout_secs)).await? {
                                Some(d) => Answer::Key(d),
                                None => Answer::Nothing,
                            }
                        }
                    };
                    match answer {
                        Answer::Key(d) => {
                            self.trace.digits.push(d);
                            if let Some(s) = self.operator(d) {
                                return Ok(s);
                            }
                            if let Some(n) = choices.get(&d.to_string()) {
                                return Ok(Step::Goto(n.clone()));
                            }
                        }
                        Answer::Phrase(i) => {
                            let phrase = &phrase_list[i];
                            tracing::info!(call = %self.call.id(), phrase = %phrase, "speech choice");
                            return Ok(Step::Goto(phrases[phrase].clone()));
                        }
                        Answer::Nothing => {
                            silent += 1;
                            if silent > timeout_retries.unwrap_or(retries) {
                                return Ok(self.after_retries(false, on_timeout, on_invalid));
                            }
                            continue;
                        }
                        Answer::NotUnderstood => {
                            if let Some(n) = &on_unrecognized {
                                return Ok(Step::Goto(n.clone()));
                            }
                        }
                    }
                    wrong += 1;
                    if wrong > retries {
                        return Ok(self.after_retries(true, on_timeout, on_invalid));
                    }
                    next_key = self.play(&invalid_prompts, true).await?;
                }
            }
            Node::Record {
                prompts,
                into,
                max_secs,
                silence_secs,
                confirm_prompts,
                next,
                on_empty,
            } => {
                for _take in 0..3 {
                    if let Some(d) = self.play(&prompts, true).await? {
                        if let Some(s) = self.operator(d) {
                            return Ok(s);
                        }
                    }
                    let opts = RecordOptions {
                        max: Duration::from_secs(max_secs.max(1)),
                        silence_end: (silence_secs > 0).then(|| Duration::from_secs(silence_secs)),
                        stop_on_hash: true,
                    };
                    let rec = self.call.record(opts).await;
                    // A caller who hangs up after speaking has still left a message.
                    let (rec, hung_up) = match rec {
                        Ok(r) => {
                            let ended = self.call.is_ended();
                            (r, ended)
                        }
                        Err(e) => return Err(e),
                    };
                    if !rec.heard_voice {
                        if hung_up {
                            return Err(CallError::Hungup);
                        }
                        return Ok(match on_empty {
                            Some(n) => Step::Goto(n),
                            None => Step::Goto(next),
                        });
                    }
                    let path = self.save_recording(&rec)?;
                    tracing::info!(call = %self.call.id(), file = %path, secs = rec.duration().as_secs_f32(), ended_by = ?rec.ended_by, "voice message recorded");
                    self.vars.insert(into.clone(), path.clone());
                    self.vars.insert(
                        format!("{into}_secs"),
                        format!("{:.1}", rec.duration().as_secs_f32()),
                    );
                    self.trace.recording_path = Some(path);
                    if hung_up || confirm_prompts.is_empty() {
                        // Even when the caller hung up, the next node (creating the ticket)
                        // must run: the message is what the caller came for.
                        if hung_up {
                            self.vars.insert("hung_up".into(), "1".into());
                        }
                        return Ok(Step::Goto(next));
                    }
                    let choice = match self.play(&confirm_prompts, true).await? {
                        Some(d) => Some(d),
                        None => self.digit(Duration::from_secs(5)).await?,
                    };
                    if choice != Some('2') {
                        return Ok(Step::Goto(next));
                    }
                }
                Ok(Step::Goto(next))
            }
            Node::Transfer {
                prompts,
                to,
                ring_secs,
                next,
                on_no_answer,
                on_busy,
                on_failed,
            } => {
                self.play(&prompts, false).await?;
                self.eng
                    .set_bridged(self.call.id(), self.call.caller(), true);
                let outcome = self
                    .call
                    .bridge_to(
                        &to,
                        Duration::from_secs(ring_secs.unwrap_or(self.eng.cfg.ring_secs)),
                    )
                    .await;
                self.eng
                    .set_bridged(self.call.id(), self.call.caller(), false);
                tracing::info!(call = %self.call.id(), destination = %to, ?outcome, "transfer");
                Ok(match outcome {
                    BridgeOutcome::Completed => match next {
                        Some(n) => Step::Goto(n),
                        None => Step::End("transferred"),
                    },
                    BridgeOutcome::NoAnswer => Step::Goto(on_no_answer),
                    BridgeOutcome::Busy => Step::Goto(on_busy.unwrap_or(on_no_answer)),
                    BridgeOutcome::Failed => Step::Goto(on_failed.unwrap_or(on_no_answer)),
                })
            }
            Node::CreateTicket {
                kind,
                recording,
                text,
                next,
                on_error,
            } => {
                let kind: Option<Kind> = kind
                    .map(|k| self.expand(&k))
                    .filter(|k| !k.is_empty())
                    .and_then(|k| k.parse().ok());
                let recording_path = recording.and_then(|v| self.vars.get(&v).cloned());
                let text = text
                    .and_then(|v| self.vars.get(&v).cloned())
                    .unwrap_or_default();
                let digits: String = self
                    .call
                    .caller()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                let phone: PhoneNumber = match digits.parse() {
                    Ok(p) => p,
                    Err(_) => "0000"
                        .parse()
                        .map_err(|_| CallError::Media("phone".into()))?,
                };
                let new = NewTicket {
                    channel: Channel::Call,
                    kind,
                    phone,
                    text,
                    address: None,
                    area: None,
                    recording_path,
                };
                match self.eng.tickets.create(new, &Actor::System).await {
                    Ok(t) => {
                        tracing::info!(call = %self.call.id(), ticket = %t.number, "ticket created from call");
                        self.vars
                            .insert("ticket_number".into(), t.number.to_string());
                        self.trace.ticket_number = Some(t.number.to_string());
                        if self.call.is_ended() {
                            return Err(CallError::Hungup);
                        }
                        Ok(Step::Goto(next))
                    }
                    Err(e) => {
                        tracing::error!(call = %self.call.id(), error = %e, "could not create the ticket");
                        Ok(Step::Goto(on_error))
                    }
                }
            }
            Node::TicketStatus {
                number,
                last4,
                next,
                on_not_found,
                on_mismatch,
            } => {
                let entered = self.vars.get(&number).cloned().unwrap_or_default();
                let Ok(no) = entered.parse::<TicketNumber>() else {
                    return Ok(Step::Goto(on_not_found));
                };
                let t = match self.eng.tickets.by_number(&no).await {
                    Ok(t) => t,
                    Err(_) => return Ok(Step::Goto(on_not_found)),
                };
                let caller: String = self
                    .call
                    .caller()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                let given4 = last4.and_then(|v| self.vars.get(&v).cloned());
                let owner =
                    caller == t.phone.as_str() || given4.as_deref() == Some(t.phone.last4());
                if !owner {
                    tracing::info!(call = %self.call.id(), ticket = %t.number, "ticket status refused: caller does not match");
                    return Ok(Step::Goto(on_mismatch));
                }
                let tz = self.eng.tickets.tz();
                self.vars
                    .insert("ticket_state".into(), t.state.code().into());
                self.vars.insert(
                    "ticket_department".into(),
                    t.department.map(|d| d.to_string()).unwrap_or_default(),
                );
                self.vars.insert(
                    "ticket_deadline".into(),
                    t.deadline.with_timezone(&tz).format("%Y-%m-%d").to_string(),
                );
                self.vars.insert(
                    "ticket_has_department".into(),
                    (!self.vars["ticket_department"].is_empty()).to_string(),
                );
                Ok(Step::Goto(next))
            }
            Node::Branch {
                when,
                then,
                otherwise,
            } => {
                let yes = self.test(&when);
                Ok(Step::Goto(if yes { then } else { otherwise }))
            }
            Node::Set {
                variable,
                value,
                next,
            } => {
                let v = self.expand(&value);
                self.vars.insert(variable, v);
                Ok(Step::Goto(next))
            }
            Node::Hangup { prompts } => {
                self.play(&prompts, false).await?;
                Ok(Step::End("completed"))
            }
        }
    }

    fn after_retries(
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

    fn test(&self, c: &Condition) -> bool {
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
                let caller: String = self
                    .call
                    .caller()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                self.plan
                    .def
                    .lists
                    .get(list)
                    .is_some_and(|l| l.contains(&caller))
            }
        }
    }

    /// `$name` is a variable, anything else a literal.
    fn expand(&self, v: &str) -> String {
        match v.strip_prefix('$') {
            Some(name) => self.vars.get(name).cloned().unwrap_or_default(),
            None => v.to_string(),
        }
    }

    /// Plays a list of prompts and run-time pieces; returns a key pressed (barge-in).
    async fn play(&mut self, names: &[String], barge_in: bool) -> Result<Option<char>, CallError> {
        let lang = self
            .vars
            .get("language")
            .cloned()
            .unwrap_or_else(|| "zh".into());
        for name in self.expand_pieces(names) {
            let Some(prompt) = self.plan.prompt(&name, &lang) else {
                tracing::warn!(call = %self.call.id(), prompt = %name, "no audio for prompt; skipped");
                continue;
            };
            tracing::info!(call = %self.call.id(), prompt = %name, "ivr prompt");
            self.trace.prompts.push(name.clone());
            if let Some(d) = self.call.play(&prompt, barge_in).await? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    async fn digit(&mut self, timeout: Duration) -> Result<Option<char>, CallError> {
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
                "department" if !value.is_empty() => out.push(format!("dept_{value}")),
                _ => {}
            }
        }
        out
    }

    fn save_recording(&mut self, rec: &crate::media::Recording) -> Result<String, CallError> {
        self.recordings += 1;
        let day = chrono::Utc::now()
            .with_timezone(&self.eng.tickets.tz())
            .format("%Y%m%d")
            .to_string();
        let dir = self.eng.recordings_dir.join(day);
        std::fs::create_dir_all(&dir)
            .map_err(|e| CallError::Media(format!("recordings directory: {e}")))?;
        let safe: String = self
            .call
            .id()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!(
            "{}-{}.wav",
            safe.chars().take(48).collect::<String>(),
            self.recordings
        ));
        rec.write_wav(&path)
            .map_err(|e| CallError::Media(e.to_string()))?;
        let abs = std::fs::canonicalize(&path).unwrap_or(path);
        Ok(abs.display().to_string())
    }
}
