//! The caller's key presses, from RFC 4733 events, SIP INFO and in-band tones, in one queue;
//! and key presses sent to the peer.

use std::time::Duration;

use tokio::time::Instant;

use super::{later, MediaSession};
use crate::media::dtmf::{Digit, DigitSource};

impl MediaSession {
    /// Wait for the next digit from any source (RFC 4733, SIP INFO, in-band tones).
    /// `None` on timeout or when the session ends.
    pub async fn next_digit(&self, timeout: Duration) -> Option<Digit> {
        let deadline = later(Instant::now(), timeout);
        loop {
            let notified = self.sh.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(d) = self.sh.lock().digits.pop_front() {
                return Some(d);
            }
            if self.sh.end_reason().is_some() {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return self.sh.lock().digits.pop_front();
                }
            }
        }
    }

    /// Queue a digit the SIP layer parsed from an INFO request (application/dtmf-relay or
    /// application/dtmf). Deduplicated against the same digit from RTP within
    /// `dtmf_dedup_ms`.
    pub fn push_digit(&self, digit: Digit) {
        let mut st = self.sh.lock();
        if self.sh.queue_digit(&mut st, digit, DigitSource::SipInfo) {
            drop(st);
            self.sh.pass_on(digit);
        }
    }

    /// Press a key toward the peer: RFC 4733 telephone-events when the peer negotiated a
    /// payload type for them, else the tone pair in the audio. Keys go out one after
    /// another, 100 ms each. While bridged, keys heard from the other party as
    /// telephone-events or SIP INFO are sent on this way by themselves.
    pub fn send_digit(&self, digit: Digit) {
        self.sh.lock().keys.push(digit);
    }

    /// Forget queued digits (type-ahead), e.g. before a new menu.
    pub fn clear_digits(&self) {
        self.sh.lock().digits.clear();
    }
}
