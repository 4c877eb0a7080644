//! `do = "record"`: record a voice message into a variable (the path of a WAV file), with an
//! optional "1 keeps, 2 records again". A caller who hangs up after speaking has still left
//! a message, so the next node (creating the ticket) runs.

use std::time::Duration;

use serde::Deserialize;

use crate::media::RecordOptions;
use crate::sip::CallError;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[serde(default)]
    pub prompts: Vec<String>,
    pub into: String,
    #[serde(default = "super::sixty")]
    pub max_secs: u64,
    #[serde(default = "super::three")]
    pub silence_secs: u64,
    /// After recording: play `confirm_prompts`; 1 keeps, 2 records again.
    #[serde(default)]
    pub confirm_prompts: Vec<String>,
    pub next: String,
    /// Nothing but silence was heard.
    pub on_empty: Option<String>,
}

impl Record {
    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        for _take in 0..3 {
            if let Some(d) = r.play_keys(&self.prompts).await? {
                if let Some(s) = r.operator(d) {
                    r.trace.digits.push(d);
                    return Ok(s);
                }
            }
            let opts = RecordOptions {
                max: Duration::from_secs(self.max_secs.max(1)),
                silence_end: (self.silence_secs > 0)
                    .then(|| Duration::from_secs(self.silence_secs)),
                stop_on_hash: true,
            };
            let rec = r.call.record(opts).await?;
            // The message is this recording; the tape must not keep it a second time.
            r.call.discard_speech();
            let hung_up = r.call.is_ended();
            if !rec.heard_voice {
                if hung_up {
                    return Err(CallError::Hungup.into());
                }
                return Ok(match self.on_empty {
                    Some(n) => Step::Goto(n),
                    None => Step::Goto(self.next),
                });
            }
            r.keep_message(&self.into, &rec, hung_up).await?;
            if hung_up || self.confirm_prompts.is_empty() {
                return Ok(Step::Goto(self.next));
            }
            let choice = match r.play(&self.confirm_prompts, true).await? {
                Some(d) => Some(d),
                None => r.digit(Duration::from_secs(5)).await?,
            };
            if choice != Some('2') {
                return Ok(Step::Goto(self.next));
            }
        }
        Ok(Step::Goto(self.next))
    }
}
