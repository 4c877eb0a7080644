//! `hotline check` for dialplans: every mistake a caller would otherwise hear, reported with
//! file, line and a plain sentence, before the file is used. What only one kind of node
//! needs checked is in that node's file under `nodes/`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::tickets::State;
use crate::tomlpos::{line_of, locate};

use super::format::{DialplanFile, Node, PromptDef};

/// One problem in a dialplan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// What a dialplan may refer to outside itself.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Prompts every dialplan can use (the shared catalog: digits, dates, states …).
    pub shared_prompts: BTreeMap<String, PromptDef>,
    /// `[sip.destinations]` names.
    pub destinations: BTreeSet<String>,
    /// Queue names (config/queues.toml); `None` when they are not known.
    pub queues: Option<BTreeSet<String>>,
    /// Where prompt files are looked up.
    pub prompt_dir: PathBuf,
}

/// Pieces built at run time from a variable: `digits:VAR`, `date:VAR`, `state:VAR`,
/// `department:VAR`, `count:VAR` (a number read as one: 十二), `speak:VAR` (a text spoken
/// for this call alone, such as a survey call's answer; skipped when nothing was spoken).
pub const PIECE_KINDS: &[&str] = &["digits", "date", "state", "department", "count", "speak"];

/// The shared catalog must hold every piece the run-time readers can ask for.
pub fn required_pieces() -> Vec<String> {
    let mut v: Vec<String> = (0..10).map(|d| format!("digit_{d}")).collect();
    v.extend(["ten".to_string(), "hundred".to_string()]);
    v.extend((1..=12).map(|m| format!("month_{m}")));
    v.extend((1..=31).map(|d| format!("day_{d}")));
    v.extend(State::ALL.iter().map(|s| format!("state_{}", s.code())));
    v
}

/// The problems found so far in one dialplan, and what checks need to look at.
pub(super) struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    pub(super) plan: &'a DialplanFile,
    pub(super) ctx: &'a Context,
    out: Vec<Problem>,
}

impl Checker<'_> {
    /// The line of a dotted key in the file, if it is written there.
    pub(super) fn at(&self, key: &str) -> Option<usize> {
        locate(self.text, key)
    }

    pub(super) fn problem(&mut self, line: Option<usize>, message: String) {
        self.out.push(Problem {
            file: self.file.to_path_buf(),
            line,
            message,
        });
    }
}

