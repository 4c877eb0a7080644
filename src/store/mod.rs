//! Storage: the sqlx pool, migrations and the SQL dialect differences between SQLite (the
//! embedded default) and PostgreSQL (production, several nodes on one database).
//!
//! Everything goes through `sqlx::AnyPool` so one query text serves both databases. The rules
//! that make that work: `$1, $2 …` placeholders in order, BIGINT/TEXT/DOUBLE/BOOLEAN columns
//! only, times as BIGINT unix milliseconds UTC ([`now_ms`]), JSON as TEXT.

mod config;
pub mod lease;
pub mod listen;
pub mod objects;

pub use config::DatabaseConfig;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL `{0}` is neither sqlite:// nor postgres://")]
    UnsupportedUrl(String),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// This process's name among the nodes sharing a database: it marks the rows a node holds
/// (leases) and the announcements it makes, so that it skips its own. New at every start, so
/// a restarted node never takes for its own what its earlier life held.
pub fn node_id() -> &'static str {
    static NODE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NODE.get_or_init(|| format!("{:016x}", rand::random::<u64>()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    kind: DbKind,
}

impl Db {
    /// Connects as configured (creating the SQLite file and its directory on first start) and
    /// brings the schema up to date.
    pub async fn connect(cfg: &DatabaseConfig, data_dir: &Path) -> Result<Db, StoreError> {
        let url = cfg.effective_url(data_dir);
        if url.starts_with("sqlite:") {
            if let Some(parent) = sqlite_file(&url).and_then(|p| p.parent().map(Path::to_path_buf))
            {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(&parent).map_err(|source| StoreError::DataDir {
                        path: parent.display().to_string(),
                        source,
                    })?;
                }
            }
        }
        let db = Self::open(&url, cfg.max_connections).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connects to a URL and migrates; for tests and tools.
    pub async fn connect_url(url: &str) -> Result<Db, StoreError> {
        let db = Self::open(url, 5).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connects without migrating.
    pub async fn open(url: &str, max_connections: u32) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let url = match kind {
            DbKind::Sqlite => with_sqlite_defaults(url),
            DbKind::Postgres => url.to_string(),
        };
        let opts = AnyConnectOptions::from_str(&url).map_err(|source| StoreError::Connect {
            url: redact(&url),
            source,
        })?;
        let max = match kind {
            DbKind::Sqlite => max_connections.clamp(1, 8),
            DbKind::Postgres => max_connections.max(1),
        };
        let pool = AnyPoolOptions::new()
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL lets the console read while a call writes; the busy timeout
                        // turns short write contention into waiting instead of an error.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(&url),
                source,
            })?;
        Ok(Db { pool, kind })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.kind {
            DbKind::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            DbKind::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Whether several nodes may share this database (PostgreSQL); SQLite has one node.
    pub fn shared(&self) -> bool {
        self.kind == DbKind::Postgres
    }

    /// Row-claim suffix: several nodes on one PostgreSQL must not take the same row; SQLite has
    /// a single writer and no such clause.
    pub fn skip_locked(&self) -> &'static str {
        match self.kind {
            DbKind::Sqlite => "",
            DbKind::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Whether the database answers; for readiness checks.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Reads a boolean column: SQLite stores booleans as INTEGER 0/1 (the Any driver cannot read
/// SQLite's BOOLEAN), PostgreSQL as BOOLEAN.
pub fn get_bool(row: &sqlx::any::AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    row.try_get::<bool, _>(col)
        .or_else(|_| row.try_get::<i64, _>(col).map(|v| v != 0))
}

/// Current time as unix milliseconds, the storage format of every timestamp.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

fn with_sqlite_defaults(url: &str) -> String {
    let mut url = url.to_string();
    let mut add = |k: &str, v: &str| {
        if !url.contains(&format!("{k}=")) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{k}={v}"));
        }
    };
    add("mode", "rwc");
    url
}

/// Hides a password in a URL before it is logged.
pub fn redact(url: &str) -> String {
    if let (Some(scheme_end), Some(at)) = (url.find("://"), url.rfind('@')) {
        let creds = &url[scheme_end + 3..at];
        if let Some(colon) = creds.find(':') {
            return format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &creds[..colon],
                &url[at..]
            );
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_defaults_are_added_once() {
        let u = with_sqlite_defaults("sqlite://data/h.db?mode=ro");
        assert!(u.contains("mode=ro"));
        assert!(!u.contains("rwc"));
        assert!(with_sqlite_defaults("sqlite://data/h.db").ends_with("?mode=rwc"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn sqlite_file_path_is_extracted() {
        assert_eq!(
            sqlite_file("sqlite://data/h.db?mode=rwc").unwrap(),
            Path::new("data/h.db")
        );
        assert!(sqlite_file("sqlite::memory:").is_none());
    }
}
