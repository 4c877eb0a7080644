//! Signalling: the part that answers 12345 calls from a carrier trunk or a softphone.
//!
//! rsipstack carries transport (UDP, TCP), RFC 3261 §17 transactions and message types;
//! this module keeps its own small dialog table on top (UAS dialogs for callers, UAC dialogs
//! for bridged legs), does SDP offer/answer ([`sdp`]), limits and draining, and hands each
//! call to the layer above as a [`Call`] through [`CallHandler`]. It knows nothing of
//! tickets or dialplans.
//!
//! Files, each `use` pointing down only (the shape of sipgo / pjproject):
//!
//! ```text
//! server.rs                  start, drain, stats; hands each new call to the handler
//!   dispatch.rs              routes every new server transaction
//!   call.rs                  Call, CallHandler: the handle the dialplan holds
//!     dialog_uas_accept.rs   a new INVITE: limits, offer, media, then its dialog
//!       dialog_uas.rs        incoming dialog state machine (2xx/ACK, BYE, INFO, re-INVITE)
//!         dialog_uas_sdp.rs  its offer/answer state and the media it drives
//!     dialog_uac.rs          outgoing bridge legs (INVITE, CANCEL, BYE), BridgeOutcome
//!   transport.rs             UDP and TCP listeners
//!     transport_tcp.rs       TCP accept loop: connection caps, silent connections closed
//!     transport_udp_filter.rs  answers requests the stack cannot parse
//!       transport_udp_check.rs what is wrong with a datagram
//! message.rs                 responses, Contact, client requests, timers T1/T2, INFO DTMF
//! endpoint.rs                Shared endpoint state, ServerStats, ALLOW, fix_received
//! dialog_table.rs            in-dialog routing table and transaction pump
//! media_leg.rs               SDP results → media session
//!   registrar_uas.rs         REGISTER: digest auth, lockout, bindings
//!   registrar_keepalive.rs   OPTIONS pings to registered phones; silent ones are dropped
//!     registrar.rs           RFC 3261 §10.3 rules (pure)
//!     location.rs            bindings in the database
//!     auth_digest.rs         RFC 8760 / 2617 challenges and checks (pure)
//! telemetry.rs               call span (caller masked), SIP metrics
//! identity.rs              P-Asserted-Identity, believed from `trusted_peers` only
//! sdp.rs, limits.rs, config.rs, error.rs   leaves (limits: per-IP rates, the budget of
//!                            calls being set up, TCP connection caps)
//! ```

pub mod auth_digest;
pub mod call;
pub mod config;
mod dialer;
mod dialog_table;
mod dialog_uac;
mod dialog_uas;
mod dialog_uas_accept;
mod dialog_uas_sdp;
mod dispatch;
mod endpoint;
mod error;
mod identity;
mod limits;
pub mod location;
mod media_leg;
mod message;
pub mod registrar;
mod registrar_keepalive;
pub mod registrar_uas;
pub mod sdp;
mod server;
mod telemetry;
mod transport;
mod transport_tcp;
pub(crate) mod transport_udp_check;
pub(crate) mod transport_udp_filter;

pub use call::{BridgeOutcome, Call, CallError, CallHandler};
pub use config::SipConfig;
pub use dialer::{Dialer, OutboundLeg};
pub use error::SipError;
pub use server::{Server, ServerStats};
