//! The texts a resident was sent about a ticket, as the ticket page lists them. They are
//! rows of the SMS outbox, which belongs to the notification layer, not to the web: this is
//! the web's one read of it, kept here until that layer offers the list itself.

use sqlx::Row;

use crate::store::Db;
use crate::tickets::TicketId;

/// One text as queued: when (unix ms), what, and its delivery state code.
pub struct SentText {
    pub at: i64,
    pub body: String,
    pub state: String,
}

/// Oldest first; an unreadable outbox shows as no texts (the page still renders).
pub async fn texts_for(db: &Db, ticket: TicketId) -> Vec<SentText> {
    sqlx::query("SELECT created_at, body, state FROM sms_outbox WHERE ticket_id = $1 ORDER BY id")
        .bind(ticket.0)
        .fetch_all(db.pool())
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some(SentText {
                at: r.try_get(0).ok()?,
                body: r.try_get(1).ok()?,
                state: r.try_get(2).ok()?,
            })
        })
        .collect()
}
