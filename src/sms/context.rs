//! What the SMS sender and the inbound handler share: configuration, database, the ticket
//! desk and the link.

use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

use crate::notify::TicketDesk;
use crate::store::Db;

use super::config::SmsConfig;
use super::link::SmsLink;

/// What the sender and the inbound handler share.
pub(super) struct Ctx {
    pub(super) cfg: SmsConfig,
    pub(super) db: Db,
    pub(super) desk: Arc<dyn TicketDesk>,
    pub(super) link: Arc<dyn SmsLink>,
    /// Wakes the sender when a notice is queued.
    pub(super) notify: Arc<Notify>,
    pub(super) node: String,
    /// Parts submitted whose acknowledgement is not stored yet, at most `window`: only
    /// these can be sent twice after a crash, so the bound is exact.
    pub(super) unstored: Semaphore,
}
