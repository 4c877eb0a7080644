//! `do = "gather"`: collect several digits into a variable, ended by a terminator key, the
//! maximum length or a pause; too few digits ask again.

use std::time::Duration;

use serde::Deserialize;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};
use super::super::validate::{is_key, Checker};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    pub prompts: Vec<String>,
    pub into: String,
    #[serde(default = "super::one")]
    pub min_digits: usize,
    #[serde(default = "super::twenty")]
    pub max_digits: usize,
    #[serde(default)]
    pub terminator: Option<String>,
    #[serde(default = "super::five")]
    pub first_timeout_secs: u64,
    #[serde(default = "super::five")]
    pub between_timeout_secs: u64,
    #[serde(default = "super::two")]
    pub retries: u32,
    /// Whether the operator key leaves this node (off when 0 is a valid first digit).
    #[serde(default = "super::yes")]
    pub operator: bool,
    pub next: String,
    #[serde(default)]
    pub invalid_prompts: Vec<String>,
    pub on_timeout: Option<String>,
    /// Fewer than `min_digits`, after the retries; defaults to `on_timeout`.
    pub on_invalid: Option<String>,
}

impl Gather {
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        super::check_timeout(name, &self.on_timeout, ck);
        let node_key = format!("node.{name}");
        if let Some(t) = &self.terminator {
            if !is_key(t) {
                ck.problem(
                    ck.at(&format!("{node_key}.terminator")),
                    format!("terminator `{t}` is not a phone key"),
                );
            }
            if self.min_digits > self.max_digits {
                ck.problem(
                    ck.at(&node_key),
                    format!("node `{name}`: min_digits is larger than max_digits"),
                );
            }
        }
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let (op_key, op_node) = match self.operator {
            true => (
                r.plan.def.dialplan.operator_key.clone(),
                r.plan.def.dialplan.operator_node.clone(),
            ),
            false => (None, None),
        };
        let op = |d: char| match (&op_key, &op_node) {
            (Some(k), Some(n)) if k.starts_with(d) => Some(Step::Goto(n.clone())),
            _ => None,
        };
        let term = self.terminator.as_deref().and_then(|t| t.chars().next());
        let mut last_invalid = false;
        for attempt in 0..=self.retries {
            let first = match r.pending.pop_front() {
                Some(d) => Some(d),
                None => r.play(&self.prompts, true).await?,
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
            while !terminated && got.len() < self.max_digits {
                if let Some(d) = r.pending.pop_front() {
                    if Some(d) == term {
                        terminated = true;
                    } else {
                        got.push(d);
                    }
                    continue;
                }
                let wait = if got.is_empty() {
                    self.first_timeout_secs
                } else {
                    self.between_timeout_secs
                };
                match r.digit(Duration::from_secs(wait)).await? {
                    Some(d) if Some(d) == term => terminated = true,
                    Some(d) if got.is_empty() && op(d).is_some() => {
                        return Ok(op(d).unwrap_or(Step::End("operator")));
                    }
                    Some(d) => got.push(d),
                    None => break,
                }
            }
            r.trace.digits.push_str(&got);
            if got.is_empty() && !terminated {
                last_invalid = false;
                continue;
            }
            if got.len() >= self.min_digits {
                r.vars.insert(self.into, got);
                return Ok(Step::Goto(self.next));
            }
            last_invalid = true;
            if attempt < self.retries {
                r.play(&self.invalid_prompts, true).await?;
            }
        }
        Ok(r.after_retries(last_invalid, self.on_timeout, self.on_invalid))
    }
}
