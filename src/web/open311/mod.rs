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
//! shows the resident's phone or full text: only the one-line summary, redacted. Reading
//! requests is off unless the city publishes some service codes (`requests.rs`). The answers are the
//! types of `wire.rs`, serialised once to either format; reading requests is `requests.rs`,
//! filing one `create.rs`, and discovery and services are here.

pub(crate) mod create;
mod requests;
mod wire;

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::auth::ClientIp;
use super::Ctx;
use crate::tickets::Kind;
use wire::{error, list, one, Discovery, Endpoint, Fmt, Many, Service, ServiceDefinition};

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/{file}", get(root_get).post(create::root_post))
        .route("/services/{file}", get(service_definition))
        .route("/requests/{file}", get(requests::one_request))
        .route("/tokens/{file}", get(requests::token))
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

/// The kinds named in `[web] open311_public_services`; unknown codes are logged and left out.
pub(super) fn public_kinds(codes: &[String]) -> Vec<Kind> {
    codes
        .iter()
        .filter_map(|c| match c.trim().parse::<Kind>() {
            Ok(k) => Some(k),
            Err(_) => {
                tracing::warn!(code = %c, "[web] open311_public_services: unknown service code ignored");
                None
            }
        })
        .collect()
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

/// The name and format of a GET's `file` and its query parameters, or the answer that
/// refuses it (unknown format: `unknown`; a malformed query; another jurisdiction).
fn get_parts<'a>(
    ctx: &Ctx,
    file: &'a str,
    q: Option<&str>,
    unknown: &'static str,
) -> Result<Get<'a>, Box<Response>> {
    let Some((name, fmt)) = split(file) else {
        return Err(Box::new(error(Fmt::Xml, StatusCode::NOT_FOUND, unknown)));
    };
    let Ok(p) = params(q) else {
        let bad = error(fmt, StatusCode::BAD_REQUEST, "malformed query string");
        return Err(Box::new(bad));
    };
    if let Some(r) = wrong_jurisdiction(ctx, &p, fmt) {
        return Err(Box::new(r));
    }
    Ok(Get {
        name,
        fmt,
        params: p,
    })
}

/// A GET's resource name, answer format and query parameters.
struct Get<'a> {
    name: &'a str,
    fmt: Fmt,
    params: HashMap<String, String>,
}

fn params(q: Option<&str>) -> Result<HashMap<String, String>, serde_urlencoded::de::Error> {
    match q {
        None => Ok(HashMap::new()),
        Some(q) => {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q).map(|v| v.into_iter().collect())
        }
    }
}

async fn root_get(
    State(ctx): State<Ctx>,
    ClientIp(ip): ClientIp,
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let Get {
        name,
        fmt,
        params: p,
    } = match get_parts(
        &ctx,
        &file,
        q.as_deref(),
        "unknown resource or format (use .xml or .json)",
    ) {
        Ok(parts) => parts,
        Err(r) => return *r,
    };
    match name {
        "discovery" => discovery(fmt, &headers),
        "services" => {
            let rows: Vec<_> = Kind::ALL.iter().map(|k| service_row(*k)).collect();
            list(fmt, StatusCode::OK, "services", "service", &rows)
        }
        "requests" => requests::get_requests(&ctx, ip, fmt, &p).await,
        _ => error(fmt, StatusCode::NOT_FOUND, "unknown resource"),
    }
}

async fn service_definition(
    State(ctx): State<Ctx>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Get {
        name: code, fmt, ..
    } = match get_parts(
        &ctx,
        &file,
        q.as_deref(),
        "unknown format (use .xml or .json)",
    ) {
        Ok(parts) => parts,
        Err(r) => return *r,
    };
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
}
