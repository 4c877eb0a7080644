//! Open311 GeoReport v2 under `/open311/v2`, in `.xml` (required by the spec) and `.json`.
//!
//! ```text
//! GET  discovery.{fmt}             service discovery (endpoint, formats)
//! GET  services.{fmt}              our request kinds (咨询, 投诉 …) as services
//! GET  services/{code}.{fmt}       service definition (no extra attributes)
//! GET  requests.{fmt}              filters: service_request_id, service_code, start_date,
//!                                  end_date (≤ 90 days apart), status=open|closed
//! POST requests.{fmt}              api_key + service_code + (lat&long | address_string | address_id)
//! GET  requests/{id}.{fmt}         one request (id = our ticket number)
//! GET  tokens/{token}.{fmt}        the request id behind a token
//! errors: 400/403/404 with [{"code": 400, "description": "..."}] or <errors><error>…
//! ```
//! Our finer states map to `open`/`closed`; the Chinese state goes in `status_notes`, the
//! department in `agency_responsible`, the deadline in `expected_datetime`. A request never
//! shows the resident's phone or full text: only the one-line summary. The answers are the
//! types of `wire.rs`, serialised once to either format.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset, Utc};

use super::accounts;
use super::authz::{allows, Perm};
use super::Ctx;

mod wire;

use crate::tickets::{state, Actor, Channel, Kind, NewTicket, PhoneNumber, Ticket, TicketNumber};
use wire::{
    error, list, one, Created, Discovery, Endpoint, Fmt, Many, Request, Service, ServiceDefinition,
    TokenAnswer,
};

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/{file}", get(root_get).post(root_post))
        .route("/services/{file}", get(service_definition))
        .route("/requests/{file}", get(one_request))
        .route("/tokens/{file}", get(token))
}

fn split(file: &str) -> Option<(&str, Fmt)> {
    let (name, ext) = file.rsplit_once('.')?;
    let f = match ext {
        "json" => Fmt::Json,
        "xml" => Fmt::Xml,
        _ => return None,
    };
    Some((name, f))
}

fn service_row(k: Kind) -> Service {
    let description = match k {
        Kind::Consultation => "政策、办事流程等咨询",
        Kind::Complaint => "对服务、管理问题的投诉",
        Kind::Help => "生活中遇到困难需要帮助",
        Kind::Suggestion => "对政府工作的意见建议",
        Kind::Report => "对违法违规行为的举报",
        Kind::Praise => "对工作人员或单位的表扬",
    };
    Service {
        service_code: k.code(),
        service_name: k.label_zh(),
        description,
        metadata: false,
        kind: "realtime",
        keywords: k.label_zh(),
        group: "12345政务服务热线",
    }
}

/// The error to answer when the request names another jurisdiction.
fn wrong_jurisdiction(ctx: &Ctx, params: &HashMap<String, String>, fmt: Fmt) -> Option<Response> {
    match params.get("jurisdiction_id").map(|s| s.trim()) {
        Some(j) if !j.is_empty() && j != ctx.cfg.open311_jurisdiction => Some(error(
            fmt,
            StatusCode::NOT_FOUND,
            "jurisdiction_id not found",
        )),
        _ => None,
    }
}

fn params(q: Option<&str>) -> Result<HashMap<String, String>, ()> {
    match q {
        None => Ok(HashMap::new()),
        Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(|v| v.into_iter().collect())
            .map_err(|_| ()),
    }
}

async fn root_get(
    State(ctx): State<Ctx>,
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let Some((name, fmt)) = split(&file) else {
        return error(
            Fmt::Xml,
            StatusCode::NOT_FOUND,
            "unknown resource or format (use .xml or .json)",
        );
    };
    let Ok(p) = params(q.as_deref()) else {
        return error(fmt, StatusCode::BAD_REQUEST, "malformed query string");
    };
    if let Some(r) = wrong_jurisdiction(&ctx, &p, fmt) {
        return r;
    }
    match name {
        "discovery" => discovery(fmt, &headers),
        "services" => {
            let rows: Vec<_> = Kind::ALL.iter().map(|k| service_row(*k)).collect();
            list(fmt, StatusCode::OK, "services", "service", &rows)
        }
        "requests" => get_requests(&ctx, fmt, &p).await,
        _ => error(fmt, StatusCode::NOT_FOUND, "unknown resource"),
    }
}

async fn service_definition(
    State(ctx): State<Ctx>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some((code, fmt)) = split(&file) else {
        return error(
            Fmt::Xml,
            StatusCode::NOT_FOUND,
            "unknown format (use .xml or .json)",
        );
    };
    let Ok(p) = params(q.as_deref()) else {
        return error(fmt, StatusCode::BAD_REQUEST, "malformed query string");
    };
    if let Some(r) = wrong_jurisdiction(&ctx, &p, fmt) {
        return r;
    }
    let Ok(kind) = code.parse::<Kind>() else {
        return error(fmt, StatusCode::NOT_FOUND, "service_code not found");
    };
    let def = ServiceDefinition {
        service_code: kind.code(),
        attributes: Many {
            fmt,
            item: "attribute",
            items: Vec::new(),
        },
    };
    one(fmt, StatusCode::OK, "service_definition", &def)
}

