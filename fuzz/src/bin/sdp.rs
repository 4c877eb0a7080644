//! An SDP body: parse, negotiate, answer (`hotline::sip::sdp`).
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::sdp(data));
}
