//! The demo dialplan (`dialplans/12345.toml`) run against a scripted caller: no network, a
//! real ticket service on a scratch SQLite file, prompts "spoken" by copying the beep.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::media::{RecordEnd, RecordOptions, Recording};
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
    async fn record(&self, _: RecordOptions) -> Result<Recording, CallError> {
        let spoke = matches!(
            self.next_if(|a| matches!(a, Act::Speak | Act::Wait))?,
            Some(Act::Speak)
        );
        let pcm = match spoke {
            // One second of a loud 400 Hz square wave stands in for a voice.
            true => (0..8000)
                .map(|i| if (i / 10) % 2 == 0 { 8000 } else { -8000 })
                .collect(),
            false => vec![0; 8000],
        };
        Ok(Recording {
            pcm,
            ended_by: RecordEnd::Silence,
            heard_voice: spoke,
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
    let cfg = IvrConfig {
        tts: [(
            "zh".to_string(),
            format!("cp '{}' \"$HOTLINE_TTS_OUT\"", beep.display()),
        )]
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

/// The nodes a call passed, without the after-hours notice (which depends on the clock).
fn nodes(t: &Trace) -> Vec<&str> {
    t.nodes
        .iter()
        .map(String::as_str)
        .filter(|n| *n != "after_hours")
        .collect()
}

fn count(t: &Trace, prompt: &str) -> usize {
    t.prompts.iter().filter(|p| *p == prompt).count()
}

#[tokio::test]
async fn a_voice_message_becomes_a_ticket() {
    let f = fixture().await;
    let (call, log) = ScriptedCall::new("13800001111", &[Act::Key('2'), Act::Key('2'), Act::Speak]);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "completed");
    assert_eq!(
        nodes(&t),
        [
            "screen",
            "welcome",
            "hours",
            "menu",
            "kind",
            "kind_complaint",
            "message",
            "create",
            "read_number",
            "end"
        ]
    );
    assert_eq!(t.digits, "22");
    let number = t.ticket_number.clone().expect("a ticket");
    let ticket = f
        .tickets
        .by_number(&number.parse().expect("ticket number"))
        .await
        .expect("the ticket exists");
    assert_eq!(ticket.kind, Kind::Complaint);
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
    assert_eq!(log.played, t.prompts.len());
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
            },
            &Actor::System,
        )
        .await
        .expect("ticket");
    let number = ticket.number.to_string();
    let mut script = vec![Act::Key('1')];
    script.extend(number.chars().map(Act::Key));
    script.extend([Act::Key('#'), Act::Wait]);
    let (call, log) = ScriptedCall::new("13800002222", &script);
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.outcome, "completed");
    let passed = nodes(&t);
    assert_eq!(
        passed[..7],
        [
            "screen",
            "welcome",
            "hours",
            "menu",
            "status_number",
            "status_lookup",
            "status_read"
        ]
    );
    assert_eq!(passed[passed.len() - 2..], ["status_more", "goodbye"]);
    assert_eq!(t.digits, format!("1{number}"));
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
async fn wrong_keys_are_asked_again_then_lead_on() {
    let f = fixture().await;
    let (call, _log) = ScriptedCall::new(
        "13800004444",
        &[Act::Key('7'), Act::Key('8'), Act::Key('9')],
    );
    let t = f.engine.serve(call).await.expect("a dialplan answers");
    assert_eq!(t.digits, "789");
    // Two retries after a wrong key: the menu is heard three times, "wrong key" twice.
    assert_eq!(count(&t, "menu"), 3);
    assert_eq!(count(&t, "invalid"), 2);
    // Then on_invalid: the kind question, which times out into the message, where the
    // caller says nothing.
    assert_eq!(
        nodes(&t)[3..],
        ["menu", "kind", "message", "no_message", "goodbye"]
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
