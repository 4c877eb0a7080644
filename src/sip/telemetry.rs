//! What the SIP layer tells the operator: one tracing span per call, and the SIP metric
//! families, each counted in the one place its messages pass through.
//!
//! - `hotline_sip_requests_total{method}`: every request the transaction layer takes in
//!   (retransmissions it absorbs itself are not seen), plus those the UDP filter answers.
//! - `hotline_sip_responses_total{method,code}`: every final response sent or received
//!   (method from CSeq), retransmissions of our own 2xx included: they are on the wire.
//! - `hotline_calls_active`: calls handed to the handler whose dialog has not ended yet.

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Method, SipMessage, StatusCodeKind};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

/// The span every line of one call carries: its task, its dialog, its dialplan.
pub(crate) fn call_span(call_id: &str, caller: &str) -> tracing::Span {
    tracing::info_span!("call", call_id = %call_id, caller = %mask_number(caller))
}

/// 138****0000: the caller's number never appears whole in logs; numbers of 7 characters
/// or fewer are masked entirely, keeping their length.
pub(crate) fn mask_number(number: &str) -> String {
    let c: Vec<char> = number.chars().collect();
    let n = c.len();
    if n <= 7 {
        return "*".repeat(n);
    }
    format!(
        "{}****{}",
        c[..3].iter().collect::<String>(),
        c[n - 4..].iter().collect::<String>()
    )
}

/// Counts requests and final responses as they cross rsipstack's endpoint.
pub(crate) struct MessageCounter;

impl MessageInspector for MessageCounter {
    fn before_send(&self, msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        if let SipMessage::Response(r) = &msg {
            count_response(r);
        }
        msg
    }

    fn after_received(&self, msg: SipMessage, from: Option<&SipAddr>) -> SipMessage {
        // Without `from` it is the transaction handing a response it already saw to us.
        if from.is_some() {
            match &msg {
                SipMessage::Request(r) => count_request(method_label(&r.method)),
                SipMessage::Response(r) => count_response(r),
            }
        }
        msg
    }
}

fn count_response(r: &rsipstack::sip::Response) {
    if r.status_code.kind() == StatusCodeKind::Provisional {
        return;
    }
    let method = r
        .cseq_header()
        .and_then(|c| c.method())
        .map(|m| method_label(&m))
        .unwrap_or("other");
    count_final(method, u16::from(r.status_code.clone()));
}

/// One request received, by method.
pub(crate) fn count_request(method: &'static str) {
    metrics::counter!("hotline_sip_requests_total", "method" => method).increment(1);
}

/// One final response sent or received, by the method of its CSeq and its code.
pub(crate) fn count_final(method: &'static str, code: u16) {
    metrics::counter!(
        "hotline_sip_responses_total",
        "method" => method,
        "code" => code.to_string()
    )
    .increment(1);
}

/// A label from a closed set, so a peer cannot grow the metric without end.
pub(crate) fn method_label(m: &Method) -> &'static str {
    match m {
        Method::Ack => "ACK",
        Method::Bye => "BYE",
        Method::Cancel => "CANCEL",
        Method::Info => "INFO",
        Method::Invite => "INVITE",
        Method::Message => "MESSAGE",
        Method::Notify => "NOTIFY",
        Method::Options => "OPTIONS",
        Method::PRack => "PRACK",
        Method::Publish => "PUBLISH",
        Method::Refer => "REFER",
        Method::Register => "REGISTER",
        Method::Subscribe => "SUBSCRIBE",
        Method::Update => "UPDATE",
    }
}

/// Holds `hotline_calls_active` up by one while alive.
pub(crate) struct ActiveCall(());

impl ActiveCall {
    pub(crate) fn start() -> Self {
        metrics::gauge!("hotline_calls_active").increment(1.0);
        Self(())
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        metrics::gauge!("hotline_calls_active").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_is_masked_but_keeps_head_and_tail() {
        assert_eq!(mask_number("13800000000"), "138****0000");
        assert_eq!(mask_number("12345"), "*****");
        assert_eq!(mask_number(""), "");
    }

    #[test]
    fn method_labels_are_the_method_names() {
        assert_eq!(method_label(&Method::Invite), "INVITE");
        assert_eq!(method_label(&Method::Bye), "BYE");
    }
}
