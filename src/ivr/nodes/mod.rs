//! The node kinds of a dialplan, one file each with what the file format says (the struct),
//! what `hotline check` refuses (`check`) and what a call does there (`run`) side by side.
//! This file holds the enum and the two dispatchers; both match every kind.

mod branch;
mod create_ticket;
mod gather;
mod gather_speech;
mod hangup;
mod listen;
mod menu;
mod play;
mod queue;
mod rate_ticket;
mod record;
mod set;
mod ticket_status;
mod transfer;

use serde::Deserialize;

use super::call::CallControl;
use super::run::{Run, Step, Stop};
use super::validate::Checker;

pub use branch::Branch;
pub use create_ticket::CreateTicket;
pub use gather::Gather;
pub use gather_speech::GatherSpeech;
pub use hangup::Hangup;
pub use listen::Listen;
pub use menu::Menu;
pub use play::Play;
pub use queue::Queue;
pub use rate_ticket::RateTicket;
pub use record::Record;
pub use set::Set;
pub use ticket_status::TicketStatus;
pub use transfer::Transfer;

/// Whether the tape keeps the caller's words at a node (speak-first dialplans only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listening {
    /// Listening, and speech interrupts prompts.
    On,
    /// As the node before (nodes that take no time, or play without interruption).
    Keep,
    /// Off, what was kept is dropped.
    Off,
}

