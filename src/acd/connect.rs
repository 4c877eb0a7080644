//! Connecting a waiting caller to an agent: ring the offered agents' phones (several at
//! once for ring-all; the first to answer takes the call, the others stop ringing), then
//! the conversation, bridged through our media so it can be held, transferred and
//! recorded. Every ring and its result goes into the call's record.
//!
//! ```text
//! caller ──(ringback)── hotline ── INVITE ──▶ agent phone(s)
//!                                ◀── 200 ─── first to answer; CANCEL to the others
//! caller ◀══════ media bridged ═════▶ agent     hold: caller hears music, agent silence
//! ```

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::agent::CallStep;
use super::softphone::AgentLeg;
use super::waiting::{Offer, Waiting};
use super::{Acd, Queue};
use crate::calls::{CallEvent, CallRecordId, HangupSide, RingResult};
use crate::media::{self, Prompt};
use crate::sip::{self, BridgeOutcome, OutboundLeg};
use crate::store::objects::{Folder, ObjectKey, Recordings};

/// One side of a conversation with an agent: the caller on an incoming call, or the
/// resident reached by a callback.
#[async_trait::async_trait]
pub(crate) trait Party: Sync {
    fn media(&self) -> &media::MediaSession;
    async fn ended(&self);
    fn is_ended(&self) -> bool;
    fn number(&self) -> &str;
}

#[async_trait::async_trait]
impl Party for sip::Call {
    fn media(&self) -> &media::MediaSession {
        sip::Call::media(self)
    }
    async fn ended(&self) {
        sip::Call::ended(self).await
    }
    fn is_ended(&self) -> bool {
        sip::Call::is_ended(self)
    }
    fn number(&self) -> &str {
        self.caller()
    }
}

/// A resident called back, with the number dialled.
pub(crate) struct Resident<'a> {
    pub leg: &'a OutboundLeg,
    pub number: &'a str,
}

#[async_trait::async_trait]
impl Party for Resident<'_> {
    fn media(&self) -> &media::MediaSession {
        self.leg.media()
    }
    async fn ended(&self) {
        self.leg.ended().await
    }
    fn is_ended(&self) -> bool {
        self.leg.is_ended()
    }
    fn number(&self) -> &str {
        self.number
    }
}

/// Where an agent sends a caller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TransferTarget {
    /// Back in line in another queue (keeping nothing of the wait: a new entry).
    Queue(String),
    /// Straight to another agent's phone.
    Agent(String),
    /// A `[sip.destinations]` entry: a department's number, a trunk.
    Destination(String),
}

/// What the agent desk can do with a conversation in progress. Serialised when the desk is
/// on another node than the call (`shared`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Control {
    /// Caller on hold (hears music) or back.
    Hold(bool),
    /// Blind transfer: the agent leaves, the caller goes on to the target.
    Transfer(TransferTarget),
    /// The agent ends the call.
    Hangup,
    /// A supervisor joins the call from their phone (rung now), or changes how.
    Monitor {
        supervisor: String,
        mode: media::MonitorMode,
    },
    /// The supervisor leaves.
    StopMonitor,
}

/// How connecting a caller ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connected {
    /// Nobody offered answered; the caller keeps waiting at their place.
    NotAnswered,
    /// The conversation took place and is over; `side` hung up.
    Ended(HangupSide),
    /// The agent sent the caller to another queue.
    ToQueue(String),
    /// The caller hung up while agents rang.
    CallerGone,
    /// The agent's browser went away mid-call (tab closed, network gone): the caller is
    /// owed another agent, ahead of those who came later.
    AgentLost,
}

impl Waiting {
    /// Rings the offered agents for this caller and, when one answers, holds the
    /// conversation until it ends. The caller hears ringback meanwhile.
    pub async fn connect(&mut self, offer: Offer, call: &sip::Call) -> Connected {
        let acd = self.acd().clone();
        let queue = self.queue().clone();
        let record = self.call_record();
        call.media().start_ringback();
        let (winner, caller_gone) =
            ring_agents(&acd, &queue, record, &offer, call.caller(), call.ended()).await;
        let Some((agent, leg)) = winner else {
            call.media().stop_audio();
            acd.ringing_over(offer.entry);
            return if caller_gone || call.is_ended() {
                Connected::CallerGone
            } else {
                Connected::NotAnswered
            };
        };
        let wait_ms = self.waited_ms();
        self.connected().await;
        if let Some(r) = record {
            acd.record(
                r,
                CallEvent::AgentAnswered {
                    queue: queue.id.clone(),
                    agent: agent.clone(),
                    wait_ms,
                },
            )
            .await;
        }
        tracing::info!(%agent, wait_ms, "caller connected to an agent");
        conversation(&acd, &queue, record, call, agent, leg).await
    }
}

