//! `do = "queue"`: the caller waits in a call-centre queue for a person (人工服务). They hear
//! the queue's hold music, every `announce_every_secs` their position and expected wait
//! (the `announce` prompts, with `count:ahead` and `count:wait_minutes`), and may press a
//! key (the queue's `keys`) to leave a voice message or be called back instead. When an
//! agent answers, the call is theirs until one side hangs up.
//!
//! ```toml
//! [node.operator]
//! do = "queue"
//! queue = "operators"                  # config/queues.toml
//! prompts = ["transferring"]
//! announce = ["queue_ahead", "count:ahead", "queue_wait", "count:wait_minutes", "queue_minutes", "queue_keys"]
//! on_voicemail = "message"             # the caller chose (or was sent to) a voice message
//! on_callback = "callback_promised"    # "we will call you back", then hang up
//! on_failed = "operators_busy"         # no such queue, or no call centre
//! next = "survey"                      # after the conversation, if the caller is still on
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::acd::{Connected, Exit, JoinRefused};
use crate::media::Prompt;
use crate::sip::CallError;

use super::super::call::CallControl;
use super::super::run::{Run, Step, Stop};
use super::super::validate::Checker;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub queue: String,
    #[serde(default)]
    pub prompts: Vec<String>,
    #[serde(default)]
    pub announce: Vec<String>,
    pub on_voicemail: String,
    pub on_callback: Option<String>,
    pub on_failed: String,
    pub next: Option<String>,
}

