//! A SIP datagram through the UDP pre-filter (400/405/416/505 from raw lines) and rsipstack's parser.
fn main() {
    afl::fuzz!(|data: &[u8]| hotline::fuzzing::sip_udp(data));
}
