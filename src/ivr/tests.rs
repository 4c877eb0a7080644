//! The demo dialplan (`dialplans/12345.toml`) run against a scripted caller: no network, a
//! real ticket service on a scratch SQLite file, prompts "spoken" by copying the beep.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::media::{RecordEnd, RecordOptions, Recording, Utterance, UtteranceEnd};
use crate::sip::{BridgeOutcome, CallError};
use crate::store::Db;
use crate::tickets::{Actor, Channel, Kind, NewTicket, TicketsConfig};

/// What the scripted caller does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// Presses a key while a prompt plays (barge-in).
    Barge(char),
    /// Presses a key when asked (after the prompts).
    Key(char),
    /// Lets a question time out.
    Wait,
    /// Speaks when recorded.
    Speak,
    /// Starts telling their story at whatever prompt or wait listens (speak first).
    Talk,
    /// Starts speaking, then hangs up mid-sentence.
    TalkThenHangUp,
    /// Hangs up at whatever the call does next.
    HangUp,
}

/// What the call saw, for the test to check.
#[derive(Debug, Default)]
struct Log {
    answered: bool,
    hung_up: bool,
    rejected: Option<u16>,
    played: usize,
    bridged: Vec<String>,
}

/// A call whose caller follows a script. Keys and speech the script does not give are
/// silence: `next_digit` times out and `record` hears nothing.
struct ScriptedCall {
    caller: String,
    called: String,
    script: Mutex<VecDeque<Act>>,
    ended: AtomicBool,
    bridge: BridgeOutcome,
    log: Arc<Mutex<Log>>,
    /// What the caller is saying now (a `Talk` act taken), for the tape.
    talking: Mutex<Option<Act>>,
}

/// One second of a loud 400 Hz square wave stands in for a voice.
fn voice(secs: usize) -> Vec<i16> {
    (0..8000 * secs)
        .map(|i| if (i / 10) % 2 == 0 { 8000 } else { -8000 })
        .collect()
}

impl ScriptedCall {
    fn new(caller: &str, script: &[Act]) -> (ScriptedCall, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let call = ScriptedCall {
            caller: caller.into(),
            called: "12345".into(),
            script: Mutex::new(script.iter().copied().collect()),
            ended: AtomicBool::new(false),
            bridge: BridgeOutcome::NoAnswer,
            log: log.clone(),
            talking: Mutex::new(None),
        };
        (call, log)
    }

