//! `hotline serve`: wires the parts together and stops them in order on Ctrl-C / SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::ivr::Engine;
use crate::sip::{CallHandler, Server as SipServer};
use crate::store::{redact, Db};
use crate::tickets::{supervision, Tickets};
use crate::web::{self, AppState, Readiness};

/// Opens the database (creating and migrating it), loads the rules, and builds the ticket
/// service every front end shares.
pub async fn open_tickets(cfg: &Config) -> anyhow::Result<Tickets> {
    let url = cfg.database.effective_url(&cfg.data_dir);
    let db = Db::connect(&cfg.database, &cfg.data_dir)
        .await
        .with_context(|| format!("opening the database {}", redact(&url)))?;
    tracing::info!(database = %redact(&url), "database ready");
    Ok(Tickets::from_config(db, &cfg.tickets)?)
}

/// Runs everything configured until `shutdown` fires.
pub async fn serve(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    let tickets = open_tickets(&cfg).await?;
    let readiness = Arc::new(Readiness::default());
    let mut tasks = tokio::task::JoinSet::new();

    if cfg.tickets.supervision.enabled {
        let s = &cfg.tickets.supervision;
        tasks.spawn(supervision::run(
            tickets.clone(),
            Duration::from_secs(s.interval_secs.max(1)),
            s.warn_at.clone(),
            shutdown.clone(),
        ));
        tracing::info!(every_secs = s.interval_secs, "supervision clock running");
    }

    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("listening for HTTP on {}", cfg.http.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening (web console, APIs, /healthz, /readyz)");
    let app = web::router(AppState {
        tickets: tickets.clone(),
        readiness: readiness.clone(),
    });
    let http_stop = shutdown.clone();
    tasks.spawn(async move {
        let r = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { http_stop.cancelled().await })
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });

    // Voice menus and SIP: a broken dialplan stops the start with every problem listed.
    let destinations: Vec<String> = cfg.sip.destinations.keys().cloned().collect();
    let engine = Engine::start(
        cfg.ivr.clone(),
        &cfg.data_dir,
        tickets.clone(),
        destinations,
        None,
    )
    .await
    .map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "the dialplans have problems; fix them and start again:\n{}",
            list.join("\n")
        )
    })?;
    tasks.spawn(engine.clone().watch(shutdown.clone()));
    let handler: Arc<dyn CallHandler> = engine;
    let sip = SipServer::start(
        cfg.sip.clone(),
        cfg.media.clone(),
        handler,
        shutdown.clone(),
    )
    .await
    .context("starting SIP")?;
    for a in &sip.udp_addrs {
        tracing::info!(addr = %a, "SIP listening (UDP)");
    }
    for a in &sip.tcp_addrs {
        tracing::info!(addr = %a, "SIP listening (TCP)");
    }
    readiness
        .sip_listening
        .store(true, std::sync::atomic::Ordering::Relaxed);

    shutdown.cancelled().await;
    tracing::info!("shutting down: new calls are refused, calls in progress may finish");
    sip.wait().await;
    readiness
        .sip_listening
        .store(false, std::sync::atomic::Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    tickets.db().close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Cancels `token` on Ctrl-C or SIGTERM; a second signal exits at once.
pub fn on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                tracing::info!("signal received; draining (send again to stop at once)");
                token.cancel();
            } else {
                tracing::warn!("second signal: exiting now");
                std::process::exit(130);
            }
        }
    });
}
