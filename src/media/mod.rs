//! Media: RTP sessions, G.711, DTMF, prompts, recording, ringback, bridging, conversation
//! recording and supervisor monitoring.
//! Knows nothing of SIP: the SIP layer negotiates SDP and drives a [`MediaSession`].
//!
//! # How a call uses it
//!
//! ```no_run
//! # async fn call(cfg: hotline::media::MediaConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use hotline::media::*;
//! use std::time::Duration;
//!
//! let pool = PortPool::new(&cfg)?;                 // once, at start-up
//! let prompts = PromptCatalog::new("prompts");     // once; decodes each file once
//!
//! // INVITE arrives: bind ports before writing the SDP answer.
//! let media = MediaSession::open(&pool)?;
//! let our_sdp_addr = media.sdp_addr();             // c= / m=audio port
//! // ... negotiate; then:
//! let remote: std::net::SocketAddr = "192.0.2.10:4000".parse()?;
//! media.start(StreamParams {
//!     remote, codec: Codec::Pcma, payload_type: 8,
//!     dtmf_payload_type: Some(101), ptime_ms: 20,
//! });
//!
//! match media.play(&prompts.get("welcome.wav")?, true).await {
//!     PlayOutcome::Interrupted(d) => println!("caller pressed {d}"),
//!     PlayOutcome::Finished => {}
//!     PlayOutcome::Ended => return Ok(()),         // hung up / RTP timeout
//! }
//! let _digit = media.next_digit(Duration::from_secs(5)).await;
//! let rec = media.record(RecordOptions::default()).await?;
//! rec.write_wav("/tmp/msg.wav")?;
//! media.close();
//! # Ok(()) }
//! ```
//!
//! - SIP INFO digits: the SIP layer parses the body and calls [`MediaSession::push_digit`].
//! - Pressing keys toward the peer: [`MediaSession::send_digit`] (RFC 4733 when negotiated,
//!   else in-band tones). A bridge passes keys heard as telephone-events or SIP INFO on to
//!   the other party the same way (in-band tones pass in the audio).
//! - re-INVITE: [`MediaSession::update`] (new address/codec), [`MediaSession::set_direction`]
//!   (hold: `a=sendonly`/`recvonly`/`inactive` as seen from our side).
//! - Transfer to an operator: `a.start_ringback()` while the B leg rings, then
//!   [`bridge`]`(&a, &b)` relays audio both ways (transcoding PCMU↔PCMA) until either ends.
//! - Staffed calls: [`ConversationRecorder::start`]`(&caller, &agent, path, layout)` records
//!   what each party says (stereo: caller left, agent right; or mixed) until `finish`, drop
//!   or either session ends; [`RecordLayout::for_operator_calls`] reads `[media]
//!   operator_recording`. [`monitor`]`(&caller, &agent, &supervisor, mode)` lets a supervisor
//!   listen, whisper to the agent or barge in ([`Monitor::set_mode`]; drop to stop). Both
//!   work whether or not the parties are bridged, and transcode like the bridge.
//! - Hang-up detection: [`MediaSession::ended`] resolves on RTP timeout or close; select on
//!   it next to SIP BYE.
//! - Everything is cancel-safe: dropping a `play`/`record`/`bridge` future stops that
//!   operation cleanly.
//!
//! Digits from RFC 4733, SIP INFO and in-band tones go into one queue; the same digit
//! from two sources within `dtmf_dedup_ms` is counted once. In-band detection runs only when
//! no telephone-event payload type was negotiated (`inband_dtmf = "auto"`).

pub mod config;
pub mod dtmf;
pub mod g711;
pub mod prompt;
pub mod rtcp;
pub mod session;
pub mod tone;

pub use config::{InbandDtmf, Latch, MediaConfig, OperatorRecording};
pub use dtmf::Digit;
pub use g711::Codec;
pub use prompt::{Prompt, PromptCatalog, PromptError};
pub use session::{
    bridge, monitor, BridgeEnd, ConversationEnd, ConversationRecorder, ConversationRecording,
    Direction, EndReason, Heard, Latching, ListenOptions, MediaError, MediaSession, MediaStats,
    Monitor, MonitorMode, PlayOutcome, PortPool, RecordEnd, RecordLayout, RecordOptions, Recording,
    StreamParams, Utterance, UtteranceEnd, LATENESS_BUCKETS_US,
};
