//! `do = "gather_speech"`: a question answered by a few words (matched against phrases by
//! the speech model) or by a key; without a model only keys work.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::media::RecordOptions;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatherSpeech {
    pub prompts: Vec<String>,
    /// Spoken phrase → node.
    pub phrases: BTreeMap<String, String>,
    /// Key → node, when speech is unavailable or not understood.
    pub choices: BTreeMap<String, String>,
    #[serde(default = "super::five")]
    pub timeout_secs: u64,
    /// How often a wrong answer is asked again.
    #[serde(default = "super::two")]
    pub retries: u32,
    /// How often silence is asked again; defaults to `retries`.
    #[serde(default)]
    pub timeout_retries: Option<u32>,
    #[serde(default)]
    pub invalid_prompts: Vec<String>,
    pub on_timeout: Option<String>,
    pub on_invalid: Option<String>,
    /// Speech that matches no phrase (someone already telling their story); when absent
    /// it counts as a wrong answer.
    #[serde(default)]
    pub on_unrecognized: Option<String>,
}

/// What a caller gave to a question asked by voice or keys.
enum Answer {
    Key(char),
    Phrase(usize),
    NotUnderstood,
    Nothing,
}

impl GatherSpeech {
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        super::check_timeout(name, &self.on_timeout, ck);
        super::check_choices(name, &self.choices, ck);
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let speech = r.eng.speech.clone().filter(|s| s.available());
        let phrase_list: Vec<String> = self.phrases.keys().cloned().collect();
        let (mut wrong, mut silent) = (0, 0);
        let mut next_key = r.pending.pop_front();
        loop {
            let key = match next_key.take() {
                Some(d) => Some(d),
                None => r.play_keys(&self.prompts).await?,
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
                    let rec = r.call.record(opts).await?;
                    // The answer is handled here; the tape must not offer it again.
                    r.call.discard_speech();
                    if !rec.heard_voice {
                        Answer::Nothing
                    } else {
                        match speech.choose(rec.pcm, phrase_list.clone()).await {
                            Some(i) => Answer::Phrase(i),
                            None => Answer::NotUnderstood,
                        }
                    }
                }
                (None, None) => match r.digit(Duration::from_secs(self.timeout_secs)).await? {
                    Some(d) => Answer::Key(d),
                    None => Answer::Nothing,
                },
            };
            match answer {
                Answer::Key(d) => {
                    r.trace.digits.push(d);
                    if let Some(s) = r.operator(d) {
                        return Ok(s);
                    }
                    if let Some(n) = self.choices.get(&d.to_string()) {
                        return Ok(Step::Goto(n.clone()));
                    }
                }
                Answer::Phrase(i) => {
                    let phrase = &phrase_list[i];
                    tracing::info!(phrase = %phrase, "speech choice");
                    return Ok(Step::Goto(self.phrases[phrase].clone()));
                }
                Answer::Nothing => {
                    silent += 1;
                    if silent > self.timeout_retries.unwrap_or(self.retries) {
                        return Ok(r.after_retries(false, self.on_timeout, self.on_invalid));
                    }
                    continue;
                }
                Answer::NotUnderstood => {
                    if let Some(n) = &self.on_unrecognized {
                        return Ok(Step::Goto(n.clone()));
                    }
                }
            }
            wrong += 1;
            if wrong > self.retries {
                return Ok(r.after_retries(true, self.on_timeout, self.on_invalid));
            }
            next_key = r.play_keys(&self.invalid_prompts).await?;
        }
    }
}
