//! What the SIP layer tells the operator: one tracing span per call, and the SIP metric
//! families, each counted in the one place its messages pass through.
//!
//! - `hotline_sip_requests_total{method}`: every request the transaction layer takes in
//!   (retransmissions it absorbs itself are not seen), plus those the UDP filter answers.
//! - `hotline_sip_responses_total{method,code}`: every final response sent or received
//!   (method from CSeq), retransmissions of our own 2xx included: they are on the wire.
//! - `hotline_sip_flood_dropped_total`: UDP requests dropped unread, their source over
//!   `udp_requests_per_ip`.
//! - `hotline_calls_active`: calls handed to the handler whose dialog has not ended yet.

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Method, SipMessage, StatusCodeKind};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transport::SipAddr;

/// The span every line of one call carries: its task, its dialog, its dialplan.
pub(crate) fn call_span(call_id: &str, caller: &str) -> tracing::Span {
    tracing::info_span!("call", call_id = %call_id, caller = %crate::privacy::mask(caller))
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

/// One UDP request dropped unread: its source was over `udp_requests_per_ip`.
pub(crate) fn count_flood_dropped() {
    metrics::counter!("hotline_sip_flood_dropped_total").increment(1);
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
    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
    use std::sync::{Arc, Mutex};

    #[test]
    fn caller_is_masked_but_keeps_head_and_tail() {
        assert_eq!(crate::privacy::mask("13800000000"), "138****0000");
        assert_eq!(crate::privacy::mask("12345"), "*****");
        assert_eq!(crate::privacy::mask(""), "");
    }

    /// Records the key of every counter increment.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);
    struct Hit(Seen, String);
    impl metrics::CounterFn for Hit {
        fn increment(&self, n: u64) {
            for _ in 0..n {
                self.0 .0.lock().unwrap().push(self.1.clone());
            }
        }
        fn absolute(&self, _: u64) {}
    }
    impl metrics::Recorder for Seen {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            Counter::from_arc(Arc::new(Hit(self.clone(), name)))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    fn msg(first_line: &str, cseq: &str) -> SipMessage {
        let raw = format!(
            "{first_line}\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\n\
             Call-ID: x\r\nCSeq: {cseq}\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n\
             Content-Length: 0\r\n\r\n"
        );
        SipMessage::try_from(raw.as_str()).expect("test message parses")
    }

    #[test]
    fn requests_and_final_responses_are_counted_once_each() {
        let seen = Seen::default();
        let from = SipAddr::from(std::net::SocketAddr::from(([127, 0, 0, 1], 5999)));
        metrics::with_local_recorder(&seen, || {
            let c = MessageCounter;
            c.after_received(msg("BYE sip:a@b SIP/2.0", "2 BYE"), Some(&from));
            c.before_send(msg("SIP/2.0 100 Trying", "1 INVITE"), None);
            c.before_send(msg("SIP/2.0 200 OK", "1 INVITE"), None);
            c.after_received(msg("SIP/2.0 486 Busy Here", "1 INVITE"), Some(&from));
            // The transaction handing the same response up again is not a new message.
            c.after_received(msg("SIP/2.0 486 Busy Here", "1 INVITE"), None);
        });
        assert_eq!(
            *seen.0.lock().unwrap(),
            vec![
                "hotline_sip_requests_total{method=BYE}",
                "hotline_sip_responses_total{method=INVITE,code=200}",
                "hotline_sip_responses_total{method=INVITE,code=486}",
            ]
        );
    }

    #[test]
    fn method_labels_are_the_method_names() {
        assert_eq!(method_label(&Method::Invite), "INVITE");
        assert_eq!(method_label(&Method::Bye), "BYE");
    }
}