impl Queue {
    /// The queue must be one config/queues.toml defines (when the queues are known).
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        let Some(queues) = &ck.ctx.queues else { return };
        if !queues.contains(&self.queue) {
            let node_key = format!("node.{name}");
            ck.problem(
                ck.at(&format!("{node_key}.queue")).or(ck.at(&node_key)),
                format!(
                    "node `{name}` waits in queue `{}`, which the queues file does not define",
                    self.queue
                ),
            );
        }
    }

    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        r.play(&self.prompts, false).await?;
        let (Some(acd), Some(call)) = (r.eng.acd(), r.call.sip_call()) else {
            tracing::warn!(queue = %self.queue, "no call centre for this call");
            return Ok(Step::Goto(self.on_failed));
        };
        // From here the call centre records how the caller left (answered, abandoned …).
        r.trace.served = true;
        let info = serde_json::json!({
            "path": r.trace.nodes,
            "keys": r.trace.digits,
            "vars": r.vars,
        });
        let mut queue_id = self.queue.clone();
        let mut joined_at = None;
        'queues: loop {
            let mut w = match acd
                .join(
                    &queue_id,
                    r.call.caller(),
                    r.record,
                    joined_at,
                    info.clone(),
                )
                .await
            {
                Ok(w) => w,
                Err(JoinRefused::NoSuchQueue | JoinRefused::Storage) => {
                    tracing::warn!(queue = %queue_id, "queue unusable");
                    return Ok(Step::Goto(self.on_failed));
                }
                Err(why) => {
                    let q = acd.queues().get(&queue_id).cloned();
                    let exit = match (&why, q) {
                        (JoinRefused::NoAgents, Some(q)) => q.when_no_agents,
                        (_, Some(q)) => q.when_max_wait,
                        (_, None) => Exit::Voicemail,
                    };
                    tracing::info!(queue = %queue_id, why = why.as_str(), to = %exit.label(), "caller not queued");
                    match exit {
                        Exit::Queue(next) => {
                            queue_id = next;
                            continue 'queues;
                        }
                        Exit::Callback => match acd
                            .owe_callback(&queue_id, r.call.caller(), r.record, info.clone())
                            .await
                        {
                            true => return Ok(self.callback_step()),
                            false => return Ok(Step::Goto(self.on_voicemail)),
                        },
                        Exit::Voicemail => return Ok(Step::Goto(self.on_voicemail)),
                    }
                }
            };
            let q = w.queue().clone();
            let music = acd.hold_music(&q.id);
            let mut music_at = 0usize;
            let every = Duration::from_secs(q.announce_every_secs.max(5));
            let mut announce_at = tokio::time::Instant::now() + every.min(Duration::from_secs(10));
            let give_up_at = tokio::time::Instant::now()
                + Duration::from_secs(q.max_wait_secs)
                    .saturating_sub(Duration::from_millis(w.waited_ms()));
            // The position announcement plays in the music's place, so an offer cuts it
            // short: an agent freed meanwhile rings at once, not when the announcement ends.
            let mut announcement: VecDeque<Arc<Prompt>> = VecDeque::new();
            let leave = loop {
                // What it played: the announcement's next piece (true) or the music.
                let music_now = async {
                    if let Some(p) = announcement.front() {
                        let _ = r.call.play(p, false).await;
                        return true;
                    }
                    if music.is_empty() {
                        std::future::pending::<()>().await;
                    }
                    let _ = r.call.play(&music[music_at % music.len()], false).await;
                    false
                };
                tokio::select! {
                    offer = w.offer() => {
                        // The console's new-ticket form offers the number of a caller
                        // connected to an operator.
                        r.eng.set_bridged(r.call.id(), r.call.caller(), true);
                        // Ringback replaced it; a position said after it would be stale.
                        announcement.clear();
                        let connected = w.connect(offer, call).await;
                        r.eng.set_bridged(r.call.id(), r.call.caller(), false);
                        match connected {
                            Connected::NotAnswered => continue,
                            Connected::CallerGone => return Err(CallError::Hungup.into()),
                            Connected::Ended(side) => {
                                return Ok(match (&self.next, r.call.is_ended()) {
                                    (Some(n), false) => Step::Goto(n.clone()),
                                    _ => {
                                        r.trace.hangup = Some(side);
                                        Step::End("answered")
                                    }
                                })
                            }
                            Connected::AgentLost => {
                                // Back in line ahead of everyone who came later.
                                joined_at = Some(w.joined_at());
                                drop(w);
                                continue 'queues;
                            }
                            Connected::ToQueue(next) => {
                                drop(w);
                                queue_id = next;
                                joined_at = None;
                                continue 'queues;
                            }
                        }
                    }
                    announced = music_now => {
                        if announced {
                            announcement.pop_front();
                        } else {
                            music_at = music_at.wrapping_add(1);
                        }
                    }
                    d = r.call.next_digit(Duration::from_secs(3600)) => {
                        if let Some(d) = d? {
                            // A key cuts the announcement short (barge-in).
                            announcement.clear();
                            r.trace.digits.push(d);
                            if let Some(exit) = q.keys.get(&d) {
                                break (exit.clone(), "key");
                            }
                        }
                    }
                    _ = tokio::time::sleep_until(announce_at) => {
                        announce_at = tokio::time::Instant::now() + every;
                        let (ahead, wait_secs) = w.position();
                        r.vars.insert("ahead".into(), ahead.to_string());
                        r.vars.insert("wait_minutes".into(), wait_secs.div_ceil(60).max(1).to_string());
                        announcement = r.prompts(&self.announce).into();
                    }
                    _ = tokio::time::sleep_until(give_up_at) => {
                        break (q.when_max_wait.clone(), "max_wait");
                    }
                }
            };
            call.media().stop_audio();
            let (exit, reason) = leave;
            let waited_since = w.joined_at();
            w.leave(reason, &exit, r.call.caller()).await;
            match exit {
                Exit::Voicemail => return Ok(Step::Goto(self.on_voicemail)),
                Exit::Callback => return Ok(self.callback_step()),
                Exit::Queue(next) => {
                    queue_id = next;
                    joined_at = Some(waited_since);
                }
            }
        }
    }

    fn callback_step(&self) -> Step {
        match &self.on_callback {
            Some(n) => Step::Goto(n.clone()),
            None => Step::End("callback"),
        }
    }
}
