//! Running one call through a dialplan: one node at a time, each an `await` on the call
//! handle, with the caller's variables in a map. What each node does is in `nodes/`; this
//! file holds the loop and what nodes share (prompts, keys, variables, conditions).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;

use crate::calls::HangupSide;
use crate::media::{Prompt, Recording};
use crate::sip::CallError;
use crate::store::objects::{Folder, ObjectKey};

use super::call::{CallControl, Input};
use super::format::Condition;
use super::{Dialplan, Engine};

/// Where the call goes after a node.
pub(super) enum Step {
    Goto(String),
    End(&'static str),
}

/// Why a node stopped before choosing where to go.
#[derive(Debug)]
pub(super) enum Stop {
    /// The call failed or the caller hung up.
    Call(CallError),
    /// The caller started speaking during a prompt: the dialplan's `speech_node` takes
    /// their words.
    Speech,
}

impl From<CallError> for Stop {
    fn from(e: CallError) -> Stop {
        Stop::Call(e)
    }
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
    /// The caller got an answer (a ticket's status) or reached a queue, whose records say
    /// how they left; a caller who hangs up otherwise, leaving no ticket, gave up.
    pub served: bool,
}

pub(super) struct Run<'a, C: CallControl> {
    pub(super) call: &'a C,
    pub(super) plan: Arc<Dialplan>,
    pub(super) eng: &'a Engine,
    pub(super) vars: HashMap<String, String>,
    pub(super) trace: Trace,
    pub(super) recordings: u32,
    /// The stem of this call's recording files, chosen at its first recording.
    pub(super) recording_name: Option<String>,
    /// Keys pressed during a prompt that did not want them (type-ahead), for the next
    /// question: a caller who knows the menu need not wait for it.
    pub(super) pending: VecDeque<char>,
    /// The call's record, for the events nodes add to it.
    pub(super) record: Option<crate::calls::CallRecordId>,
    /// The caller began speaking during a prompt and `speech_node` is to hear it.
    pub(super) speaking: bool,
    /// Texts spoken for this call alone (`speak:VAR`), by variable name.
    pub(super) spoken: HashMap<String, Arc<Prompt>>,
    /// The caller's language once the call has learnt it (heard in their words, or set by
    /// the dialplan after a choice), unlike `$language`, which starts as the dialplan's
    /// first: the voice message's transcription is told it instead of guessing again.
    pub(super) caller_language: Option<String>,
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
            recording_name: None,
            pending: Default::default(),
            record: None,
            speaking: false,
            spoken: HashMap::new(),
            caller_language: None,
        }
    }

    /// Whether the dialplan listens all the time (it names a `speech_node`).
    pub(super) fn listens(&self) -> bool {
        self.plan.def.dialplan.speech_node.is_some()
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
                Err(Stop::Speech) => match self.plan.def.dialplan.speech_node.clone() {
                    Some(n) => {
                        tracing::info!("the caller spoke first");
                        self.speaking = true;
                        node = n;
                    }
                    // Listening is on only with a speech node; nothing else can yield to
                    // speech.
                    None => {
                        self.trace.outcome = "error".into();
                        return;
                    }
                },
                Err(Stop::Call(CallError::Hungup)) => {
                    self.trace.outcome = "caller_hung_up".into();
                    self.trace.hangup = Some(HangupSide::Caller);
                    self.keep_what_was_said().await;
                    return;
                }
                Err(Stop::Call(e)) => {
                    tracing::warn!(error = %e, "call failed in the dialplan");
                    self.trace.outcome = "error".into();
                    return;
                }
            }
        }
        tracing::error!("dialplan step limit reached; ending the call");
        self.trace.outcome = "step_limit".into();
    }

    /// A caller who hung up after saying something has left a message: it becomes a
    /// ticket with the recording, whatever node the call was at.
    async fn keep_what_was_said(&mut self) {
        if self.trace.ticket_number.is_some() {
            return;
        }
        let Some(rec) = self.call.take_speech() else {
            return;
        };
        if rec.voiced < self.min_message() {
            tracing::info!(
                voiced_ms = rec.voiced.as_millis() as u64,
                "the caller hung up after a few sounds; not a message"
            );
            return;
        }
        let path = match self.save_recording(&rec).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "could not keep what the caller said");
                return;
            }
        };
        tracing::info!(file = %path, secs = rec.duration().as_secs_f32(), "the caller hung up after speaking: their words become a ticket");
        self.trace.recording_path = Some(path.clone());
        let kind = self.vars.get("kind").cloned();
        if let Err(e) = self
            .create_ticket(kind.as_deref(), Some(path), String::new())
            .await
        {
            tracing::error!(error = %e, "could not create the ticket of a caller who hung up");
        } else {
            self.trace.outcome = "message_on_hangup".into();
        }
    }

    /// Keeps a voice message: its WAV path in `into` (and its length in `<into>_secs`) for
    /// the node that makes the ticket, and in the call's record. When the caller hung up,
    /// that node still runs (`hung_up` is set): the message is what they came for.
    pub(super) async fn keep_message(
        &mut self,
        into: &str,
        rec: &Recording,
        hung_up: bool,
    ) -> Result<String, CallError> {
        let path = self.save_recording(rec).await?;
        tracing::info!(file = %path, secs = rec.duration().as_secs_f32(), ended_by = ?rec.ended_by, "voice message kept");
        self.vars.insert(into.to_string(), path.clone());
        self.vars.insert(
            format!("{into}_secs"),
            format!("{:.1}", rec.duration().as_secs_f32()),
        );
        self.trace.recording_path = Some(path.clone());
        if hung_up {
            self.vars.insert("hung_up".into(), "1".into());
        }
        Ok(path)
    }

    /// Adds an event to the call's record; a failure is logged, the call goes on.
    pub(super) async fn event(&self, ev: crate::calls::CallEvent) {
        let Some(id) = self.record else { return };
        if let Err(e) = self.eng.calls.event(id, &ev).await {
            tracing::warn!(error = %e, "could not add to the call's record");
        }
    }

    /// Voiced speech shorter than this is not a message ("喂？").
    pub(super) fn min_message(&self) -> Duration {
        Duration::from_millis(self.plan.def.dialplan.min_message_ms)
    }

    async fn step(&mut self, name: &str) -> Result<Step, Stop> {
        let Some(node) = self.plan.def.node.get(name).cloned() else {
            // The validator makes this impossible; a reload cannot change a running call.
            return Ok(Step::End("missing_node"));
        };
        node.run(self).await
    }

    /// Writes a message as `<local day>/<name>-<n>.wav` under the recordings folder and
    /// keeps it where recordings are kept ([`Recordings::keep`]); returns the reference a
    /// ticket stores. The name is the call record's id, or a random one when the call has no
    /// record: never the SIP Call-ID, which the caller chooses (two calls with one Call-ID
    /// would share a file, and a chosen id would let a caller aim at another call's file).
    pub(super) async fn save_recording(&mut self, rec: &Recording) -> Result<String, CallError> {
        self.recordings += 1;
        let day = chrono::Utc::now()
            .with_timezone(&self.eng.tickets.tz())
            .format("%Y%m%d")
            .to_string();
        let store = self.eng.tickets.recordings();
        let dir = store
            .recording_dir(Folder::Messages, &self.eng.recordings_dir)
            .join(&day);
        std::fs::create_dir_all(&dir)
            .map_err(|e| CallError::Media(format!("recordings directory: {e}")))?;
        let name = self
            .recording_name
            .get_or_insert_with(|| recording_name(self.record))
            .clone();
        let file = format!("{name}-{}.wav", self.recordings);
        let path = dir.join(&file);
        rec.write_wav(&path)
            .map_err(|e| CallError::Media(e.to_string()))?;
        let key = ObjectKey::new(Folder::Messages, &day, &file)
            .map_err(|e| CallError::Media(e.to_string()))?;
        store
            .keep(&path, &key)
            .await
            .map_err(|e| CallError::Media(e.to_string()))
    }

    /// Creates the ticket of what the caller gave (a kind, a voice message, a text) from
    /// their number; remembers its number for the read-back and the call record.
    pub(super) async fn create_ticket(
        &mut self,
        kind: Option<&str>,
        recording_path: Option<String>,
        text: String,
    ) -> Result<String, crate::tickets::TicketsError> {
        use crate::tickets::{Actor, Channel, Kind, NewTicket, PhoneNumber};
        let kind: Option<Kind> = kind
            .map(|k| self.expand(k))
            .filter(|k| !k.is_empty())
            .and_then(|k| k.parse().ok());
        // Anonymous callers (no digits) get a placeholder number; they get no SMS.
        let phone: PhoneNumber = self
            .caller_digits()
            .parse()
            .unwrap_or_else(|_| PhoneNumber::anonymous());
        let new = NewTicket {
            channel: Channel::Call,
            kind,
            phone,
            text,
            address: None,
            area: None,
            recording_path,
            language: self.caller_language.clone(),
        };
        let t = self.eng.tickets.create(new, &Actor::System).await?;
        tracing::info!(ticket = %t.number, "ticket created from call");
        let number = t.number.to_string();
        self.vars.insert("ticket_number".into(), number.clone());
        self.trace.ticket_number = Some(number.clone());
        Ok(number)
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

    /// Plays prompts that yield to a key or, when the dialplan listens, to the caller
    /// speaking; returns what interrupted them.
    pub(super) async fn play_heard(
        &mut self,
        names: &[String],
    ) -> Result<Option<Input>, CallError> {
        if !self.listens() {
            return Ok(self.play(names, true).await?.map(Input::Key));
        }
        for prompt in self.prompts(names) {
            if let Some(i) = self.call.play_listening(&prompt).await? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// `play` with barge-in for a node that takes keys: a caller who starts speaking
    /// instead goes to the dialplan's `speech_node` (`Stop::Speech`).
    pub(super) async fn play_keys(&mut self, names: &[String]) -> Result<Option<char>, Stop> {
        match self.play_heard(names).await? {
            Some(Input::Key(d)) => Ok(Some(d)),
            Some(Input::Speech) => Err(Stop::Speech),
            None => Ok(None),
        }
    }

    /// A key within `timeout`, or the caller starting to speak when the dialplan listens.
    pub(super) async fn input(&mut self, timeout: Duration) -> Result<Option<Input>, CallError> {
        if !self.listens() {
            return Ok(self.call.next_digit(timeout).await?.map(Input::Key));
        }
        self.call.next_input(timeout).await
    }

    /// `digit` for a node that takes keys; speech goes to `speech_node` (`Stop::Speech`).
    pub(super) async fn key(&mut self, timeout: Duration) -> Result<Option<char>, Stop> {
        match self.input(timeout).await? {
            Some(Input::Key(d)) => Ok(Some(d)),
            Some(Input::Speech) => Err(Stop::Speech),
            None => Ok(None),
        }
    }

    /// The audio of a list of prompts and run-time pieces in the caller's language, for a
    /// node that plays them itself (the queue, between offers); each is traced as played.
    pub(super) fn prompts(&mut self, names: &[String]) -> Vec<Arc<Prompt>> {
        let lang = self
            .vars
            .get("language")
            .cloned()
            .unwrap_or_else(|| "zh".into());
        let first = self.plan.def.dialplan.languages.first().cloned();
        let mut out = Vec::new();
        for name in self.expand_pieces(names) {
            if let Some(var) = name.strip_prefix("speak:") {
                match self.spoken.get(var) {
                    Some(p) => {
                        tracing::info!(prompt = %name, "ivr prompt");
                        self.trace.prompts.push(name.clone());
                        out.push(p.clone());
                    }
                    None => tracing::info!(prompt = %name, "nothing spoken for this call; skipped"),
                }
                continue;
            }
            // A prompt not yet written in the caller's language is played in the first.
            let audio = self
                .plan
                .prompt(&name, &lang)
                .map(|p| (p, lang.as_str()))
                .or_else(|| {
                    let f = first.as_deref()?;
                    Some((self.plan.prompt(&name, f)?, f))
                });
            let Some((prompt, spoken)) = audio else {
                tracing::warn!(prompt = %name, "no audio for prompt; skipped");
                continue;
            };
            tracing::info!(prompt = %name, lang = %spoken, "ivr prompt");
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
                        // The catalog's 十/百 make Mandarin numbers; English callers hear
                        // the digits.
                        match self.vars.get("language").map(String::as_str) {
                            Some("en") => {
                                out.extend(n.to_string().chars().map(|c| format!("digit_{c}")))
                            }
                            _ => out.extend(count_pieces(n)),
                        }
                    }
                }
                "department" if !value.is_empty() => out.push(format!("dept_{value}")),
                "speak" => out.push(n.clone()),
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

/// The stem of a call's recording files: `call<record id>` plus a random part (record ids
/// start again in a fresh database, files stay), or only the random part without a record.
fn recording_name(record: Option<crate::calls::CallRecordId>) -> String {
    let random = format!("{:016x}", rand::random::<u64>());
    match record {
        Some(id) => format!("call{}-{random}", id.get()),
        None => random,
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
