//! Counters of one session (for `MediaSession::stats`) and the Prometheus families every
//! session adds to: `hotline_rtp_packets_total{direction}`, `hotline_rtp_packets_lost_total`,
//! `hotline_rtp_packets_late_total`, `hotline_dtmf_digits_total{source}`. The counter handles
//! are looked up once per session; a packet costs one atomic add.

use std::time::Duration;

use metrics::{counter, Counter};

use crate::media::dtmf::DigitSource;

/// Counters of one session (all since `open`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP datagrams received (valid or not).
    pub packets_in: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// RTP payload bytes sent.
    pub octets_out: u64,
    /// Truncated or garbage RTP datagrams dropped.
    pub malformed_dropped: u64,
    /// Valid RTP dropped: unknown payload type, before `start`, from a foreign source
    /// address, or late/duplicate sequence numbers.
    pub unexpected_dropped: u64,
    /// Of those, late or duplicate packets.
    pub late_or_duplicate: u64,
    /// Of those, packets from an address that is not the peer's (nor one it may latch to).
    pub foreign_dropped: u64,
    /// RTCP packets received (ignored otherwise).
    pub rtcp_in: u64,
    /// RTCP packets that were not valid RTCP.
    pub rtcp_malformed: u64,
    /// RTCP sender reports sent.
    pub rtcp_out: u64,
    /// Times the send address was latched to the peer's real source (at most once a stream).
    pub relatched: u64,
    /// Digits queued (after deduplication).
    pub digits: u64,
    /// Sender frames skipped because the task woke more than 100 ms late.
    pub skipped_frames: u64,
    /// Sender wake-up lateness histogram; bucket upper bounds in `LATENESS_BUCKETS_US`.
    pub lateness_histogram: [u64; LATENESS_BUCKETS_US.len() + 1],
    /// Worst sender lateness seen, microseconds.
    pub max_lateness_us: u64,
}

/// Upper bounds (µs) of the lateness histogram buckets; the last bucket is "above".
pub const LATENESS_BUCKETS_US: [u64; 10] =
    [100, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

/// Counts one sender wake-up in the session's histogram and the process-wide family
/// (`hotline_rtp_send_lateness_total{le_us}`, what the call-centre benchmark reads).
pub(super) fn record_lateness(stats: &mut MediaStats, metrics: &Metrics, late: Duration) {
    let us = late.as_micros() as u64;
    let idx = LATENESS_BUCKETS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(LATENESS_BUCKETS_US.len());
    stats.lateness_histogram[idx] += 1;
    stats.max_lateness_us = stats.max_lateness_us.max(us);
    metrics.lateness[idx].increment(1);
}

/// Frames never sent because the sender stalled: the worst lateness there is.
pub(super) fn record_skipped(stats: &mut MediaStats, metrics: &Metrics, frames: u64) {
    stats.skipped_frames += frames;
    metrics.lateness[LATENESS_BUCKETS_US.len()].increment(frames);
}

/// The session's handles on the process-wide counters.
pub(super) struct Metrics {
    pub(super) packets_in: Counter,
    pub(super) packets_out: Counter,
    pub(super) packets_lost: Counter,
    pub(super) packets_late: Counter,
    /// One per `LATENESS_BUCKETS_US` bucket, and "inf".
    lateness: [Counter; LATENESS_BUCKETS_US.len() + 1],
    digits_rfc4733: Counter,
    digits_inband: Counter,
    digits_info: Counter,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        Metrics {
            packets_in: counter!("hotline_rtp_packets_total", "direction" => "in"),
            packets_out: counter!("hotline_rtp_packets_total", "direction" => "out"),
            packets_lost: counter!("hotline_rtp_packets_lost_total"),
            packets_late: counter!("hotline_rtp_packets_late_total"),
            lateness: std::array::from_fn(|i| {
                let le = LATENESS_BUCKETS_US
                    .get(i)
                    .map_or_else(|| "inf".to_string(), |b| b.to_string());
                counter!("hotline_rtp_send_lateness_total", "le_us" => le)
            }),
            digits_rfc4733: counter!("hotline_dtmf_digits_total", "source" => "rfc4733"),
            digits_inband: counter!("hotline_dtmf_digits_total", "source" => "inband"),
            digits_info: counter!("hotline_dtmf_digits_total", "source" => "info"),
        }
    }

    /// One digit queued (after deduplication).
    pub(super) fn digit(&self, source: DigitSource) {
        match source {
            DigitSource::Rfc4733 => self.digits_rfc4733.increment(1),
            DigitSource::Inband => self.digits_inband.increment(1),
            DigitSource::SipInfo => self.digits_info.increment(1),
        }
    }
}
