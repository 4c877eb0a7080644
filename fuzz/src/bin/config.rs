//! The configuration file (`hotline::config::Config::parse`).
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::config(data));
}
