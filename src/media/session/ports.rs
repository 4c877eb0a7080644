//! RTP/RTCP port pairs for new sessions, from the configured range.

use std::sync::Arc;

use super::MediaError;
use crate::media::config::MediaConfig;

/// Allocates RTP/RTCP port pairs from the configured range at random: a stranger cannot
/// guess the port of the next call from the last one, and a port just freed is rarely
/// reused at once (late packets of the old call would leak into the new one). A port still
/// in use cannot be bound, so it is never handed out twice.
#[derive(Debug)]
pub struct PortPool {
    pub(super) cfg: Arc<MediaConfig>,
    first_even: u16,
    pairs: usize,
}

/// Random picks before the pool falls back to scanning the whole range (a nearly full
/// pool still finds its last free pair).
const RANDOM_TRIES: usize = 32;

impl PortPool {
    /// Check the range and prepare the pool.
    pub fn new(cfg: &MediaConfig) -> Result<PortPool, MediaError> {
        let first_even = cfg.rtp_port_min.saturating_add(cfg.rtp_port_min & 1);
        if cfg.rtp_port_min == 0 || cfg.rtp_port_max <= first_even {
            return Err(MediaError::Config(format!(
                "rtp_port_min..rtp_port_max ({}..{}) must hold at least one even/odd port pair above 0",
                cfg.rtp_port_min, cfg.rtp_port_max
            )));
        }
        let pairs = ((cfg.rtp_port_max - first_even - 1) / 2 + 1) as usize;
        Ok(PortPool {
            cfg: Arc::new(cfg.clone()),
            first_even,
            pairs,
        })
    }

    /// The configuration sessions from this pool use.
    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    /// Binds a free RTP/RTCP pair (non-blocking sockets) on the configured IP: for a
    /// session, or for another media transport that must stay inside the firewall's range
    /// (a browser's WebRTC leg).
    pub fn bind_pair(&self) -> Result<(std::net::UdpSocket, std::net::UdpSocket), MediaError> {
        let start = rand::random::<usize>() % self.pairs;
        let random =
            (0..RANDOM_TRIES.min(self.pairs)).map(|_| rand::random::<usize>() % self.pairs);
        let scan = (0..self.pairs).map(|k| (start + k) % self.pairs);
        for i in random.chain(scan) {
            let port = self.first_even + (i as u16) * 2;
            let Ok(rtp) = std::net::UdpSocket::bind((self.cfg.bind_ip, port)) else {
                continue;
            };
            let Ok(rtcp) = std::net::UdpSocket::bind((self.cfg.bind_ip, port + 1)) else {
                continue;
            };
            rtp.set_nonblocking(true)?;
            rtcp.set_nonblocking(true)?;
            return Ok((rtp, rtcp));
        }
        Err(MediaError::NoFreePort {
            min: self.cfg.rtp_port_min,
            max: self.cfg.rtp_port_max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_pairs_are_not_sequential_and_never_shared() {
        let cfg = MediaConfig {
            bind_ip: "127.0.0.1".parse().expect("ip"),
            rtp_port_min: 41000,
            rtp_port_max: 42999,
            ..MediaConfig::default()
        };
        let pool = PortPool::new(&cfg).expect("pool");
        let mut held = vec![];
        let mut ports = vec![];
        for _ in 0..20 {
            let (rtp, rtcp) = pool.bind_pair().expect("a free pair");
            let port = rtp.local_addr().expect("addr").port();
            assert_eq!(port % 2, 0);
            assert_eq!(rtcp.local_addr().expect("addr").port(), port + 1);
            assert!(!ports.contains(&port), "port {port} handed out twice");
            ports.push(port);
            held.push((rtp, rtcp));
        }
        let steps_of_two = ports
            .windows(2)
            .filter(|w| w[1].wrapping_sub(w[0]) == 2)
            .count();
        assert!(
            steps_of_two < 3,
            "the next call's port is not the last one plus two: {ports:?}"
        );
    }
}
