//! An Open311 POST requests: query string and form body to a checked request.
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::open311(data));
}