/// One step of a call, chosen by `do = "..."`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Node {
    Play(Play),
    Menu(Menu),
    Gather(Gather),
    GatherSpeech(GatherSpeech),
    Listen(Listen),
    Record(Record),
    Transfer(Transfer),
    Queue(Queue),
    CreateTicket(CreateTicket),
    RateTicket(RateTicket),
    TicketStatus(TicketStatus),
    Branch(Branch),
    Set(Set),
    Hangup(Hangup),
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Play(_) => "play",
            Node::Menu(_) => "menu",
            Node::Gather(_) => "gather",
            Node::GatherSpeech(_) => "gather_speech",
            Node::Listen(_) => "listen",
            Node::Record(_) => "record",
            Node::Transfer(_) => "transfer",
            Node::Queue(_) => "queue",
            Node::CreateTicket(_) => "create_ticket",
            Node::RateTicket(_) => "rate_ticket",
            Node::TicketStatus(_) => "ticket_status",
            Node::Branch(_) => "branch",
            Node::Set(_) => "set",
            Node::Hangup(_) => "hangup",
        }
    }

    /// Every node this one can lead to, with the key that names it.
    pub fn targets(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |k: &str, v: Option<&String>| {
            if let Some(v) = v {
                out.push((k.to_string(), v.clone()))
            }
        };
        match self {
            Node::Play(Play { next, .. }) | Node::Set(Set { next, .. }) => add("next", Some(next)),
            Node::Menu(Menu {
                choices,
                on_timeout,
                on_invalid,
                ..
            }) => {
                for (k, v) in choices {
                    add(&format!("choices.{k}"), Some(v));
                }
                add("on_timeout", on_timeout.as_ref());
                add("on_invalid", on_invalid.as_ref());
            }
            Node::Gather(Gather {
                next,
                on_timeout,
                on_invalid,
                ..
            }) => {
                add("next", Some(next));
                add("on_timeout", on_timeout.as_ref());
                add("on_invalid", on_invalid.as_ref());
            }
            Node::GatherSpeech(GatherSpeech {
                phrases,
                choices,
                on_timeout,
                on_invalid,
                on_unrecognized,
                ..
            }) => {
                add("on_unrecognized", on_unrecognized.as_ref());
                for (k, v) in phrases {
                    add(&format!("phrases.{k}"), Some(v));
                }
                for (k, v) in choices {
                    add(&format!("choices.{k}"), Some(v));
                }
                add("on_timeout", on_timeout.as_ref());
                add("on_invalid", on_invalid.as_ref());
            }
            Node::Listen(Listen {
                phrases,
                choices,
                next,
                on_timeout,
                on_invalid,
                ..
            }) => {
                for (k, v) in phrases {
                    add(&format!("phrases.{k}"), Some(v));
                }
                for (k, v) in choices {
                    add(&format!("choices.{k}"), Some(v));
                }
                add("next", Some(next));
                add("on_timeout", Some(on_timeout));
                add("on_invalid", on_invalid.as_ref());
            }
            Node::Record(Record { next, on_empty, .. }) => {
                add("next", Some(next));
                add("on_empty", on_empty.as_ref());
            }
            Node::Transfer(Transfer {
                next,
                on_no_answer,
                on_busy,
                on_failed,
                ..
            }) => {
                add("next", next.as_ref());
                add("on_no_answer", Some(on_no_answer));
                add("on_busy", on_busy.as_ref());
                add("on_failed", on_failed.as_ref());
            }
            Node::Queue(Queue {
                next,
                on_voicemail,
                on_callback,
                on_failed,
                ..
            }) => {
                add("next", next.as_ref());
                add("on_voicemail", Some(on_voicemail));
                add("on_callback", on_callback.as_ref());
                add("on_failed", Some(on_failed));
            }
            Node::CreateTicket(CreateTicket { next, on_error, .. })
            | Node::RateTicket(RateTicket { next, on_error, .. }) => {
                add("next", Some(next));
                add("on_error", Some(on_error));
            }
            Node::TicketStatus(TicketStatus {
                next,
                on_not_found,
                on_mismatch,
                on_locked,
                ..
            }) => {
                add("next", Some(next));
                add("on_not_found", Some(on_not_found));
                add("on_mismatch", Some(on_mismatch));
                add("on_locked", on_locked.as_ref());
            }
            Node::Branch(Branch {
                then, otherwise, ..
            }) => {
                add("then", Some(then));
                add("else", Some(otherwise));
            }
            Node::Hangup(_) => {}
        }
        out
    }

    /// The prompts this node plays.
    pub fn prompts(&self) -> Vec<&str> {
        let lists: Vec<&Vec<String>> = match self {
            Node::Menu(Menu {
                prompts,
                invalid_prompts,
                ..
            })
            | Node::Gather(Gather {
                prompts,
                invalid_prompts,
                ..
            })
            | Node::GatherSpeech(GatherSpeech {
                prompts,
                invalid_prompts,
                ..
            })
            | Node::Listen(Listen {
                prompts,
                invalid_prompts,
                ..
            }) => vec![prompts, invalid_prompts],
            Node::Play(Play { prompts, .. })
            | Node::Transfer(Transfer { prompts, .. })
            | Node::Hangup(Hangup { prompts }) => vec![prompts],
            Node::Record(Record {
                prompts,
                confirm_prompts,
                ..
            }) => vec![prompts, confirm_prompts],
            Node::Queue(Queue {
                prompts, announce, ..
            }) => vec![prompts, announce],
            Node::CreateTicket(_)
            | Node::RateTicket(_)
            | Node::TicketStatus(_)
            | Node::Branch(_)
            | Node::Set(_) => {
                vec![]
            }
        };
        lists.into_iter().flatten().map(String::as_str).collect()
    }

    /// Nodes where the caller can act (keys or voice), and so can always reach the operator.
    pub fn waits_for_caller(&self) -> bool {
        match self {
            Node::Menu(_)
            | Node::Gather(_)
            | Node::GatherSpeech(_)
            | Node::Listen(_)
            | Node::Record(_) => true,
            Node::Play(_)
            | Node::Transfer(_)
            | Node::Queue(_)
            | Node::CreateTicket(_)
            | Node::RateTicket(_)
            | Node::TicketStatus(_)
            | Node::Branch(_)
            | Node::Set(_)
            | Node::Hangup(_) => false,
        }
    }

    /// Whether the caller's words are kept here (speak-first dialplans): where they may speak to
    /// the menus the tape listens; where they type digits or talk to a person it is off.
    pub fn listening(&self) -> Listening {
        match self {
            Node::Play(Play { barge_in: true, .. })
            | Node::Menu(_)
            | Node::GatherSpeech(_)
            | Node::Listen(_)
            | Node::Record(_) => Listening::On,
            Node::Play(_)
            | Node::CreateTicket(_)
            | Node::RateTicket(_)
            | Node::TicketStatus(_)
            | Node::Branch(_)
            | Node::Set(_) => Listening::Keep,
            Node::Gather(_) | Node::Queue(_) | Node::Transfer(_) | Node::Hangup(_) => {
                Listening::Off
            }
        }
    }

    /// The checks only this kind of node needs (targets, prompts and reachability are
    /// checked for every node by the validator).
    pub(super) fn check(&self, name: &str, ck: &mut Checker<'_>) {
        match self {
            Node::Play(_)
            | Node::Record(_)
            | Node::TicketStatus(_)
            | Node::Set(_)
            | Node::Hangup(_) => {}
            Node::Queue(n) => n.check(name, ck),
            Node::Menu(n) => n.check(name, ck),
            Node::Gather(n) => n.check(name, ck),
            Node::GatherSpeech(n) => n.check(name, ck),
            Node::Listen(n) => n.check(name, ck),
            Node::Transfer(n) => n.check(name, ck),
            Node::CreateTicket(n) => n.check(name, ck),
            Node::RateTicket(n) => n.check(name, ck),
            Node::Branch(n) => n.check(name, ck),
        }
    }

    /// What the call does at this node, and where it goes next.
    pub(super) async fn run<C: CallControl>(self, r: &mut Run<'_, C>) -> Result<Step, Stop> {
        if r.listens() {
            match self.listening() {
                Listening::On => r.call.listen(crate::media::ListenOptions::default()),
                Listening::Keep => {}
                Listening::Off => r.call.stop_listening(),
            }
        }
        match self {
            Node::Play(n) => n.run(r).await,
            Node::Menu(n) => n.run(r).await,
            Node::Gather(n) => n.run(r).await,
            Node::GatherSpeech(n) => n.run(r).await,
            Node::Listen(n) => n.run(r).await,
            Node::Record(n) => n.run(r).await,
            Node::Transfer(n) => n.run(r).await,
            Node::Queue(n) => n.run(r).await,
            Node::CreateTicket(n) => n.run(r).await,
            Node::RateTicket(n) => n.run(r).await,
            Node::TicketStatus(n) => n.run(r).await,
            Node::Branch(n) => n.run(r),
            Node::Set(n) => n.run(r),
            Node::Hangup(n) => n.run(r).await,
        }
    }
}

