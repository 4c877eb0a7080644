//! The endpoint: state shared by the dispatcher and every dialog, at the bottom of the
//! SIP layer so dialogs, the call handle and the server all look down at it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::SipAddr;
use tokio_util::sync::CancellationToken;

use super::config::SipConfig;
use super::dialog_table::DialogTable;
use super::limits::{RateLimiter, Unconfirmed};
use super::media_leg::MediaCtx;
use super::registrar_uas::RegistrarUas;

/// Methods we answer; anything else gets 405 with this list in Allow.
pub(crate) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";

/// Counters for tests, logs and /metrics.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub invites: AtomicU64,
    pub answered: AtomicU64,
    pub rejected_busy: AtomicU64,
    pub rejected_rate: AtomicU64,
    pub rejected_draining: AtomicU64,
    /// INVITEs refused because their source had `max_unconfirmed_per_ip` setups running.
    pub rejected_unconfirmed: AtomicU64,
    /// Setups given up for a newer one when `max_unconfirmed` was full.
    pub evicted_unconfirmed: AtomicU64,
    /// TCP connections closed at once: over `max_tcp_connections` or `max_tcp_per_ip`.
    pub tcp_refused: AtomicU64,
    /// Dialogs alive, being set up or confirmed (the drain waits for them).
    pub active: AtomicUsize,
}

/// State shared by the dispatcher and every call task.
pub(crate) struct Shared {
    pub cfg: SipConfig,
    pub endpoint: EndpointInnerRef,
    pub dialogs: DialogTable,
    pub stats: Arc<ServerStats>,
    pub draining: AtomicBool,
    /// Cancelled when the drain timeout is over: every call hangs up.
    pub hangup_all: CancellationToken,
    pub limiter: RateLimiter,
    /// Calls being set up (no ACK yet), outside `max_calls`.
    pub setup: Arc<Unconfirmed>,
    pub media: MediaCtx,
    pub udp_addr: Option<SipAddr>,
    pub tcp_addr: Option<SipAddr>,
    /// IP written in SDP `c=`/`o=` lines.
    pub media_ip: IpAddr,
    /// Answers REGISTER when the layer above gave a directory of accounts.
    pub registrar: Option<Arc<RegistrarUas>>,
}

impl Shared {
    /// Whether per-IP limits spare `ip` (`trusted_sources`).
    pub(crate) fn trusted(&self, ip: IpAddr) -> bool {
        self.cfg.trusted_sources.contains(&ip)
    }

    /// Our address for a transport, for Via and Contact.
    pub(crate) fn local_addr(&self, reliable: bool) -> Option<SipAddr> {
        if reliable {
            self.tcp_addr.clone().or_else(|| self.udp_addr.clone())
        } else {
            self.udp_addr.clone().or_else(|| self.tcp_addr.clone())
        }
    }
}

/// Put `received=` on the top Via whenever `rport` got a value (RFC 3581 §4), which the
/// stack leaves out when the address matches the sent-by host.
pub(crate) fn fix_received(req: &mut rsipstack::sip::Request) {
    use rsipstack::sip::prelude::ToTypedHeader;
    use rsipstack::sip::Param;
    let Ok(via) = req.via_header_mut() else {
        return;
    };
    let _ = via.update_first_value(|v| {
        let mut typed = v.typed()?;
        let has_rport = typed
            .params
            .iter()
            .any(|p| matches!(p, Param::Rport(Some(_))));
        let has_received = typed.params.iter().any(|p| matches!(p, Param::Received(_)));
        if has_rport && !has_received {
            let host = typed.uri.host_with_port.host.to_string();
            typed
                .params
                .push(Param::Received(rsipstack::sip::param::Received::new(host)));
            return Ok(typed.into());
        }
        Ok(v)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::SipMessage;

    fn request(via: &str) -> rsipstack::sip::Request {
        let raw = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
             From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nContent-Length: 0\r\n\r\n"
        );
        match SipMessage::try_from(raw.as_str()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn top_via(req: &rsipstack::sip::Request) -> String {
        req.via_header()
            .map(|v| v.value().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn rport_with_a_value_gets_received() {
        let mut req = request("SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK1;rport=5999");
        fix_received(&mut req);
        assert!(
            top_via(&req).contains("received=10.0.0.7"),
            "{}",
            top_via(&req)
        );
    }

    #[test]
    fn via_without_rport_value_is_left_alone() {
        let mut req = request("SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK1;rport");
        fix_received(&mut req);
        assert!(!top_via(&req).contains("received="), "{}", top_via(&req));
    }
}
