//! `config/queues.toml`: the queues a city's operators answer, who is a member of each, how
//! callers are handed out and what happens when nobody can take them.
//!
//! ```toml
//! [queue.operators]
//! name = "人工服务"
//! members = ["role:operator"]      # accounts, or every account with a role
//! penalty = { ops9 = 1 }           # skills: a higher penalty rings only when lower ones are busy
//! strategy = "longest-idle"        # ring-all | round-robin | fewest-calls | longest-idle
//! ring_secs = 15                   # per agent (or per round for ring-all)
//! wrapup_secs = 10                 # 话后处理 before the next call
//! max_wait_secs = 300
//! max_callers = 100
//! announce_every_secs = 30         # position and expected wait, in the dialplan's voice
//! hold_music = "sounds/hold"       # folder of WAV files, played in turn, looped
//! when_no_agents = "voicemail"     # voicemail | callback | queue:NAME
//! when_max_wait = "callback"
//! keys = { "1" = "callback", "2" = "voicemail" }
//! callback_via = "trunk"           # [sip.destinations] name; the number is put in its URI
//! auto_pause_after = 3             # misses in a row pause the agent
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Section `[acd]` of hotline.toml.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcdConfig {
    /// The queues file; a missing file means no queues (the `queue` node cannot be used).
    /// Whether conversations are recorded is `[media] operator_recording`.
    pub queues_file: PathBuf,
    /// Where conversation recordings go; empty means `<data_dir>/recordings/calls`.
    pub recordings_dir: PathBuf,
    /// What agents dial from their desk phones to change state.
    pub feature_codes: super::FeatureCodes,
    /// The `[sip.destinations]` entry operators call residents back through when the
    /// abandoned call waited in no queue with its own `callback_via` (a caller who hung up
    /// in the voice menus). Empty: only queues' trunks.
    pub callback_via: String,
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            queues_file: "config/queues.toml".into(),
            recordings_dir: PathBuf::new(),
            feature_codes: Default::default(),
            callback_via: String::new(),
        }
    }
}

/// How the next agent is chosen among the free members of the lowest penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The agent whose last call ended longest ago (Asterisk's default for fairness).
    LongestIdle,
    /// Every free agent at once; the first to answer takes the call.
    RingAll,
    /// Members in turn, starting after the last one offered a call.
    RoundRobin,
    /// The agent who answered the fewest calls today.
    FewestCalls,
}

/// Where a caller goes when they cannot (or will not) wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Leave a voice message (the dialplan's `on_voicemail` node).
    Voicemail,
    /// Hang up and be called back when it is their turn.
    Callback,
    /// Wait in another queue instead, keeping the time already waited.
    Queue(String),
}

impl Exit {
    pub fn parse(s: &str) -> Option<Exit> {
        match s.trim() {
            "voicemail" => Some(Exit::Voicemail),
            "callback" => Some(Exit::Callback),
            other => other
                .strip_prefix("queue:")
                .map(|q| Exit::Queue(q.trim().to_string())),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Exit::Voicemail => "voicemail".into(),
            Exit::Callback => "callback".into(),
            Exit::Queue(q) => format!("queue:{q}"),
        }
    }
}

/// One queue as written in the file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueDef {
    /// Shown to people (wallboard, records); the key is the queue's id.
    #[serde(default)]
    pub name: String,
    pub members: Vec<String>,
    #[serde(default)]
    pub penalty: BTreeMap<String, u32>,
    #[serde(default = "default_strategy")]
    pub strategy: Strategy,
    #[serde(default = "default_ring")]
    pub ring_secs: u64,
    #[serde(default = "default_wrapup")]
    pub wrapup_secs: u64,
    #[serde(default = "default_max_wait")]
    pub max_wait_secs: u64,
    #[serde(default = "default_max_callers")]
    pub max_callers: usize,
    #[serde(default = "default_announce")]
    pub announce_every_secs: u64,
    #[serde(default)]
    pub hold_music: Option<PathBuf>,
    #[serde(default = "default_exit")]
    pub when_no_agents: String,
    #[serde(default = "default_exit")]
    pub when_max_wait: String,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    #[serde(default)]
    pub callback_via: Option<String>,
    #[serde(default = "default_auto_pause")]
    pub auto_pause_after: u32,
}

fn default_strategy() -> Strategy {
    Strategy::LongestIdle
}
fn default_ring() -> u64 {
    15
}
fn default_wrapup() -> u64 {
    10
}
fn default_max_wait() -> u64 {
    300
}
fn default_max_callers() -> usize {
    100
}
fn default_announce() -> u64 {
    30
}
fn default_exit() -> String {
    "voicemail".into()
}
fn default_auto_pause() -> u32 {
    3
}