    /// Takes the next act if `take` wants it; a hang-up is always taken.
    fn next_if(&self, take: impl Fn(Act) -> bool) -> Result<Option<Act>, CallError> {
        if self.ended.load(Ordering::SeqCst) {
            return Err(CallError::Hungup);
        }
        let mut script = self.script.lock().unwrap();
        match script.front().copied() {
            Some(Act::HangUp) => {
                script.pop_front();
                self.ended.store(true, Ordering::SeqCst);
                Err(CallError::Hungup)
            }
            Some(a) if take(a) => Ok(script.pop_front()),
            _ => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl CallControl for ScriptedCall {
    fn id(&self) -> &str {
        "scripted-call@test"
    }
    fn caller(&self) -> &str {
        &self.caller
    }
    fn called(&self) -> &str {
        &self.called
    }
    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }
    async fn answer(&self) -> Result<(), CallError> {
        // A caller who is gone already gave up while it rang.
        if self.ended.load(Ordering::SeqCst) {
            return Err(CallError::Hungup);
        }
        self.log.lock().unwrap().answered = true;
        Ok(())
    }
    fn reject(self, status: u16) {
        self.log.lock().unwrap().rejected = Some(status);
    }
    async fn hangup(self) {
        self.log.lock().unwrap().hung_up = true;
    }
    async fn play(&self, _: &Arc<Prompt>, barge_in: bool) -> Result<Option<char>, CallError> {
        self.log.lock().unwrap().played += 1;
        match self.next_if(|a| barge_in && matches!(a, Act::Barge(_)))? {
            Some(Act::Barge(d)) => Ok(Some(d)),
            _ => Ok(None),
        }
    }
    async fn next_digit(&self, _: Duration) -> Result<Option<char>, CallError> {
        match self.next_if(|a| matches!(a, Act::Key(_) | Act::Barge(_) | Act::Wait))? {
            Some(Act::Key(d) | Act::Barge(d)) => Ok(Some(d)),
            _ => Ok(None),
        }
    }
    async fn play_listening(&self, _: &Arc<Prompt>) -> Result<Option<Input>, CallError> {
        self.log.lock().unwrap().played += 1;
        match self.next_if(|a| matches!(a, Act::Barge(_) | Act::Talk | Act::TalkThenHangUp))? {
            Some(Act::Barge(d)) => Ok(Some(Input::Key(d))),
            Some(a) => {
                *self.talking.lock().unwrap() = Some(a);
                Ok(Some(Input::Speech))
            }
            None => Ok(None),
        }
    }
    async fn next_input(&self, _: Duration) -> Result<Option<Input>, CallError> {
        let take = |a| {
            matches!(
                a,
                Act::Key(_) | Act::Barge(_) | Act::Wait | Act::Talk | Act::TalkThenHangUp
            )
        };
        match self.next_if(take)? {
            Some(Act::Key(d) | Act::Barge(d)) => Ok(Some(Input::Key(d))),
            Some(a @ (Act::Talk | Act::TalkThenHangUp)) => {
                *self.talking.lock().unwrap() = Some(a);
                Ok(Some(Input::Speech))
            }
            _ => Ok(None),
        }
    }
    async fn utterance(&self, _: Duration, _: Duration) -> Utterance {
        let talking = *self.talking.lock().unwrap();
        let ended_by = match talking {
            Some(Act::TalkThenHangUp) => {
                self.ended.store(true, Ordering::SeqCst);
                UtteranceEnd::SessionEnded
            }
            _ => UtteranceEnd::StillSpeaking,
        };
        Utterance {
            pcm: voice(4),
            ended_by,
        }
    }
    async fn finish_speech(&self, _: RecordOptions) -> Option<Recording> {
        self.take_speech()
    }
    fn take_speech(&self) -> Option<Recording> {
        self.talking.lock().unwrap().take().map(|_| Recording {
            pcm: voice(6),
            ended_by: RecordEnd::Silence,
            heard_voice: true,
            voiced: Duration::from_secs(6),
        })
    }
    fn discard_speech(&self) {
        self.talking.lock().unwrap().take();
    }
    async fn record(&self, _: RecordOptions) -> Result<Recording, CallError> {
        let spoke = matches!(
            self.next_if(|a| matches!(a, Act::Speak | Act::Wait))?,
            Some(Act::Speak)
        );
        let pcm = match spoke {
            true => voice(1),
            false => vec![0; 8000],
        };
        Ok(Recording {
            pcm,
            ended_by: RecordEnd::Silence,
            heard_voice: spoke,
            voiced: Duration::from_secs(u64::from(spoke)),
        })
    }
    async fn bridge_to(&self, destination: &str, _: Duration) -> BridgeOutcome {
        self.log.lock().unwrap().bridged.push(destination.into());
        self.bridge
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    tickets: Tickets,
    calls: Calls,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect_url(&format!("sqlite://{}/hotline.db", dir.path().display()))
        .await
        .expect("database");
    let tickets = Tickets::from_config(db.clone(), &TicketsConfig::default()).expect("tickets");
    let beep = std::fs::canonicalize("dialplans/tones/beep.wav").expect("beep");
    let copy = format!("cp '{}' \"$HOTLINE_TTS_OUT\"", beep.display());
    let cfg = IvrConfig {
        tts: [("zh".to_string(), copy.clone()), ("en".to_string(), copy)]
            .into_iter()
            .collect(),
        prompt_cache_dir: dir.path().join("prompts"),
        recordings_dir: dir.path().join("recordings"),
        ..IvrConfig::default()
    };
    let engine = Engine::start(
        cfg,
        dir.path(),
        tickets.clone(),
        Calls::new(db.clone()),
        vec!["operators".into()],
        Some(vec!["operators".into()]),
        None,
    )
    .await
    .unwrap_or_else(|p| panic!("the demo dialplan loads: {p:?}"));
    Fixture {
        _dir: dir,
        engine,
        tickets,
        calls: Calls::new(db),
    }
}

/// The nodes a call passed, the open question by day or after hours (which depends on the
/// clock) named alike.
fn nodes(t: &Trace) -> Vec<&str> {
    t.nodes
        .iter()
        .map(|n| match n.as_str() {
            "open_after_hours" => "open",
            n => n,
        })
        .collect()
}

fn count(t: &Trace, prompt: &str) -> usize {
    t.prompts.iter().filter(|p| *p == prompt).count()
}

#[tokio::test]
async fn a_caller_who_speaks_during_the_greeting_leaves_their_message() {
    let f = fixture().await;
    let (call, log) = ScriptedCall::new("13800001111", &[Act::Talk]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "completed");
    // The greeting yields to the words; the open question hears them as the message, and
    // nobody asks the kind or for the message again.
    assert_eq!(
        nodes(&t),
        ["screen", "welcome", "open", "create", "read_number", "end"]
    );
    assert_eq!(count(&t, "open"), 0, "the open question was not played");
    let number = t.ticket_number.clone().expect("a ticket");
    let ticket = f
        .tickets
        .by_number(&number.parse().expect("ticket number"))
        .await
        .expect("the ticket exists");
    assert_eq!(ticket.phone.as_str(), "13800001111");
    let recording = ticket.recording_path.expect("the message is kept");
    assert!(std::path::Path::new(&recording).exists());
    assert_eq!(t.recording_path.as_deref(), Some(recording.as_str()));
    // The caller hears the number, digit by digit.
    let read: String = t
        .prompts
        .iter()
        .filter_map(|p| p.strip_prefix("digit_"))
        .collect();
    assert_eq!(read, number);
    let log = log.lock().unwrap();
    assert!(log.answered && log.hung_up);
}

#[tokio::test]
async fn a_caller_who_hangs_up_mid_sentence_still_leaves_a_ticket() {
    let f = fixture().await;
    let (call, _log) = ScriptedCall::new("13800001112", &[Act::Wait, Act::TalkThenHangUp]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "message_on_hangup");
    let number = t
        .ticket_number
        .clone()
        .expect("their words became a ticket");
    let ticket = f
        .tickets
        .by_number(&number.parse().expect("ticket number"))
        .await
        .expect("the ticket exists");
    assert!(ticket.recording_path.is_some());
    let r = records(&f).await;
    assert_eq!(r[0].ticket_number.as_deref(), Some(number.as_str()));
    assert!(
        !r[0].abandoned,
        "a caller who left a message did not give up"
    );
}

#[tokio::test]
async fn a_silent_caller_hears_the_question_twice_and_is_recorded_as_abandoned_on_hang_up() {
    let f = fixture().await;
    let (call, _log) = ScriptedCall::new("13800001113", &[Act::Wait, Act::Wait]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(nodes(&t), ["screen", "welcome", "hours", "open", "silent"]);
    assert!(t.ticket_number.is_none());
    // Hung up by the system after the goodbye: not abandoned.
    assert!(!records(&f).await[0].abandoned);

    let (call, _log) = ScriptedCall::new("13800001114", &[Act::Wait, Act::HangUp]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "caller_hung_up");
    let r = records(&f).await;
    let c = r.iter().find(|c| c.caller == "13800001114").unwrap();
    assert!(c.abandoned, "hung up without a word: a call to return");
    assert!(c.ticket_number.is_none());
}

#[tokio::test]
async fn the_owner_hears_the_status_of_a_ticket() {
    let f = fixture().await;
    let ticket = f
        .tickets
        .create(
            NewTicket {
                channel: Channel::Web,
                kind: Some(Kind::Help),
                phone: "13800002222".parse().expect("phone"),
                text: "路灯坏了".into(),
                address: None,
                area: None,
                recording_path: None,
                language: None,
            },
            &Actor::System,
        )
        .await
        .expect("ticket");
    let number = ticket.number.to_string();
    let mut script = vec![Act::Key('1')];
    script.extend(number.chars().map(Act::Key));
    // The caller's own number proves nothing (anyone can send it): the digits are asked.
    script.push(Act::Key('#'));
    script.extend("2222".chars().map(Act::Key));
    script.push(Act::Wait);
    let (call, log) = ScriptedCall::new("13800002222", &script);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "completed");
    let passed = nodes(&t);
    assert_eq!(
        passed[..9],
        [
            "screen",
            "welcome",
            "hours",
            "open",
            "status_number",
            "status_lookup",
            "status_last4",
            "status_lookup_last4",
            "status_read"
        ]
    );
    assert_eq!(passed[passed.len() - 2..], ["status_more", "goodbye"]);
    assert_eq!(t.digits, format!("1{number}2222"));
    assert_eq!(
        count(&t, &format!("state_{}", ticket.state.code())),
        1,
        "{:?}",
        t.prompts
    );
    assert!(t.ticket_number.is_none());
    assert!(log.lock().unwrap().hung_up);
}

#[tokio::test]
async fn a_caller_who_hangs_up_during_the_greeting_ends_the_call() {
    let f = fixture().await;
    let (call, log) = ScriptedCall::new("13800003333", &[Act::HangUp]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "caller_hung_up");
    assert_eq!(nodes(&t), ["screen", "welcome"]);
    assert!(t.ticket_number.is_none());
    let log = log.lock().unwrap();
    assert_eq!(log.played, 1, "the greeting was cut short");
    assert!(log.hung_up);
}

/// The one record the fixture's calls left, newest first.
async fn records(f: &Fixture) -> Vec<crate::calls::CallSummary> {
    f.calls
        .list(
            &Default::default(),
            crate::calls::Page {
                number: 1,
                size: 10,
            },
        )
        .await
        .expect("list the records")
}

#[tokio::test]
async fn the_record_says_the_caller_hung_up_and_when_the_menu_answered() {
    let f = fixture().await;
    let (call, _log) = ScriptedCall::new("13800003334", &[Act::HangUp]);
    f.engine.serve(call).await.expect("a dialplan answers");
    let r = records(&f).await;
    assert_eq!(r.len(), 1);
    let c = &r[0];
    assert_eq!(c.caller, "13800003334");
    assert_eq!(c.outcome.as_deref(), Some("caller_hung_up"));
    assert_eq!(c.hangup_side, Some(crate::calls::HangupSide::Caller));
    assert_eq!(c.hangup_reason.as_deref(), Some("bye"));
    assert!(c.answered_at.is_some_and(|a| a >= c.started_at));
    assert!(c.ended_at.is_some());
}

#[tokio::test]
async fn a_caller_who_gives_up_before_the_answer_is_recorded_unanswered() {
    let f = fixture().await;
    let (call, log) = ScriptedCall::new("13800003335", &[]);
    call.ended.store(true, Ordering::SeqCst);
    assert!(f.engine.serve(call).await.is_none(), "never answered");
    assert!(!log.lock().unwrap().answered);
    let r = records(&f).await;
    assert_eq!(r.len(), 1, "the call is recorded all the same");
    assert_eq!(r[0].outcome.as_deref(), Some("cancelled"));
    assert_eq!(r[0].answered_at, None);
    assert_eq!(r[0].hangup_side, Some(crate::calls::HangupSide::Caller));
    assert_eq!(r[0].hangup_reason.as_deref(), Some("cancel"));
    assert!(r[0].ivr_path.is_empty());
}

#[tokio::test]
async fn a_blocked_caller_is_hung_up_by_the_system() {
    let f = fixture().await;
    let (call, _log) = ScriptedCall::new("13000000000", &[]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(nodes(&t), ["screen", "blocked"]);
    let r = records(&f).await;
    assert_eq!(r[0].hangup_side, Some(crate::calls::HangupSide::System));
    assert_eq!(r[0].hangup_reason.as_deref(), Some("completed"));
    assert_eq!(r[0].ivr_path, ["screen", "blocked"]);
}

#[tokio::test]
async fn wrong_keys_are_asked_again_then_lead_to_a_person() {
    let f = fixture().await;
    let (call, _log) = ScriptedCall::new("13800004444", &[Act::Key('7'), Act::Key('8')]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.digits, "78");
    // One retry after a wrong key: the question is heard twice, "not caught" once.
    assert_eq!(count(&t, "open") + count(&t, "open_after_hours"), 2);
    assert_eq!(count(&t, "invalid"), 1);
    // Then on_invalid: a person (no call centre here, so the voice message, where the
    // caller says nothing).
    assert_eq!(
        nodes(&t)[3..],
        [
            "open",
            "operator",
            "operators_busy",
            "message",
            "no_message",
            "goodbye"
        ]
    );
    assert_eq!(t.outcome, "completed");
    assert!(t.ticket_number.is_none());
}

#[tokio::test]
async fn no_operator_to_answer_leaves_a_message() {
    let f = fixture().await;
    let (call, log) = ScriptedCall::new("13800005555", &[Act::Barge('0'), Act::Speak]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "completed");
    assert_eq!(
        nodes(&t)[..3],
        ["screen", "welcome", "operator"],
        "0 during the greeting goes to a person"
    );
    assert_eq!(
        nodes(&t)[3..],
        ["operators_busy", "message", "create", "read_number", "end"]
    );
    // No call centre here (a scripted call cannot wait in a queue): the queue node's
    // on_failed offers the voice message; nothing was bridged.
    assert!(log.lock().unwrap().bridged.is_empty());
    assert!(f.engine.bridged_callers().is_empty());
    assert!(count(&t, "operators_busy") == 1 && count(&t, "transferring") == 1);
    let number = t.ticket_number.expect("the message became a ticket");
    let ticket = f
        .tickets
        .by_number(&number.parse().expect("number"))
        .await
        .expect("ticket");
    assert!(ticket.recording_path.is_some());
}
