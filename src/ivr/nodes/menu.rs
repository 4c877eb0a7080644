//! `do = "menu"`: play prompts and wait for one key; a wrong key or silence asks again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub prompts: Vec<String>,
    pub choices: BTreeMap<String, String>,
    #[serde(default = "super::five")]
    pub timeout_secs: u64,
    /// How often a wrong key is asked again.
    #[serde(default = "super::two")]
    pub retries: u32,
    /// How often silence is asked again; defaults to `retries`.
    #[serde(default)]
    pub timeout_retries: Option<u32>,
    /// Played after a wrong key, before asking again.
    #[serde(default)]
    pub invalid_prompts: Vec<String>,
    /// Nothing pressed, after the retries.
    pub on_timeout: Option<String>,
    /// A wrong answer, after the retries; defaults to `on_timeout`.
    pub on_invalid: Option<String>,
}

impl Menu {
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        super::check_timeout(name, &self.on_timeout, ck);
        super::check_choices(name, &self.choices, ck);
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let (mut wrong, mut silent) = (0, 0);
        let mut next_key = r.pending.pop_front();
        loop {
            let pressed = match next_key.take() {
                Some(d) => Some(d),
                None => match r.play_keys(&self.prompts).await? {
                    Some(d) => Some(d),
                    None => r.key(Duration::from_secs(self.timeout_secs)).await?,
                },
            };
            let Some(d) = pressed else {
                silent += 1;
                if silent > self.timeout_retries.unwrap_or(self.retries) {
                    return Ok(r.after_retries(false, self.on_timeout, self.on_invalid));
                }
                continue;
            };
            r.trace.digits.push(d);
            if let Some(s) = r.operator(d) {
                return Ok(s);
            }
            if let Some(next) = self.choices.get(&d.to_string()) {
                return Ok(Step::Goto(next.clone()));
            }
            wrong += 1;
            if wrong > self.retries {
                return Ok(r.after_retries(true, self.on_timeout, self.on_invalid));
            }
            next_key = r.play_keys(&self.invalid_prompts).await?;
        }
    }
}
