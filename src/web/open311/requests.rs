//! Reading service requests: the filtered list, one request, and the request behind a
//! token; a ticket as an Open311 request.
//!
//! Reading is closed unless a city opens it (`[web] open311_public_requests`), then only for
//! the service codes it lists, with the text redacted, and every read is counted per client
//! address: otherwise the list hands out what `/status` guards with the last four digits.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, FixedOffset, Utc};

use super::wire::{error, list, Fmt, Request, TokenAnswer};
use super::{get_parts, split, Get};
use crate::privacy::redact;
use crate::tickets::{state, Kind, Ticket, TicketNumber};
use crate::web::accounts;
use crate::web::auth::ClientIp;
use crate::web::Ctx;

/// The kinds of request the public may read, or the answer that refuses the read: listing
/// is off (403), or this address read too much this minute (429).
fn may_read(ctx: &Ctx, ip: std::net::IpAddr, fmt: Fmt) -> Result<&[Kind], Box<Response>> {
    let per_minute = ctx.cfg.open311_per_minute.max(1) as usize;
    let key = crate::web::auth::ip_key("o311", ip);
    if !ctx
        .open311_reads
        .allow(&key, std::time::Duration::from_secs(60), per_minute)
    {
        tracing::warn!(%ip, "open311 read refused: too many requests");
        return Err(Box::new(error(
            fmt,
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests, try again in a minute",
        )));
    }
    if !ctx.cfg.open311_public_requests {
        return Err(Box::new(error(
            fmt,
            StatusCode::FORBIDDEN,
            "service requests are not published by this jurisdiction; residents look up their own on the status page",
        )));
    }
    Ok(&ctx.open311_public_kinds)
}

