//! The public status page: a resident looks a ticket up by number and the last four digits
//! of the phone, rate-limited per address.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::*;
use crate::tickets::{Asker, Proof, State as TState, StatusClaim};
use crate::web::auth::{self, ClientIp, MaybeSession, Session};
use crate::web::views::{self, when};
use crate::web::Ctx;

/// The form token of a public page: the session's when someone is logged in (the CSRF check
/// then expects it), else the anonymous double-submit one.
fn public_csrf(s: &Option<Session>, headers: &HeaderMap) -> (String, bool) {
    match s {
        Some(s) => (s.csrf.clone(), false),
        None => anon_csrf(headers),
    }
}

pub(super) async fn status_page(
    State(ctx): State<Ctx>,
    MaybeSession(s): MaybeSession,
    headers: HeaderMap,
) -> Page {
    let (token, fresh) = public_csrf(&s, &headers);
    let res = render(
        &ctx,
        None,
        "status.html",
        context! { form_csrf => token.clone() },
    )?;
    Ok(with_anon_cookie(&ctx, res, &token, fresh))
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    number: String,
    last4: String,
}

/// The page of a refused lookup (429): one answer for every limit, so it says nothing of
/// which one was hit.
fn too_many(ctx: &Ctx, token: String) -> Page {
    ctx.stats.status("throttled");
    let mut r = render(
        ctx,
        None,
        "status.html",
        context! { form_csrf => token, error => "查询过于频繁，请稍后再试。" },
    )?;
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    Ok(r)
}

/// The resident's lookup: number plus the last four digits of the phone; the same answer
/// whether the number or the digits were wrong, and a limit per address on both tries and
/// failures.
pub(super) async fn status_lookup(
    State(ctx): State<Ctx>,
    ClientIp(ip): ClientIp,
    MaybeSession(s): MaybeSession,
    headers: HeaderMap,
    Form(f): Form<StatusForm>,
) -> Page {
    let (token, _) = public_csrf(&s, &headers);
    let key = auth::ip_key("st", ip);
    let cfg = &ctx.cfg;
    // Failures first (counting nothing), then the lookup takes its slot in the same step
    // as the check, so a burst in parallel cannot all pass.
    let limited = ctx.status_failures.count(&key, Duration::from_secs(3600))
        >= cfg.status_failures_per_hour.max(1) as usize
        || !ctx.status_hits.allow(
            &key,
            Duration::from_secs(60),
            cfg.status_per_minute.max(1) as usize,
        );
    if limited {
        tracing::warn!(%ip, "status lookup refused: rate limit");
        return too_many(&ctx, token);
    }
    // The ticket and the asker are counted in the database too (`tickets::lookup`): the
    // per-address limits above stop one browser, these stop many guessing one ticket.
    let claim = ctx
        .tickets()
        .status_claim(
            &f.number,
            &Asker::Address(ip),
            Proof::LastFour(f.last4.trim()),
        )
        .await?;
    let t = match claim {
        StatusClaim::Granted(t) => *t,
        StatusClaim::Locked => {
            tracing::warn!(
                "status lookup refused: too many wrong tries on the ticket or from the address"
            );
            return too_many(&ctx, token);
        }
        StatusClaim::NotFound | StatusClaim::NeedsProof | StatusClaim::Refused => {
            ctx.status_failures.hit(&key);
            ctx.stats.status("not_found");
            let mut r = render(
                &ctx,
                None,
                "status.html",
                context! { form_csrf => token, error => "没有查到。请核对工单编号和来电号码后四位。", number => f.number.trim() },
            )?;
            *r.status_mut() = StatusCode::NOT_FOUND;
            return Ok(r);
        }
    };
    ctx.stats.status("found");
    let tk = ctx.tickets();
    let state = if t.merged_into.is_some() {
        "已与相同诉求合并办理"
    } else {
        t.state.label_zh()
    };
    let answer = match t.state {
        TState::Resolved | TState::FollowUp | TState::Closed => {
            t.answer.clone().unwrap_or_default()
        }
        _ => String::new(),
    };
    render(
        &ctx,
        None,
        "status.html",
        context! {
            form_csrf => token,
            result => context! {
                number => t.number.to_string(),
                state => state,
                department => t.department.as_ref().map(|d| views::dept_name(tk, Some(d.as_str()))).unwrap_or_else(|| "热线受理中".into()),
                deadline => when(tk, t.deadline),
                answer => answer,
            },
        },
    )
}
