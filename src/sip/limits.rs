//! Per-source-IP rate limit for new calls (token bucket).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Token buckets by source IP; `rate` tokens per second, up to `burst`.
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `ip`; false when it is over its rate.
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let Ok(mut map) = self.buckets.lock() else {
            return true;
        };
        if map.len() > 100_000 {
            // Forget idle sources so a spoofing flood cannot grow the table without end.
            let burst = self.burst;
            let rate = self.rate;
            map.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let entry = map.entry(ip).or_insert((self.burst, now));
        let elapsed = now.duration_since(entry.1).as_secs_f64();
        entry.0 = (entry.0 + elapsed * self.rate).min(self.burst);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_per_ip() {
        let l = RateLimiter::new(2.0, 3.0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(l.allow_at(a, t0));
        assert!(l.allow_at(a, t0));
        assert!(l.allow_at(a, t0));
        assert!(!l.allow_at(a, t0));
        assert!(l.allow_at(b, t0));
        assert!(l.allow_at(a, t0 + Duration::from_millis(600)));
        assert!(!l.allow_at(a, t0 + Duration::from_millis(600)));
        assert!(RateLimiter::new(0.0, 1.0).allow_at(a, t0));
    }
}