fn rfc3339(ctx: &Ctx, t: DateTime<Utc>) -> String {
    t.with_timezone(&ctx.tickets().tz())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn request_row(ctx: &Ctx, t: &Ticket) -> Request {
    let open = state::is_open(t.state);
    let mut notes = t.state.label_zh().to_string();
    if t.merged_into.is_some() {
        notes = "已与相同诉求合并办理".into();
    } else if let (false, Some(a)) = (open, &t.answer) {
        notes = format!("{notes}：{}", redact(a));
    }
    let dept = t
        .department
        .as_ref()
        .and_then(|d| ctx.tickets().department(d))
        .map(|d| d.name.clone());
    Request {
        service_request_id: t.number.to_string(),
        status: if open { "open" } else { "closed" },
        status_notes: notes,
        service_name: t.kind.label_zh(),
        service_code: t.kind.code(),
        description: redact(&t.summary.chars().take(4000).collect::<String>()),
        agency_responsible: dept,
        service_notice: None,
        requested_datetime: rfc3339(ctx, t.created_at),
        updated_datetime: rfc3339(ctx, t.updated_at),
        expected_datetime: rfc3339(ctx, t.deadline),
        address: t.address.as_deref().map(redact),
        address_id: None,
        zipcode: None,
        lat: None,
        long: None,
        media_url: None,
    }
}

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::<FixedOffset>::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

pub(super) async fn get_requests(
    ctx: &Ctx,
    ip: std::net::IpAddr,
    fmt: Fmt,
    p: &HashMap<String, String>,
) -> Response {
    let public = match may_read(ctx, ip, fmt) {
        Ok(kinds) => kinds,
        Err(r) => return *r,
    };
    let get = |k: &str| p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let mut tickets = Vec::new();
    if let Some(ids) = get("service_request_id") {
        // The spec: with service_request_id, the other filters are ignored.
        for id in ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .take(100)
        {
            if let Ok(n) = id.parse::<TicketNumber>() {
                if let Ok(t) = ctx.tickets().by_number(&n).await {
                    tickets.push(t);
                }
            }
        }
    } else {
        let end = match get("end_date").map(parse_date) {
            Some(None) => {
                return error(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    "end_date must be a w3 datetime, e.g. 2026-11-26T08:00:00+08:00",
                )
            }
            Some(Some(d)) => d,
            None => Utc::now(),
        };
        let start = match get("start_date").map(parse_date) {
            Some(None) => {
                return error(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    "start_date must be a w3 datetime, e.g. 2026-11-01T00:00:00+08:00",
                )
            }
            Some(Some(d)) => d,
            None => end - chrono::Duration::days(90),
        };
        if start > end {
            return error(fmt, StatusCode::BAD_REQUEST, "start_date is after end_date");
        }
        if end - start > chrono::Duration::days(90) {
            return error(
                fmt,
                StatusCode::BAD_REQUEST,
                "start_date and end_date may be at most 90 days apart",
            );
        }
        let codes: Option<Vec<Kind>> = match get("service_code") {
            None => None,
            Some(c) => {
                let mut v = Vec::new();
                for code in c.split(',').map(str::trim) {
                    match code.parse::<Kind>() {
                        Ok(k) => v.push(k),
                        Err(_) => {
                            return error(fmt, StatusCode::BAD_REQUEST, "unknown service_code")
                        }
                    }
                }
                Some(v)
            }
        };
        let statuses: Option<Vec<bool>> = match get("status") {
            None => None,
            Some(s) => {
                let mut v = Vec::new();
                for st in s.split(',').map(str::trim) {
                    match st {
                        "open" => v.push(true),
                        "closed" => v.push(false),
                        _ => {
                            return error(
                                fmt,
                                StatusCode::BAD_REQUEST,
                                "status must be open or closed",
                            )
                        }
                    }
                }
                Some(v)
            }
        };
        let found = match ctx.tickets().created_between(start, end, 1000).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "open311 requests query failed");
                return error(fmt, StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        for t in found {
            if codes.as_ref().is_some_and(|c| !c.contains(&t.kind)) {
                continue;
            }
            if statuses
                .as_ref()
                .is_some_and(|s| !s.contains(&state::is_open(t.state)))
            {
                continue;
            }
            tickets.push(t);
        }
    }
    let rows: Vec<_> = tickets
        .iter()
        .filter(|t| public.contains(&t.kind))
        .map(|t| request_row(ctx, t))
        .collect();
    list(fmt, StatusCode::OK, "service_requests", "request", &rows)
}

pub(super) async fn one_request(
    State(ctx): State<Ctx>,
    ClientIp(ip): ClientIp,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Get { name: id, fmt, .. } = match get_parts(
        &ctx,
        &file,
        q.as_deref(),
        "unknown format (use .xml or .json)",
    ) {
        Ok(parts) => parts,
        Err(r) => return *r,
    };
    let public = match may_read(&ctx, ip, fmt) {
        Ok(kinds) => kinds,
        Err(r) => return *r,
    };
    let t = match id.parse::<TicketNumber>() {
        Ok(n) => ctx.tickets().by_number(&n).await.ok(),
        Err(_) => None,
    }
    .filter(|t| public.contains(&t.kind));
    match t {
        Some(t) => list(
            fmt,
            StatusCode::OK,
            "service_requests",
            "request",
            &[request_row(&ctx, &t)],
        ),
        None => error(fmt, StatusCode::NOT_FOUND, "service_request_id not found"),
    }
}

/// A token answers only with the request's id (which the client then reads as any other),
/// so it stays open; it is counted like every read, against guessing.
pub(super) async fn token(
    State(ctx): State<Ctx>,
    ClientIp(ip): ClientIp,
    Path(file): Path<String>,
) -> Response {
    let Some((tok, fmt)) = split(&file) else {
        return error(
            Fmt::Xml,
            StatusCode::NOT_FOUND,
            "unknown format (use .xml or .json)",
        );
    };
    let per_minute = ctx.cfg.open311_per_minute.max(1) as usize;
    let key = crate::web::auth::ip_key("o311", ip);
    if !ctx
        .open311_reads
        .allow(&key, std::time::Duration::from_secs(60), per_minute)
    {
        return error(
            fmt,
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests, try again in a minute",
        );
    }
    let found = match accounts::open311_token_ticket(ctx.db(), tok).await {
        Ok(Some(id)) => match ctx.tickets().get(id).await {
            Ok(t) => Ok(Some(t)),
            Err(crate::tickets::TicketsError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        },
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    match found {
        Ok(Some(t)) => list(
            fmt,
            StatusCode::OK,
            "service_requests",
            "request",
            &[TokenAnswer {
                service_request_id: t.number.to_string(),
                token: tok.to_string(),
            }],
        ),
        Ok(None) => error(fmt, StatusCode::NOT_FOUND, "token not found"),
        Err(e) => {
            tracing::error!(error = %e, "open311 token lookup failed");
            error(fmt, StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3_datetimes_need_a_zone() {
        assert!(parse_date("2026-11-26T08:00:00+08:00").is_some());
        assert!(parse_date("2026-11-26T00:00:00Z").is_some());
        assert!(parse_date("2026-11-26").is_none());
    }
}
