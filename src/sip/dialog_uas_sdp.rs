//! Offer/answer state of one UAS dialog (RFC 3264) and the media it drives.
//!
//! ```text
//! INVITE with offer    → our 2xx answers it            → media starts at the 2xx
//! INVITE without offer → our 2xx offers, ACK answers   → media starts at the ACK
//! re-INVITE with offer → 2xx answers (hold, new address) → media updated
//! re-INVITE without    → 2xx offers, its ACK answers
//! ```

use std::sync::Arc;

use tracing::{info, warn};

use super::media_leg::MediaHandle;
use super::sdp::{Direction, LocalSdp, Negotiated, SessionDesc};

/// What was negotiated so far, and the session it applies to.
pub(crate) struct OfferAnswer {
    pub(crate) local_sdp: LocalSdp,
    /// The last negotiated result; None until an offer and its answer met.
    pub(crate) neg: Option<Negotiated>,
    /// The initial INVITE carried the offer (else our 2xx does and the ACK answers).
    pub(crate) offer_in_invite: bool,
    pub(crate) our_dir: Direction,
    pub(crate) media: Arc<MediaHandle>,
}

impl OfferAnswer {
    /// Body of the 2xx to the initial INVITE: the answer to its offer, or our offer.
    pub(crate) fn answer_body(&mut self) -> String {
        match &self.neg {
            Some(neg) => {
                let dir = neg.remote_direction.reverse();
                self.our_dir = dir;
                self.media.start(neg, dir);
                self.local_sdp.answer(neg, dir)
            }
            None => self.local_sdp.offer(Direction::SendRecv),
        }
    }

    /// The ACK confirmed the dialog; if our 2xx carried the offer, the ACK has the answer.
    pub(crate) fn on_ack(&mut self, body: &[u8]) -> bool {
        if self.offer_in_invite {
            return true;
        }
        if body.is_empty() {
            warn!("offer in our 2xx got no answer in the ACK");
            return false;
        }
        self.apply_answer(body)
    }

    /// An answer to our offer (in an ACK); false when it is unusable.
    pub(crate) fn apply_answer(&mut self, body: &[u8]) -> bool {
        match SessionDesc::parse(body).and_then(|d| d.negotiate()) {
            Ok(neg) => {
                let dir = neg.remote_direction.reverse();
                self.our_dir = dir;
                if self.neg.is_none() {
                    self.media.start(&neg, dir);
                } else {
                    self.media.update(&neg, dir);
                }
                self.neg = Some(neg);
                true
            }
            Err(e) => {
                warn!(error = %e, "unusable SDP answer");
                false
            }
        }
    }

    /// Body of the 2xx to a re-INVITE: hold/unhold, a new address, or, for an offerless
    /// refresh, our offer (RFC 3264 §8). None when its offer is unusable (488).
    pub(crate) fn reinvite_body(&mut self, offer: &[u8]) -> Option<String> {
        if offer.is_empty() {
            // We offer, the answer comes in the ACK.
            return Some(self.local_sdp.offer(self.our_dir));
        }
        let neg = SessionDesc::parse(offer).and_then(|d| d.negotiate()).ok()?;
        let dir = neg.remote_direction.reverse();
        if dir != self.our_dir || self.neg.as_ref() != Some(&neg) {
            info!(?dir, remote = ?neg.remote, "re-INVITE changes media");
        }
        self.our_dir = dir;
        if self.neg.is_some() {
            self.media.update(&neg, dir);
        } else {
            self.media.start(&neg, dir);
        }
        let answer = self.local_sdp.answer(&neg, dir);
        self.neg = Some(neg);
        Some(answer)
    }
}
