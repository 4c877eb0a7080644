//! Voice menus (IVR): the dialplan format (`format`), its validator (`validate`), prompt
//! synthesis (`prompts`) and the engine that runs each call through a dialplan (`run`);
//! `survey` places the follow-up's survey calls and runs them through a dialplan too.
//!
//! Dialplans are files in `dialplans/`; which one answers is chosen by the called number.
//! A reload (SIGHUP or a changed file) validates everything first and keeps the last good
//! set on any error; calls in progress finish on the version they started with, because
//! each call holds an `Arc` of its dialplan.

mod call;
mod config;
pub mod format;
pub mod nodes;
pub mod prompts;
mod run;
pub mod survey;
pub mod validate;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

pub use call::{CallControl, Input};
pub use config::IvrConfig;
use format::{DialplanFile, PromptDef};
use prompts::PromptBuilder;
pub use run::Trace;
use validate::{Context, Problem};

use crate::calls::{CallEnd, CallEvent, CallRecordId, Calls, HangupSide, NewCall};
use crate::media::Prompt;
use crate::sip::{Call, CallError, CallHandler};
use crate::tickets::Tickets;

/// Speech for `gather_speech` nodes, provided by the speech module when a model is loaded.
#[async_trait::async_trait]
pub trait SpeechInput: Send + Sync + 'static {
    fn available(&self) -> bool;
    /// Which phrase (index) a short utterance (8 kHz PCM) says, if any.
    async fn choose(&self, pcm: Vec<i16>, phrases: Vec<String>) -> Option<usize>;
    /// What a caller's first words say: their language, and the phrase they match if any.
    async fn understand(&self, pcm: Vec<i16>, phrases: Vec<String>) -> Understood {
        Understood {
            language: None,
            choice: self.choose(pcm, phrases).await,
        }
    }
}

/// What `SpeechInput::understand` made of a caller's first words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Understood {
    /// ISO 639-1 code of the language spoken, when it could be told.
    pub language: Option<String>,
    /// Index of the phrase they said.
    pub choice: Option<usize>,
}

/// A validated dialplan with its audio ready.
pub struct Dialplan {
    pub name: String,
    pub file: PathBuf,
    pub def: DialplanFile,
    audio: HashMap<(String, String), Arc<Prompt>>,
}

impl Dialplan {
    pub fn prompt(&self, name: &str, lang: &str) -> Option<Arc<Prompt>> {
        self.audio
            .get(&(name.to_string(), lang.to_string()))
            .cloned()
    }
}

/// Every dialplan, and which number reaches which.
pub struct Dialplans {
    by_name: HashMap<String, Arc<Dialplan>>,
    numbers: BTreeMap<String, String>,
    default: String,
    /// Modification times at load, to notice changed files.
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
}

impl Dialplans {
    pub fn for_number(&self, called: &str) -> Option<Arc<Dialplan>> {
        let name = self.numbers.get(called).unwrap_or(&self.default);
        self.by_name.get(name).cloned()
    }

