//! One ticket command from a person on the web, shared by the pages and the JSON API: the
//! command runs as the account (see `tickets::commands`), and a route the person corrected
//! is kept for the speech step's correction report.

use super::accounts::Account;
use super::Ctx;
use crate::tickets::{Command, Ticket, TicketsError};

/// Runs `cmd` on `t`, which the caller has already found visible to `account`.
pub async fn run(
    ctx: &Ctx,
    account: &Account,
    t: &Ticket,
    cmd: Command,
) -> Result<Ticket, TicketsError> {
    let out = cmd.apply(ctx.tickets(), t, &account.caller()).await?;
    if let Some(r) = out.rerouted {
        // A route the speech step chose and a person changed: kept for improving the rules
        // (speech::routing::corrections_report).
        if let Err(e) = crate::speech::routing::record_correction(
            ctx.db(),
            t.id,
            Some(r.kind),
            Some(&r.department),
            &account.name,
        )
        .await
        {
            tracing::warn!(error = %e, "routing correction not recorded");
        }
    }
    Ok(out.ticket)
}
