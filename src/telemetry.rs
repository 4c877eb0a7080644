//! Prometheus metrics for the whole process, through the `metrics` crate.
//!
//! Every module records with `metrics::counter!`/`gauge!`/`histogram!` where the thing
//! happens; this leaf installs the one recorder (`metrics-exporter-prometheus`) the first
//! time anyone asks, and renders the text exposition for `/metrics`. It imports nothing of
//! the crate, so any layer may use it.
//!
//! The families are described (HELP text) and their unlabelled counters registered at zero
//! here, so a scrape shows every family from the start, not only after its first event.
//!
//! It also says which log lines the process writes by default ([`log_directives`]).

use std::sync::OnceLock;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once; later calls return the same handle. When another
/// recorder was installed first (a test harness, an embedding program), the handle still
/// renders, but only what reaches it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .expect("static bucket list is not empty")
            // Offers are matched in memory: most take milliseconds, the poll is one second.
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("hotline_acd_offer_seconds".into()),
                &[
                    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
                ],
            )
            .expect("static bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be incomplete");
        }
        describe();
        handle
    })
}

/// Log targets quieted unless a filter names them: rsipstack writes every SIP message it
/// sends or receives, whole, at `info` (callers' numbers in a log that a flood fills).
const QUIET_TARGETS: [(&str, &str); 1] = [("rsipstack", "warn")];

/// The tracing filter for `filter` (the `[log] level` or `RUST_LOG`): the same directives,
/// with each target of [`QUIET_TARGETS`] held at its level unless `filter` names that
/// target itself (`rsipstack=trace` shows raw SIP again).
pub fn log_directives(filter: &str) -> String {
    let mut out = filter.trim().trim_matches(',').to_string();
    for (target, level) in QUIET_TARGETS {
        // `rsipstack::transport=trace` names a module only: the rest stays quiet.
        let named = out.split(',').any(|d| {
            let d = d.trim();
            d == target
                || d.starts_with(&format!("{target}="))
                || d.starts_with(&format!("{target}["))
        });
        if !named {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{target}={level}"));
        }
    }
    out
}

/// The Prometheus text exposition (version 0.0.4) of everything recorded so far.
pub fn render() -> String {
    let h = install();
    // Histograms and summaries are kept in buckets that grow until drained; drain here so
    // memory stays bounded however rarely the endpoint is scraped.
    h.run_upkeep();
    h.render()
}