/// Rings the offered agents' phones or browsers at once (one, or several for ring-all)
/// showing `from` as the caller; the first to answer wins and the others stop ringing.
/// Every ring is recorded and moves its agent's state. Returns the winner, and whether
/// `gone` fired first.
pub(crate) async fn ring_agents(
    acd: &Acd,
    queue: &Queue,
    record: Option<CallRecordId>,
    offer: &Offer,
    from: &str,
    gone: impl std::future::Future<Output = ()>,
) -> (Option<(String, AgentLeg)>, bool) {
    let stop = CancellationToken::new();
    let ring = Duration::from_secs(offer.ring_secs);
    let started = Instant::now();
    let mut rings: FuturesUnordered<_> = offer
        .agents
        .iter()
        .enumerate()
        .map(|(i, agent)| {
            let (acd, stop, agent) = (acd.clone(), stop.child_token(), agent.clone());
            let from = from.to_string();
            let free_at = offer.free_at.get(i).copied();
            async move {
                let r = acd
                    .ring_agent(&agent, &from, ring, &stop, || {
                        if let Some(t) = free_at {
                            let ms = (crate::store::now_ms() - t).max(0);
                            metrics::histogram!("hotline_acd_offer_seconds")
                                .record(ms as f64 / 1000.0);
                        }
                    })
                    .await;
                (agent, r)
            }
        })
        .collect();
    let mut winner: Option<(String, AgentLeg)> = None;
    let mut caller_gone = false;
    tokio::pin!(gone);
    loop {
        tokio::select! {
            next = rings.next() => {
                let Some((agent, result)) = next else { break };
                let ring_ms = started.elapsed().as_millis() as u64;
                let result = match result {
                    Ok(leg) if winner.is_none() && !caller_gone => {
                        stop.cancel();
                        winner = Some((agent.clone(), leg));
                        RingResult::Answered
                    }
                    // Answered a moment after another agent (or after the caller left).
                    Ok(leg) => {
                        leg.hangup().await;
                        RingResult::Cancelled
                    }
                    Err(_) if stop.is_cancelled() => RingResult::Cancelled,
                    Err(BridgeOutcome::Busy) => RingResult::Busy,
                    Err(BridgeOutcome::NoAnswer) => RingResult::NoAnswer,
                    Err(BridgeOutcome::Failed | BridgeOutcome::Completed) => RingResult::Failed,
                };
                match result {
                    RingResult::Answered => acd.step(&agent, CallStep::Answered, Some(queue)),
                    RingResult::Cancelled => acd.step(&agent, CallStep::Released, Some(queue)),
                    RingResult::NoAnswer | RingResult::Busy | RingResult::Failed => {
                        acd.step(&agent, CallStep::Missed, Some(queue))
                    }
                }
                tracing::info!(%agent, ?result, ring_ms, "agent rung");
                if let Some(r) = record {
                    acd.record(r, CallEvent::AgentRung {
                        queue: queue.id.clone(), agent, ring_ms, result,
                    }).await;
                }
            }
            _ = &mut gone, if !caller_gone => {
                caller_gone = true;
                stop.cancel();
            }
        }
    }
    (winner, caller_gone)
}