/// A member entry: one account, or every account holding a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Account(String),
    Role(String),
}

impl Member {
    pub fn parse(s: &str) -> Option<Member> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Some(match s.strip_prefix("role:") {
            Some(r) => Member::Role(r.trim().to_string()),
            None => Member::Account(s.to_string()),
        })
    }
}

/// One queue, checked and ready to use.
#[derive(Debug, Clone)]
pub struct Queue {
    pub id: String,
    pub name: String,
    pub members: Vec<Member>,
    pub penalty: BTreeMap<String, u32>,
    pub strategy: Strategy,
    pub ring_secs: u64,
    pub wrapup_secs: u64,
    pub max_wait_secs: u64,
    pub max_callers: usize,
    pub announce_every_secs: u64,
    /// The WAV files played while waiting, in name order.
    pub hold_music: Vec<PathBuf>,
    pub when_no_agents: Exit,
    pub when_max_wait: Exit,
    /// Key pressed while waiting → where the caller goes.
    pub keys: BTreeMap<char, Exit>,
    /// `[sip.destinations]` entry whose URI reaches residents' phones (the number replaces
    /// `{number}` in it, or becomes its user part).
    pub callback_via: Option<String>,
    pub auto_pause_after: u32,
}

/// Every queue, by id.
#[derive(Debug, Clone, Default)]
pub struct Queues {
    pub queues: BTreeMap<String, Queue>,
}

/// One thing wrong in the queues file, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct QueueProblem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    queue: BTreeMap<String, QueueDef>,
}

impl Queues {
    /// Reads and checks the queues file. A missing file is no queues; `destinations` are
    /// the `[sip.destinations]` names (for `callback_via`); relative music folders are read
    /// against the file's folder's parent (the directory hotline runs in, normally).
    pub fn load(path: &Path, destinations: &[String]) -> Result<Queues, Vec<QueueProblem>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Queues::default()),
            Err(e) => {
                return Err(vec![QueueProblem {
                    file: path.display().to_string(),
                    line: None,
                    message: format!("cannot read: {e}"),
                }])
            }
        };
        Queues::parse(&text, path, destinations)
    }

    /// Checks a queues file's text (`path` names it in problems).
    pub fn parse(
        text: &str,
        path: &Path,
        destinations: &[String],
    ) -> Result<Queues, Vec<QueueProblem>> {
        let file_name = path.display().to_string();
        let problem = |key: &str, message: String| QueueProblem {
            file: file_name.clone(),
            line: crate::tomlpos::locate(text, key),
            message,
        };
        let file: File = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return Err(vec![QueueProblem {
                    file: file_name.clone(),
                    line: e.span().map(|s| crate::tomlpos::line_of(text, s.start)),
                    message: e.message().to_string(),
                }])
            }
        };
        let base = path
            .parent()
            .and_then(|p| p.parent())
            .unwrap_or(Path::new("."));
        let mut problems = Vec::new();
        let mut queues = BTreeMap::new();
        for (id, def) in &file.queue {
            let at = |k: &str| format!("queue.{id}.{k}");
            let mut members = Vec::new();
            for m in &def.members {
                match Member::parse(m) {
                    Some(m) => members.push(m),
                    None => problems.push(problem(
                        &at("members"),
                        format!("queue `{id}`: an empty member"),
                    )),
                }
            }
            if members.is_empty() {
                problems.push(problem(
                    &at("members"),
                    format!("queue `{id}` has no members"),
                ));
            }
            if def.ring_secs == 0 {
                problems.push(problem(
                    &at("ring_secs"),
                    format!("queue `{id}`: ring_secs must be at least 1"),
                ));
            }
            if def.max_callers == 0 {
                problems.push(problem(
                    &at("max_callers"),
                    format!("queue `{id}`: max_callers must be at least 1"),
                ));
            }
            let exit = |key: &str, v: &str| -> Result<Exit, String> {
                match Exit::parse(v) {
                    Some(Exit::Queue(q)) if !file.queue.contains_key(&q) => Err(format!(
                        "queue `{id}`: {key} names queue `{q}`, which this file does not define"
                    )),
                    Some(Exit::Queue(q)) if q == *id => Err(format!(
                        "queue `{id}`: {key} sends callers back to the same queue"
                    )),
                    Some(e) => Ok(e),
                    None => Err(format!(
                        "queue `{id}`: {key} = `{v}` is not voicemail, callback or queue:NAME"
                    )),
                }
            };
            let exit_at = |key: &str, v: &str, problems: &mut Vec<QueueProblem>| match exit(key, v)
            {
                Ok(e) => Some(e),
                Err(m) => {
                    problems.push(problem(&at(key), m));
                    None
                }
            };
            let when_no_agents = exit_at("when_no_agents", &def.when_no_agents, &mut problems);
            let when_max_wait = exit_at("when_max_wait", &def.when_max_wait, &mut problems);
            let mut keys = BTreeMap::new();
            for (k, v) in &def.keys {
                let mut chars = k.chars();
                let key = match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => c,
                    _ => {
                        problems.push(problem(
                            &format!("queue.{id}.keys.{k}"),
                            format!("queue `{id}`: `{k}` is not one key (0-9, * or #)"),
                        ));
                        continue;
                    }
                };
                if let Some(e) = exit_at(&format!("keys.{k}"), v, &mut problems) {
                    keys.insert(key, e);
                }
            }
            let wants_callback = [&when_no_agents, &when_max_wait]
                .into_iter()
                .flatten()
                .chain(keys.values())
                .any(|e| *e == Exit::Callback);
            match &def.callback_via {
                Some(d) if !destinations.is_empty() && !destinations.contains(d) => problems.push(problem(
                    &at("callback_via"),
                    format!("queue `{id}`: callback_via = `{d}`, which [sip.destinations] does not define"),
                )),
                None if wants_callback => problems.push(problem(
                    &format!("queue.{id}"),
                    format!("queue `{id}` offers callbacks but has no callback_via (the trunk to call residents through)"),
                )),
                _ => {}
            }
            let hold_music = match &def.hold_music {
                None => Vec::new(),
                Some(dir) => {
                    let dir = if dir.is_absolute() {
                        dir.clone()
                    } else {
                        base.join(dir)
                    };
                    match wav_files(&dir) {
                        Ok(v) if !v.is_empty() => v,
                        Ok(_) => {
                            problems.push(problem(
                                &at("hold_music"),
                                format!("queue `{id}`: no WAV file in {}", dir.display()),
                            ));
                            Vec::new()
                        }
                        Err(e) => {
                            problems.push(problem(
                                &at("hold_music"),
                                format!("queue `{id}`: {}: {e}", dir.display()),
                            ));
                            Vec::new()
                        }
                    }
                }
            };
            let (Some(when_no_agents), Some(when_max_wait)) = (when_no_agents, when_max_wait)
            else {
                continue;
            };
            queues.insert(
                id.clone(),
                Queue {
                    id: id.clone(),
                    name: if def.name.is_empty() {
                        id.clone()
                    } else {
                        def.name.clone()
                    },
                    members,
                    penalty: def.penalty.clone(),
                    strategy: def.strategy,
                    ring_secs: def.ring_secs,
                    wrapup_secs: def.wrapup_secs,
                    max_wait_secs: def.max_wait_secs,
                    max_callers: def.max_callers,
                    announce_every_secs: def.announce_every_secs,
                    hold_music,
                    when_no_agents,
                    when_max_wait,
                    keys,
                    callback_via: def.callback_via.clone(),
                    auto_pause_after: def.auto_pause_after,
                },
            );
        }
        if problems.is_empty() {
            Ok(Queues { queues })
        } else {
            Err(problems)
        }
    }

    pub fn get(&self, id: &str) -> Option<&Queue> {
        self.queues.get(id)
    }
}

