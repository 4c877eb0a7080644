//! Loopback ports for the servers and peers a test starts.

use std::net::{TcpListener, UdpSocket};

/// A free port on loopback for UDP and TCP alike, with the two UDP ports above it free too
/// (SIP on the port, RTP and RTCP above it for peers like SIPp that take `port + 2`).
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = u.local_addr().expect("addr").port();
        if port < 60000
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 2)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
}