/// The conversation between a caller and an agent, until one side hangs up or the agent
/// sends the caller on.
pub(crate) async fn conversation<P: Party>(
    acd: &Acd,
    queue: &Queue,
    record: Option<CallRecordId>,
    call: &P,
    mut agent: String,
    mut leg: AgentLeg,
) -> Connected {
    let (tx, mut ctl) = mpsc::unbounded_channel();
    acd.set_control(&agent, Some(tx.clone()));
    let music = acd.hold_music(&queue.id);
    let talk_started = Instant::now();
    let mut held = false;
    let mut music_at = 0usize;
    let mut recorder = acd.start_recording(record, call.media(), leg.media(), &agent);
    // A supervisor's phone rings off the conversation's path; it arrives here answered.
    let (sup_tx, mut sup_rx) =
        mpsc::unbounded_channel::<Box<(String, media::MonitorMode, OutboundLeg)>>();
    let mut monitor: Option<(String, OutboundLeg, media::Monitor)> = None;
    let outcome = loop {
        let sup_gone = async {
            match &monitor {
                Some((_, l, _)) => l.ended().await,
                None => std::future::pending().await,
            }
        };
        let event = if held {
            tokio::select! {
                _ = play_music(call, &music, &mut music_at) => continue,
                c = ctl.recv() => Ev::Control(c),
                s = sup_rx.recv() => Ev::Supervisor(s),
                _ = sup_gone => Ev::Control(Some(Control::StopMonitor)),
                _ = call.ended() => Ev::CallerHungUp,
                _ = leg.ended() => Ev::AgentHungUp,
            }
        } else {
            tokio::select! {
                r = media::bridge(call.media(), leg.media()) => match r {
                    Ok(media::BridgeEnd::FirstEnded(_)) => Ev::CallerHungUp,
                    Ok(media::BridgeEnd::SecondEnded(_)) => Ev::AgentHungUp,
                    Err(e) => {
                        tracing::warn!(error = %e, "bridge to the agent failed");
                        Ev::AgentHungUp
                    }
                },
                c = ctl.recv() => Ev::Control(c),
                s = sup_rx.recv() => Ev::Supervisor(s),
                _ = sup_gone => Ev::Control(Some(Control::StopMonitor)),
                _ = call.ended() => Ev::CallerHungUp,
                _ = leg.ended() => Ev::AgentHungUp,
            }
        };
        match event {
            Ev::Supervisor(None) => {}
            Ev::Supervisor(Some(b)) => {
                let (supervisor, mode, sup_leg) = *b;
                if monitor.is_some() {
                    sup_leg.hangup().await;
                    continue;
                }
                match media::monitor(call.media(), leg.media(), sup_leg.media(), mode) {
                    Ok(m) => {
                        tracing::info!(%supervisor, ?mode, "supervisor joined the call");
                        if let Some(r) = record {
                            acd.record(
                                r,
                                CallEvent::Monitored {
                                    supervisor: supervisor.clone(),
                                    mode: mode_label(mode).into(),
                                },
                            )
                            .await;
                        }
                        monitor = Some((supervisor, sup_leg, m));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "supervisor could not join");
                        sup_leg.hangup().await;
                    }
                }
            }
            Ev::Control(Some(Control::Monitor { supervisor, mode })) => match &mut monitor {
                Some((who, _, m)) if *who == supervisor => {
                    m.set_mode(mode);
                    if let Some(r) = record {
                        acd.record(
                            r,
                            CallEvent::Monitored {
                                supervisor,
                                mode: mode_label(mode).into(),
                            },
                        )
                        .await;
                    }
                }
                Some(_) => tracing::info!(%supervisor, "another supervisor is on this call"),
                None => {
                    let Some(dialer) = acd.dialer().cloned() else {
                        continue;
                    };
                    let (sup_tx, from) = (sup_tx.clone(), call.number().to_string());
                    tokio::spawn(async move {
                        let cancel = CancellationToken::new();
                        let target = format!("account:{supervisor}");
                        match dialer
                            .ring(&target, &from, Duration::from_secs(20), &cancel)
                            .await
                        {
                            Ok(l) => {
                                if let Err(e) = sup_tx.send(Box::new((supervisor, mode, l))) {
                                    // The conversation ended meanwhile.
                                    let (_, _, l) = *e.0;
                                    l.hangup().await;
                                }
                            }
                            Err(outcome) => {
                                tracing::info!(%supervisor, ?outcome, "supervisor's phone did not answer")
                            }
                        }
                    });
                }
            },
            Ev::Control(Some(Control::StopMonitor)) => {
                end_monitor(&mut monitor).await;
            }
            Ev::CallerHungUp => break Connected::Ended(HangupSide::Caller),
            Ev::AgentHungUp if leg.was_lost() && !call.is_ended() => break Connected::AgentLost,
            Ev::AgentHungUp => break Connected::Ended(HangupSide::Agent),
            Ev::Control(None) | Ev::Control(Some(Control::Hangup)) => {
                break Connected::Ended(HangupSide::Agent)
            }
            Ev::Control(Some(Control::Hold(on))) => {
                if held != on {
                    held = on;
                    if !on {
                        call.media().stop_audio();
                    }
                    if let Some(r) = record {
                        acd.record(
                            r,
                            CallEvent::Hold {
                                by: agent.clone(),
                                on,
                            },
                        )
                        .await;
                    }
                }
            }
            Ev::Control(Some(Control::Transfer(target))) => {
                // The colleague is taken as for a call of their own, so no queue call is
                // offered to them meanwhile and the wallboard shows them busy.
                if let TransferTarget::Agent(a) = &target {
                    if !acd.take_for_own_call(a).await {
                        tracing::info!(to = %a, "transfer refused: the agent is in a call");
                        continue;
                    }
                }
                if let Some(r) = record {
                    acd.record(
                        r,
                        CallEvent::Transferred {
                            by: agent.clone(),
                            to: target_label(&target),
                        },
                    )
                    .await;
                }
                let to = match &target {
                    TransferTarget::Queue(q) => break Connected::ToQueue(q.clone()),
                    TransferTarget::Agent(a) => Ok(a.clone()),
                    TransferTarget::Destination(d) => {
                        match acd.dialer().and_then(|x| x.destination(d)) {
                            Some(v) => Err(v),
                            None => {
                                tracing::warn!(destination = %d, "transfer to an unknown destination");
                                continue;
                            }
                        }
                    }
                };
                call.media().start_ringback();
                let ring = Duration::from_secs(queue.ring_secs.max(15));
                let cancel = CancellationToken::new();
                // An agent rings on their phone or browser; a destination is a SIP number.
                let ringing = async {
                    match &to {
                        Ok(a) => acd.ring_agent(a, call.number(), ring, &cancel, || {}).await,
                        Err(uri) => match acd.dialer() {
                            Some(d) => d
                                .ring(uri, call.number(), ring, &cancel)
                                .await
                                .map(|l| AgentLeg::Phone(Box::new(l))),
                            None => Err(BridgeOutcome::Failed),
                        },
                    }
                };
                let next = tokio::select! {
                    r = ringing => r.ok(),
                    _ = call.ended() => { cancel.cancel(); None }
                };
                call.media().stop_audio();
                if let Ok(a) = &to {
                    let step = if next.is_some() {
                        CallStep::Answered
                    } else {
                        CallStep::Released
                    };
                    acd.step(a, step, Some(queue));
                }
                match next {
                    Some(new_leg) => {
                        let talk_ms = talk_started.elapsed().as_millis() as u64;
                        end_agent(acd, queue, record, &agent, talk_ms, HangupSide::Agent).await;
                        acd.set_control(&agent, None);
                        end_monitor(&mut monitor).await;
                        acd.finish_recording(record, recorder.take()).await;
                        leg.hangup().await;
                        leg = new_leg;
                        agent = match target {
                            TransferTarget::Agent(a) | TransferTarget::Destination(a) => a,
                            TransferTarget::Queue(q) => q,
                        };
                        acd.set_control(&agent, Some(tx.clone()));
                        recorder = acd.start_recording(record, call.media(), leg.media(), &agent);
                        tracing::info!(to = %agent, "caller transferred");
                    }
                    None if call.is_ended() => break Connected::Ended(HangupSide::Caller),
                    // Nobody took the transfer: the caller is back with the agent.
                    None => tracing::info!("transfer not answered; caller back with the agent"),
                }
            }
        }
    };
    let talk_ms = talk_started.elapsed().as_millis() as u64;
    acd.set_control(&agent, None);
    end_monitor(&mut monitor).await;
    acd.finish_recording(record, recorder.take()).await;
    leg.hangup().await;
    let side = match &outcome {
        Connected::Ended(side) => *side,
        Connected::ToQueue(_)
        | Connected::NotAnswered
        | Connected::CallerGone
        | Connected::AgentLost => HangupSide::Agent,
    };
    end_agent(acd, queue, record, &agent, talk_ms, side).await;
    outcome
}

