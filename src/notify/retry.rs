//! Retries and pacing for every notice channel: the one backoff policy (see
//! [`crate::store::lease::Backoff`], built on `backon`) and a rate limit built on `governor`
//! for links a carrier meters (SMS submits per second).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub use crate::store::lease::Backoff;

/// The wait of a loop that keeps failing (reading events, claiming rows): 200 ms doubling to
/// 10 s, with jitter.
pub fn loop_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
}

/// At most `per_sec` operations a second, evenly spaced; an idle link earns no burst beyond
/// one second's worth. `0` means unlimited.
pub struct RateLimit(Option<DefaultDirectRateLimiter>);

impl RateLimit {
    pub fn per_second(per_sec: u32) -> Self {
        RateLimit(NonZeroU32::new(per_sec).map(|n| RateLimiter::direct(Quota::per_second(n))))
    }

    /// Waits for the next slot.
    pub async fn wait(&self) {
        if let Some(l) = &self.0 {
            l.until_ready().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn paces_after_the_burst_and_zero_is_unlimited() {
        let t = tokio::time::Instant::now();
        let free = RateLimit::per_second(0);
        for _ in 0..1000 {
            free.wait().await;
        }
        let l = RateLimit::per_second(20);
        for _ in 0..25 {
            l.wait().await;
        }
        // 20 at once (one second's burst), then 5 more at 50 ms each.
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
    }
}
