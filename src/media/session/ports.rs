//! RTP/RTCP port pairs for new sessions, from the configured range.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::MediaError;
use crate::media::config::MediaConfig;

/// Allocates RTP/RTCP port pairs from the configured range, round-robin so a port just
/// freed is not reused at once (late packets of the old call would leak into the new one).
#[derive(Debug)]
pub struct PortPool {
    pub(super) cfg: Arc<MediaConfig>,
    first_even: u16,
    pairs: usize,
    next: AtomicUsize,
}

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
            next: AtomicUsize::new(rand::random::<usize>() % pairs),
        })
    }

    /// The configuration sessions from this pool use.
    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    pub(super) fn bind_pair(
        &self,
    ) -> Result<(std::net::UdpSocket, std::net::UdpSocket), MediaError> {
        for _ in 0..self.pairs {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pairs;
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
