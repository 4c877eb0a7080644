//! An RTCP compound packet (`hotline::media::rtcp`).
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::rtcp(data));
}
