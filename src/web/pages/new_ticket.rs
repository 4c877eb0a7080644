//! An operator takes a ticket in by hand, the caller's number filled in from the call.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::*;
use crate::calls::CallRecordId;
use crate::tickets::{Channel, Kind, NewTicket, PhoneNumber};
use crate::web::auth::Session;
use crate::web::authz::Perm;
use crate::web::error::WebError;
use crate::web::Ctx;

#[derive(Deserialize, Default)]
pub(super) struct NewQuery {
    #[serde(default)]
    phone: Option<String>,
}

pub(super) async fn new_ticket_page(
    State(ctx): State<Ctx>,
    s: Session,
    Query(q): Query<NewQuery>,
) -> Page {
    s.require(Perm::CreateTicket)?;
    let callers = ctx.calls.as_ref().map(|c| c.callers()).unwrap_or_default();
    let phone = nonempty(&q.phone)
        .map(str::to_string)
        .or_else(|| callers.first().cloned())
        .unwrap_or_default();
    let in_call = !phone.is_empty() && callers.iter().any(|c| c == &phone);
    render(
        &ctx,
        Some(&s),
        "new_ticket.html",
        context! {
            phone => phone,
            in_call => in_call,
            callers => callers,
            kinds => Kind::ALL.iter().map(|k| context! { code => k.code(), label => k.label_zh() }).collect::<Vec<_>>(),
        },
    )
}

#[derive(Deserialize)]
pub(super) struct NewTicketForm {
    phone: String,
    #[serde(default)]
    kind: Option<String>,
    text: String,
    #[serde(default)]
    address: Option<String>,
    /// The call record of the call the ticket is taken in (from the desk's screen pop).
    #[serde(default)]
    call: Option<String>,
}

pub(super) async fn create_ticket(
    State(ctx): State<Ctx>,
    s: Session,
    Form(f): Form<NewTicketForm>,
) -> Page {
    s.require(Perm::CreateTicket)?;
    let phone: PhoneNumber = f
        .phone
        .parse()
        .map_err(|_| WebError::BadRequest("请填写正确的来电号码（3–20 位数字）。".into()))?;
    let kind = match field(&f.kind).as_str() {
        "" => None,
        k => Some(
            k.parse()
                .map_err(|_| WebError::BadRequest("没有这个诉求类型。".into()))?,
        ),
    };
    let address = nonempty(&f.address).map(str::to_string);
    let t = ctx
        .tickets()
        .create(
            NewTicket {
                channel: Channel::Call,
                kind,
                phone,
                text: f.text,
                address,
                area: None,
                recording_path: None,
                language: None,
            },
            &s.account.actor(),
        )
        .await?;
    if let Some(call) = nonempty(&f.call) {
        let id = call
            .parse::<i64>()
            .ok()
            .filter(|i| *i > 0)
            .map(CallRecordId::from_raw);
        match id {
            Some(id) => {
                if !ctx.records().link_ticket(id, t.number.as_str()).await? {
                    tracing::warn!(call, ticket = %t.number, "ticket made for a call record that does not exist");
                }
            }
            None => tracing::warn!(call, "new ticket form sent a malformed call record id"),
        }
    }
    Ok(Redirect::to(&format!("/tickets/{}?done=create", t.id.0)).into_response())
}
