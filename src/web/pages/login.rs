//! Login and logout, with the attempt throttle per account name and per address (an IPv6
//! client by its /64) and a bound on password checks running at once.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::*;
use crate::web::accounts::{self};
use crate::web::auth::{self, ClientIp, MaybeSession, SESSION_COOKIE};
use crate::web::authz::home;
use crate::web::login_failures;
use crate::web::Ctx;

pub(super) async fn login_page(
    State(ctx): State<Ctx>,
    MaybeSession(s): MaybeSession,
    headers: HeaderMap,
) -> Page {
    if let Some(s) = s {
        return Ok(Redirect::to(home(s.account.role)).into_response());
    }
    let (token, fresh) = anon_csrf(&headers);
    let res = render(
        &ctx,
        None,
        "login.html",
        context! { login_csrf => token.clone(), error => "" },
    )?;
    Ok(with_anon_cookie(&ctx, res, &token, fresh))
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    name: String,
    password: String,
}

pub(super) async fn login(
    State(ctx): State<Ctx>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Page {
    let cfg = &ctx.cfg;
    let window = Duration::from_secs(
        60 * cfg
            .login_window_minutes
            .max(cfg.login_lockout_minutes)
            .max(1),
    );
    let name = f.name.trim().to_string();
    let kn = format!("n:{name}");
    let ki = auth::ip_key("ip", ip);
    let max = cfg.login_max_failures.max(1) as usize;
    let (token, _) = anon_csrf(&headers);
    let refuse = |msg: &str, code: StatusCode| -> Page {
        let mut r = render(
            &ctx,
            None,
            "login.html",
            context! { login_csrf => token.clone(), error => msg, name => name.clone() },
        )?;
        *r.status_mut() = code;
        Ok(r)
    };
    // The attempt takes its slot before the password is checked: guesses sent in parallel
    // cannot all pass a count that only grows after each check ends. Failures on the other
    // nodes of one database count too.
    let allowed = ctx
        .login_failures
        .allow_all(&[(&kn, max), (&ki, max * 4)], window)
        && login_failures::recent(ctx.db(), &name, window).await? < max as u64;
    if !allowed {
        ctx.stats.login("throttled");
        tracing::warn!(account = %name, %ip, "login refused: too many failures");
        return refuse(
            &format!(
                "登录失败次数过多，请 {} 分钟后再试。",
                cfg.login_lockout_minutes.max(1)
            ),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    // Each check costs an argon2 hash: only so many at once, the rest wait a little.
    let wait = Duration::from_millis(cfg.login_hash_wait_ms);
    let Ok(Ok(_slot)) = tokio::time::timeout(wait, ctx.login_hashes.acquire()).await else {
        ctx.login_failures.unhit(&kn);
        ctx.login_failures.unhit(&ki);
        ctx.stats.login("busy");
        tracing::warn!(account = %name, %ip, "login refused: password checks busy");
        let mut r = refuse("登录繁忙，请稍后再试。", StatusCode::SERVICE_UNAVAILABLE)?;
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        return Ok(r);
    };
    ctx.stats.password_check();
    match accounts::verify(ctx.db(), &name, &f.password).await? {
        Some(account) => {
            ctx.login_failures.clear(&kn);
            ctx.login_failures.unhit(&ki);
            login_failures::forget(ctx.db(), &name).await?;
            let token = auth::start_session(&ctx, &account).await?;
            ctx.stats.login("ok");
            tracing::info!(account = %account.name, role = %account.role, %ip, "login");
            let mut res = Redirect::to(home(account.role)).into_response();
            let max_age = ctx.cfg.session_hours.max(1) * 3600;
            if let Ok(v) = auth::set_cookie(&ctx, SESSION_COOKIE, &token, Some(max_age)).parse() {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(res)
        }
        None => {
            login_failures::count(ctx.db(), &name, window).await?;
            ctx.stats.login("failed");
            tracing::warn!(account = %name, %ip, "login failed");
            refuse("账号或密码不正确。", StatusCode::UNAUTHORIZED)
        }
    }
}

pub(super) async fn logout(State(ctx): State<Ctx>, MaybeSession(s): MaybeSession) -> Page {
    if let Some(s) = s {
        auth::end_session(&ctx, &s.token_hash).await?;
    }
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(&ctx, SESSION_COOKIE, "", Some(0)).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}
