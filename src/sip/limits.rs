//! Limits on what one source may cost us:
//!
//! - [`RateLimiter`]: per-source-IP rates (new INVITEs; UDP requests before parsing), a
//!   `governor` keyed limiter (GCRA, the same crate that paces SMS submits), `rate` a second
//!   per IP with `burst` above it.
//! - [`Unconfirmed`]: the budget of calls being set up (INVITE taken, no ACK yet), per IP
//!   and in all; when it is full the oldest setup is given up, since a real caller ACKs
//!   within a round trip and only spoofed INVITEs stay unconfirmed for long.
//! - [`Connections`]: concurrent TCP connections, in all and per IP.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

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

/// Calls being set up, oldest first: a slot per INVITE taken until its ACK (or its end).
pub(crate) struct Unconfirmed {
    max: usize,
    per_ip: usize,
    inner: Mutex<Setups>,
}

#[derive(Default)]
struct Setups {
    next_id: u64,
    order: VecDeque<(u64, IpAddr, CancellationToken)>,
    by_ip: HashMap<IpAddr, usize>,
}

impl Setups {
    fn remove(&mut self, id: u64) -> Option<(IpAddr, CancellationToken)> {
        let at = self.order.iter().position(|(i, _, _)| *i == id)?;
        let (_, ip, token) = self.order.remove(at)?;
        self.release_ip(ip);
        Some((ip, token))
    }
    fn release_ip(&mut self, ip: IpAddr) {
        if let Some(n) = self.by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }
}

/// Why a setup was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This source has `max_unconfirmed_per_ip` calls being set up already.
    SourceBusy,
}

/// One call being set up; dropping it (or [`confirm`](SetupSlot::confirm)) frees the slot.
pub(crate) struct SetupSlot {
    id: u64,
    budget: Arc<Unconfirmed>,
    /// Cancelled when a newer setup needed the slot: the call is given up.
    pub(crate) evicted: CancellationToken,
}

impl SetupSlot {
    /// The caller ACKed: the call is no longer being set up.
    pub(crate) fn confirm(self) {}
}

impl Drop for SetupSlot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.budget.inner.lock() {
            s.remove(self.id);
        }
    }
}

impl Unconfirmed {
    pub(crate) fn new(max: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(Unconfirmed {
            max: max.max(1),
            per_ip: per_ip.max(1),
            inner: Mutex::new(Setups::default()),
        })
    }

    /// A slot for a new setup from `ip`; a `trusted` source has no per-IP cap. When the
    /// budget is full the oldest setup is evicted (its token cancelled) to make room.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, trusted: bool) -> Result<SetupSlot, Refused> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !trusted && s.by_ip.get(&ip).copied().unwrap_or(0) >= self.per_ip {
            return Err(Refused::SourceBusy);
        }
        while s.order.len() >= self.max {
            let Some((_, old_ip, token)) = s.order.pop_front() else {
                break;
            };
            s.release_ip(old_ip);
            token.cancel();
        }
        s.next_id += 1;
        let id = s.next_id;
        let evicted = CancellationToken::new();
        s.order.push_back((id, ip, evicted.clone()));
        *s.by_ip.entry(ip).or_default() += 1;
        Ok(SetupSlot {
            id,
            budget: self.clone(),
            evicted,
        })
    }

    /// Calls being set up now.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map(|s| s.order.len()).unwrap_or(0)
    }
}

/// Concurrent connections, in all and per source IP.
pub(crate) struct Connections {
    max: usize,
    per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One open connection; dropping it frees its place.
pub(crate) struct ConnectionSlot {
    ip: IpAddr,
    of: Arc<Connections>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Ok(mut o) = self.of.open.lock() {
            o.0 = o.0.saturating_sub(1);
            if let Some(n) = o.1.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    o.1.remove(&self.ip);
                }
            }
        }
    }
}

impl Connections {
    pub(crate) fn new(max: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(Connections {
            max,
            per_ip,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for a new connection from `ip`, or None when over either cap (a `trusted`
    /// source has no per-IP cap).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, trusted: bool) -> Option<ConnectionSlot> {
        let mut o = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let from_ip = o.1.get(&ip).copied().unwrap_or(0);
        if o.0 >= self.max || (!trusted && from_ip >= self.per_ip) {
            return None;
        }
        o.0 += 1;
        *o.1.entry(ip).or_default() += 1;
        Some(ConnectionSlot {
            ip,
            of: self.clone(),
        })
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

    #[test]
    fn a_full_setup_budget_gives_up_the_oldest() {
        let budget = Unconfirmed::new(3, 2);
        let spoofed: IpAddr = "10.0.0.9".parse().unwrap();
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        let real: IpAddr = "10.0.0.1".parse().unwrap();
        let first = budget.admit(spoofed, false).unwrap();
        let _second = budget.admit(spoofed, false).unwrap();
        assert_eq!(
            budget.admit(spoofed, false).err(),
            Some(Refused::SourceBusy),
            "per-IP cap"
        );
        let _third = budget.admit(other, false).unwrap();
        let mine = budget.admit(real, false).unwrap();
        assert!(first.evicted.is_cancelled(), "the oldest setup made room");
        assert!(!mine.evicted.is_cancelled());
        assert_eq!(budget.len(), 3);
        mine.confirm();
        assert_eq!(budget.len(), 2);
        drop(first);
        assert_eq!(budget.len(), 2, "an evicted slot is not freed twice");
        assert!(
            budget.admit(spoofed, true).is_ok(),
            "trusted: no per-IP cap"
        );
    }

    #[test]
    fn connections_are_capped_in_all_and_per_ip() {
        let c = Connections::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = c.admit(a, false).unwrap();
        let _a2 = c.admit(a, false).unwrap();
        assert!(c.admit(a, false).is_none(), "per IP");
        let _b1 = c.admit(b, false).unwrap();
        assert!(c.admit(b, false).is_none(), "in all");
        drop(a1);
        assert!(
            c.admit(b, false).is_some(),
            "a closed connection frees its place"
        );
    }
}
