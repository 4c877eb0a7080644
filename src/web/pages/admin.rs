//! Account administration: accounts, roles, passwords, API tokens and their audit log.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::{context, Value};
use serde::Deserialize;

use super::*;
use crate::tickets::DepartmentId;
use crate::web::accounts::{self, NewAccount, Role};
use crate::web::auth::Session;
use crate::web::authz::Perm;
use crate::web::error::WebError;
use crate::web::views::{self, when_ms};
use crate::web::Ctx;

pub(super) async fn accounts_context(
    ctx: &Ctx,
    new_token: Option<String>,
) -> Result<Value, WebError> {
    let tk = ctx.tickets();
    let list = accounts::list(ctx.db()).await?;
    let names: std::collections::HashMap<i64, String> =
        list.iter().map(|a| (a.id, a.name.clone())).collect();
    let rows: Vec<_> = list
        .iter()
        .map(|a| {
            context! {
                id => a.id, name => a.name.clone(), display => a.display_name.clone(),
                role => a.role.label_zh(), role_code => a.role.code(), active => a.active,
                dept_code => a.department.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                dept => a.department.as_ref().map(|d| views::dept_name(tk, Some(d.as_str()))).unwrap_or_default(),
            }
        })
        .collect();
    let tokens: Vec<_> = accounts::list_api_tokens(ctx.db())
        .await?
        .into_iter()
        .map(|t| {
            context! {
                id => t.id, label => t.label, revoked => t.revoked,
                account => names.get(&t.account_id).cloned().unwrap_or_default(),
                created => when_ms(tk, t.created_at),
                used => t.last_used_at.map(|m| when_ms(tk, m)).unwrap_or_default(),
            }
        })
        .collect();
    let log: Vec<_> = accounts::audit_log(ctx.db(), 50)
        .await?
        .into_iter()
        .map(|e| context! { at => when_ms(tk, e.at), actor => e.actor, action => account_action_zh(&e.action), target => e.target, note => e.note })
        .collect();
    Ok(context! {
        accounts => rows, tokens => tokens, log => log, new_token => new_token,
        roles => Role::ALL.iter().map(|r| context! { code => r.code(), label => r.label_zh() }).collect::<Vec<_>>(),
        departments => tk.departments().iter()
            .map(|d| context! { code => d.id.to_string(), label => d.name.clone() }).collect::<Vec<_>>(),
    })
}

fn account_action_zh(a: &str) -> &'static str {
    match a {
        "account_create" => "新建账号",
        "account_password" => "重置密码",
        "account_enable" => "启用账号",
        "account_disable" => "停用账号",
        "account_role" => "变更角色",
        "token_create" => "新建接口令牌",
        "token_revoke" => "吊销接口令牌",
        _ => "变更",
    }
}

pub(super) async fn accounts_page(State(ctx): State<Ctx>, s: Session) -> Page {
    s.require(Perm::ManageAccounts)?;
    let c = accounts_context(&ctx, None).await?;
    render(&ctx, Some(&s), "accounts.html", c)
}

#[derive(Deserialize)]
pub(super) struct AccountForm {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    role: String,
    #[serde(default)]
    department: Option<String>,
    password: String,
}

pub(super) async fn create_account(
    State(ctx): State<Ctx>,
    s: Session,
    Form(f): Form<AccountForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    let role: Role = f.role.parse()?;
    let department = match role {
        Role::Department => nonempty(&f.department).map(|d| DepartmentId(d.to_string())),
        _ => None,
    };
    let a = accounts::add_user(
        ctx.db(),
        ctx.tickets().departments(),
        &NewAccount {
            name: f.name.trim().to_string(),
            display_name: f.display_name.unwrap_or_default(),
            role,
            department,
            password: f.password,
        },
    )
    .await?;
    accounts::audit(
        ctx.db(),
        &s.account.name,
        "account_create",
        &a.name,
        a.role.label_zh(),
    )
    .await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    password: String,
}

pub(super) async fn reset_password(
    State(ctx): State<Ctx>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<PasswordForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    let a = accounts::get(ctx.db(), id).await?;
    accounts::set_password(ctx.db(), id, &f.password).await?;
    accounts::audit(ctx.db(), &s.account.name, "account_password", &a.name, "").await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
pub(super) struct ActiveForm {
    active: String,
}

pub(super) async fn set_active(
    State(ctx): State<Ctx>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<ActiveForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    let a = accounts::get(ctx.db(), id).await?;
    let on = f.active == "1";
    if !on && a.id == s.account.id {
        return Err(WebError::BadRequest("不能停用自己的账号。".into()));
    }
    accounts::set_active(ctx.db(), id, on).await?;
    let what = if on {
        "account_enable"
    } else {
        "account_disable"
    };
    accounts::audit(ctx.db(), &s.account.name, what, &a.name, "").await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    role: String,
    #[serde(default)]
    department: Option<String>,
}

pub(super) async fn set_role(
    State(ctx): State<Ctx>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    let a = accounts::get(ctx.db(), id).await?;
    let role: Role = f.role.parse()?;
    if a.id == s.account.id && role != Role::Admin {
        return Err(WebError::BadRequest("不能取消自己的管理员角色。".into()));
    }
    let department = match role {
        Role::Department => nonempty(&f.department).map(|d| DepartmentId(d.to_string())),
        _ => None,
    };
    accounts::set_role(
        ctx.db(),
        ctx.tickets().departments(),
        id,
        role,
        department.clone(),
    )
    .await?;
    let note = match &department {
        Some(d) => format!(
            "{}（{}）",
            role.label_zh(),
            views::dept_name(ctx.tickets(), Some(d.as_str()))
        ),
        None => role.label_zh().to_string(),
    };
    accounts::audit(ctx.db(), &s.account.name, "account_role", &a.name, &note).await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    account_id: i64,
    label: String,
}

pub(super) async fn create_token(
    State(ctx): State<Ctx>,
    s: Session,
    Form(f): Form<TokenForm>,
) -> Page {
    s.require(Perm::ManageAccounts)?;
    if f.label.trim().is_empty() {
        return Err(WebError::BadRequest("请填写令牌用途。".into()));
    }
    let a = accounts::get(ctx.db(), f.account_id).await?;
    let token = accounts::create_api_token(ctx.db(), a.id, &f.label).await?;
    accounts::audit(
        ctx.db(),
        &s.account.name,
        "token_create",
        &a.name,
        f.label.trim(),
    )
    .await?;
    let c = accounts_context(&ctx, Some(token)).await?;
    let mut r = render(&ctx, Some(&s), "accounts.html", c)?;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

pub(super) async fn revoke_token(State(ctx): State<Ctx>, s: Session, Path(id): Path<i64>) -> Page {
    s.require(Perm::ManageAccounts)?;
    accounts::revoke_api_token(ctx.db(), id).await?;
    accounts::audit(
        ctx.db(),
        &s.account.name,
        "token_revoke",
        &id.to_string(),
        "",
    )
    .await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}
