//! A dialplan file through `hotline check`'s parser and validator.
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::dialplan(data));
}