fn wav_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        })
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Queues, Vec<QueueProblem>> {
        Queues::parse(t, Path::new("config/queues.toml"), &["trunk".to_string()])
    }

    #[test]
    fn a_queue_with_defaults() {
        let q = parse("[queue.operators]\nmembers = [\"role:operator\", \"ops1\"]\n").unwrap();
        let q = q.get("operators").unwrap();
        assert_eq!(
            q.members,
            vec![
                Member::Role("operator".into()),
                Member::Account("ops1".into())
            ]
        );
        assert_eq!(q.strategy, Strategy::LongestIdle);
        assert_eq!(q.when_no_agents, Exit::Voicemail);
        assert_eq!(q.name, "operators");
    }

    #[test]
    fn problems_name_the_line() {
        let t = "[queue.a]\nmembers = [\"ops1\"]\nwhen_max_wait = \"queue:nowhere\"\nkeys = { \"12\" = \"callback\" }\nwhen_no_agents = \"callback\"\n";
        let p = parse(t).unwrap_err();
        assert!(
            p.iter()
                .any(|p| p.line == Some(3) && p.message.contains("nowhere")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|p| p.line == Some(4) && p.message.contains("`12`")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|p| p.message.contains("callback_via")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|p| p.to_string().starts_with("config/queues.toml:3: ")),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_strategy_is_refused_with_its_line() {
        let p = parse("[queue.a]\nmembers = [\"x\"]\nstrategy = \"random\"\n").unwrap_err();
        assert_eq!(p[0].line, Some(3), "{p:?}");
        assert!(p[0].message.contains("random"), "{p:?}");
    }
}