/// Service discovery: where this endpoint is and what it speaks.
fn discovery(fmt: Fmt, headers: &axum::http::HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    let url = format!("http://{host}/open311/v2");
    let changeset = "2026-11-26T00:00:00+08:00";
    let d = Discovery {
        changeset,
        contact: "12345政务服务热线",
        key_service: "API keys are issued by the hotline's administrators",
        endpoints: Many {
            fmt,
            item: "endpoint",
            items: vec![Endpoint {
                specification: "http://wiki.open311.org/GeoReport_v2",
                url,
                changeset,
                kind: "production",
                formats: Many {
                    fmt,
                    item: "format",
                    items: vec!["text/xml", "application/json"],
                },
            }],
        },
    };
    one(fmt, StatusCode::OK, "discovery", &d)
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
        notes = format!("{notes}：{a}");
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
        description: t.summary.chars().take(4000).collect(),
        agency_responsible: dept,
        service_notice: None,
        requested_datetime: rfc3339(ctx, t.created_at),
        updated_datetime: rfc3339(ctx, t.updated_at),
        expected_datetime: rfc3339(ctx, t.deadline),
        address: t.address.clone(),
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

async fn get_requests(ctx: &Ctx, fmt: Fmt, p: &HashMap<String, String>) -> Response {
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
    let rows: Vec<_> = tickets.iter().map(|t| request_row(ctx, t)).collect();
    list(fmt, StatusCode::OK, "service_requests", "request", &rows)
}

async fn one_request(
    State(ctx): State<Ctx>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some((id, fmt)) = split(&file) else {
        return error(
            Fmt::Xml,
            StatusCode::NOT_FOUND,
            "unknown format (use .xml or .json)",
        );
    };
    let Ok(p) = params(q.as_deref()) else {
        return error(fmt, StatusCode::BAD_REQUEST, "malformed query string");
    };
    if let Some(r) = wrong_jurisdiction(&ctx, &p, fmt) {
        return r;
    }
    let t = match id.parse::<TicketNumber>() {
        Ok(n) => ctx.tickets().by_number(&n).await.ok(),
        Err(_) => None,
    };
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

async fn token(State(ctx): State<Ctx>, Path(file): Path<String>) -> Response {
    let Some((tok, fmt)) = split(&file) else {
        return error(
            Fmt::Xml,
            StatusCode::NOT_FOUND,
            "unknown format (use .xml or .json)",
        );
    };
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

async fn root_post(
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
    // Parameters come form-encoded in the body; some clients put them in the query string.
    let Ok(mut p) = params(q.as_deref()) else {
        return error(fmt, StatusCode::BAD_REQUEST, "malformed query string");
    };
    match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
        Ok(v) => p.extend(v),
        Err(_) => {
            return error(
                fmt,
                StatusCode::BAD_REQUEST,
                "body must be application/x-www-form-urlencoded",
            )
        }
    }
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
    let Some(code) = get("service_code") else {
        return error(fmt, StatusCode::BAD_REQUEST, "service_code is required");
    };
    let Ok(kind) = code.parse::<Kind>() else {
        return error(fmt, StatusCode::BAD_REQUEST, "service_code not found");
    };
    let latlong = match (get("lat"), get("long")) {
        (Some(la), Some(lo)) => match (la.parse::<f64>(), lo.parse::<f64>()) {
            (Ok(a), Ok(b)) if (-90.0..=90.0).contains(&a) && (-180.0..=180.0).contains(&b) => {
                Some(format!("{a},{b}"))
            }
            _ => {
                return error(
                    fmt,
                    StatusCode::BAD_REQUEST,
                    "lat and long must be WGS84 decimal degrees",
                )
            }
        },
        _ => None,
    };
    let address = get("address_string").or(get("address_id")).or(latlong);
    let Some(address) = address else {
        return error(
            fmt,
            StatusCode::BAD_REQUEST,
            "a location is required: lat and long, address_string or address_id",
        );
    };
    let Some(phone) = get("phone") else {
        return error(
            fmt,
            StatusCode::BAD_REQUEST,
            "phone is required: residents follow their request by phone number",
        );
    };
    let Ok(phone) = phone.parse::<PhoneNumber>() else {
        return error(fmt, StatusCode::BAD_REQUEST, "phone must be 3 to 20 digits");
    };
    let text = get("description").unwrap_or_else(|| kind.label_zh().to_string());
    if text.chars().count() > 4000 {
        return error(
            fmt,
            StatusCode::BAD_REQUEST,
            "description is longer than 4000 characters",
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_extension() {
        assert!(matches!(
            split("services.xml"),
            Some(("services", Fmt::Xml))
        ));
        assert!(matches!(
            split("requests.json"),
            Some(("requests", Fmt::Json))
        ));
        assert!(split("requests.html").is_none());
        assert!(split("requests").is_none());
    }

    #[test]
    fn w3_datetimes_need_a_zone() {
        assert!(parse_date("2026-11-26T08:00:00+08:00").is_some());
        assert!(parse_date("2026-11-26T00:00:00Z").is_some());
        assert!(parse_date("2026-11-26").is_none());
    }
}