/// Parses and checks one dialplan; returns it when there is no problem.
pub fn check(file: &Path, text: &str, ctx: &Context) -> Result<DialplanFile, Vec<Problem>> {
    let plan: DialplanFile = match toml::from_str(text) {
        Ok(p) => p,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            return Err(vec![Problem {
                file: file.to_path_buf(),
                line,
                message: format!("cannot read this dialplan: {}", e.message()),
            }]);
        }
    };
    let mut ck = Checker {
        file,
        text,
        plan: &plan,
        ctx,
        out: Vec::new(),
    };
    let nodes = &plan.node;
    let exists = |n: &str| nodes.contains_key(n);

    if !exists(&plan.dialplan.start) {
        ck.problem(
            ck.at("dialplan.start"),
            format!("the start node `{}` does not exist", plan.dialplan.start),
        );
    }
    match (&plan.dialplan.operator_key, &plan.dialplan.operator_node) {
        (Some(k), Some(n)) => {
            if !is_key(k) {
                ck.problem(
                    ck.at("dialplan.operator_key"),
                    format!("operator_key `{k}` is not a phone key (0-9, * or #)"),
                );
            }
            if !exists(n) {
                ck.problem(
                    ck.at("dialplan.operator_node"),
                    format!("the operator node `{n}` does not exist"),
                );
            }
        }
        (Some(_), None) => ck.problem(
            ck.at("dialplan.operator_key"),
            "operator_key is set but operator_node is not: where should the caller go?".into(),
        ),
        _ => {}
    }

    if let Some(n) = &plan.dialplan.speech_node {
        match nodes.get(n) {
            Some(Node::Listen(_)) => {}
            Some(other) => ck.problem(
                ck.at("dialplan.speech_node"),
                format!(
                    "the speech node `{n}` is a `{}` node; it must be a `listen` node to hear what the caller says",
                    other.kind()
                ),
            ),
            None => ck.problem(
                ck.at("dialplan.speech_node"),
                format!("the speech node `{n}` does not exist"),
            ),
        }
    }

    // Prompts: each needs a file or a text in every language.
    for (name, p) in &plan.prompts {
        let line = ck.at(&format!("prompts.{name}"));
        check_prompt(
            name,
            p,
            &plan.dialplan.languages,
            ctx,
            line,
            &mut ck.out,
            file,
        );
    }

    for (name, node) in nodes {
        let node_key = format!("node.{name}");
        for (key, target) in node.targets() {
            if !exists(&target) {
                ck.problem(
                    ck.at(&format!("{node_key}.{key}")).or(ck.at(&node_key)),
                    format!("node `{name}` sends the caller ({key}) to `{target}`, which does not exist"),
                );
            }
        }
        for p in node.prompts() {
            let line = ck.at(&format!("{node_key}.prompts")).or(ck.at(&node_key));
            if let Some((kind, var)) = p.split_once(':') {
                if !PIECE_KINDS.contains(&kind) || var.is_empty() {
                    ck.problem(
                        line,
                        format!(
                            "node `{name}` plays `{p}`: pieces are {} followed by `:VARIABLE`",
                            PIECE_KINDS.join(", ")
                        ),
                    );
                }
            } else if !plan.prompts.contains_key(p) && !ctx.shared_prompts.contains_key(p) {
                ck.problem(
                    line,
                    format!("node `{name}` plays prompt `{p}`, which is not in [prompts] or the shared catalog"),
                );
            }
        }
        node.check(name, &mut ck);
    }

    // Reachability from the start (and the operator node, reachable from any prompt).
    let mut seen = HashSet::new();
    let mut todo: Vec<String> = vec![plan.dialplan.start.clone()];
    todo.extend(plan.dialplan.operator_node.clone());
    todo.extend(plan.dialplan.speech_node.clone());
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(node) = nodes.get(&n) {
            todo.extend(node.targets().into_iter().map(|(_, t)| t));
        }
    }
    for name in nodes.keys() {
        if !seen.contains(name) {
            ck.problem(
                ck.at(&format!("node.{name}")),
                format!("node `{name}` can never be reached from the start node"),
            );
        }
    }

    // Loops a caller can never leave: a cycle with no way out and nowhere to press a key.
    let operator = plan.dialplan.operator_key.is_some();
    for scc in cycles(nodes) {
        let leaves = scc
            .iter()
            .any(|n| nodes[n].targets().iter().any(|(_, t)| !scc.contains(t)));
        let can_act = operator && scc.iter().any(|n| nodes[n].waits_for_caller());
        if !leaves && !can_act {
            let first = scc.iter().next().cloned().unwrap_or_default();
            ck.problem(
                ck.at(&format!("node.{first}")),
                format!(
                    "nodes {} form a loop a caller can never leave (no exit and no key to press)",
                    scc.iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    let mut out = ck.out;
    if out.is_empty() {
        Ok(plan)
    } else {
        out.sort_by_key(|p| p.line.unwrap_or(0));
        Err(out)
    }
}

fn check_prompt(
    name: &str,
    p: &PromptDef,
    languages: &[String],
    ctx: &Context,
    line: Option<usize>,
    out: &mut Vec<Problem>,
    file: &Path,
) {
    let problem = |message: String| Problem {
        file: file.to_path_buf(),
        line,
        message,
    };
    match &p.file {
        Some(f) => {
            let path = ctx.prompt_dir.join(f);
            if !path.exists() {
                out.push(problem(format!(
                    "prompt `{name}` plays file {}, which does not exist",
                    path.display()
                )));
            } else if let Err(e) = crate::media::Prompt::load(&path) {
                out.push(problem(format!("prompt `{name}`: {e}")));
            }
        }
        None => {
            let missing: Vec<&str> = languages
                .iter()
                .map(String::as_str)
                .filter(|l| p.text(l).is_none_or(|t| t.trim().is_empty()))
                .collect();
            if missing.len() == languages.len() {
                out.push(problem(format!(
                    "prompt `{name}` has neither a file nor a text"
                )));
            } else if !missing.is_empty() {
                out.push(problem(format!(
                    "prompt `{name}` has no {} translation",
                    missing.join(", ")
                )));
            }
        }
    }
}

/// A single phone key: 0-9, * or #.
pub(super) fn is_key(k: &str) -> bool {
    k.len() == 1 && matches!(k.as_bytes()[0], b'0'..=b'9' | b'*' | b'#')
}

/// Strongly connected components that contain a cycle (Tarjan).
fn cycles(nodes: &BTreeMap<String, Node>) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        nodes: &'a BTreeMap<String, Node>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: HashSet<&'a str>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let targets: Vec<&'a str> = match t.nodes.get_key_value(v) {
            Some((_, n)) => n
                .targets()
                .into_iter()
                .filter_map(|(_, w)| t.nodes.get_key_value(w.as_str()).map(|(k, _)| k.as_str()))
                .collect(),
            None => vec![],
        };
        let self_loop = targets.contains(&v);
        for w in targets {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 || self_loop {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        nodes,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: vec![],
        on: HashSet::new(),
        next: 0,
        out: vec![],
    };
    for k in nodes.keys() {
        if !t.index.contains_key(k.as_str()) {
            visit(&mut t, k.as_str());
        }
    }
    t.out
}
