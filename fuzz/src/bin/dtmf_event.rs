//! A run of RFC 4733 telephone-event packets through the deduper (`hotline::media::dtmf`).
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::dtmf_event(data));
}
