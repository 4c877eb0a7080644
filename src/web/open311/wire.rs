//! The Open311 GeoReport v2 answers as types, serialised once with serde to either format:
//! JSON with serde_json, XML with quick-xml's serde support. Field names and order are the
//! spec's (and its JSON schemas'); a null is JSON `null` and an empty XML element (`<lat/>`).
//!
//! ```text
//! list   JSON [ {…}, … ]                XML <?xml …?>\n<root><item>…</item>…</root>\n
//! one    JSON {…}                       XML <?xml …?>\n<root>…</root>\n
//! nested JSON "endpoints": [ {…} ]      XML <endpoints><endpoint>…</endpoint></endpoints>
//! ```

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

/// The format a client asked for by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Json,
    Xml,
}

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// An array inside an answer: a JSON array, or in XML one element per item named `item`
/// (inside the element of the field that holds it).
pub struct Many<T> {
    pub fmt: Fmt,
    pub item: &'static str,
    pub items: Vec<T>,
}

impl<T: Serialize> Serialize for Many<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.fmt {
            Fmt::Json => {
                let mut seq = s.serialize_seq(Some(self.items.len()))?;
                for i in &self.items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Fmt::Xml => {
                let mut st = s.serialize_struct("Many", 1)?;
                st.serialize_field(self.item, &self.items)?;
                st.end()
            }
        }
    }
}

/// One error of the spec's error list.
#[derive(Debug, Serialize)]
pub struct ErrorItem {
    pub code: u16,
    pub description: String,
}

/// A request kind as an Open311 service.
#[derive(Debug, Serialize)]
pub struct Service {
    pub service_code: &'static str,
    pub service_name: &'static str,
    pub description: &'static str,
    pub metadata: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub keywords: &'static str,
    pub group: &'static str,
}

/// A service definition: we ask for no extra attributes.
#[derive(Debug, Serialize)]
pub struct ServiceDefinition {
    pub service_code: &'static str,
    pub attributes: Many<Attribute>,
}

/// An attribute of a service definition (none are defined yet).
#[derive(Debug, Serialize)]
pub struct Attribute {
    pub code: String,
}

#[derive(Debug, Serialize)]
pub struct Discovery {
    pub changeset: &'static str,
    pub contact: &'static str,
    pub key_service: &'static str,
    pub endpoints: Many<Endpoint>,
}

#[derive(Debug, Serialize)]
pub struct Endpoint {
    pub specification: &'static str,
    pub url: String,
    pub changeset: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub formats: Many<&'static str>,
}

/// A ticket as a service request. Never the resident's phone or full text.
#[derive(Debug, Serialize)]
pub struct Request {
    pub service_request_id: String,
    pub status: &'static str,
    pub status_notes: String,
    pub service_name: &'static str,
    pub service_code: &'static str,
    pub description: String,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    pub expected_datetime: String,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// The request id behind a token.
#[derive(Debug, Serialize)]
pub struct TokenAnswer {
    pub service_request_id: String,
    pub token: String,
}

/// The answer to a new service request.
#[derive(Debug, Serialize)]
pub struct Created {
    pub service_request_id: String,
    pub token: String,
    pub service_notice: String,
    pub account_id: Option<String>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Many<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.items).finish()
    }
}

/// An answer that could not be written (a bug in these types, never the client's input).
#[derive(Debug, thiserror::Error)]
enum Unwritable {
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("xml: {0}")]
    Xml(#[from] quick_xml::SeError),
}

fn reply(fmt: Fmt, status: StatusCode, body: Result<String, Unwritable>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "open311 answer not serialised");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let ct = match fmt {
        Fmt::Json => "application/json; charset=utf-8",
        Fmt::Xml => "text/xml; charset=utf-8",
    };
    (status, [(header::CONTENT_TYPE, ct)], body).into_response()
}

fn xml<T: Serialize>(root: &str, v: &T) -> Result<String, Unwritable> {
    Ok(quick_xml::se::to_string_with_root(root, v)?)
}

/// One object: a JSON object, or the XML document `<root>…</root>`.
pub fn one<T: Serialize>(fmt: Fmt, status: StatusCode, root: &str, v: &T) -> Response {
    let body = match fmt {
        Fmt::Json => serde_json::to_string(v).map_err(Unwritable::from),
        Fmt::Xml => xml(root, v).map(|x| format!("{XML_HEAD}{x}\n")),
    };
    reply(fmt, status, body)
}

/// A list: a JSON array, or the XML document `<root><item>…</item>…</root>`.
pub fn list<T: Serialize>(
    fmt: Fmt,
    status: StatusCode,
    root: &str,
    item: &str,
    rows: &[T],
) -> Response {
    let body = match fmt {
        Fmt::Json => serde_json::to_string(rows).map_err(Unwritable::from),
        Fmt::Xml => rows
            .iter()
            .map(|r| xml(item, r))
            .collect::<Result<String, Unwritable>>()
            .map(|items| format!("{XML_HEAD}<{root}>{items}</{root}>\n")),
    };
    reply(fmt, status, body)
}

/// The spec's error list, with one error.
pub fn error(fmt: Fmt, status: StatusCode, description: &str) -> Response {
    let e = ErrorItem {
        code: status.as_u16(),
        description: description.to_string(),
    };
    list(fmt, status, "errors", "error", &[e])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: Response) -> String {
        let b = futures::executor::block_on(axum::body::to_bytes(r.into_body(), 1 << 20)).unwrap();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn errors_in_both_formats() {
        let x = body(error(Fmt::Xml, StatusCode::NOT_FOUND, "x<y&z"));
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<errors><error><code>404</code><description>x&lt;y&amp;z</description></error></errors>\n"
        );
        let j = body(error(Fmt::Json, StatusCode::NOT_FOUND, "gone"));
        assert_eq!(j, r#"[{"code":404,"description":"gone"}]"#);
    }

    #[test]
    fn nulls_are_empty_elements_and_arrays_nest() {
        let def = |fmt| ServiceDefinition {
            service_code: "complaint",
            attributes: Many {
                fmt,
                item: "attribute",
                items: Vec::new(),
            },
        };
        assert_eq!(
            body(one(
                Fmt::Json,
                StatusCode::OK,
                "service_definition",
                &def(Fmt::Json)
            )),
            r#"{"service_code":"complaint","attributes":[]}"#
        );
        assert!(body(one(
            Fmt::Xml,
            StatusCode::OK,
            "service_definition",
            &def(Fmt::Xml)
        ))
        .contains("<service_definition><service_code>complaint</service_code><attributes"));
        let t = TokenAnswer {
            service_request_id: "1".into(),
            token: "t".into(),
        };
        assert_eq!(
            body(list(Fmt::Xml, StatusCode::OK, "service_requests", "request", &[t])),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<service_requests><request><service_request_id>1</service_request_id><token>t</token></request></service_requests>\n"
        );
        let empty: [TokenAnswer; 0] = [];
        assert!(body(list(Fmt::Xml, StatusCode::OK, "r", "i", &empty)).contains("<r></r>"));
    }
}
