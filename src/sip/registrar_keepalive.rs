//! Keep-alive pings to registered phones: an OPTIONS to every UDP binding every
//! `keepalive_secs`, sent to the address the REGISTER came from, so NAT pinholes stay open
//! and a phone that went away (unplugged, out of its Wi-Fi) is dropped after
//! `keepalive_misses` unanswered pings instead of being rung until its expiry.
//!
//! ```text
//! OPTIONS sip:ops1@192.168.1.20:5062 SIP/2.0      (sent to 203.0.113.9:40312, its source)
//! Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK…
//! ← SIP/2.0 200 OK   (any final answer counts: the phone is there)
//! ```
//!
//! A phone that registered through Kamailio is pinged along its Path, like any request to
//! it (the OPTIONS carries the Path as Route headers and goes to its first hop), whatever
//! transport it uses behind the proxy.
//!
//! TCP and TLS phones that registered directly keep their own connection alive (RFC 5626
//! CRLF pings); they are not pinged here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::{Header, Method, Param, Uri};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::transaction::Transaction;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::dialog_uac::{target_of, Target};
use super::endpoint::Shared;
use super::message::await_final;
use super::registrar::Binding;
use super::registrar_uas::RegistrarUas;

/// Pings every UDP binding each `every`, until `stop`.
pub(crate) async fn run(
    sh: Arc<Shared>,
    registrar: Arc<RegistrarUas>,
    every: Duration,
    misses_allowed: u32,
    stop: CancellationToken,
) {
    let mut misses: HashMap<(String, String), u32> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let all = match registrar.location().all().await {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "keep-alive: reading bindings failed");
                continue;
            }
        };
        let pings = all.into_iter().filter(|(_, b)| pinged(b)).map(|(aor, b)| {
            let sh = sh.clone();
            async move {
                let contact = b.contact.clone();
                let answered = ping(&sh, target_of(b), every).await;
                (aor, contact, answered)
            }
        });
        let results = futures::future::join_all(pings).await;
        let mut seen = std::collections::HashSet::new();
        for (aor, contact, answered) in results {
            let key = (aor, contact);
            seen.insert(key.clone());
            if answered {
                misses.remove(&key);
                continue;
            }
            let n = misses.entry(key.clone()).or_insert(0);
            *n += 1;
            if *n >= misses_allowed.max(1) {
                info!(user = %key.0, contact = %key.1, misses = *n, "phone stopped answering keep-alives: binding removed");
                if let Err(e) = registrar.location().remove(&key.0, &key.1).await {
                    warn!(error = %e, "keep-alive: removing a binding failed");
                }
                misses.remove(&key);
            }
        }
        misses.retain(|k, _| seen.contains(k));
    }
}

/// Bindings reached along a Path, and those that registered directly over UDP.
fn pinged(b: &Binding) -> bool {
    !b.path.is_empty() || b.source.starts_with("udp:")
}

/// One OPTIONS to a binding; true when any final response came back within `wait` (at
/// most Timer F).
async fn ping(sh: &Shared, to: Target, wait: Duration) -> bool {
    let Ok(uri) = Uri::try_from(to.uri.as_str()) else {
        return false;
    };
    let Some(local) = sh.local_addr(false) else {
        return false;
    };
    let Ok(via) = sh.endpoint.get_via(Some(local), None) else {
        return false;
    };
    let Ok(from_uri) = Uri::try_from(format!("sip:hotline@{}", sh.cfg.domain).as_str()) else {
        return false;
    };
    let from = rsipstack::sip::typed::From {
        display_name: None,
        uri: from_uri,
        params: vec![Param::Tag(rsipstack::transaction::make_tag())],
    };
    let to_hdr = rsipstack::sip::typed::To {
        display_name: None,
        uri: uri.clone(),
        params: vec![],
    };
    let mut req = sh
        .endpoint
        .make_request(Method::Options, uri, via, from, to_hdr, 1, None);
    for r in &to.route {
        req.headers.push(Header::Route(r.as_str().into()));
    }
    let Ok(key) = TransactionKey::from_request(&req, TransactionRole::Client) else {
        return false;
    };
    let mut tx = Transaction::new_client(key, req, sh.endpoint.clone(), None);
    tx.destination = to.next_hop;
    if let Err(e) = tx.send().await {
        debug!(error = %e, contact = %to.uri, "keep-alive OPTIONS not sent");
        return false;
    }
    tokio::time::timeout(wait, await_final(&mut tx))
        .await
        .ok()
        .flatten()
        .is_some()
}
