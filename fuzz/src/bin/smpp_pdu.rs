//! Bytes from the SMSC: rusmpp's frame decoder, then deliver_sm to text (UDH, GSM-7, UCS-2).
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::smpp_pdu(data));
}
