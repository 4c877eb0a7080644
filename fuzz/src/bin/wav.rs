//! A WAV file: `hotline::wav` and the prompt and speech decoders behind it.
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::wav(data));
}
