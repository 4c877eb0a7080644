//! Accounts (people who log in), their roles, API tokens for machine clients, the tokens of
//! Open311 requests, and the audit of account changes: every table of the web's own but the
//! sessions (`auth.rs`). Passwords are stored only as argon2id PHC strings.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{get_bool, now_ms, Db, StoreError};
use crate::tickets::departments::Department;
pub use crate::tickets::permission::{Role, UnknownRole};
use crate::tickets::{Actor, Caller, DepartmentId, TicketId};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account name must be 2–40 letters, digits, `.`, `_` or `-`")]
    BadName,
    #[error("password must be at least {0} characters")]
    WeakPassword(usize),
    #[error(transparent)]
    BadRole(#[from] UnknownRole),
    #[error("a department account needs --department with a department id from departments.toml")]
    DepartmentRequired,
    #[error("only department accounts belong to a department")]
    DepartmentNotAllowed,
    #[error("unknown department `{0}`")]
    UnknownDepartment(String),
    #[error("an account named `{0}` exists already")]
    Exists(String),
    #[error("no such account")]
    NotFound,
    #[error("cannot hash the password: {0}")]
    Hash(argon2::password_hash::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Store(StoreError::Sql(e))
    }
}

pub const MIN_PASSWORD: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub department: Option<DepartmentId>,
    pub active: bool,
}

impl Account {
    /// How this person appears in the ticket audit trail.
    pub fn actor(&self) -> Actor {
        let who = if self.display_name.is_empty() {
            self.name.clone()
        } else {
            format!("{}({})", self.display_name, self.name)
        };
        match (self.role, &self.department) {
            (Role::Department, Some(d)) => Actor::Department(d.clone(), who),
            (Role::Supervisor, _) => Actor::Supervisor(who),
            (Role::Operator, _) | (Role::Department, None) => Actor::Operator(who),
            (Role::Admin, _) => Actor::Operator(format!("admin:{who}")),
        }
    }

    /// This person as the caller of a ticket command, held to the permission table.
    pub fn caller(&self) -> Caller {
        Caller::Person {
            role: self.role,
            department: self.department.clone(),
            actor: self.actor(),
        }
    }

    pub fn label(&self) -> String {
        if self.display_name.is_empty() {
            self.name.clone()
        } else {
            self.display_name.clone()
        }
    }
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub department: Option<DepartmentId>,
    pub password: String,
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let ok = (2..=40).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadName)
    }
}

pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AccountError::WeakPassword(MIN_PASSWORD));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(AccountError::Hash)
}

/// A hash of a password nobody has, checked when the account does not exist so that a
/// wrong name costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        Argon2::default()
            .hash_password(b"no-such-account-placeholder")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Creates an account (what `hotline user add` calls). `departments` is the directory from
/// departments.toml, so a department account names one that exists.
pub async fn add_user(
    db: &Db,
    departments: &[Department],
    new: &NewAccount,
) -> Result<Account, AccountError> {
    check_name(&new.name)?;
    match (new.role, &new.department) {
        (Role::Department, None) => return Err(AccountError::DepartmentRequired),
        (Role::Department, Some(d)) => {
            if !departments.iter().any(|x| &x.id == d) {
                return Err(AccountError::UnknownDepartment(d.to_string()));
            }
        }
        (_, Some(_)) => return Err(AccountError::DepartmentNotAllowed),
        (_, None) => {}
    }
    let hash = hash_password(&new.password)?;
    let exists = sqlx::query("SELECT id FROM accounts WHERE name = $1")
        .bind(&new.name)
        .fetch_optional(db.pool())
        .await?;
    if exists.is_some() {
        return Err(AccountError::Exists(new.name.clone()));
    }
    let now = now_ms();
    let id: i64 = sqlx::query(
        "INSERT INTO accounts (name, display_name, role, department_id, password_hash, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) RETURNING id",
    )
    .bind(&new.name)
    .bind(new.display_name.trim())
    .bind(new.role.code())
    .bind(new.department.as_ref().map(|d| d.as_str()))
    .bind(&hash)
    .bind(now)
    .fetch_one(db.pool())
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.message().to_lowercase().contains("unique") => {
            AccountError::Exists(new.name.clone())
        }
        _ => AccountError::from(e),
    })?
    .try_get(0)?;
    get(db, id).await
}