/// A node that waits for keys must say where silence leads.
fn check_timeout(name: &str, on_timeout: &Option<String>, ck: &mut Checker<'_>) {
    if on_timeout.is_none() {
        ck.problem(
            ck.at(&format!("node.{name}")),
            format!("node `{name}` waits for keys but has no on_timeout: a caller who presses nothing would be stuck"),
        );
    }
}

/// Every menu key must be a phone key and must not shadow the operator key.
fn check_choices(
    name: &str,
    choices: &std::collections::BTreeMap<String, String>,
    ck: &mut Checker<'_>,
) {
    let node_key = format!("node.{name}");
    for k in choices.keys() {
        let line = ck
            .at(&format!("{node_key}.choices.{k}"))
            .or(ck.at(&node_key));
        if !super::validate::is_key(k) {
            ck.problem(
                line,
                format!("node `{name}` has a choice `{k}`, which is not a phone key"),
            );
        }
        if ck.plan.dialplan.operator_key.as_deref() == Some(k.as_str()) {
            ck.problem(
                line,
                format!("node `{name}` uses key {k}, which already means \"operator\" everywhere"),
            );
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> usize {
    1
}
fn two() -> u32 {
    2
}
fn three() -> u64 {
    3
}
fn five() -> u64 {
    5
}
fn twenty() -> usize {
    20
}
fn sixty() -> u64 {
    60
}
