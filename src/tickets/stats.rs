//! Ticket counts of this moment (by state, overdue now), read from the database so every
//! node reports the same. The KPIs of a period are the scorecard's (src/scorecard/).

use sqlx::Row;

use crate::store::{now_ms, StoreError};

use super::{State, Tickets};

impl Tickets {
    /// Open tickets past their deadline now.
    pub async fn overdue_now(&self) -> Result<i64, StoreError> {
        let open = State::ALL
            .iter()
            .filter(|s| super::state::is_open(**s))
            .map(|s| format!("'{}'", s.code()))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(sqlx::query(&format!(
            "SELECT COUNT(*) FROM tickets WHERE deadline_at < $1 AND state IN ({open})"
        ))
        .bind(now_ms())
        .fetch_one(self.db().pool())
        .await?
        .try_get(0)?)
    }

    /// How many tickets are in each state now (every state, zero included).
    pub async fn count_by_state(&self) -> Result<Vec<(State, i64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM tickets GROUP BY state")
            .fetch_all(self.db().pool())
            .await?;
        let mut out: Vec<(State, i64)> = State::ALL.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let st: String = row.try_get(0)?;
            let n: i64 = row.try_get(1)?;
            if let Some(slot) = out.iter_mut().find(|(s, _)| s.code() == st) {
                slot.1 = n;
            }
        }
        Ok(out)
    }
}
