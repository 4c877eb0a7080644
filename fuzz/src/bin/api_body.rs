//! A JSON API body or query string, read as the handlers read it.
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::api_body(data));
}