/// The supervisor leaves: monitoring stops and their phone is hung up.
async fn end_monitor(monitor: &mut Option<(String, OutboundLeg, media::Monitor)>) {
    if let Some((supervisor, leg, m)) = monitor.take() {
        drop(m);
        leg.hangup().await;
        tracing::info!(%supervisor, "supervisor left the call");
    }
}

enum Ev {
    CallerHungUp,
    AgentHungUp,
    Control(Option<Control>),
    Supervisor(Option<Box<(String, media::MonitorMode, OutboundLeg)>>),
}

fn mode_label(m: media::MonitorMode) -> &'static str {
    match m {
        media::MonitorMode::Listen => "listen",
        media::MonitorMode::Whisper => "whisper",
        media::MonitorMode::Barge => "barge",
    }
}

fn target_label(t: &TransferTarget) -> String {
    match t {
        TransferTarget::Queue(q) => format!("queue:{q}"),
        TransferTarget::Agent(a) => format!("agent:{a}"),
        TransferTarget::Destination(d) => format!("destination:{d}"),
    }
}

/// The agent's part of a conversation is over: wrap-up, the record, the talk average.
async fn end_agent(
    acd: &Acd,
    queue: &Queue,
    record: Option<CallRecordId>,
    agent: &str,
    talk_ms: u64,
    side: HangupSide,
) {
    acd.step(agent, CallStep::Ended, Some(queue));
    {
        let mut st = acd.lock();
        st.talk_avg_ms = st.talk_avg_ms * 0.9 + talk_ms as f64 * 0.1;
    }
    if let Some(r) = record {
        acd.record(
            r,
            CallEvent::AgentCallEnded {
                agent: agent.to_string(),
                talk_ms,
                side,
            },
        )
        .await;
    }
}

