//! `do = "listen"`: the open question of a speak-first menu (智能语音导航): "请直接说出您的
//! 诉求，查询工单请按1，人工服务请按0". The caller may press a key, say a command, or just
//! tell their story. Words that are no command are the message itself, kept from the first
//! syllable (the tape's pre-roll), and the call goes straight on recording the rest: nobody
//! is asked again what they already said.
//!
//! ```toml
//! [node.open]
//! do = "listen"
//! prompts = ["open"]
//! phrases = { "查询进度" = "status_number", "人工服务" = "operator", "operator" = "operator" }
//! choices = { "1" = "status_number" }
//! into = "message"          # the message's WAV, as `record` sets it
//! next = "create"           # the message was taken
//! on_timeout = "goodbye"    # nothing said or pressed
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::media::{RecordEnd, RecordOptions, UtteranceEnd};
use crate::sip::CallError;

use super::super::call::{CallControl, Input};
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Spoken command → node. Mandarin phrases match at pinyin level; English phrases
    /// match English speech.
    #[serde(default)]
    pub phrases: BTreeMap<String, String>,
    /// Key → node.
    #[serde(default)]
    pub choices: BTreeMap<String, String>,
    /// How long the line waits after the prompt for a word or a key.
    #[serde(default = "super::five")]
    pub timeout_secs: u64,
    /// How often the prompt is played again to a caller who said nothing (or too little
    /// to be a message, or pressed a wrong key).
    #[serde(default = "one")]
    pub retries: u32,
    #[serde(default)]
    pub invalid_prompts: Vec<String>,
    /// Words going on longer than this are never a command: the caller is telling their
    /// story, and is not interrupted to be understood.
    #[serde(default = "four")]
    pub command_secs: u64,
    /// The variable that receives the message's WAV path (and `<into>_secs`).
    pub into: String,
    /// Longest message.
    #[serde(default = "super::sixty")]
    pub max_secs: u64,
    /// Silence after the last word that ends the message.
    #[serde(default = "super::three")]
    pub silence_secs: u64,
    /// Where the call goes with the message taken (create the ticket).
    pub next: String,
    /// Nothing said or pressed, after the retries.
    pub on_timeout: String,
    /// A key that is no choice, after the retries (default: `on_timeout`).
    #[serde(default)]
    pub on_invalid: Option<String>,
}

fn one() -> u32 {
    1
}
fn four() -> u64 {
    4
}

/// The pause that ends a command ("人工服务" …).
const COMMAND_PAUSE: Duration = Duration::from_millis(1200);

impl Listen {
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        super::check_choices(name, &self.choices, ck);
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        let phrase_list: Vec<String> = self.phrases.keys().cloned().collect();
        let mut tries = 0;
        let mut prompts = self.prompts.clone();
        loop {
            // Words begun during an earlier prompt are heard first; then a key typed ahead.
            let input = if std::mem::take(&mut r.speaking) {
                Some(Input::Speech)
            } else if let Some(d) = r.pending.pop_front() {
                Some(Input::Key(d))
            } else {
                match r.play_heard(&prompts).await? {
                    Some(i) => Some(i),
                    None => r.input(Duration::from_secs(self.timeout_secs)).await?,
                }
            };
            prompts = self.invalid_prompts.clone();
            prompts.extend(self.prompts.iter().cloned());
            match input {
                None => {
                    tries += 1;
                    if tries > self.retries {
                        return Ok(Step::Goto(self.on_timeout));
                    }
                }
                Some(Input::Key(d)) => {
                    r.trace.digits.push(d);
                    if let Some(s) = r.operator(d) {
                        return Ok(s);
                    }
                    if let Some(n) = self.choices.get(&d.to_string()) {
                        return Ok(Step::Goto(n.clone()));
                    }
                    tries += 1;
                    if tries > self.retries {
                        let to = self.on_invalid.unwrap_or(self.on_timeout);
                        return Ok(Step::Goto(to));
                    }
                }
                Some(Input::Speech) => {
                    if let Some(step) = self.hear(r, &phrase_list).await? {
                        return Ok(step);
                    }
                    // Too little to be a message: ask again.
                    tries += 1;
                    if tries > self.retries {
                        return Ok(Step::Goto(self.on_timeout));
                    }
                }
            }
        }
    }

    /// The caller is speaking: a command, or the message. `None` when it was only a sound.
    async fn hear<C: CallControl>(
        &self,
        r: &mut Run<'_, C>,
        phrases: &[String],
    ) -> Result<Option<Step>, Stop> {
        let u = r
            .call
            .utterance(COMMAND_PAUSE, Duration::from_secs(self.command_secs))
            .await;
        if u.ended_by == UtteranceEnd::SessionEnded {
            // The run keeps what was said (a ticket) when the caller is gone.
            return Err(CallError::Hungup.into());
        }
        let short = matches!(u.ended_by, UtteranceEnd::Pause | UtteranceEnd::Hash);
        let speech = r.eng.speech.clone().filter(|s| s.available());
        let opts = RecordOptions {
            max: Duration::from_secs(self.max_secs.max(1)),
            silence_end: Some(Duration::from_secs(self.silence_secs.max(1))),
            stop_on_hash: true,
        };
        let rec = match (short, speech) {
            // A few words: a command, or the start of the message.
            (true, Some(speech)) => {
                let heard = speech.understand(u.pcm, phrases.to_vec()).await;
                set_language(r, heard.language).await;
                if let Some(i) = heard.choice {
                    let phrase = &phrases[i];
                    tracing::info!(phrase = %phrase, "speech command");
                    r.call.discard_speech();
                    return Ok(Some(Step::Goto(self.phrases[phrase].clone())));
                }
                r.call.finish_speech(opts).await
            }
            // A story: no command, but its first seconds tell the language while the
            // caller goes on (the rest of the call answers in it).
            (false, Some(speech)) => {
                let (heard, rec) = tokio::join!(
                    speech.understand(u.pcm, Vec::new()),
                    r.call.finish_speech(opts)
                );
                set_language(r, heard.language).await;
                rec
            }
            (_, None) => r.call.finish_speech(opts).await,
        };
        // The message, kept from the first syllable.
        let Some(rec) = rec else {
            return Ok(None);
        };
        let hung_up = rec.ended_by == RecordEnd::SessionEnded || r.call.is_ended();
        if rec.voiced < r.min_message() {
            tracing::info!(
                voiced_ms = rec.voiced.as_millis() as u64,
                "a few sounds, not a message"
            );
            if hung_up {
                return Err(CallError::Hungup.into());
            }
            return Ok(None);
        }
        r.keep_message(&self.into, &rec, hung_up).await?;
        Ok(Some(Step::Goto(self.next.clone())))
    }
}

/// The caller's language, when it is one the dialplan speaks: the prompts from now on are
/// in it, and the call's record says so.
async fn set_language<C: CallControl>(r: &mut Run<'_, C>, lang: Option<String>) {
    let Some(lang) = lang else { return };
    if !r.plan.def.dialplan.languages.contains(&lang) {
        return;
    }
    r.caller_language = Some(lang.clone());
    if r.vars.get("language") == Some(&lang) {
        return;
    }
    tracing::info!(language = %lang, "the caller's language");
    r.vars.insert("language".into(), lang.clone());
    r.event(crate::calls::CallEvent::Language { language: lang })
        .await;
}
