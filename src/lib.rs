//! `hotline`: a 12345 government service hotline gateway.
//!
//! Layers (see DESIGN.md), arrows pointing down only:
//! app (`main.rs`, `server`, `config`) → channels (`sip`, `media`, `webrtc`, `ivr`, `acd`, `sms`, `mail`, `web`)
//! → services (`notify`) → domain (`tickets`, `calls`, `speech`) → storage (`store`); small
//! leaves any layer may use: `telemetry` (the metrics recorder), `privacy` (masking),
//! `tomlpos` (where a key is in a TOML file), `wav` (the one WAV reader).
//! `docs/architecture.md` draws them and the path of a call and of a text message.
//!
//! The crate is a library plus one binary so that integration tests in `tests/` can start
//! pieces in-process next to the real peers (sipp, the SMSC simulator, an SMTP server).

pub mod acd;
pub mod calls;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod ivr;
pub mod mail;
pub mod media;
pub mod notify;
pub mod privacy;
pub mod reports;
pub mod scorecard;
pub mod server;
pub mod sip;
pub mod sms;
pub mod speech;
pub mod store;
pub mod telemetry;
pub mod tickets;
pub mod tomlpos;
pub mod wav;
pub mod web;
pub mod webrtc;