const COLS: &str = "id, name, display_name, role, department_id, active";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Account, AccountError> {
    let role: String = r.try_get("role")?;
    Ok(Account {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        display_name: r.try_get("display_name")?,
        role: role.parse()?,
        department: r
            .try_get::<Option<String>, _>("department_id")?
            .map(DepartmentId),
        active: get_bool(r, "active")?,
    })
}

pub async fn get(db: &Db, id: i64) -> Result<Account, AccountError> {
    let r = sqlx::query(&format!("SELECT {COLS} FROM accounts WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AccountError::NotFound)?;
    from_row(&r)
}

pub async fn list(db: &Db) -> Result<Vec<Account>, AccountError> {
    sqlx::query(&format!("SELECT {COLS} FROM accounts ORDER BY id"))
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The active account with this name and password, or `None`; always pays for one argon2
/// verification so that timing does not tell which accounts exist.
pub async fn verify(db: &Db, name: &str, password: &str) -> Result<Option<Account>, AccountError> {
    let row = sqlx::query(&format!(
        "SELECT {COLS}, password_hash FROM accounts WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(db.pool())
    .await?;
    let (account, hash) = match &row {
        Some(r) => (Some(from_row(r)?), r.try_get::<String, _>("password_hash")?),
        None => (None, dummy_hash().to_string()),
    };
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(pw.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false);
    Ok(account.filter(|a| ok && a.active))
}

pub async fn set_password(db: &Db, id: i64, password: &str) -> Result<(), AccountError> {
    let hash = hash_password(password)?;
    let n = sqlx::query("UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(AccountError::NotFound);
    }
    // A new password ends every session of the account.
    sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Changes an account's role (and department); its sessions end so the new rights apply at
/// once.
pub async fn set_role(
    db: &Db,
    departments: &[Department],
    id: i64,
    role: Role,
    department: Option<DepartmentId>,
) -> Result<(), AccountError> {
    match (role, &department) {
        (Role::Department, None) => return Err(AccountError::DepartmentRequired),
        (Role::Department, Some(d)) => {
            if !departments.iter().any(|x| &x.id == d) {
                return Err(AccountError::UnknownDepartment(d.to_string()));
            }
        }
        (_, Some(_)) => return Err(AccountError::DepartmentNotAllowed),
        (_, None) => {}
    }
    let n = sqlx::query(
        "UPDATE accounts SET role = $1, department_id = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(role.code())
    .bind(department.as_ref().map(|d| d.as_str()))
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AccountError::NotFound);
    }
    sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn set_active(db: &Db, id: i64, active: bool) -> Result<(), AccountError> {
    let n = sqlx::query("UPDATE accounts SET active = $1, updated_at = $2 WHERE id = $3")
        .bind(active)
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(AccountError::NotFound);
    }
    if !active {
        sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
            .bind(id)
            .execute(db.pool())
            .await?;
        sqlx::query("UPDATE api_tokens SET revoked = TRUE WHERE account_id = $1")
            .bind(id)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// 32 random bytes as hex: session tokens, CSRF tokens, API tokens.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The Open311 token handed out for a new service request (GeoReport v2 `token`): random,
/// stored with the ticket it stands for.
pub async fn open311_token_create(db: &Db, ticket: TicketId) -> Result<String, AccountError> {
    let token = random_token();
    sqlx::query("INSERT INTO open311_tokens (token, ticket_id, created_at) VALUES ($1, $2, $3)")
        .bind(&token)
        .bind(ticket.0)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(token)
}

/// The ticket behind an Open311 token.
pub async fn open311_token_ticket(db: &Db, token: &str) -> Result<Option<TicketId>, AccountError> {
    let row = sqlx::query("SELECT ticket_id FROM open311_tokens WHERE token = $1")
        .bind(token)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => Some(TicketId(r.try_get(0)?)),
        None => None,
    })
}

/// A machine-client token for `account_id`; the secret is returned once and only its hash
/// is kept. Prefixed `hl_` so it is recognisable in a leaked config file.
pub async fn create_api_token(
    db: &Db,
    account_id: i64,
    label: &str,
) -> Result<String, AccountError> {
    get(db, account_id).await?;
    let token = format!("hl_{}", random_token());
    sqlx::query(
        "INSERT INTO api_tokens (account_id, label, token_hash, revoked, created_at) VALUES ($1, $2, $3, FALSE, $4)",
    )
    .bind(account_id)
    .bind(label.trim())
    .bind(sha256_hex(&token))
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(token)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub account_id: i64,
    pub label: String,
    pub revoked: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn list_api_tokens(db: &Db) -> Result<Vec<ApiTokenInfo>, AccountError> {
    let rows = sqlx::query(
        "SELECT id, account_id, label, revoked, created_at, last_used_at FROM api_tokens ORDER BY id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiTokenInfo {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                label: r.try_get("label")?,
                revoked: get_bool(r, "revoked")?,
                created_at: r.try_get("created_at")?,
                last_used_at: r.try_get("last_used_at")?,
            })
        })
        .collect()
}

pub async fn revoke_api_token(db: &Db, id: i64) -> Result<(), AccountError> {
    let n = sqlx::query("UPDATE api_tokens SET revoked = TRUE WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?
        .rows_affected();
    if n == 0 {
        Err(AccountError::NotFound)
    } else {
        Ok(())
    }
}

/// The active account behind a bearer token.
pub async fn account_for_token(db: &Db, token: &str) -> Result<Option<Account>, AccountError> {
    let row = sqlx::query("SELECT id, account_id, revoked FROM api_tokens WHERE token_hash = $1")
        .bind(sha256_hex(token.trim()))
        .fetch_optional(db.pool())
        .await?;
    let Some(r) = row else { return Ok(None) };
    if get_bool(&r, "revoked")? {
        return Ok(None);
    }
    let tid: i64 = r.try_get("id")?;
    let aid: i64 = r.try_get("account_id")?;
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(tid)
        .execute(db.pool())
        .await?;
    match get(db, aid).await {
        Ok(a) if a.active => Ok(Some(a)),
        Ok(_) | Err(AccountError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes one line of the account-change audit (who changed which account or token how).
pub async fn audit(
    db: &Db,
    actor: &str,
    action: &str,
    target: &str,
    note: &str,
) -> Result<(), AccountError> {
    sqlx::query(
        "INSERT INTO web_audit (at, actor, action, target, note) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(note)
    .execute(db.pool())
    .await?;
    Ok(())
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WebAuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub note: String,
}

pub async fn audit_log(db: &Db, limit: i64) -> Result<Vec<WebAuditEntry>, AccountError> {
    let rows = sqlx::query(&format!(
        "SELECT at, actor, action, target, note FROM web_audit ORDER BY id DESC LIMIT {}",
        limit.clamp(1, 500)
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WebAuditEntry {
                at: r.try_get(0)?,
                actor: r.try_get(1)?,
                action: r.try_get(2)?,
                target: r.try_get(3)?,
                note: r.try_get(4)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_code_and_chinese() {
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert_eq!("督办".parse::<Role>().unwrap(), Role::Supervisor);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn weak_passwords_are_refused_and_hashes_verify() {
        assert!(matches!(
            hash_password("short"),
            Err(AccountError::WeakPassword(_))
        ));
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", h.as_str())
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong horse battery", h.as_str())
            .is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("zhang.san").is_ok());
        assert!(check_name("张三").is_ok());
        assert!(check_name("a").is_err());
        assert!(check_name("a b").is_err());
    }
}

/// The SIP credentials of an account's phones: HA1 = H(name:realm:password) for MD5 and
/// SHA-256, never the password (the SIP user name is the console name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipSecret {
    pub realm: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

/// Stores an account's SIP credentials (computed by the caller for `realm`).
pub async fn set_sip_secret(db: &Db, name: &str, secret: &SipSecret) -> Result<(), AccountError> {
    let n = sqlx::query(
        "UPDATE accounts SET sip_realm = $1, sip_ha1_md5 = $2, sip_ha1_sha256 = $3, updated_at = $4 WHERE name = $5",
    )
    .bind(&secret.realm)
    .bind(&secret.ha1_md5)
    .bind(&secret.ha1_sha256)
    .bind(now_ms())
    .bind(name)
    .execute(db.pool())
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AccountError::NotFound);
    }
    Ok(())
}

/// The SIP credentials of an active account, if it has some for `realm`.
pub async fn sip_secret(
    db: &Db,
    name: &str,
    realm: &str,
) -> Result<Option<SipSecret>, AccountError> {
    let row = sqlx::query(
        "SELECT sip_realm, sip_ha1_md5, sip_ha1_sha256, active FROM accounts WHERE name = $1 AND sip_realm = $2",
    )
    .bind(name)
    .bind(realm)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    if !get_bool(&r, "active")? {
        return Ok(None);
    }
    Ok(Some(SipSecret {
        realm: r.try_get(0)?,
        ha1_md5: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
        ha1_sha256: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
    }))
}
