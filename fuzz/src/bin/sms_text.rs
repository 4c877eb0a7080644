//! One short message: UDH, data_coding (GSM-7, IA5, Latin-1, UCS-2), reassembly.
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::sms_text(data));
}
