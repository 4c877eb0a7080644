//! Per-source-IP rate limit for new calls: a `governor` keyed limiter (GCRA, the same
//! crate that paces SMS submits), `rate` new INVITEs a second per IP with `burst` above it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Gcra};

type PerIp<C> =
    Gcra<IpAddr, DefaultKeyedStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Keyed by source IP; `None` when the rate is 0 (no limit).
pub(crate) struct RateLimiter<C: Clock = DefaultClock> {
    inner: Option<PerIp<C>>,
}

/// Sources remembered before idle ones are forgotten, so a spoofing flood cannot grow the
/// table without end.
const MAX_SOURCES: usize = 100_000;

fn quota(rate: f64, burst: f64) -> Option<Quota> {
    if rate <= 0.0 || !rate.is_finite() {
        return None;
    }
    let burst = NonZeroU32::new(burst.max(1.0).min(u32::MAX as f64) as u32)?;
    Some(Quota::with_period(Duration::from_secs_f64(1.0 / rate))?.allow_burst(burst))
}

impl RateLimiter {
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self::with_clock(rate, burst, DefaultClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    fn with_clock(rate: f64, burst: f64, clock: C) -> Self {
        RateLimiter {
            inner: quota(rate, burst)
                .map(|q| Gcra::new(q, DefaultKeyedStateStore::default(), clock)),
        }
    }

    /// Take one slot for `ip`; false when it is over its rate.
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        let Some(l) = &self.inner else {
            return true;
        };
        if l.len() > MAX_SOURCES {
            l.retain_recent();
        }
        l.check_key(&ip).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn bucket_refills_per_ip() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(2.0, 3.0, clock.clone());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.allow(a));
        assert!(l.allow(a));
        assert!(l.allow(a));
        assert!(!l.allow(a), "burst of 3 used up");
        assert!(l.allow(b), "another source has its own bucket");
        clock.advance(Duration::from_millis(600));
        assert!(l.allow(a), "one slot back after 500 ms at 2/s");
        assert!(!l.allow(a));
        assert!(RateLimiter::new(0.0, 1.0).allow(a), "rate 0: no limit");
    }
}
