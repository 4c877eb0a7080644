//! An RTP datagram: rtp-rs's header reader, RFC 4733 payloads, G.711 into the tone detector.
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::rtp(data));
}