fn describe() {
    // SIP and calls (src/sip).
    describe_counter!(
        "hotline_sip_requests_total",
        "SIP requests received, by method."
    );
    describe_counter!(
        "hotline_sip_responses_total",
        "SIP final responses sent or received, by method (from CSeq) and code."
    );
    describe_counter!(
        "hotline_sip_flood_dropped_total",
        "SIP requests over UDP dropped unread: their source IP was over udp_requests_per_ip."
    );
    describe_gauge!("hotline_calls_active", "Calls in progress on this node.");
    // RTP and DTMF (src/media).
    describe_counter!(
        "hotline_rtp_packets_total",
        "RTP packets, by direction (in, out)."
    );
    describe_counter!(
        "hotline_rtp_packets_lost_total",
        "RTP packets missing in the received sequence numbers."
    );
    describe_counter!(
        "hotline_rtp_packets_late_total",
        "RTP packets sent later than their 20 ms slot allows."
    );
    describe_counter!(
        "hotline_rtp_send_lateness_total",
        "RTP frames by how late the sender woke for their 20 ms slot; le_us is the bucket's \
         upper bound in microseconds (not cumulative), \"inf\" also counts frames skipped \
         after a stall."
    );
    describe_counter!(
        "hotline_dtmf_digits_total",
        "DTMF digits detected, by source (rfc4733, inband, info)."
    );
    // Call centre (src/acd).
    describe_histogram!(
        "hotline_acd_offer_seconds",
        Unit::Seconds,
        "From the moment a caller could be offered to a free agent (the later of the caller \
         joining and the agent becoming free) until the INVITE to the agent's phone left."
    );
    describe_gauge!(
        "hotline_acd_waiting",
        "Callers waiting in the queues on the line (callbacks owed not counted)."
    );
    describe_gauge!("hotline_acd_agents", "Known agents by state.");
    // Notices (src/notify, src/sms, src/mail).
    describe_counter!(
        "hotline_sms_submitted_total",
        "SMS parts accepted by the SMSC (submit_sm_resp OK)."
    );
    describe_counter!(
        "hotline_sms_failed_total",
        "SMS notices that failed for good."
    );
    describe_counter!(
        "hotline_sms_expired_total",
        "SMS notices not sent because they waited past their max age (SMS off, SMSC down)."
    );
    describe_counter!(
        "hotline_sms_inbound_duplicates_total",
        "Incoming texts or parts the SMSC handed over again after they were handled."
    );
    describe_counter!(
        "hotline_sms_receipts_total",
        "SMS delivery receipts, by final state."
    );
    describe_counter!(
        "hotline_mail_sent_total",
        "Mails accepted by the SMTP relay."
    );
    describe_counter!("hotline_mail_failed_total", "Mails that failed for good.");
    describe_gauge!(
        "hotline_events_lag_seconds",
        Unit::Seconds,
        "Age of the oldest ticket event a consumer has not taken yet."
    );
    // Speech (src/speech).
    describe_gauge!(
        "hotline_speech_queue_pending",
        "Transcription jobs waiting."
    );
    describe_gauge!(
        "hotline_speech_queue_running",
        "Transcription jobs being worked on."
    );
    describe_gauge!(
        "hotline_speech_queue_failed",
        "Transcription jobs that failed for good."
    );
    describe_gauge!(
        "hotline_speech_queue_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest waiting transcription job."
    );
    describe_gauge!("hotline_speech_workers_busy", "Whisper workers busy.");
    describe_counter!(
        "hotline_speech_jobs_total",
        "Transcription jobs finished, by result."
    );
    describe_histogram!(
        "hotline_speech_rtf",
        "Real-time factor of transcriptions (processing time / audio length)."
    );
    // Web (src/web).
    describe_counter!(
        "hotline_http_responses_total",
        "HTTP responses by status class."
    );
    describe_counter!("hotline_logins_total", "Login attempts by result.");
    describe_counter!(
        "hotline_status_lookups_total",
        "Public status-page lookups by result."
    );
    describe_gauge!("hotline_live_streams", "Console live-update streams open.");
    describe_gauge!("hotline_database_up", "Whether the database answers.");
    describe_gauge!(
        "hotline_component_up",
        "Readiness of each part (1 up, 0 down)."
    );
    describe_gauge!("hotline_tickets", "Tickets by state.");
    describe_gauge!(
        "hotline_tickets_overdue",
        "Open tickets past their deadline."
    );

    // Families without labels appear at zero before their first event.
    for name in [
        "hotline_sip_flood_dropped_total",
        "hotline_rtp_packets_lost_total",
        "hotline_rtp_packets_late_total",
        "hotline_sms_submitted_total",
        "hotline_sms_failed_total",
        "hotline_sms_expired_total",
        "hotline_sms_inbound_duplicates_total",
        "hotline_mail_sent_total",
        "hotline_mail_failed_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        metrics::counter!("hotline_http_responses_total", "class" => class).absolute(0);
    }
    metrics::gauge!("hotline_calls_active").set(0.0);
}

#[cfg(test)]
mod tests {
    use super::log_directives;

    #[test]
    fn raw_sip_is_quiet_unless_asked_for() {
        assert_eq!(log_directives("info"), "info,rsipstack=warn");
        assert_eq!(log_directives(""), "rsipstack=warn");
        assert_eq!(
            log_directives("hotline=debug,info"),
            "hotline=debug,info,rsipstack=warn"
        );
        assert_eq!(
            log_directives("info,rsipstack=trace"),
            "info,rsipstack=trace"
        );
        assert_eq!(
            log_directives("rsipstack::transport=trace"),
            "rsipstack::transport=trace,rsipstack=warn",
            "a module of it is a different target: the rest stays quiet"
        );
    }
}
