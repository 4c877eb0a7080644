//! `POST requests.{fmt}`: a city system files a service request with its API key; it
//! becomes a ticket (channel open311) and the answer carries its number and a token.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::wire::{error, list, Created, Fmt};
use super::{params, split, wrong_jurisdiction};
use crate::tickets::{Actor, Channel, Kind, NewTicket, PhoneNumber};
use crate::web::accounts;
use crate::web::authz::{allows, Perm};
use crate::web::Ctx;

pub(super) async fn root_post(
    State(ctx): State<Ctx>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let Some((name, fmt)) = split(&file) else {
        return error(
            Fmt::Xml,
            StatusCode::NOT_FOUND,
            "unknown resource or format (use .xml or .json)",
        );
    };
    if name != "requests" {
        return error(fmt, StatusCode::NOT_FOUND, "unknown resource");
    }
    let p = match read_params(q.as_deref(), &body) {
        Ok(p) => p,
        Err(why) => return error(fmt, StatusCode::BAD_REQUEST, why),
    };
    if let Some(r) = wrong_jurisdiction(&ctx, &p, fmt) {
        return r;
    }
    let get = |k: &str| {
        p.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let Some(key) = get("api_key") else {
        return error(
            fmt,
            StatusCode::FORBIDDEN,
            "api_key is required to create a service request",
        );
    };
    let account = match accounts::account_for_token(ctx.db(), &key).await {
        Ok(Some(a)) if allows(a.role, Perm::CreateTicket) => a,
        Ok(_) => return error(fmt, StatusCode::FORBIDDEN, "invalid api_key"),
        Err(e) => {
            tracing::error!(error = %e, "open311 api_key check failed");
            return error(fmt, StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let Request {
        kind,
        address,
        phone,
        text,
    } = match read_request(&p) {
        Ok(r) => r,
        Err(why) => return error(fmt, StatusCode::BAD_REQUEST, why),
    };
    let created = ctx
        .tickets()
        .create(
            NewTicket {
                channel: Channel::Open311,
                kind: Some(kind),
                phone,
                text,
                address: Some(address),
                area: None,
                recording_path: None,
                language: None,
            },
            &Actor::Client(account.name.clone()),
        )
        .await;
    let t = match created {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "open311 request refused");
            return error(
                fmt,
                StatusCode::BAD_REQUEST,
                "the request could not be accepted",
            );
        }
    };
    let tok = match accounts::open311_token_create(ctx.db(), t.id).await {
        Ok(tok) => tok,
        Err(e) => {
            tracing::error!(error = %e, "open311 token not stored");
            accounts::random_token()
        }
    };
    let notice = format!(
        "已受理，工单编号 {}，可凭编号和手机号后四位查询办理进度。",
        t.number
    );
    list(
        fmt,
        StatusCode::OK,
        "service_requests",
        "request",
        &[Created {
            service_request_id: t.number.to_string(),
            token: tok,
            service_notice: notice,
            account_id: None,
        }],
    )
}

/// The parameters of a request: the query string's, then the form-encoded body's.
pub(crate) fn read_params(
    query: Option<&str>,
    body: &[u8],
) -> Result<HashMap<String, String>, &'static str> {
    let mut p = params(query).map_err(|_| "malformed query string")?;
    // Parameters come form-encoded in the body; some clients put them in the query string.
    let v = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map_err(|_| "body must be application/x-www-form-urlencoded")?;
    p.extend(v);
    Ok(p)
}

/// What a service request asks for, checked; the error is the sentence the client reads.
pub(crate) struct Request {
    pub(crate) kind: Kind,
    pub(crate) address: String,
    pub(crate) phone: PhoneNumber,
    pub(crate) text: String,
}

pub(crate) fn read_request(p: &HashMap<String, String>) -> Result<Request, &'static str> {
    let get = |k: &str| {
        p.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let Some(code) = get("service_code") else {
        return Err("service_code is required");
    };
    let Ok(kind) = code.parse::<Kind>() else {
        return Err("service_code not found");
    };
    let latlong = match (get("lat"), get("long")) {
        (Some(la), Some(lo)) => match (la.parse::<f64>(), lo.parse::<f64>()) {
            (Ok(a), Ok(b)) if (-90.0..=90.0).contains(&a) && (-180.0..=180.0).contains(&b) => {
                Some(format!("{a},{b}"))
            }
            _ => return Err("lat and long must be WGS84 decimal degrees"),
        },
        _ => None,
    };
    let address = get("address_string").or(get("address_id")).or(latlong);
    let Some(address) = address else {
        return Err("a location is required: lat and long, address_string or address_id");
    };
    let Some(phone) = get("phone") else {
        return Err("phone is required: residents follow their request by phone number");
    };
    let Ok(phone) = phone.parse::<PhoneNumber>() else {
        return Err("phone must be 3 to 20 digits");
    };
    let text = get("description").unwrap_or_else(|| kind.label_zh().to_string());
    if text.chars().count() > 4000 {
        return Err("description is longer than 4000 characters");
    }
    Ok(Request {
        kind,
        address,
        phone,
        text,
    })
}
