//! The durable record of what residents texted, written before the SMSC gets its
//! deliver_sm_resp: a part of a split message is stored before it is acknowledged (a crash
//! loses no acknowledged part; the whole text is assembled from the table), and each whole
//! text is remembered by its fingerprint, so the same text handed over again — an SMSC
//! redelivering after a crash or a late answer — is acted on once.
//!
//! The fingerprint is SHA-256 over the sender, the recipient, the text, and for a split
//! message its concatenation reference and part count. SMPP gives a resident's text no
//! message id and no SMSC timestamp (deliver_sm carries neither for a mobile-originated
//! text), so the same fingerprint within a window counts as the same message: a day for a
//! text that becomes a ticket, minutes for a command (a resident may ask `CX` again).
//!
//! A text whose handling a crash interrupted (stored, not marked handled) is handled again
//! with the same key: the ticket it made is found by that key
//! ([`crate::tickets::Tickets::create_once`]) and a reply already queued is not queued twice.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{now_ms, Db, StoreError};

use super::encoding::Concat;

/// One incoming text as recorded: its row and the key its effects carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: i64,
}

impl Received {
    /// The idempotency key of the text's effects (its ticket, its reply).
    pub fn key(&self) -> String {
        format!("sms:{}", self.id)
    }
}

/// What a text's arrival is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// First seen: handle it.
    New(Received),
    /// Seen before, but its handling never finished (a crash): handle it again, same key.
    Interrupted(Received),
    /// Seen and handled within the window: acknowledge, do nothing.
    Duplicate,
}

