//! Bridging two sessions (B2BUA): audio relayed both ways, transcoded when the codecs differ.

use std::collections::VecDeque;
use std::sync::Arc;

use super::state::{Shared, Source};
use super::{EndReason, MediaError, MediaSession};

/// How a `bridge` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// The first session ended.
    FirstEnded(EndReason),
    /// The second session ended.
    SecondEnded(EndReason),
}

/// Relay audio both ways between two sessions (B2BUA), transcoding μ-law ↔ A-law through
/// linear PCM when their codecs differ. Whatever each session was playing stops. Returns
/// when either session ends; dropping the future un-bridges both (so a `select!` with a
/// hang-up or transfer event ends the bridge too).
pub async fn bridge(a: &MediaSession, b: &MediaSession) -> Result<BridgeEnd, MediaError> {
    if Arc::ptr_eq(&a.sh, &b.sh) {
        return Err(MediaError::AlreadyBridged);
    }
    {
        // Lock in address order so two bridges set up at once cannot deadlock.
        let (first, second) = if Arc::as_ptr(&a.sh) < Arc::as_ptr(&b.sh) {
            (&a.sh, &b.sh)
        } else {
            (&b.sh, &a.sh)
        };
        let mut s1 = first.lock();
        let mut s2 = second.lock();
        if s1.bridge_peer.is_some() || s2.bridge_peer.is_some() {
            return Err(MediaError::AlreadyBridged);
        }
        s1.bridge_peer = Some(Arc::downgrade(second));
        s2.bridge_peer = Some(Arc::downgrade(first));
        for s in [&mut s1, &mut s2] {
            s.source = Source::Bridge;
            s.bridge_rx.clear();
            s.marker_next = true;
        }
    }
    a.sh.notify.notify_waiters();
    b.sh.notify.notify_waiters();
    let _guard = BridgeGuard { a: &a.sh, b: &b.sh };
    let end = tokio::select! {
        r = a.sh.wait_ended() => BridgeEnd::FirstEnded(r),
        r = b.sh.wait_ended() => BridgeEnd::SecondEnded(r),
    };
    Ok(end)
}

struct BridgeGuard<'a> {
    a: &'a Shared,
    b: &'a Shared,
}

impl Drop for BridgeGuard<'_> {
    fn drop(&mut self) {
        for sh in [self.a, self.b] {
            let mut st = sh.lock();
            st.bridge_peer = None;
            st.bridge_rx = VecDeque::new();
            if matches!(st.source, Source::Bridge) {
                st.source = Source::Silence;
            }
        }
    }
}