/// Plays the queue's hold music from where it stopped, one file after another; returns
/// after one file (or at once, after a pause, when there is no music).
pub(crate) async fn play_music<P: Party>(call: &P, music: &[Arc<Prompt>], at: &mut usize) {
    if music.is_empty() {
        call.media().stop_audio();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let p = &music[*at % music.len()];
    let _ = call.media().play(p, false).await;
    *at = at.wrapping_add(1);
}

impl Acd {
    /// Starts recording a conversation (both voices, one file) unless recording of operator
    /// calls is off; a failure is logged and the call goes on unrecorded.
    fn start_recording(
        &self,
        record: Option<CallRecordId>,
        caller: &media::MediaSession,
        agent_media: &media::MediaSession,
        agent: &str,
    ) -> Option<media::ConversationRecorder> {
        let layout = self.inner.record_layout?;
        let now = chrono::Utc::now();
        let dir = self
            .recordings()
            .recording_dir(Folder::Conversations, &self.inner.recordings_dir)
            .join(now.format("%Y%m%d").to_string());
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(error = %e, dir = %dir.display(), "no folder for call recordings");
            return None;
        }
        let name = format!(
            "{}-{}-{}.wav",
            now.format("%H%M%S"),
            record
                .map(|r| r.get().to_string())
                .unwrap_or_else(|| "callback".into()),
            agent
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        );
        match media::ConversationRecorder::start(caller, agent_media, dir.join(name), layout) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "the conversation is not recorded");
                None
            }
        }
    }

    async fn finish_recording(
        &self,
        record: Option<CallRecordId>,
        r: Option<media::ConversationRecorder>,
    ) {
        let Some(r) = r else { return };
        let done = match r.finish().await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "the conversation's recording failed");
                return;
            }
        };
        let stored = match self.keep(&done.path).await {
            Ok(stored) => stored,
            Err(e) => {
                // The file is still on this node's disk: say where, rather than lose it.
                tracing::warn!(error = %e, file = %done.path.display(), "the conversation's recording is kept on this node only");
                done.path.display().to_string()
            }
        };
        if let Some(id) = record {
            self.record(id, CallEvent::Recorded { path: stored }).await;
        }
    }

    /// Hands a finished conversation (`<day>/<file>.wav`) to where recordings are kept;
    /// returns the reference the call record stores.
    async fn keep(&self, file: &std::path::Path) -> Result<String, String> {
        let name = |p: Option<&std::path::Path>| {
            p.and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .ok_or_else(|| format!("no day folder and file name in {}", file.display()))
        };
        let day = name(file.parent())?;
        let key = ObjectKey::new(Folder::Conversations, &day, &name(Some(file))?)
            .map_err(|e| e.to_string())?;
        self.recordings()
            .keep(file, &key)
            .await
            .map_err(|e| e.to_string())
    }

    fn recordings(&self) -> &Recordings {
        static LOCAL: OnceLock<Recordings> = OnceLock::new();
        self.inner
            .recordings
            .get()
            .unwrap_or_else(|| LOCAL.get_or_init(Recordings::local))
    }

    pub(crate) fn set_control(&self, agent: &str, tx: Option<mpsc::UnboundedSender<Control>>) {
        let mut c = self
            .inner
            .controls
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match tx {
            Some(tx) => {
                c.insert(agent.to_string(), tx);
            }
            None => {
                c.remove(agent);
            }
        }
    }
}
