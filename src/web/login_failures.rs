//! Failed logins per account, counted in the database: every node on one PostgreSQL refuses
//! an account after the same number of wrong passwords, so a guesser who spreads tries over
//! the nodes gets no more of them. Each node's in-memory window (`auth::Window`) stays in
//! front of it: it counts an attempt before its password is checked (parallel guesses) and
//! per address, and spares the database a flood.

use std::time::Duration;

use sqlx::Row;

use crate::store::{now_ms, Db, StoreError};

/// Account names are the client's words: stored clipped.
fn clip(account: &str) -> String {
    account.chars().take(64).collect()
}

/// Failures of `account` within `within`, on any node.
pub async fn recent(db: &Db, account: &str, within: Duration) -> Result<u64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) FROM login_failures WHERE account = $1 AND at > $2")
        .bind(clip(account))
        .bind(now_ms() - within.as_millis() as i64)
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
}

/// One more failure of `account`; rows older than `keep` go.
pub async fn count(db: &Db, account: &str, keep: Duration) -> Result<(), StoreError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query("INSERT INTO login_failures (account, at) VALUES ($1, $2)")
        .bind(clip(account))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(now - keep.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A right password: the account's failures no longer count.
pub async fn forget(db: &Db, account: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_failures WHERE account = $1")
        .bind(clip(account))
        .execute(db.pool())
        .await?;
    Ok(())
}
