//! Reading tickets: one by id or number, filtered lists and counts, the audit trail.

use sqlx::{AnyConnection, Row};

use super::sql::{fetch, filter_sql, from_row, ms_to_utc, parse_word, TicketFilter, COLUMNS};
use super::Tickets;
use crate::tickets::error::TicketsError;
use crate::tickets::model::*;

impl Tickets {
    pub async fn get(&self, id: TicketId) -> Result<Ticket, TicketsError> {
        let mut conn = self.db.pool().acquire().await?;
        fetch(&mut conn, id).await
    }

    /// [`Tickets::get`] on a connection the caller holds (inside its own transaction).
    pub async fn get_on(conn: &mut AnyConnection, id: TicketId) -> Result<Ticket, TicketsError> {
        fetch(conn, id).await
    }

    pub async fn by_number(&self, number: &TicketNumber) -> Result<Ticket, TicketsError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE number = $1"))
            .bind(number.as_str())
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| TicketsError::NotFound(number.to_string()))?;
        from_row(&row)
    }

    pub async fn list_by_phone(
        &self,
        phone: &PhoneNumber,
        limit: i64,
    ) -> Result<Vec<Ticket>, TicketsError> {
        self.list(&TicketFilter {
            phone: Some(phone.clone()),
            limit,
            ..Default::default()
        })
        .await
    }

    /// Newest first.
    pub async fn list(&self, f: &TicketFilter) -> Result<Vec<Ticket>, TicketsError> {
        let (sql, binds) = filter_sql(f, &format!("SELECT {COLUMNS} FROM tickets"));
        let sql = format!(
            "{sql} ORDER BY id DESC LIMIT {} OFFSET {}",
            f.limit.clamp(1, 1000),
            f.offset.max(0)
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = b.bind_to(q);
        }
        q.fetch_all(self.db.pool())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn count(&self, f: &TicketFilter) -> Result<i64, TicketsError> {
        let (sql, binds) = filter_sql(f, "SELECT COUNT(*) FROM tickets");
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = b.bind_to(q);
        }
        Ok(q.fetch_one(self.db.pool()).await?.try_get(0)?)
    }

    pub async fn audit_trail(&self, id: TicketId) -> Result<Vec<AuditEntry>, TicketsError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, from_state, to_state, note FROM ticket_audit WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let from: Option<String> = r.try_get(3)?;
                let to: String = r.try_get(4)?;
                Ok(AuditEntry {
                    at: ms_to_utc(r.try_get(0)?),
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    from: from.and_then(|s| s.parse().ok()),
                    to: parse_word(&to)?,
                    note: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Tickets taken in between `start` and `end` (inclusive), newest first, at most `limit`.
    pub async fn created_between(
        &self,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<Vec<Ticket>, TicketsError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tickets WHERE created_at >= $1 AND created_at <= $2 ORDER BY id DESC LIMIT {}",
            limit.clamp(1, 1000)
        );
        sqlx::query(&sql)
            .bind(start.timestamp_millis())
            .bind(end.timestamp_millis())
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }
}