    /// A dialplan by its name (file stem), whatever number reaches it: the survey call's.
    pub fn named(&self, name: &str) -> Option<Arc<Dialplan>> {
        self.by_name.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.by_name.keys().cloned().collect();
        v.sort();
        v
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    prompts: BTreeMap<String, PromptDef>,
}

/// Reads, validates and (with `builder`) voices every dialplan. Without a builder it only
/// checks, for `hotline check`.
pub fn load_all(
    cfg: &IvrConfig,
    tickets: Option<&Tickets>,
    destinations: &[String],
    queues: Option<&[String]>,
    builder: Option<&PromptBuilder>,
) -> Result<Dialplans, Vec<Problem>> {
    let mut problems = Vec::new();
    let problem = |file: &Path, line: Option<usize>, message: String| Problem {
        file: file.to_path_buf(),
        line,
        message,
    };

    let mut shared = match std::fs::read_to_string(&cfg.catalog_file) {
        Ok(text) => match toml::from_str::<CatalogFile>(&text) {
            Ok(c) => c.prompts,
            Err(e) => {
                let line = e.span().map(|s| crate::tomlpos::line_of(&text, s.start));
                problems.push(problem(
                    &cfg.catalog_file,
                    line,
                    format!("cannot read the prompt catalog: {}", e.message()),
                ));
                BTreeMap::new()
            }
        },
        Err(e) => {
            problems.push(problem(
                &cfg.catalog_file,
                None,
                format!("cannot read the prompt catalog: {e}"),
            ));
            BTreeMap::new()
        }
    };
    for piece in validate::required_pieces() {
        if !shared.contains_key(&piece) && problems.is_empty() {
            problems.push(problem(
                &cfg.catalog_file,
                None,
                format!("the catalog lacks `{piece}`, needed to read numbers, dates and states"),
            ));
        }
    }
    // Department names, so a status can be read back as "承办单位：市城市管理局".
    if let Some(t) = tickets {
        for d in t.departments() {
            shared.insert(
                format!("dept_{}", d.id),
                PromptDef {
                    file: None,
                    zh: Some(d.name.clone()),
                    en: None,
                },
            );
        }
    }
    let ctx = Context {
        shared_prompts: shared.clone(),
        destinations: destinations.iter().cloned().collect(),
        queues: queues.map(|q| q.iter().cloned().collect()),
        prompt_dir: cfg.dialplan_dir.clone(),
    };

    let mut files: Vec<PathBuf> = match std::fs::read_dir(&cfg.dialplan_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect(),
        Err(e) => {
            problems.push(problem(
                &cfg.dialplan_dir,
                None,
                format!("cannot read the dialplan directory: {e}"),
            ));
            vec![]
        }
    };
    files.sort();
    let mut stamps = vec![(cfg.catalog_file.clone(), mtime(&cfg.catalog_file))];
    let mut by_name = HashMap::new();
    for file in files {
        stamps.push((file.clone(), mtime(&file)));
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                problems.push(problem(&file, None, format!("cannot read: {e}")));
                continue;
            }
        };
        let def = match validate::check(&file, &text, &ctx) {
            Ok(d) => d,
            Err(mut ps) => {
                problems.append(&mut ps);
                continue;
            }
        };
        let mut audio = HashMap::new();
        if let Some(b) = builder {
            let mut all: BTreeMap<&String, &PromptDef> = shared.iter().collect();
            all.extend(def.prompts.iter());
            for (pname, pdef) in all {
                for lang in &def.dialplan.languages {
                    if pdef.file.is_none() && pdef.text(lang).is_none() {
                        continue;
                    }
                    match b.build(pname, pdef, lang, &cfg.dialplan_dir) {
                        Ok(a) => {
                            audio.insert((pname.clone(), lang.clone()), a);
                        }
                        Err(e) => problems.push(problem(
                            &file,
                            crate::tomlpos::locate(&text, &format!("prompts.{pname}")),
                            e.to_string(),
                        )),
                    }
                }
            }
        }
        by_name.insert(
            name.clone(),
            Arc::new(Dialplan {
                name,
                file,
                def,
                audio,
            }),
        );
    }
    for (number, plan) in &cfg.numbers {
        if !by_name.contains_key(plan) && problems.is_empty() {
            problems.push(problem(
                &cfg.dialplan_dir,
                None,
                format!("[ivr.numbers] sends {number} to dialplan `{plan}`, but there is no {plan}.toml"),
            ));
        }
    }
    if !cfg.default_dialplan.is_empty()
        && !by_name.contains_key(&cfg.default_dialplan)
        && problems.is_empty()
    {
        problems.push(problem(
            &cfg.dialplan_dir,
            None,
            format!(
                "[ivr] default_dialplan `{}` has no file",
                cfg.default_dialplan
            ),
        ));
    }
    if problems.is_empty() {
        Ok(Dialplans {
            by_name,
            numbers: cfg.numbers.clone(),
            default: cfg.default_dialplan.clone(),
            stamps,
        })
    } else {
        Err(problems)
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Runs calls through dialplans; the [`CallHandler`] the SIP layer calls.
pub struct Engine {
    cfg: IvrConfig,
    tickets: Tickets,
    calls: Calls,
    destinations: Vec<String>,
    /// Queue names `queue` nodes may use (`None`: not checked).
    queues: Option<Vec<String>>,
    builder: Arc<PromptBuilder>,
    current: RwLock<Arc<Dialplans>>,
    recordings_dir: PathBuf,
    speech: Option<Arc<dyn SpeechInput>>,
    /// Callers now bridged to an operator (call id, caller), newest last.
    bridged: std::sync::Mutex<Vec<(String, String)>>,
    /// The call centre `queue` nodes put callers into, once the app has started it.
    acd: std::sync::OnceLock<crate::acd::Acd>,
}

impl Engine {
    /// Loads every dialplan (speaking prompts that are not cached yet); refuses to start on
    /// any problem.
    pub async fn start(
        cfg: IvrConfig,
        data_dir: &Path,
        tickets: Tickets,
        calls: Calls,
        destinations: Vec<String>,
        queues: Option<Vec<String>>,
        speech: Option<Arc<dyn SpeechInput>>,
    ) -> Result<Arc<Engine>, Vec<Problem>> {
        let cache = if cfg.prompt_cache_dir.as_os_str().is_empty() {
            data_dir.join("prompts")
        } else {
            cfg.prompt_cache_dir.clone()
        };
        let recordings_dir = if cfg.recordings_dir.as_os_str().is_empty() {
            data_dir.join("recordings")
        } else {
            cfg.recordings_dir.clone()
        };
        let builder = Arc::new(PromptBuilder::new(
            cache,
            cfg.tts.clone().into_iter().collect(),
        ));
        let plans = {
            let (cfg, t, d, q, b) = (
                cfg.clone(),
                tickets.clone(),
                destinations.clone(),
                queues.clone(),
                builder.clone(),
            );
            tokio::task::spawn_blocking(move || {
                load_all(&cfg, Some(&t), &d, q.as_deref(), Some(&b))
            })
            .await
            .map_err(|e| {
                vec![Problem {
                    file: PathBuf::new(),
                    line: None,
                    message: format!("loader crashed: {e}"),
                }]
            })??
        };
        tracing::info!(dialplans = ?plans.names(), "dialplans loaded");
        Ok(Arc::new(Engine {
            cfg,
            tickets,
            calls,
            destinations,
            queues,
            builder,
            current: RwLock::new(Arc::new(plans)),
            recordings_dir,
            speech,
            bridged: Default::default(),
            acd: Default::default(),
        }))
    }

    /// Gives `queue` nodes their call centre.
    pub fn set_acd(&self, acd: crate::acd::Acd) {
        let _ = self.acd.set(acd);
    }

    pub(crate) fn acd(&self) -> Option<&crate::acd::Acd> {
        self.acd.get()
    }

    /// Caller numbers of calls now bridged to a person, most recent first.
    pub fn bridged_callers(&self) -> Vec<String> {
        let b = self.bridged.lock().unwrap_or_else(|e| e.into_inner());
        b.iter().rev().map(|(_, c)| c.clone()).collect()
    }

    pub(crate) fn set_bridged(&self, call_id: &str, caller: &str, on: bool) {
        let mut b = self.bridged.lock().unwrap_or_else(|e| e.into_inner());
        b.retain(|(id, _)| id != call_id);
        if on {
            b.push((call_id.to_string(), caller.to_string()));
        }
    }

    pub fn current(&self) -> Arc<Dialplans> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads everything again; on any problem logs it and keeps the running set.
    pub async fn reload(self: &Arc<Self>) -> bool {
        let me = self.clone();
        let res = tokio::task::spawn_blocking(move || {
            load_all(
                &me.cfg,
                Some(&me.tickets),
                &me.destinations,
                me.queues.as_deref(),
                Some(&me.builder),
            )
        })
        .await;
        match res {
            Ok(Ok(plans)) => {
                tracing::info!(dialplans = ?plans.names(), "dialplans reloaded; new calls use them, calls in progress keep theirs");
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(plans);
                true
            }
            Ok(Err(problems)) => {
                for p in problems {
                    tracing::error!("dialplan reload refused: {p}");
                }
                tracing::warn!("keeping the dialplans that were running");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "dialplan reload crashed; keeping the running dialplans");
                false
            }
        }
    }

    /// Reloads on SIGHUP and when a dialplan file changes, until shutdown.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(Duration::from_secs(self.cfg.reload_poll_secs.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut refused_stamps: Option<Vec<(PathBuf, Option<SystemTime>)>> = None;
        loop {
            let hup_fut = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = hup_fut => { tracing::info!("SIGHUP: reloading dialplans"); self.reload().await; }
                _ = tick.tick() => {
                    let now = self.stamps_now();
                    let known = refused_stamps.clone().unwrap_or_else(|| self.current().stamps.clone());
                    if now != known {
                        tracing::info!("dialplan files changed: reloading");
                        if self.reload().await { refused_stamps = None } else { refused_stamps = Some(now) }
                    }
                }
            }
        }
    }

    fn stamps_now(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.cfg.dialplan_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut v = vec![(self.cfg.catalog_file.clone(), mtime(&self.cfg.catalog_file))];
        v.extend(files.into_iter().map(|f| {
            let m = mtime(&f);
            (f, m)
        }));
        v
    }

    /// Writes the record of a call that has just arrived; a failure is logged and the call
    /// goes on unrecorded rather than refused.
    async fn record_start<C: CallControl>(&self, call: &C, plan: &str) -> Option<CallRecordId> {
        let new = NewCall {
            call_id: call.id(),
            caller: call.caller(),
            called: call.called(),
            dialplan: plan,
        };
        match self.calls.start(&new).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "could not record the call's arrival");
                None
            }
        }
    }

    async fn record_answered(&self, id: Option<CallRecordId>) {
        let Some(id) = id else { return };
        if let Err(e) = self.calls.answered(id).await {
            tracing::warn!(error = %e, "could not record the call's answer");
        }
    }

    /// Drops the record of a setup whose answer was never acknowledged (see
    /// `Calls::forget_unconfirmed`).
    async fn forget_unconfirmed(&self, id: Option<CallRecordId>) {
        let Some(id) = id else { return };
        if let Err(e) = self.calls.forget_unconfirmed(id).await {
            tracing::warn!(error = %e, "could not drop the record of an unconfirmed setup");
        }
    }

    /// Completes the record: `side` ended the call for `reason` (see `CallEnd`).
    async fn record_end(
        &self,
        id: Option<CallRecordId>,
        trace: &Trace,
        side: HangupSide,
        reason: &str,
    ) {
        let Some(id) = id else { return };
        let end = CallEnd {
            outcome: &trace.outcome,
            nodes: &trace.nodes,
            prompts: &trace.prompts,
            digits: &trace.digits,
            ticket_number: trace.ticket_number.as_deref(),
            recording_path: trace.recording_path.as_deref(),
            hangup_side: side,
            hangup_reason: reason,
        };
        if let Err(e) = self.calls.end(id, &end).await {
            tracing::warn!(error = %e, "could not record the call end");
        }
    }

    /// Records the call's arrival, answers it, runs it through the dialplan of its called
    /// number, records how it ended and hangs up; returns what happened (nothing when the
    /// call was never answered). A call no dialplan answers, or whose caller gives up
    /// before the answer, is recorded too.
    pub async fn serve<C: CallControl>(&self, call: C) -> Option<Trace> {
        // An agent's service code (*71 …) is the call centre's, not a resident's call.
        if let (Some(acd), Some(sip_call)) = (self.acd(), call.sip_call()) {
            if acd.is_feature_code(call.called()) {
                if sip_call.authenticated_user().is_none() {
                    call.reject(403);
                    return None;
                }
                acd.serve_feature_code(sip_call).await;
                call.hangup().await;
                return None;
            }
            // Another node rings an agent's console tab attached here: the call centre's leg
            // (recorded by the node holding the caller), not a resident's call.
            if let Some(agent) = crate::acd::Acd::browser_call_for(call.called()) {
                match acd.serve_browser_call(sip_call, agent).await {
                    Ok(_) => call.hangup().await,
                    Err(refused) => call.reject(refused.sip_status()),
                }
                return None;
            }
        }
        let plans = self.current();
        let plan = plans.for_number(call.called());
        let row = self
            .record_start(&call, plan.as_ref().map_or("", |p| p.name.as_str()))
            .await;
        let Some(plan) = plan else {
            tracing::info!(called = %call.called(), "no dialplan answers this number");
            call.reject(404);
            let trace = Trace {
                outcome: "no_dialplan".into(),
                ..Default::default()
            };
            self.record_end(row, &trace, HangupSide::System, "no_dialplan")
                .await;
            return None;
        };
        if let Err(e) = call.answer().await {
            tracing::info!(error = %e, "call ended before it was answered");
            let (outcome, side, reason) = match e {
                CallError::Hungup => ("cancelled", HangupSide::Caller, "cancel"),
                CallError::Media(_) => ("error", HangupSide::System, "error"),
                CallError::Unconfirmed => {
                    self.forget_unconfirmed(row).await;
                    return None;
                }
            };
            let trace = Trace {
                outcome: outcome.into(),
                ..Default::default()
            };
            self.record_end(row, &trace, side, reason).await;
            return None;
        }
        self.record_answered(row).await;
        let trace = {
            let mut r = run::Run::new(&call, plan.clone(), self);
            r.record = row;
            r.run().await;
            std::mem::take(&mut r.trace)
        };
        // A caller who hung up between two prompts is noticed here, not by a node.
        let side = trace.hangup.unwrap_or(if call.is_ended() {
            HangupSide::Caller
        } else {
            HangupSide::System
        });
        tracing::info!(
            dialplan = %plan.name, outcome = %trace.outcome,
            nodes = %trace.nodes.join(">"), prompts = %trace.prompts.join(","), keys = trace.digits.chars().count(),
            ticket = ?trace.ticket_number, hangup = side.code(), "ivr call finished"
        );
        let reason = match side {
            HangupSide::Caller | HangupSide::Agent => "bye",
            HangupSide::System => trace.outcome.as_str(),
        };
        // A caller who hung up in the menus without leaving a word or being served is owed
        // a call back; the console lists them.
        if side == HangupSide::Caller && trace.ticket_number.is_none() && !trace.served {
            if let Some(id) = row {
                let node = trace.nodes.last().cloned().unwrap_or_default();
                if let Err(e) = self.calls.event(id, &CallEvent::LeftMenu { node }).await {
                    tracing::warn!(error = %e, "could not record the abandoned call");
                }
            }
        }
        self.record_end(row, &trace, side, reason).await;
        call.hangup().await;
        Some(trace)
    }
}

#[async_trait::async_trait]
impl CallHandler for Engine {
    async fn handle(&self, call: Call) {
        self.serve(call).await;
    }
}
