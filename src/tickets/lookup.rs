//! Who may hear a ticket's state without logging in: its resident, proven by a number a
//! trusted carrier asserted for the call, or by the last four digits of the ticket's phone.
//! Wrong tries are counted in the database per ticket and per asker, across calls, channels
//! (the status line and the status page) and nodes, so a ticket's four digits cannot be
//! walked through 10 000 calls or 10 000 addresses, nor the ticket numbers from one phone.
//!
//! The status line and the status page both ask [`Tickets::status_claim`]; neither decides
//! ownership itself.

use std::net::IpAddr;

use sqlx::Row;

use super::error::TicketsError;
use super::model::{PhoneNumber, Ticket, TicketNumber};
use super::service::Tickets;
use crate::store::now_ms;

/// Who asks: the caller's number as the call presented it (anonymous callers share one
/// key), or the address of a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asker {
    Phone(Option<PhoneNumber>),
    Address(IpAddr),
}

impl Asker {
    /// The key failures are counted under; IPv6 addresses by their /64, which one
    /// household or host usually holds whole.
    fn subject(&self) -> String {
        match self {
            Asker::Phone(Some(p)) => format!("phone:{p}"),
            Asker::Phone(None) => "phone:anonymous".into(),
            Asker::Address(IpAddr::V4(a)) => format!("ip:{a}"),
            Asker::Address(IpAddr::V6(a)) => {
                let s = a.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }

    fn channel(&self) -> &'static str {
        match self {
            Asker::Phone(_) => "ivr",
            Asker::Address(_) => "web",
        }
    }
}

/// What the asker offers as proof of being the ticket's resident.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// The caller's number as a trusted carrier asserted it (P-Asserted-Identity).
    Asserted(&'a PhoneNumber),
    /// The last four digits of the phone the ticket was filed from.
    LastFour(&'a str),
    Nothing,
}

/// The answer to a lookup.
#[derive(Debug)]
pub enum StatusClaim {
    Granted(Box<Ticket>),
    /// No ticket has that number (or the number is malformed).
    NotFound,
    /// The ticket exists; the asker must give the last four digits.
    NeedsProof,
    /// The digits were wrong, or the ticket has no phone to check them against.
    Refused,
    /// Too many wrong tries on this ticket or by this asker.
    Locked,
}

impl StatusClaim {
    pub fn name(&self) -> &'static str {
        match self {
            StatusClaim::Granted(_) => "granted",
            StatusClaim::NotFound => "not_found",
            StatusClaim::NeedsProof => "needs_proof",
            StatusClaim::Refused => "refused",
            StatusClaim::Locked => "locked",
        }
    }
}

/// Compares without stopping at the first difference.
fn same_digits(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn ticket_subject(n: &TicketNumber) -> String {
    format!("ticket:{n}")
}

impl Tickets {
    /// Decides a lookup of ticket `number` by `asker` with `proof`, counting a wrong try.
    /// An asserted number that matches opens the ticket even while it is locked: the
    /// carrier vouches for the caller, nobody is guessing.
    pub async fn status_claim(
        &self,
        number: &str,
        asker: &Asker,
        proof: Proof<'_>,
    ) -> Result<StatusClaim, TicketsError> {
        let cfg = self.status_lookup();
        let asker_key = asker.subject();
        if self.failures(&asker_key, cfg.asker_window_mins).await? >= u64::from(cfg.asker_failures)
        {
            return Ok(StatusClaim::Locked);
        }
        let Ok(no) = number.trim().parse::<TicketNumber>() else {
            self.count_failure(&[&asker_key], asker.channel()).await?;
            return Ok(StatusClaim::NotFound);
        };
        let t = match self.by_number(&no).await {
            Ok(t) => t,
            Err(TicketsError::NotFound(_)) => {
                self.count_failure(&[&asker_key], asker.channel()).await?;
                return Ok(StatusClaim::NotFound);
            }
            Err(e) => return Err(e),
        };
        if let Proof::Asserted(p) = proof {
            if *p == t.phone {
                return Ok(StatusClaim::Granted(Box::new(t)));
            }
        }
        let ticket_key = ticket_subject(&t.number);
        if self.failures(&ticket_key, cfg.ticket_window_mins).await?
            >= u64::from(cfg.ticket_failures)
        {
            return Ok(StatusClaim::Locked);
        }
        let Proof::LastFour(given) = proof else {
            return Ok(StatusClaim::NeedsProof);
        };
        // A ticket from a withheld number has no digits to prove: "0000" would open them all.
        let checkable = t.phone != PhoneNumber::anonymous() && t.phone.as_str().len() >= 4;
        if checkable && same_digits(given.trim(), t.phone.last4()) {
            return Ok(StatusClaim::Granted(Box::new(t)));
        }
        self.count_failure(&[&ticket_key, &asker_key], asker.channel())
            .await?;
        Ok(StatusClaim::Refused)
    }

    async fn failures(&self, subject: &str, window_mins: u64) -> Result<u64, TicketsError> {
        let since = now_ms() - (window_mins as i64).saturating_mul(60_000);
        let row = sqlx::query(
            "SELECT COUNT(*) FROM status_lookup_failures WHERE subject = $1 AND at > $2",
        )
        .bind(subject)
        .bind(since)
        .fetch_one(self.db().pool())
        .await?;
        Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
    }

    /// Writes one row per subject, and forgets rows older than both windows (they hold
    /// callers' numbers; nothing needs them once they no longer count).
    async fn count_failure(&self, subjects: &[&str], channel: &str) -> Result<(), TicketsError> {
        let cfg = self.status_lookup();
        let now = now_ms();
        let mut tx = self.db().pool().begin().await?;
        for s in subjects {
            sqlx::query(
                "INSERT INTO status_lookup_failures (subject, channel, at) VALUES ($1, $2, $3)",
            )
            .bind(*s)
            .bind(channel)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let keep_mins = cfg.ticket_window_mins.max(cfg.asker_window_mins) as i64;
        sqlx::query("DELETE FROM status_lookup_failures WHERE at < $1")
            .bind(now - keep_mins.saturating_mul(60_000))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            channel,
            tries = subjects.len(),
            "wrong ticket status lookup counted"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_askers_are_counted_by_their_64() {
        let a = Asker::Address("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Asker::Address("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = Asker::Address("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a.subject(), b.subject());
        assert_ne!(a.subject(), c.subject());
        assert_eq!(
            Asker::Address("192.0.2.7".parse().unwrap()).subject(),
            "ip:192.0.2.7"
        );
        assert_eq!(Asker::Phone(None).subject(), "phone:anonymous");
    }
}
