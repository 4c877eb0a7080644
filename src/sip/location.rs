//! The location service: registrar bindings in the `sip_bindings` table, so they survive a
//! restart and every node on one PostgreSQL can reach every registered phone (through the
//! binding's Path when it registered through Kamailio).

use sqlx::Row;

use super::registrar::{Binding, Change, Path};
use crate::store::{now_ms, Db, StoreError};

/// Bindings of accounts' phones.
#[derive(Clone)]
pub struct Location {
    db: Db,
}

fn binding(r: &sqlx::any::AnyRow) -> Result<Binding, sqlx::Error> {
    Ok(Binding {
        contact: r.try_get("contact")?,
        call_id: r.try_get("call_id")?,
        cseq: r.try_get::<i64, _>("cseq")?.clamp(0, u32::MAX as i64) as u32,
        expires_at: r.try_get("expires_at")?,
        source: r.try_get("source")?,
        user_agent: r.try_get("user_agent")?,
        path: Path::from_stored(&r.try_get::<String, _>("path")?),
    })
}

const COLUMNS: &str = "contact, call_id, cseq, expires_at, source, user_agent, path";

impl Location {
    pub fn new(db: Db) -> Location {
        Location { db }
    }

    /// The unexpired bindings of `aor` (an account name), soonest to expire last.
    pub async fn bindings(&self, aor: &str) -> Result<Vec<Binding>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sip_bindings WHERE aor = $1 AND expires_at > $2 ORDER BY expires_at DESC"
        ))
        .bind(aor)
        .bind(now_ms())
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(binding).collect::<Result<_, _>>()?)
    }

    /// Every unexpired binding, for keep-alive pings: `(aor, binding)`.
    pub async fn all(&self) -> Result<Vec<(String, Binding)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT aor, {COLUMNS} FROM sip_bindings WHERE expires_at > $1 ORDER BY aor"
        ))
        .bind(now_ms())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("aor")?, binding(r)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Applies a REGISTER's changes in one transaction.
    pub async fn apply(&self, aor: &str, changes: &[Change]) -> Result<(), StoreError> {
        let mut tx = self.db.pool().begin().await?;
        let now = now_ms();
        for c in changes {
            match c {
                Change::Put(b) => {
                    sqlx::query(
                        "INSERT INTO sip_bindings (aor, contact, call_id, cseq, expires_at, source, user_agent, updated_at, path)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (aor, contact) DO UPDATE SET call_id = excluded.call_id, cseq = excluded.cseq,
                           expires_at = excluded.expires_at, source = excluded.source,
                           user_agent = excluded.user_agent, updated_at = excluded.updated_at,
                           path = excluded.path",
                    )
                    .bind(aor)
                    .bind(&b.contact)
                    .bind(&b.call_id)
                    .bind(b.cseq as i64)
                    .bind(b.expires_at)
                    .bind(&b.source)
                    .bind(&b.user_agent)
                    .bind(now)
                    .bind(b.path.stored())
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Remove { contact } => {
                    sqlx::query("DELETE FROM sip_bindings WHERE aor = $1 AND contact = $2")
                        .bind(aor)
                        .bind(contact)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes a binding whose phone stopped answering keep-alives.
    pub async fn remove(&self, aor: &str, contact: &str) -> Result<(), StoreError> {
        self.apply(
            aor,
            &[Change::Remove {
                contact: contact.to_string(),
            }],
        )
        .await
    }

    /// Deletes expired bindings; how many.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM sip_bindings WHERE expires_at <= $1")
                .bind(now_ms())
                .execute(self.db.pool())
                .await?
                .rows_affected(),
        )
    }
}