/// The fingerprint of a whole text; `split` is (reference, parts) of a concatenated one.
pub fn fingerprint(phone: &str, to: &str, text: &str, split: Option<(u16, u8)>) -> String {
    let mut h = Sha256::new();
    for field in [phone, to, text] {
        h.update(field.as_bytes());
        h.update([0x1f]);
    }
    if let Some((reference, total)) = split {
        h.update(format!("{reference}/{total}").as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Records a whole text's arrival: new, interrupted or a duplicate within `window`.
pub async fn arrive(db: &Db, fingerprint: &str, window: Duration) -> Result<Arrival, StoreError> {
    let now = now_ms();
    let seen = sqlx::query(
        "SELECT id, handled_at FROM sms_inbound_seen WHERE fingerprint = $1 AND received_at >= $2
         ORDER BY id DESC LIMIT 1",
    )
    .bind(fingerprint)
    .bind(now - window.as_millis() as i64)
    .fetch_optional(db.pool())
    .await?;
    if let Some(r) = seen {
        let id: i64 = r.try_get(0)?;
        let handled: Option<i64> = r.try_get(1)?;
        return Ok(match handled {
            Some(_) => Arrival::Duplicate,
            None => Arrival::Interrupted(Received { id }),
        });
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sms_inbound_seen (fingerprint, received_at) VALUES ($1, $2) RETURNING id",
    )
    .bind(fingerprint)
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    Ok(Arrival::New(Received { id }))
}

/// The text was acted on: a later arrival of it is a duplicate.
pub async fn handled(db: &Db, r: &Received) -> Result<(), StoreError> {
    sqlx::query("UPDATE sms_inbound_seen SET handled_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(r.id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// What a stored part makes of its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartArrival {
    /// Stored; other parts are still missing.
    Stored,
    /// Every part is in: the whole text, parts in order.
    Complete(String),
    /// A part of a message already handled, handed over again.
    Duplicate,
}

/// One part of a split message from `phone`, written before it is acknowledged.
/// `retention`: how long a handled message's parts are kept to recognise a late copy.
pub async fn store_part(
    db: &Db,
    phone: &str,
    c: Concat,
    text: &str,
    retention: Duration,
) -> Result<PartArrival, StoreError> {
    let now = now_ms();
    let group = |sql: &'static str| {
        sqlx::query(sql)
            .bind(phone.to_string())
            .bind(c.reference as i64)
            .bind(c.total as i64)
    };
    // Handled parts under the same numbering: a copy of that message, or — when the text
    // differs or it is old — a new message reusing the 8-bit reference.
    let same = group(
        "SELECT text, handled_at, received_at FROM sms_inbound_parts
         WHERE phone = $1 AND reference = $2 AND total = $3 AND seq = $4",
    )
    .bind(c.seq as i64)
    .fetch_optional(db.pool())
    .await?;
    if let Some(r) = same {
        let old_text: String = r.try_get(0)?;
        let handled_at: Option<i64> = r.try_get(1)?;
        let received_at: i64 = r.try_get(2)?;
        let recent = received_at >= now - retention.as_millis() as i64;
        if handled_at.is_some() {
            if old_text == text && recent {
                return Ok(PartArrival::Duplicate);
            }
            group(
                "DELETE FROM sms_inbound_parts WHERE phone = $1 AND reference = $2 AND total = $3",
            )
            .execute(db.pool())
            .await?;
        }
    }
    group(
        "INSERT INTO sms_inbound_parts (phone, reference, total, seq, text, received_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (phone, reference, total, seq) DO NOTHING",
    )
    .bind(c.seq as i64)
    .bind(text.to_string())
    .bind(now)
    .execute(db.pool())
    .await?;
    let parts = group(
        "SELECT text FROM sms_inbound_parts
         WHERE phone = $1 AND reference = $2 AND total = $3 AND handled_at IS NULL ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await?;
    if parts.len() < c.total as usize {
        return Ok(PartArrival::Stored);
    }
    let whole = parts
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<String, _>>()?;
    Ok(PartArrival::Complete(whole))
}

/// The split message (phone, reference, parts) was acted on.
pub async fn group_handled(
    db: &Db,
    phone: &str,
    reference: i64,
    total: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sms_inbound_parts SET handled_at = $4
         WHERE phone = $1 AND reference = $2 AND total = $3 AND handled_at IS NULL",
    )
    .bind(phone)
    .bind(reference)
    .bind(total)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A split message whose other parts never came, to be used as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    pub phone: String,
    pub reference: i64,
    pub total: i64,
    pub text: String,
}

/// Split messages waiting longer than `timeout` for their parts, and the oldest beyond
/// `max_groups` waiting ones (a flood of lone parts cannot grow the table without end).
pub async fn incomplete(
    db: &Db,
    timeout: Duration,
    max_groups: usize,
) -> Result<Vec<Incomplete>, StoreError> {
    let cutoff = now_ms() - timeout.as_millis() as i64;
    let groups = sqlx::query(
        "SELECT phone, reference, total, MIN(received_at) AS first FROM sms_inbound_parts
         WHERE handled_at IS NULL GROUP BY phone, reference, total ORDER BY first",
    )
    .fetch_all(db.pool())
    .await?;
    let excess = groups.len().saturating_sub(max_groups);
    let mut out = vec![];
    for (i, g) in groups.iter().enumerate() {
        let first: i64 = g.try_get(3)?;
        if i >= excess && first > cutoff {
            continue;
        }
        let phone: String = g.try_get(0)?;
        let reference: i64 = g.try_get(1)?;
        let total: i64 = g.try_get(2)?;
        let parts = sqlx::query(
            "SELECT text FROM sms_inbound_parts
             WHERE phone = $1 AND reference = $2 AND total = $3 AND handled_at IS NULL ORDER BY seq",
        )
        .bind(&phone)
        .bind(reference)
        .bind(total)
        .fetch_all(db.pool())
        .await?;
        let text = parts
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<String, _>>()?;
        out.push(Incomplete {
            phone,
            reference,
            total,
            text,
        });
    }
    Ok(out)
}

/// Drops what no redelivery can still match: handled parts and fingerprints older than
/// `retention`.
pub async fn forget_old(db: &Db, retention: Duration) -> Result<(), StoreError> {
    let cutoff = now_ms() - retention.as_millis() as i64;
    sqlx::query("DELETE FROM sms_inbound_parts WHERE handled_at IS NOT NULL AND received_at < $1")
        .bind(cutoff)
        .execute(db.pool())
        .await?;
    sqlx::query("DELETE FROM sms_inbound_seen WHERE received_at < $1")
        .bind(cutoff)
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/r.db", dir.path().display());
        (dir, Db::connect_url(&url).await.unwrap())
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[tokio::test]
    async fn a_text_again_is_a_duplicate_once_handled_and_interrupted_before() {
        let (_d, db) = db().await;
        let fp = fingerprint("13800001111", "12345", "路灯坏了", None);
        assert_ne!(fp, fingerprint("13800001111", "12345", "路灯坏了。", None));
        let Arrival::New(r) = arrive(&db, &fp, DAY).await.unwrap() else {
            panic!("first arrival is new")
        };
        assert_eq!(
            arrive(&db, &fp, DAY).await.unwrap(),
            Arrival::Interrupted(r.clone())
        );
        handled(&db, &r).await.unwrap();
        assert_eq!(arrive(&db, &fp, DAY).await.unwrap(), Arrival::Duplicate);
        // Outside the window it is a new message.
        assert!(matches!(
            arrive(&db, &fp, Duration::ZERO).await.unwrap(),
            Arrival::New(_)
        ));
    }

    #[tokio::test]
    async fn parts_assemble_from_the_table_and_a_late_copy_is_a_duplicate() {
        let (_d, db) = db().await;
        let c = |seq| Concat {
            reference: 9,
            total: 2,
            seq,
        };
        let p = "13800002222";
        assert_eq!(
            store_part(&db, p, c(2), "不亮", DAY).await.unwrap(),
            PartArrival::Stored
        );
        assert_eq!(
            store_part(&db, p, c(2), "不亮", DAY).await.unwrap(),
            PartArrival::Stored
        );
        assert_eq!(
            store_part(&db, p, c(1), "路灯", DAY).await.unwrap(),
            PartArrival::Complete("路灯不亮".into())
        );
        group_handled(&db, p, 9, 2).await.unwrap();
        assert_eq!(
            store_part(&db, p, c(1), "路灯", DAY).await.unwrap(),
            PartArrival::Duplicate
        );
        // The reference used again for another text: a new message.
        assert_eq!(
            store_part(&db, p, c(1), "井盖", DAY).await.unwrap(),
            PartArrival::Stored
        );
        let waiting = incomplete(&db, Duration::ZERO, 100).await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].text, "井盖");
        assert!(incomplete(&db, DAY, 100).await.unwrap().is_empty());
        assert_eq!(incomplete(&db, DAY, 0).await.unwrap().len(), 1);
    }
}
